package load

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	mathbits "math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/parquet-go/parquet-go"
)

// TestLatestMask: --keep latest's masks of row groups: each key's newest
// version once (a second copy of it is not kept, in its row group or a
// later one), an older version kept for its payloads once, a superseded
// one not, nil for a row group whose rows are all kept; the same whether
// every key was held at once or a share of the executions at a time;
// and a row past those the files had when their keys were read is an
// error, not a row kept or dropped.
func TestLatestMask(t *testing.T) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	op := func(arn, id string, h int, run string) schema.Operation {
		return schema.Operation{ExecutionArn: arn, OperationID: id, ExtractedAt: at(h), RunID: run}
	}
	groups := [][]schema.Operation{
		{
			op("a", "1", 1, "another"),   // superseded: another run in the same ms as with-data's
			op("a", "1", 1, "with-data"), // older, kept for its payloads
			op("a", "1", 2, "newest"),    // newest
		},
		{
			op("a", "2", 0, "oldest"),    // superseded (by the second file's)
			op("b", "1", 2, "newest"),    // superseded by the second file's, in the same ms
			op("b", "1", 1, "with-data"), // superseded: a's older version kept, not b's
		},
		{
			op("a", "1", 2, "newest"),    // newest again (a kill's duplicate)
			op("a", "1", 1, "with-data"), // older again
		},
	}
	dir := t.TempDir()
	writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", "part-1.parquet"), groups...)
	writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", "part-2.parquet"), []schema.Operation{op("a", "2", 2, "newest"), op("b", "1", 2, "newest+")})
	files, reads := published(t, dir, "operations", 2)
	var logged bytes.Buffer
	reads.d.cfg.logger = slog.New(slog.NewTextHandler(&logged, nil))
	withData := map[string]version{"a": {at(1).UnixMilli(), "with-data"}}
	want := []struct {
		keep []bool
		n    int64
	}{{[]bool{false, true, true}, 2}, {[]bool{false, false, false}, 0}, {[]bool{false, false}, 0}, {nil, 2}}
	// Every key at once (no bound, or as many bytes as the 3 keys take),
	// then fewer bytes, which takes shares.
	size, _ := keptHoldingEveryKey(t, reads, files, withData)
	for _, maxBytes := range []int64{0, size, size - 1, size / 2, 1} {
		logged.Reset()
		k, err := indexLatest(ctx, reads, schema.Operations, files, withData, maxBytes, nil)
		if err != nil {
			t.Fatal(err)
		}
		if shared := strings.Contains(logged.String(), "shares="); shared != (maxBytes > 0 && maxBytes < size) {
			t.Errorf("keys of %d bytes, at most %d: indexed by shares %v", size, maxBytes, shared)
		}
		f := newLatestFilter(k)
		g := 0
		for i, name := range []string{files[0].name, files[1].name} {
			f.startFile(i)
			for _, rg := range optest.OpenParquet(t, filepath.Join(dir, name)).RowGroups() {
				keep, n, err := f.mask(rg.NumRows())
				if err != nil || n != want[g].n || !slices.Equal(keep, want[g].keep) || (keep == nil) != (want[g].keep == nil) {
					t.Errorf("%d bytes: row group %d: mask %v, %d kept, %v: want %v, %d", maxBytes, g, keep, n, err, want[g].keep, want[g].n)
				}
				g++
			}
		}
		if err := f.endFile(); err != nil {
			t.Errorf("%d bytes: every row of the last file merged: %v", maxBytes, err)
		}
		if _, err := f.keepRow(); err == nil { // a row more than the file had
			t.Errorf("%d bytes: a row past the last file's read as kept or not, no error", maxBytes)
		}
		f.startFile(0) // the row path reads the same bits
		var rows []bool
		for range 8 {
			kept, err := f.keepRow()
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, kept)
		}
		if want := []bool{false, true, true, false, false, false, false, false}; !slices.Equal(rows, want) {
			t.Errorf("%d bytes: the first file's rows one by one %v, want %v", maxBytes, rows, want)
		}
		f.startFile(1) // a file whose rows were not all merged
		if _, err := f.keepRow(); err != nil {
			t.Fatal(err)
		}
		if err := f.endFile(); err == nil {
			t.Errorf("%d bytes: a file of 2 rows ended after 1, no error", maxBytes)
		}
	}
}

