package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/durable-etl/durable-etl/schema"
)

// vanishing is a local sink whose reads of one file fail as if a
// compaction had removed it since the listing, the first times times.
type vanishing struct {
	*localSink
	name  string
	times int
}

func (v *vanishing) read(ctx context.Context, name string, fn func(io.ReaderAt, int64) error) error {
	if strings.HasSuffix(name, v.name) && v.times > 0 {
		v.times--
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return v.localSink.read(ctx, name, fn)
}

// TestArchivedListsAgainWhenAFileVanishes: a file removed between the
// ledger's listing and its read (a compaction beside the run) has the
// listing read again rather than failing the run's start (or the read
// back of an execution's archived data); a file that keeps vanishing fails
// it, naming the file.
func TestArchivedListsAgainWhenAFileVanishes(t *testing.T) {
	dir := t.TempDir()
	status := "SUCCEEDED"
	for i := range 3 {
		p := filepath.Join(dir, "executions", "dt=2026-01-01", fmt.Sprintf("part-r-aaaa-%05d.parquet", i+1))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rows := []schema.Execution{{ExecutionArn: fmt.Sprint("arn-", i), Status: &status, RunID: "r", ExtractedAt: time.Now()}}
		if err := parquet.WriteFile(p, rows); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		times int
		fails bool
	}{{1, false}, {3, false}, {10, true}} {
		d := newParquet(dir, &vanishing{localSink: &localSink{dir: dir}, name: "part-r-aaaa-00002.parquet", times: c.times}, t.TempDir(), nil)
		a, err := d.Archived(context.Background(), "next")
		switch {
		case c.fails && (err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "part-r-aaaa-00002")):
			t.Errorf("vanishing %d times: %v, want the file named, not there", c.times, err)
		case !c.fails && err != nil:
			t.Errorf("vanishing %d times: %v", c.times, err)
		case !c.fails && a.Len() != 3:
			t.Errorf("vanishing %d times: %d executions, want 3", c.times, a.Len())
		}
		// So does the read back of an execution's archived data.
		d = newParquet(dir, &vanishing{localSink: &localSink{dir: dir}, name: "part-r-aaaa-00002.parquet", times: c.times}, t.TempDir(), nil)
		data, err := d.ArchivedData(context.Background(), "arn-1", "2026-01-01", 10)
		switch {
		case c.fails && (err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "part-r-aaaa-00002")):
			t.Errorf("ArchivedData, vanishing %d times: %v, want the file named, not there", c.times, err)
		case !c.fails && (err != nil || data == nil):
			t.Errorf("ArchivedData, vanishing %d times: %v, %v; want arn-1's", c.times, data, err)
		}
	}
}

