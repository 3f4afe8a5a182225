package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// TestChunksOf: a partition's executions split into runs of at most the
// bound's rows (operations and events), an execution larger than it alone.
func TestChunksOf(t *testing.T) {
	ev := func(n int64) *int64 { return &n }
	archived := map[string]load.ExecutionState{
		"a": {OperationCount: 3, EventCount: ev(4)}, "b": {OperationCount: 2}, "c": {OperationCount: 20, EventCount: ev(30)},
		"d": {OperationCount: 1, EventCount: ev(1)}, "e": {OperationCount: 5},
	}
	g := []Execution{{ARN: "a"}, {ARN: "b"}, {ARN: "c"}, {ARN: "d"}, {ARN: "e"}}
	var got [][]string
	for _, c := range chunksOf(g, func(e Execution) int64 { return rowCount(archived[e.ARN]) }, 10) {
		var names []string
		for _, e := range c {
			names = append(names, e.ARN)
		}
		got = append(got, names)
	}
	if want := [][]string{{"a", "b"}, {"c"}, {"d", "e"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
}

// gatedReader answers Rows once release is closed, noting on calls whose
// rows were asked for.
type gatedReader struct {
	load.SnapshotReader // Latest is not used
	calls               chan string
	release             chan struct{}
}

func (r *gatedReader) Rows(ctx context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	r.calls <- states[0].Arn
	<-r.release
	return map[string]*load.ExecutionRows{states[0].Arn: {}}, nil
}

// TestReadAheadIsOneChunk: taking a chunk's rows (or starting on one of
// its executions) starts reading the next chunk, and only that one (never
// a chain of reads ahead), each chunk once; rows read ahead
// for executions that were all done with before the read ended are not
// kept.
func TestReadAheadIsOneChunk(t *testing.T) {
	ctx := context.Background()
	r := &gatedReader{calls: make(chan string, 8), release: make(chan struct{})}
	var parts []*partitionRows
	for i := range 3 {
		p := &partitionRows{pending: 1, states: []load.ExecutionState{{Arn: fmt.Sprint("c", i)}}}
		if i > 0 {
			parts[i-1].next = p
		}
		parts = append(parts, p)
	}
	got := make(chan map[string]*load.ExecutionRows)
	go func() {
		rows, _ := parts[0].get(ctx, r)
		got <- rows
	}()
	first := map[string]bool{<-r.calls: true, <-r.calls: true} // both under way before either answers
	if !first["c0"] || !first["c1"] {
		t.Fatalf("reads under way: %v, want c0 and the chunk after it", first)
	}
	close(r.release)
	if rows := <-got; rows["c0"] == nil {
		t.Fatalf("chunk 0's rows: %v", rows)
	}
	parts[1].once.Do(func() {}) // returns once the read ahead has ended
	select {
	case arn := <-r.calls:
		t.Errorf("%s read too: the read ahead chained", arn)
	default:
	}
	if parts[1].rows["c1"] == nil {
		t.Errorf("chunk 1's rows read ahead were not kept")
	}
	// A worker taking one of a chunk's executions starts the reads before
	// reading the execution from the API: no get needed.
	r2 := &gatedReader{calls: make(chan string, 8), release: make(chan struct{})}
	close(r2.release)
	a := &partitionRows{pending: 1, states: []load.ExecutionState{{Arn: "a0"}}}
	a.next = &partitionRows{pending: 1, states: []load.ExecutionState{{Arn: "a1"}}}
	a.next.next = &partitionRows{pending: 1, states: []load.ExecutionState{{Arn: "a2"}}}
	a.start(ctx, r2)
	if started := map[string]bool{<-r2.calls: true, <-r2.calls: true}; !started["a0"] || !started["a1"] {
		t.Fatalf("reads started: %v, want a0 and the chunk after it", started)
	}
	a.start(ctx, r2)
	a.next.once.Do(func() {})
	if rows, _ := a.get(ctx, r2); rows["a0"] == nil {
		t.Fatalf("chunk a0's rows: %v", rows)
	}
	select {
	case arn := <-r2.calls:
		t.Errorf("%s read too (or read twice)", arn)
	default:
	}
	// All done with before its read ended: nothing kept.
	late := &partitionRows{pending: 1, states: []load.ExecutionState{{Arn: "c9"}}}
	late.done()
	late.read(ctx, r)
	<-r.calls
	if late.rows != nil {
		t.Errorf("rows kept for a chunk no one needs any more: %v", late.rows)
	}
}

// TestAtRiskLines: an execution whose history expires later reads
// "expires"; one whose expiry has passed (the service has not deleted it
// yet) says so instead of naming a past time as if to come.
func TestAtRiskLines(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rep := &Report{AtRisk: []AtRisk{{"arn-soon", now.Add(48 * time.Hour)}, {"arn-past", now.Add(-48 * time.Hour)}}}
	lines := rep.Lines(10, now)
	want := []string{
		"at risk: arn-soon: history expires 2026-12-02T12:00:00Z",
		"at risk: arn-past: history was due to expire 2026-11-28T12:00:00Z: the service may delete it any time",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestInconsistentLines: an inconsistent execution the service still
// has says that a run with --force mends it, in the lines and in the
// report (at_service); one it has forgotten says nothing more, and its
// report item has no at_service member.
func TestInconsistentLines(t *testing.T) {
	rep := &Report{Inconsistent: []Difference{
		{ExecutionArn: "arn-running", What: "events: 3 archived, its executions row counts 4", AtService: true},
		{ExecutionArn: "arn-paused", What: ContentHashDiffers, AtService: true},
		{ExecutionArn: "arn-forgotten", What: "operations: 1 archived, its executions row counts 2"},
	}}
	lines := rep.Lines(10, time.Now())
	want := []string{
		"inconsistent: arn-running: events: 3 archived, its executions row counts 4 (the service still has it: etl run --force --rewrite-events writes its events again)",
		"inconsistent: arn-paused: " + ContentHashDiffers + " (the service still has it: etl run --force archives it again)",
		"inconsistent: arn-forgotten: operations: 1 archived, its executions row counts 2",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if rep.Inconsistent[0].What != "events: 3 archived, its executions row counts 4" {
		t.Errorf("Lines changed the report: %q", rep.Inconsistent[0].What)
	}
	b, err := json.Marshal([]Difference{rep.Inconsistent[0], rep.Inconsistent[2]})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[{"execution_arn":"arn-running","what":"events: 3 archived, its executions row counts 4","at_service":true},{"execution_arn":"arn-forgotten","what":"operations: 1 archived, its executions row counts 2"}]`; got != want {
		t.Errorf("report items:\n%s\nwant:\n%s", got, want)
	}
}

// TestOlderFormWholeAndStreamed: an archived row that differs from the
// API's only as an older etl made it (without the members the SDK does
// not know, with nulls in the columns added since, or both) is told
// apart alike by the whole comparison (eventDiff) and the streamed one
// (its hashes of the API's row's older forms), and a row that differs
// otherwise as well is a difference in both.
func TestOlderFormWholeAndStreamed(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	want := schema.Event{ExecutionArn: "a", EventID: 4, EventType: "ExecutionPaused", Reason: new("maintenance"), RequestTime: &at,
		OverflowJSON: transform.WithUnknown(nil, json.RawMessage(`{"Budget":3}`)), RunID: "r", ExtractedAt: at}
	withoutMembers := want
	withoutMembers.OverflowJSON = transform.WithoutUnknown(want.OverflowJSON)
	withoutColumns := want
	schema.ClearSince(schema.Events, &withoutColumns)
	withoutBoth := withoutMembers
	schema.ClearSince(schema.Events, &withoutBoth)
	otherwise := withoutBoth
	otherwise.Name = new("renamed")
	skip := compareSkips(schema.Events, dataKept)
	for _, tc := range []struct {
		name     string
		got      schema.Event
		whole    int
		streamed rowSeen
	}{
		{"equal", want, -1, archivedEqual},
		{"without the members", withoutMembers, lacksUnknownDiff, archivedLacksUnknown},
		{"without the columns", withoutColumns, lacksColumnsDiff, archivedLacksColumns},
		{"without both", withoutBoth, lacksColumnsDiff, archivedLacksColumns},
		{"otherwise too", otherwise, schema.Events.Column("name"), archivedDiffers},
	} {
		if got := eventDiff(&tc.got, &want, skip); got != tc.whole {
			t.Errorf("%s: whole %d, want %d", tc.name, got, tc.whole)
		}
		d := newStreamDigests(dataKept)
		d.wantEvent(&want)
		d.evSeen, d.evTime = make([]rowSeen, 1), make([]int64, 1)
		d.gotEvent(&tc.got)
		if d.evSeen[0] != tc.streamed {
			t.Errorf("%s: streamed %d, want %d", tc.name, d.evSeen[0], tc.streamed)
		}
	}
}

// TestForEach: every item is handed over, n at a time (n 0 as 1,
// Options' zero value): each call waits until n are running, so the
// limit is reached (a pool of fewer would hang the test) and never
// passed; once ctx ends no more are.
func TestForEach(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		limit := max(n, 1)
		var mu sync.Mutex
		var seen []int
		running, most := 0, 0
		gate := make(chan struct{})
		var open sync.Once
		forEach(context.Background(), []int{1, 2, 3, 4, 5, 6, 7}, n, func(i int) {
			mu.Lock()
			running++
			most = max(most, running)
			seen = append(seen, i)
			full := running == limit
			mu.Unlock()
			if full {
				open.Do(func() { close(gate) })
			}
			<-gate
			mu.Lock()
			running--
			mu.Unlock()
		})
		slices.Sort(seen)
		if !slices.Equal(seen, []int{1, 2, 3, 4, 5, 6, 7}) || most != limit {
			t.Errorf("n %d: saw %v, %d at once at most, want %d", n, seen, most, limit)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	forEach(ctx, []int{1, 2, 3, 4}, 1, func(int) {
		calls++
		cancel()
	})
	if calls != 1 {
		t.Errorf("%d calls after ctx ended at the first, want 1", calls)
	}
}

// TestConsistency: an execution's rows against its own executions row:
// a row read twice (a compaction publishing beside the read) is one; fewer
// operations or events than counted, or operations that do not give the
// content hash, are named; a destination that rewrites text (U+FFFD for
// U+0000) or keeps older operations has its hash checked only where it
// can give it again.
func TestConsistency(t *testing.T) {
	s := func(v string) *string { return &v }
	ops := []schema.Operation{
		{OperationID: "exec", Seq: 0, Type: "EXECUTION", Status: "SUCCEEDED"},
		{OperationID: "step", Seq: 1, Type: "STEP", Status: "FAILED", ErrorMessage: s("bad\uFFFDbyte")},
	}
	st := load.ExecutionState{OperationCount: 2, EventCount: new(int64(3)), ContentHash: transform.ContentHash(ops)}
	events := []schema.Event{{EventID: 1}, {EventID: 2}, {EventID: 3}}
	rows := func(ops []schema.Operation, events []schema.Event) *load.ExecutionRows {
		return &load.ExecutionRows{Operations: slices.Clone(ops), Events: events}
	}
	tampered := slices.Clone(ops)
	tampered[0].Name = s("tampered")
	older := append(slices.Clone(ops), schema.Operation{OperationID: "gone-since", Seq: 1, Type: "STEP", Status: "SUCCEEDED"})
	for _, c := range []struct {
		name     string
		rows     *load.ExecutionRows
		st       load.ExecutionState
		rewrites bool
		want     string
	}{
		{"equal", rows(ops, events), st, false, ""},
		{"read twice", rows([]schema.Operation{ops[0], ops[0], ops[1], ops[1]}, events), st, false, ""},
		{"an operation lost", rows(ops[:1], events), st, false, "operations: 1 archived, its executions row counts 2"},
		{"an event lost", rows(ops, events[1:]), st, false, "events: 2 archived, its executions row counts 3"},
		{"no events counted", rows(ops, nil), load.ExecutionState{OperationCount: 2, ContentHash: st.ContentHash}, false, ""},
		{"altered", rows(tampered, events), st, false, ContentHashDiffers},
		// U+FFFD in a destination that writes it for U+0000: unchecked.
		{"altered, rewritten text", rows(tampered, events), st, true, ""},
		{"altered, rewriting, no U+FFFD", rows(tampered[:1], nil), load.ExecutionState{OperationCount: 1, ContentHash: transform.ContentHash(ops[:1])}, true, ContentHashDiffers},
		// Operations an earlier snapshot listed, kept: only the count.
		{"older operations kept", rows(older, events), st, true, ""},
		// Read without payloads: hashed without them, written with
		// those kept from before.
		{"read without payloads", rows(tampered[:1], nil), load.ExecutionState{OperationCount: 1, ContentHash: transform.ContentHash(ops[:1]), DataIncluded: new(false)}, false, ""},
	} {
		if got := consistency(c.st, c.rows, c.rewrites); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// U+FFFD is found in every text column, and only there.
	texts := 0
	for i, c := range schema.Operations.Columns {
		op := schema.Operation{}
		v := reflect.ValueOf(&op).Elem().Field(i)
		switch {
		case v.Kind() == reflect.String:
			v.SetString("a\uFFFD")
		case v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.String:
			v.Set(reflect.ValueOf(s("a\uFFFD")))
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			v.Set(reflect.ValueOf([]string{"a", "\uFFFD"}))
		default:
			continue
		}
		texts++
		if !replacedText(&op) {
			t.Errorf("U+FFFD in %s not seen", c.Name)
		}
	}
	if texts < 15 || replacedText(&ops[0]) {
		t.Errorf("%d text columns, or U+FFFD seen where there is none", texts)
	}
	// The draw: seeded, k of them, all when k is as many.
	states := make([]load.ExecutionState, 10)
	for i := range states {
		states[i].Arn = fmt.Sprint(i)
	}
	a, b := drawSelfCheck(states, 3, 1), drawSelfCheck(states, 3, 1)
	if len(a) != 3 || !slices.Equal(a, b) || len(drawSelfCheck(states, 10, 1)) != 10 || len(drawSelfCheck(states, 0, 1)) != 0 {
		t.Errorf("draw: %v, %v", a, b)
	}
}

// chunkReader serves every execution's rows as its executions row counts
// them (consistent), and records how they were asked for: each Rows
// call's ARNs, and the ARNs read as streams.
type chunkReader struct {
	load.SnapshotReader // Latest is not used
	mu                  sync.Mutex
	calls               [][]string
	streamed            []string
	fail                error // Rows' answer, when set
}

func (r *chunkReader) rowsOf(st load.ExecutionState) *load.ExecutionRows {
	rows := &load.ExecutionRows{}
	for i := range st.OperationCount {
		rows.Operations = append(rows.Operations, schema.Operation{OperationID: fmt.Sprint(i), Seq: i, Type: "STEP", Status: "SUCCEEDED"})
	}
	return rows
}

func (r *chunkReader) Rows(_ context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	if r.fail != nil {
		return nil, r.fail
	}
	out := map[string]*load.ExecutionRows{}
	var arns []string
	for _, st := range states {
		out[st.Arn], arns = r.rowsOf(st), append(arns, st.Arn)
	}
	r.mu.Lock()
	r.calls = append(r.calls, arns)
	r.mu.Unlock()
	return out, nil
}

func (r *chunkReader) EachRow(_ context.Context, st load.ExecutionState, _ func(*schema.Execution), op func(*schema.Operation), _ func(*schema.Event)) error {
	for _, o := range r.rowsOf(st).Operations {
		op(&o)
	}
	r.mu.Lock()
	r.streamed = append(r.streamed, st.Arn)
	r.mu.Unlock()
	return nil
}

// TestSelfCheckChunks: executions checked against their own rows are read
// a partition at a time, in chunks of at most ChunkRows rows; one of more
// than StreamRows rows is read as a stream, alone, the others of its
// partition chunked together, as the comparison chunks them.
func TestSelfCheckChunks(t *testing.T) {
	var states []load.ExecutionState
	add := func(arn, dt string, ops int64) {
		rows := (&chunkReader{}).rowsOf(load.ExecutionState{OperationCount: ops}).Operations
		states = append(states, load.ExecutionState{Arn: arn, DT: dt, OperationCount: ops, ContentHash: transform.ContentHash(rows)})
	}
	add("a1", "2026-01-01", 4)
	add("a2", "2026-01-01", 4)
	add("a3", "2026-01-01", 4) // a1+a2+a3 > 10: a3 starts a chunk
	add("b1", "2026-01-02", 2)
	add("b2", "2026-01-02", 7) // a stream
	add("b3", "2026-01-02", 2) // with b1, not with b2
	r := &chunkReader{}
	rep := newReport(len(states), 0)
	var mu sync.Mutex
	selfCheck(context.Background(), r, selfChecking{states: states}, Options{ChunkRows: 10, StreamRows: 5, Concurrency: 1}, rep, &mu)
	want := [][]string{{"a1", "a2"}, {"a3"}, {"b1", "b3"}}
	if !reflect.DeepEqual(r.calls, want) || !slices.Equal(r.streamed, []string{"b2"}) {
		t.Errorf("read as %v and streams %v, want %v and [b2]", r.calls, r.streamed, want)
	}
	if rep.SelfChecked != len(states) || len(rep.Inconsistent) != 0 || len(rep.Errors) != 0 {
		t.Errorf("%d checked, inconsistent %v, errors %v", rep.SelfChecked, rep.Inconsistent, rep.Errors)
	}
	// A chunk the archive cannot give: its executions are errors, not
	// checked, not inconsistent.
	r = &chunkReader{fail: errors.New("disk on fire")}
	rep = newReport(len(states), 0)
	selfCheck(context.Background(), r, selfChecking{states: states[:3]}, Options{ChunkRows: 10, Concurrency: 1}, rep, &mu)
	if rep.SelfChecked != 0 || len(rep.Inconsistent) != 0 || len(rep.Errors) != 3 || rep.Errors[0].What != "disk on fire" {
		t.Errorf("rows unreadable: %d checked, inconsistent %v, errors %v", rep.SelfChecked, rep.Inconsistent, rep.Errors)
	}
}

// snapshotReader serves the rows of the snapshots it holds, by ARN and run
// id (as Parquet reads the very snapshot named), and gives the newest of
// each through Latest, counting its calls.
type snapshotReader struct {
	load.SnapshotReader
	rows    map[[2]string]*load.ExecutionRows
	newest  map[string]load.ExecutionState
	latests int
}

func (r *snapshotReader) Rows(_ context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	out := map[string]*load.ExecutionRows{}
	for _, st := range states {
		if rows := r.rows[[2]string{st.Arn, st.RunID}]; rows != nil {
			out[st.Arn] = rows
		}
	}
	return out, nil
}

func (r *snapshotReader) Latest(_ context.Context, keep func(string) bool) (map[string]load.ExecutionState, error) {
	r.latests++
	out := map[string]load.ExecutionState{}
	for arn, st := range r.newest {
		if keep(arn) {
			out[arn] = st
		}
	}
	return out, nil
}

// TestSelfCheckOnNewerSnapshot: executions drawn for the sample that
// cannot be compared are checked against their own rows and counted
// apart; one found inconsistent on a snapshot a newer one has replaced
// since (a compaction with --keep latest beside verify dropped the older
// one's rows) is checked again on the newest, and only that counts; one
// whose newest snapshot is the one checked stays inconsistent; the
// executions table is read once for all of them.
func TestSelfCheckOnNewerSnapshot(t *testing.T) {
	opsOf := func(n int) []schema.Operation {
		ops := make([]schema.Operation, n)
		for i := range ops {
			ops[i] = schema.Operation{OperationID: fmt.Sprint(i), Seq: int64(i), Type: "STEP", Status: "SUCCEEDED"}
		}
		return ops
	}
	state := func(arn, run string, ops int) load.ExecutionState {
		return load.ExecutionState{Arn: arn, RunID: run, DT: "2026-01-01", OperationCount: int64(ops), ContentHash: transform.ContentHash(opsOf(ops))}
	}
	r := &snapshotReader{rows: map[[2]string]*load.ExecutionRows{
		// replaced: run-1's rows compacted away, run-2's whole.
		{"replaced", "run-2"}: {Operations: opsOf(3)},
		// lost: its newest snapshot's operations file gone.
		// short: a row lost.
		{"short", "run-1"}:  {Operations: opsOf(1)},
		{"intact", "run-1"}: {Operations: opsOf(2)},
	}, newest: map[string]load.ExecutionState{
		"replaced": state("replaced", "run-2", 3),
		"lost":     state("lost", "run-1", 2),
		"short":    state("short", "run-1", 2),
		"intact":   state("intact", "run-1", 2),
	}}
	var set selfChecking
	set.add(state("replaced", "run-1", 2), true)
	set.add(state("lost", "run-1", 2), true)
	set.add(state("short", "run-1", 2), true)
	set.add(state("intact", "run-1", 2), true)
	rep := newReport(4, 0)
	var mu sync.Mutex
	selfCheck(context.Background(), r, set, Options{Concurrency: 2}, rep, &mu)
	got := map[string]string{}
	for _, d := range rep.Inconsistent {
		got[d.ExecutionArn] = d.What
	}
	want := map[string]string{"lost": "operations: 0 archived, its executions row counts 2", "short": "operations: 1 archived, its executions row counts 2"}
	if !reflect.DeepEqual(got, want) || rep.SelfChecked != 4 || rep.NotComparedSelfChecked != 4 || len(rep.Errors) != 0 {
		t.Errorf("inconsistent %v, want %v; %d checked, %d of them not compared (want 4, 4); errors %v", got, want, rep.SelfChecked, rep.NotComparedSelfChecked, rep.Errors)
	}
	if r.latests != 1 {
		t.Errorf("Latest read %d times, want once (for those found inconsistent)", r.latests)
	}
	// Executions the service has forgotten are not counted as not compared.
	rep = newReport(1, 0)
	selfCheck(context.Background(), r, selfChecking{states: set.states[3:]}, Options{Concurrency: 1}, rep, &mu)
	if rep.SelfChecked != 1 || rep.NotComparedSelfChecked != 0 {
		t.Errorf("forgotten: %d checked, %d not compared (want 1, 0)", rep.SelfChecked, rep.NotComparedSelfChecked)
	}
}

// TestMendable: the executions a run with --force --rewrite-events mends
// are those missing, differing, whose content differs, that lack members
// or columns, and those inconsistent that the service still has: each
// once, sorted; not the stale ones (the next run archives them), nor
// those inconsistent that the service has forgotten.
func TestMendable(t *testing.T) {
	d := func(arns ...string) []Difference {
		var out []Difference
		for _, a := range arns {
			out = append(out, Difference{ExecutionArn: a, What: "x"})
		}
		return out
	}
	r := Report{
		Missing: []string{"g", "a"}, Stale: d("h"), Differing: d("e2", "a"), ContentDiffer: d("b", "a"),
		LacksUnknown: d("c"), LacksColumns: d("d"),
		Inconsistent: []Difference{{ExecutionArn: "e", AtService: true}, {ExecutionArn: "f"}},
		Errors:       d("i"),
	}
	if got, want := r.Mendable(), []string{"a", "b", "c", "d", "e", "e2", "g"}; !slices.Equal(got, want) {
		t.Errorf("mendable %v, want %v", got, want)
	}
	if got := (&Report{Stale: d("h"), Errors: d("i")}).Mendable(); len(got) != 0 {
		t.Errorf("mendable %v of a report with only stale ones and errors", got)
	}
}