// writeGroups writes a Parquet file of operations rows at path, a row
// group for each of groups.
func writeGroups(t *testing.T, path string, groups ...[]schema.Operation) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := schema.Operations.NewParquetWriter(f, schema.Operations.ParquetSchema())
	for _, rows := range groups {
		if _, err := w.Write(schema.RowsOf(schema.Operations, rows)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLatestEventKeys: an event's key is its execution and its number,
// held in the execution's slice of numbers (execKeys.ids), or,
// for a number far from the others, in a map (intIDs): the same number
// in two executions is two keys, each with its own newest version, and
// so are numbers read before the first one, past a gap, or far away.
func TestLatestEventKeys(t *testing.T) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	ev := func(arn string, id int32, h int) schema.Event {
		return schema.Event{ExecutionArn: arn, EventID: id, EventType: "StepStarted", ExtractedAt: at(h), RunID: "r"}
	}
	const far = 1 << 30
	dir := t.TempDir()
	writeOneFile(t, dir, "events", []schema.Event{
		ev("a", 5, 1), ev("b", 5, 1), ev("a", 5, 2), // kept: the second and third
		ev("a", 6, 1), ev("a", 2, 1), ev("a", 2, 3), // kept: 6, then 2's newer (before the first number)
		ev("a", 40, 1), ev("a", 3, 1), //               kept: both (past a gap, then in it)
		ev("a", far, 2), ev("a", far, 1), ev("b", far, 1), // kept: a's first, b's
	})
	files, reads := published(t, dir, "events", 1)
	x := newLatestIndex(len(files))
	if err := x.read(ctx, reads, schema.Events, files, nil, unbounded); err != nil {
		t.Fatal(err)
	}
	var numbered int
	for _, e := range x.execs {
		for _, id := range e.ids {
			if id >= 0 {
				numbered++
			}
		}
	}
	if numbered != 6 || len(x.intIDs) != 2 || len(x.ids) != 0 || len(x.newest) != 8 {
		t.Errorf("%d keys numbered, %d in the map, %d as strings, %d in all; want 6, 2, 0 and 8", numbered, len(x.intIDs), len(x.ids), len(x.newest))
	}
	k := newKeptRows(x.fileRows)
	x.mark(k)
	keep, n, err := newLatestFilter(k).mask(11)
	if want := []bool{false, true, true, true, false, true, true, true, true, false, true}; err != nil || n != 8 || !slices.Equal(keep, want) {
		t.Errorf("mask %v, %d kept, %v; want %v, 8", keep, n, err, want)
	}
}

// TestLatestEventKeysFarApart: numbers that would each double an
// execution's slice of numbers go to the map past its first 64 entries:
// the slice stays at least half full, and every key is still found.
func TestLatestEventKeysFarApart(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var events []schema.Event
	for n := int32(1); n < 1<<20; n = 2*n + 63 { // 1, 65, 193, 449, ...: each within the slice's length and 64 of its end
		for h := range 2 { // a number twice: the newer kept
			events = append(events, schema.Event{ExecutionArn: "a", EventID: n, EventType: "StepStarted", ExtractedAt: at.Add(time.Duration(h) * time.Hour), RunID: "r"})
		}
	}
	dir := t.TempDir()
	writeOneFile(t, dir, "events", events)
	files, reads := published(t, dir, "events", 1)
	x := newLatestIndex(len(files))
	if err := x.read(context.Background(), reads, schema.Events, files, nil, unbounded); err != nil {
		t.Fatal(err)
	}
	keys := len(events) / 2
	if e := x.execs[0]; len(x.newest) != keys || len(e.ids) > 2*int(e.count)+64 || len(x.intIDs) == 0 {
		t.Errorf("%d keys (want %d), a slice of %d for %d of them, %d in the map", len(x.newest), keys, len(e.ids), e.count, len(x.intIDs))
	}
	k := newKeptRows(x.fileRows)
	x.mark(k)
	keep, n, err := newLatestFilter(k).mask(int64(len(events)))
	if err != nil || n != int64(keys) {
		t.Fatalf("%d kept, %v; want %d", n, err, keys)
	}
	for i, kept := range keep {
		if kept != (i%2 == 1) {
			t.Errorf("row %d (number %d, the %d of its two) kept %v", i, events[i].EventID, i%2, kept)
		}
	}
}

// published lists the n files of table under the archive dir, sorted by
// name, and reads them as compaction does; a failure, or another count,
// fails the test.
func published(t *testing.T, dir, table string, n int) ([]publishedFile, *fileReads) {
	t.Helper()
	d, err := NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := d.sink.list(context.Background(), table+"/")
	if err != nil || len(files) != n {
		t.Fatalf("%d files of %s, %v; want %d", len(files), table, err, n)
	}
	slices.SortFunc(files, func(a, b publishedFile) int { return strings.Compare(a.name, b.name) })
	reads := d.keepingReads()
	t.Cleanup(reads.close)
	return files, reads
}

// TestLatestIndexSize: latestIndex.size, which the key bound is on, is
// within 15% of the heap its keys take, measured: events' keys
// (numbers, in their executions' slices; some far apart, in the map)
// and operations' (string ids), 150 an execution, ARNs of the API's
// length.
func TestLatestIndexSize(t *testing.T) {
	keys := 300_000
	if testing.Short() {
		keys = 60_000
	}
	run := parquet.ByteArrayValue([]byte("20261206T101500Z-4f2a9c"))
	for _, c := range []struct {
		name  string
		table *schema.Table
		rest  func(i int) []parquet.Value // the i-th key's of its execution
		execs int                         // keys an execution
		off   float64                     // how far size may be from the heap (0: 15%)
	}{
		{"events", schema.Events, func(i int) []parquet.Value {
			if i == 149 {
				return []parquet.Value{parquet.Int32Value(1 << 20)} // far from the others
			}
			return []parquet.Value{parquet.Int32Value(int32(i + 1))}
		}, 150, 0},
		// Every key in intIDs: the estimate of a map alone runs up to 16%
		// low at some sizes (60,000 keys; 7% at 300,000).
		{"events numbered far apart", schema.Events, func(i int) []parquet.Value {
			return []parquet.Value{parquet.Int32Value(int32(i*1000 + 1))}
		}, 150, 0.2},
		{"operations", schema.Operations, func(i int) []parquet.Value {
			return []parquet.Value{parquet.ByteArrayValue(fmt.Appendf(nil, "%018x", i*0x9e3779b1))}
		}, 150, 0},
		{"operations of 64-byte ids", schema.Operations, func(i int) []parquet.Value {
			return []parquet.Value{parquet.ByteArrayValue(fmt.Appendf(nil, "%064x", i*0x9e3779b1))}
		}, 150, 0},
		{"executions", schema.Executions, func(int) []parquet.Value { return nil }, 1, 0},
	} {
		x := newLatestIndex(1)
		for i := range keys {
			arn := fmt.Appendf(nil, "arn:aws:lambda:eu-west-1:123456789012:function:order-processor:$LATEST/durable-execution/%08d/%s", i/c.execs, "a1b2c3d4")
			vals := slices.Concat([]parquet.Value{parquet.ByteArrayValue(arn)}, c.rest(i%c.execs), []parquet.Value{parquet.Int64Value(int64(i)), run})
			x.add(x.execOf(arn, nil), vals, int64(i))
		}
		// The heap with the index, then without it: what it held.
		// Two collections each: a sync.Pool's buffers (parquet-go's, of
		// the tests before) outlive one in its victim cache, and would
		// count as the index's were they freed between the two readings.
		var with, without runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&with)
		size := x.size()
		x = nil
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&without)
		heap := int64(with.HeapAlloc) - int64(without.HeapAlloc)
		off := cmp.Or(c.off, 0.15)
		if r := float64(size) / float64(heap); r < 1-off || r > 1+off {
			t.Errorf("%s: %d keys: size says %d bytes (%.1f a key), the heap grew %d (%.1f a key)", c.name, keys, size, float64(size)/float64(keys), heap, float64(heap)/float64(keys))
		} else {
			t.Logf("%s: %d keys: size %.1f bytes a key, heap %.1f", c.name, keys, float64(size)/float64(keys), float64(heap)/float64(keys))
		}
		// What a merge reserves a row covers a key of a row of its own.
		if per := max(size, heap) / int64(keys); per > keyBytesPerRow(c.table) {
			t.Errorf("%s: %d bytes a key, over the %d a merge reserves a row", c.name, per, keyBytesPerRow(c.table))
		}
	}
}