// TestArchivedSorted: the ledger as a sorted slice says what a map of
// every reading merged in order (with) says, however the rows are split
// into files and merged (seals midway included), for Skip, Events and
// Len; intersect of two ledgers says what the rule says key by key; an
// execution not archived is not known.
func TestArchivedSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"SUCCEEDED", "RUNNING", "FAILED", "PENDING", "PAUSING"}
	row := func(i int) (archivedRow, bool) {
		st := statuses[rng.IntN(len(statuses))]
		r := archivedRow{ExecutionArn: fmt.Sprintf("arn:x/durable-execution/e-%d/id", i), Status: &st,
			ExtractedAt: time.UnixMilli(int64(1_700_000_000_000 + rng.IntN(5)))} // ties on purpose
		if rng.IntN(3) > 0 {
			n, id := int64(rng.IntN(50)), int32(rng.IntN(50))
			r.EventCount, r.LastEventID = &n, &id
		}
		if rng.IntN(4) == 0 {
			in := rng.IntN(2) == 0
			r.DataIncluded = &in
		}
		// Few hashes, so that readings agree and disagree; some not a
		// hash at all (unknown).
		r.ContentHash = contentPrefix([]string{"", "not hex at all!!", strings.Repeat("ab", 32), strings.Repeat("0123456789ABCDEF", 4)}[rng.IntN(4)])
		return r, rng.IntN(5) == 0
	}
	build := func(n, readings int) (*Archived, map[arnkey.Key]archivedState) {
		want := map[arnkey.Key]archivedState{}
		a := newArchived()
		part := newArchived()
		for range readings {
			r, inRun := row(rng.IntN(n))
			one := newArchived()
			one.add(&r, inRun)
			k := arnkey.Of(r.ExecutionArn)
			want[k] = want[k].with(one.s[0].archivedState)
			part.add(&r, inRun)
			if rng.IntN(50) == 0 { // a file's end
				part.seal()
				a.merge(part)
				part = newArchived()
			}
		}
		part.seal()
		a.merge(part)
		a.seal()
		return a, want
	}
	check := func(name string, a *Archived, want map[arnkey.Key]archivedState) {
		t.Helper()
		if a.Len() != len(want) {
			t.Fatalf("%s: %d executions, want %d", name, a.Len(), len(want))
		}
		for k, w := range want {
			got, ok := a.state(k)
			if !ok || got != w {
				t.Fatalf("%s: %x: %+v (%v), want %+v", name, k, got, ok, w)
			}
		}
		if !slices.IsSortedFunc(a.s, func(x, y archivedEntry) int { return bytes.Compare(x.key[:], y.key[:]) }) {
			t.Fatalf("%s: not sorted", name)
		}
	}
	a, wantA := build(3000, 20_000)
	check("one ledger", a, wantA)
	if reason, skip := a.Skip("arn:x/durable-execution/e-none/id", true); skip || reason != "" {
		t.Errorf("an execution never archived: %q %v", reason, skip)
	}
	b, wantB := build(4000, 20_000)
	// intersect, key by key as its rule says (the map form it had).
	want := map[arnkey.Key]archivedState{}
	for k, s := range wantA {
		t, ok := wantB[k]
		if !ok {
			continue
		}
		if (s.inRun || s.terminal) && (t.inRun || t.terminal) {
			both := s.terminal && t.terminal
			want[k] = archivedState{extracted: min(s.extracted, t.extracted), terminal: both, inRun: !both, lastEvent: min(s.lastEvent, t.lastEvent), events: min(s.events, t.events), held: min(s.held, t.held),
				noData: s.noData || t.noData, dataRead: s.dataRead || t.dataRead, content: sameContent(s.content, t.content)}
		} else if e, n, h, c := min(s.lastEvent, t.lastEvent), min(s.events, t.events), min(s.held, t.held), sameContent(s.content, t.content); e > 0 || h > 0 || c != 0 {
			want[k] = archivedState{extracted: min(s.extracted, t.extracted), lastEvent: e, events: n, held: h, noData: s.noData || t.noData, dataRead: s.dataRead || t.dataRead, content: c}
		}
	}
	// What a holds ahead of b, key by key: done for good there (or
	// archived by the run being resumed) and needed in b (to b alone);
	// unfinished, with events b lacks (a given only the rest), of which
	// those read without payloads by either may be given to a twice.
	var wantAhead ahead
	twice := 0
	for k, s := range wantA {
		t, held := wantB[k]
		switch {
		case (s.terminal && !s.noData || s.inRun) && s.events > 0 && (!held || !t.final() || t.events == 0 || t.noData && !s.noData):
			wantAhead.done = append(wantAhead.done, k)
		case s.final() && held && t.final():
		case s.held > t.held:
			wantAhead.events = append(wantAhead.events, heldEvents{k, s.held - t.held, s.noData, s.noData || t.noData})
			if s.noData || t.noData {
				twice++
			}
		}
		if s.terminal && !s.noData && s.events == 0 && s.held == 0 && s.content != 0 && (!held || !t.final()) ||
			(!s.terminal || s.noData) && s.content != 0 && (!held || t.content != s.content || t.held < s.held) {
			wantAhead.state = append(wantAhead.state, heldContent{key: k, content: s.content, noData: s.noData})
		}
	}
	slices.SortFunc(wantAhead.done, func(x, y arnkey.Key) int { return bytes.Compare(x[:], y[:]) })
	slices.SortFunc(wantAhead.events, func(x, y heldEvents) int { return bytes.Compare(x.key[:], y.key[:]) })
	slices.SortFunc(wantAhead.state, func(x, y heldContent) int { return bytes.Compare(x.key[:], y.key[:]) })
	got := a.aheadOf(b)
	if !slices.Equal(got.done, wantAhead.done) || !slices.Equal(got.events, wantAhead.events) || !slices.Equal(got.state, wantAhead.state) ||
		len(wantAhead.done) == 0 || len(wantAhead.events) == 0 || len(wantAhead.state) == 0 || twice == 0 {
		t.Errorf("aheadOf: %d done, %d with events, %d with their content; want %d, %d and %d (none proves nothing; %d twice)",
			len(got.done), len(got.events), len(got.state), len(wantAhead.done), len(wantAhead.events), len(wantAhead.state), twice)
	}
	// What a holds ahead of all (a and b intersected) is what it holds
	// ahead of b: how Fanout compares each of several file ledgers.
	all := a.clone().intersect(b)
	check("one ledger, after its clone was intersected", a, wantA)
	// (twice aside: of an execution b holds read without payloads and
	// no event, the intersection keeps nothing, or only the content both
	// hold, so it says the truer thing: a run reads it as new, vouching
	// for the events it writes.)
	sameHeld := func(x, y heldEvents) bool { return x.key == y.key && x.skip == y.skip && x.noData == y.noData }
	if ofAll := a.aheadOf(all); !slices.Equal(ofAll.done, got.done) || !slices.EqualFunc(ofAll.events, got.events, sameHeld) || !slices.Equal(ofAll.state, got.state) {
		t.Errorf("ahead of all: %d done, %d with events; want %d and %d, as ahead of b", len(ofAll.done), len(ofAll.events), len(got.done), len(got.events))
	}
	if alone, held, n := aheadCounts([]ahead{got, got, b.aheadOf(a)}); alone < len(got.done) || held < len(got.events) || n < twice || alone > len(got.done)+len(b.aheadOf(a).done) {
		t.Errorf("aheadCounts: %d alone, %d held, %d twice; want each counted once", alone, held, n)
	}
	for _, hs := range [][]ahead{{got}, {got, got}} {
		if alone, held, n := aheadCounts(hs); alone != len(got.done) || held != len(got.events) || n != twice {
			t.Errorf("aheadCounts of one ledger's, %d times: %d alone, %d held, %d twice; want %d, %d and %d", len(hs), alone, held, n, len(got.done), len(got.events), twice)
		}
	}
	for _, k := range wantAhead.done {
		if !holds(got.done, k) {
			t.Fatalf("holds: %x not found", k)
		}
	}
	for _, e := range wantAhead.events {
		if h := got.eventsOf(e.key); h != e {
			t.Fatalf("eventsOf %x: %+v, want %+v", e.key, h, e)
		}
	}
	for _, e := range wantAhead.state {
		if c := got.contentOf(e.key); c != e {
			t.Fatalf("contentOf %x: %+v, want %+v", e.key, c, e)
		}
	}
	if k := arnkey.Of("arn:x/durable-execution/e-none/id"); holds(got.done, k) || got.eventsOf(k) != (heldEvents{}) || got.contentOf(k) != (heldContent{}) {
		t.Errorf("%x, never archived, found ahead", k)
	}
	check("intersect", a.intersect(b), want) // a is spent
}