// TestLatestSharesFollowTheKeys: a table whose later files repeat the
// first one's keys (as nightly runs re-archive the running executions)
// is indexed in about as many shares as its keys need, not in the many
// that the first pass's keys a row (one a row, in the first file) say;
// its kept rows are those of the index holding every key.
func TestLatestSharesFollowTheKeys(t *testing.T) {
	dir := t.TempDir()
	const execs, copies = 400, 6
	for c := range copies { // the same keys in every file, newer in each
		var rows []schema.Operation
		for e := range execs {
			for id := range 2 {
				rows = append(rows, schema.Operation{ExecutionArn: shareTestARN(e),
					OperationID: fmt.Sprint(id), ExtractedAt: time.Date(2026, 3, 1, c, 0, 0, 0, time.UTC), RunID: "r"})
			}
		}
		writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", fmt.Sprintf("part-%d.parquet", c)), rows[:execs], rows[execs:])
	}
	files, reads := published(t, dir, "operations", copies)
	size, want := keptHoldingEveryKey(t, reads, files, nil)
	// Half of the keys' bytes: the first pass stops halfway through the
	// first file, a key a row so far; its rate says 2*copies*1.25 = 15
	// shares.
	k, shares, _ := indexedByShares(t, reads, files, size/2)
	if shares < 2 || shares > 6 {
		t.Errorf("%d shares for keys twice the bound, want 2 to 6", shares)
	}
	if !slices.Equal(k.bits, want.bits) {
		t.Errorf("by shares, %d rows kept; holding every key, %d", popCount(k.bits), popCount(want.bits))
	}
}