// TestArchivedUnsettled: an execution whose newest archived snapshot is
// PAUSING (which becomes PAUSED with no event of its own) never passes the
// one-call "unchanged" check, whatever an older snapshot says; one whose
// newest snapshot is settled again does, with the highest event id any
// TestSparedHolds: a destination is spared a commit only of the snapshot
// it holds: the same content, no event given, and, when it holds it
// without the payloads, a read that lacks them too (one that carries them
// gives it the payloads, even where the content is the same: an execution
// with no payload at all).
func TestSparedHolds(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	yes, no := true, false
	for _, c := range []struct {
		name   string
		held   heldContent
		events bool
		row    schema.Execution
		want   bool
	}{
		{"nothing held", heldContent{}, false, schema.Execution{ContentHash: hash}, false},
		{"held with payloads, read with them", heldContent{content: contentPrefix(hash)}, false, schema.Execution{ContentHash: hash, ExecutionDataIncluded: &yes}, true},
		{"held with payloads, read through state", heldContent{content: contentPrefix(hash)}, false, schema.Execution{ContentHash: hash}, true},
		{"held with payloads, read without them", heldContent{content: contentPrefix(hash)}, false, schema.Execution{ContentHash: hash, ExecutionDataIncluded: &no}, true},
		{"other content", heldContent{content: contentPrefix(strings.Repeat("cd", 32))}, false, schema.Execution{ContentHash: hash}, false},
		{"given events", heldContent{content: contentPrefix(hash)}, true, schema.Execution{ContentHash: hash}, false},
		{"held without payloads, read without them", heldContent{content: contentPrefix(hash), noData: true}, false, schema.Execution{ContentHash: hash, ExecutionDataIncluded: &no}, true},
		{"held without payloads, read with them", heldContent{content: contentPrefix(hash), noData: true}, false, schema.Execution{ContentHash: hash, ExecutionDataIncluded: &yes}, false},
		{"held without payloads, read through state", heldContent{content: contentPrefix(hash), noData: true}, false, schema.Execution{ContentHash: hash}, false},
	} {
		s := spared{unless: c.held, events: c.events}
		if got := s.holds(&c.row); got != c.want {
			t.Errorf("%s: holds %v, want %v", c.name, got, c.want)
		}
	}
}

// snapshot holds.
func TestArchivedUnsettled(t *testing.T) {
	at := func(ms int64, status string, last int32) archivedRow {
		return archivedRow{ExecutionArn: "arn:x/durable-execution/e/id", Status: &status, LastEventID: &last, ExtractedAt: time.UnixMilli(ms)}
	}
	for _, c := range []struct {
		name string
		rows []archivedRow
		want func(int32) bool
	}{
		{"pausing alone", []archivedRow{at(1, "PAUSING", 12)}, func(id int32) bool { return id <= 0 }},
		{"running, then pausing at the same event", []archivedRow{at(1, "RUNNING", 12), at(2, "PAUSING", 12)}, func(id int32) bool { return id <= 0 }},
		{"pausing read first, older running after", []archivedRow{at(2, "PAUSING", 12), at(1, "RUNNING", 10)}, func(id int32) bool { return id <= 0 }},
		{"pausing, then paused", []archivedRow{at(1, "PAUSING", 12), at(2, "PAUSED", 12)}, func(id int32) bool { return id == 12 }},
		{"paused read first, older pausing after", []archivedRow{at(2, "PAUSED", 13), at(1, "PAUSING", 12)}, func(id int32) bool { return id == 13 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newArchived()
			for i := range c.rows {
				a.add(&c.rows[i], false)
			}
			a.seal()
			if id := a.Events(c.rows[0].ExecutionArn).LastID; !c.want(id) {
				t.Errorf("LastID %d", id)
			}
		})
	}
}

// TestIntersectGivesBackWhatItDrops: a ledger intersected with one that
// lacks nearly all of it (a destination added beside an archive) leaves a
// short list that does not keep the long one's memory alive.
func TestIntersectGivesBackWhatItDrops(t *testing.T) {
	status := "SUCCEEDED"
	full, few := newArchived(), newArchived()
	for i := range 20_000 {
		r := archivedRow{ExecutionArn: fmt.Sprintf("arn:x/durable-execution/e-%d/id", i), Status: &status, ExtractedAt: time.UnixMilli(1)}
		full.add(&r, false)
		if i%1000 == 0 {
			few.add(&r, false)
		}
	}
	full.seal()
	few.seal()
	out := full.intersect(few)
	if out.Len() != 20 || cap(out.s) > 2*out.Len()+1024 {
		t.Errorf("intersect: %d executions in a list of capacity %d, want 20 in one near that", out.Len(), cap(out.s))
	}
}

// unlisting is a local sink whose listings of the executions files miss
// them the first times times, as a listing made while a compaction beside
// the reader publishes its merged file and removes the one it replaces
// may (a directory read during renames; S3 pages listed across them).
type unlisting struct {
	*localSink
	table string // whose listing misses its files
	times int
}

func (u *unlisting) list(ctx context.Context, dir string) ([]publishedFile, error) {
	files, err := u.localSink.list(ctx, dir)
	if dir == u.table+"/" && u.times > 0 {
		u.times--
		return nil, err
	}
	return files, err
}

// writeOneFile writes rows as the one file of table's partition
// dt=2026-01-01 under dir.
func writeOneFile[T any](t *testing.T, dir, table string, rows []T) {
	t.Helper()
	p := filepath.Join(dir, table, "dt=2026-01-01", "part-r-aaaa-00001.parquet")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
}