// shareTestARN is the ARN of the share tests' execution e.
func shareTestARN(e int) string {
	return fmt.Sprintf("arn:aws:lambda:eu-west-1:123456789012:function:f:1/durable-execution/%04d", e)
}

// indexedByShares indexes the operations files with their keys bounded
// to bound bytes, which must take shares: the rows kept, the shares
// taken and the largest share's keys' bytes, as the info line says.
func indexedByShares(t *testing.T, reads *fileReads, files []publishedFile, bound int64) (k *keptRows, shares int, largest int64) {
	t.Helper()
	var logged bytes.Buffer
	reads.d.cfg.logger = slog.New(slog.NewTextHandler(&logged, nil))
	k, err := indexLatest(context.Background(), reads, schema.Operations, files, nil, bound, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`shares=(\d+) largest_share=(\d+)`).FindStringSubmatch(logged.String())
	if m == nil {
		t.Fatalf("not indexed by shares: %s", logged.String())
	}
	shares, _ = strconv.Atoi(m[1])
	largest, _ = strconv.ParseInt(m[2], 10, 64)
	t.Logf("bound %d: %d shares, the largest %d bytes", bound, shares, largest)
	return k, shares, largest
}

// keptHoldingEveryKey indexes the operations files holding every key
// (withData as indexLatest's): the bytes its keys take, and the rows it
// keeps.
func keptHoldingEveryKey(t *testing.T, reads *fileReads, files []publishedFile, withData map[string]version) (int64, *keptRows) {
	t.Helper()
	all := newLatestIndex(len(files))
	if err := all.read(context.Background(), reads, schema.Operations, files, withData, unbounded); err != nil {
		t.Fatal(err)
	}
	kept := newKeptRows(all.fileRows)
	all.mark(kept)
	return all.size(), kept
}

func popCount(bits []uint64) (n int) {
	for _, b := range bits {
		n += mathbits.OnesCount64(b)
	}
	return n
}

// TestLatestSharesNarrowed: a table whose first file holds few keys in
// many rows (its later files' keys all new) makes the first pass's rate
// low, too few shares; a share whose keys outgrow half as much again as
// the bound is narrowed and read again: no share's keys take more, and
// the kept rows are those of the index holding every key.
func TestLatestSharesNarrowed(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var repeated []schema.Operation // one key, 20,000 versions
	for i := range 20_000 {
		repeated = append(repeated, schema.Operation{ExecutionArn: shareTestARN(0), OperationID: "0", ExtractedAt: at.Add(time.Duration(i) * time.Second), RunID: "r"})
	}
	writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", "part-0.parquet"), repeated)
	var fresh []schema.Operation // 1,600 keys, one version each
	for e := 1; e <= 400; e++ {
		for id := range 4 {
			fresh = append(fresh, schema.Operation{ExecutionArn: shareTestARN(e), OperationID: fmt.Sprint(id), ExtractedAt: at, RunID: "r"})
		}
	}
	writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", "part-1.parquet"), fresh[:400], fresh[400:800], fresh[800:1200], fresh[1200:])
	files, reads := published(t, dir, "operations", 2)
	size, want := keptHoldingEveryKey(t, reads, files, nil)
	// A quarter of the keys' bytes: the first pass stops in the second
	// file's first row group, its rate saying 2 shares (the least).
	bound := size / 4
	k, _, largest := indexedByShares(t, reads, files, bound)
	if largest > bound+bound/2 {
		t.Errorf("a share of %d bytes of keys, bound %d", largest, bound)
	}
	if !slices.Equal(k.bits, want.bits) {
		t.Errorf("by shares, %d rows kept; holding every key, %d", popCount(k.bits), popCount(want.bits))
	}
}