// TestRowsListsAgainWhenTheListingMissedAFile: a read of a snapshot's rows
// that finds no executions row for it, though the ledger read one, or
// none of the operations or events rows that row counts, is made again
// on a new listing, by Rows itself (and, for the executions row, by the
// callers of EachRow, ListedAgain), rather than report the rows missing;
// rows that stay missing are reported so: by Rows as a snapshot without
// them, by EachRow as a failure naming the execution.
func TestRowsListsAgainWhenTheListingMissedAFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	at := time.Now().Truncate(time.Millisecond)
	status := "SUCCEEDED"
	one := int64(1)
	var execs []schema.Execution
	var ops []schema.Operation
	var events []schema.Event
	var states []ExecutionState
	for i := range 2 {
		arn := fmt.Sprint("arn-", i)
		execs = append(execs, schema.Execution{ExecutionArn: arn, Status: &status, OperationCount: 1, EventCount: &one, RunID: "r", ExtractedAt: at})
		ops = append(ops, schema.Operation{ExecutionArn: arn, OperationID: "op", Seq: 1, RunID: "r", ExtractedAt: at})
		events = append(events, schema.Event{ExecutionArn: arn, EventID: 1, RunID: "r", ExtractedAt: at})
		states = append(states, ExecutionState{Arn: arn, OperationCount: 1, EventCount: &one, RunID: "r", ExtractedAt: at, DT: "2026-01-01"})
	}
	writeOneFile(t, dir, "executions", execs)
	writeOneFile(t, dir, "operations", ops)
	writeOneFile(t, dir, "events", events)
	for _, table := range []string{"executions", "operations", "events"} {
		for _, c := range []struct {
			times int
			found bool
		}{{0, true}, {1, true}, {listedAgain, true}, {listedAgain + 1, false}} {
			d := newParquet(dir, &unlisting{localSink: &localSink{dir: dir}, table: table, times: c.times}, t.TempDir(), nil)
			got, err := d.Rows(ctx, states)
			if err != nil {
				t.Fatalf("%s: listing missing the file %d times: Rows: %v", table, c.times, err)
			}
			for _, st := range states {
				r := got[st.Arn]
				if r == nil || (r.Execution != nil && len(r.Operations) == 1 && len(r.Events) == 1) != c.found {
					t.Errorf("%s: listing missing the file %d times: Rows of %s: %+v, want every row found %v", table, c.times, st.Arn, r, c.found)
				}
			}
			if table != "executions" {
				continue // EachRow's callers cannot tell their last read: see missedRows
			}
			d = newParquet(dir, &unlisting{localSink: &localSink{dir: dir}, table: table, times: c.times}, t.TempDir(), nil)
			var n atomic.Int64 // EachRow's callbacks may run side by side
			err = ListedAgain(func() error {
				n.Store(0)
				return d.EachRow(ctx, states[1], func(*schema.Execution) { n.Add(1) }, func(*schema.Operation) { n.Add(1) }, func(*schema.Event) { n.Add(1) })
			})
			switch {
			case c.found && (err != nil || n.Load() != 3):
				t.Errorf("%s: listing missing the file %d times: EachRow handed %d rows, %v; want 3", table, c.times, n.Load(), err)
			case !c.found && (!errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "arn-1") || !strings.Contains(err.Error(), table)):
				t.Errorf("%s: listing missing the file %d times: EachRow: %v, want arn-1's %s rows named, not there", table, c.times, err, table)
			}
		}
	}
}

// TestHeldEventsListedAgainWhenAFileVanishes: an events file removed
// between ReadHeldEvents' listing and its read (a compaction beside the
// run) has the listing read again, and the events are then told held as
// before; a file that keeps vanishing fails the read, naming the file,
// rather than have every event written again.
func TestHeldEventsListedAgainWhenAFileVanishes(t *testing.T) {
	dir := t.TempDir()
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/e/1"
	at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	event := func(id int32) schema.Event {
		return schema.Event{ExecutionArn: arn, EventID: id, EventType: "StepStarted", RunID: "r", ExtractedAt: at}
	}
	for i := range 3 { // events 1-2, 3-4, 5-6, a file each
		p := filepath.Join(dir, "events", "dt=2026-01-01", fmt.Sprintf("part-r-aaaa-%05d.parquet", i+1))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := parquet.WriteFile(p, []schema.Event{event(int32(2*i + 1)), event(int32(2*i + 2))}); err != nil {
			t.Fatal(err)
		}
	}
	var all []schema.Event
	for id := range int32(8) {
		all = append(all, event(id+1))
	}
	for _, c := range []struct {
		times int
		fails bool
	}{{1, false}, {3, false}, {10, true}} {
		d := newParquet(dir, &vanishing{localSink: &localSink{dir: dir}, name: "part-r-aaaa-00002.parquet", times: c.times}, t.TempDir(), nil)
		x, _ := d.Begin(context.Background(), arn)
		lw := x.(LostEventsWriter)
		err := lw.ReadHeldEvents(context.Background(), "2026-01-01")
		if c.fails {
			if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "part-r-aaaa-00002") {
				t.Errorf("vanishing %d times: %v, want the file named, not there", c.times, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("vanishing %d times: %v", c.times, err)
		}
		if n, err := lw.WriteLost(context.Background(), schema.RowsOf(schema.Events, all)); err != nil || n != 2 {
			t.Errorf("vanishing %d times: %d of 8 events written (%v), want 7 and 8 alone", c.times, n, err)
		}
		x.Abort(context.Background())
	}
}