// TestLatestSharesAnyBound: whatever the bound, and however the keys
// spread over the files (executions of one key or many, keys in one
// version or several, repeated in later files or new there), indexing
// by shares keeps exactly the rows that holding every key keeps.
func TestLatestSharesAnyBound(t *testing.T) {
	ctx := context.Background()
	seeds := uint64(8)
	if testing.Short() { // the race run
		seeds = 3
	}
	for seed := range seeds {
		rnd := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		nfiles := 1 + rnd.IntN(4)
		for f := range nfiles {
			var rows []schema.Operation
			for range 50 + rnd.IntN(400) {
				e := rnd.IntN(30 + 60*f) // later files: more executions, some new
				rows = append(rows, schema.Operation{
					ExecutionArn: shareTestARN(e),
					OperationID:  fmt.Sprint(rnd.IntN(1 + e%9)),
					ExtractedAt:  time.Date(2026, 3, 1, rnd.IntN(4), 0, 0, 0, time.UTC),
					RunID:        fmt.Sprint("r", rnd.IntN(3)),
				})
			}
			cut := rnd.IntN(len(rows))
			writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", fmt.Sprintf("part-%d.parquet", f)), rows[:cut], rows[cut:])
		}
		files, reads := published(t, dir, "operations", nfiles)
		size, want := keptHoldingEveryKey(t, reads, files, nil)
		for _, bound := range []int64{2000, size / 7, size / 3, size/2 + 1, size - 1} {
			k, err := indexLatest(ctx, reads, schema.Operations, files, nil, bound, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(k.bits, want.bits) {
				t.Errorf("seed %d, bound %d of %d bytes: %d rows kept by shares, %d holding every key", seed, bound, size, popCount(k.bits), popCount(want.bits))
			}
		}
	}
}

// TestCompactKeysPastTheirEstimate: a partition whose keys take more
// than its merge reserved for them (operations' ids of 400 bytes, over
// keyBytesPerRow) is indexed whole when the bound has room for them (its
// reservation grown), none (KeyMemory math.MaxInt64, as --memory-limit 0
// gives) or 4 MiB; a share at a time when it has not (64 KiB), the
// same rows kept.
func TestCompactKeysPastTheirEstimate(t *testing.T) {
	for _, bound := range []int64{math.MaxInt64, 4 << 20, 64 << 10} {
		dir := t.TempDir()
		at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
		for c := range 2 { // two runs' files of the same 1,000 keys
			var ops []schema.Operation
			var execs []schema.Execution
			for e := range 50 {
				for id := range 20 {
					ops = append(ops, schema.Operation{ExecutionArn: shareTestARN(e), OperationID: fmt.Sprintf("%0400d", id),
						Type: "STEP", Status: "SUCCEEDED", Source: "history", RunID: fmt.Sprint("r", c), ExtractedAt: at.Add(time.Duration(c) * time.Hour)})
				}
				execs = append(execs, schema.Execution{ExecutionArn: shareTestARN(e), OperationCount: 20, ContentHash: "h", Source: "history",
					RunID: fmt.Sprint("r", c), ExtractedAt: at.Add(time.Duration(c) * time.Hour)})
			}
			name := fmt.Sprintf("dt=2026-03-01/part-%d.parquet", c)
			writeGroups(t, filepath.Join(dir, "operations", name), ops)
			if err := os.MkdirAll(filepath.Join(dir, "executions", "dt=2026-03-01"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := parquet.WriteFile(filepath.Join(dir, "executions", name), execs); err != nil {
				t.Fatal(err)
			}
		}
		var logged bytes.Buffer
		d, err := NewParquetDir(dir, WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
		if err != nil {
			t.Fatal(err)
		}
		later := func() time.Time { return time.Now().Add(2 * time.Hour) }
		st, err := d.Compact(context.Background(), CompactOptions{KeepLatest: true, KeyMemory: bound, Now: later})
		if err != nil || st.Partitions != 1 || st.RowsOut != 1000+50 {
			t.Fatalf("bound %d: %+v %v, want 1,050 rows kept", bound, st, err)
		}
		if shares := strings.Contains(logged.String(), "a share of its executions at a time"); shares != (bound < 1<<20) {
			t.Errorf("bound %d: merged by shares %v\n%s", bound, shares, logged.String())
		}
	}
}

// unbounded is latestIndex.read's bound when there is none.
func unbounded(int64) bool { return false }

// TestNumRowsReadOnce: a partition's reads count a file's rows from its
// footer once (keysWanted, then indexShares, ask for the same files):
// asked again after the file is gone, the answer is the first one's.
func TestNumRowsReadOnce(t *testing.T) {
	dir := t.TempDir()
	rows := []schema.Operation{{ExecutionArn: shareTestARN(1), OperationID: "1", RunID: "r"}, {ExecutionArn: shareTestARN(1), OperationID: "2", RunID: "r"}}
	writeGroups(t, filepath.Join(dir, "operations", "dt=2026-03-01", "part-0.parquet"), rows)
	files, reads := published(t, dir, "operations", 1)
	ctx := context.Background()
	if n, err := reads.numRows(ctx, files[0]); n != 2 || err != nil {
		t.Fatalf("%d rows, %v", n, err)
	}
	if err := os.Remove(filepath.Join(dir, files[0].name)); err != nil {
		t.Fatal(err)
	}
	if n, err := reads.numRows(ctx, files[0]); n != 2 || err != nil {
		t.Fatalf("asked again: %d rows, %v: the footer was read again", n, err)
	}
}
