package load_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// commitAll commits each execution's rows (its operations, events derived
// from its history, and its executions row) to every loader, in order.
func commitAll(t *testing.T, execs []emulator.Execution, loaders ...load.Loader) (ops, events int) {
	t.Helper()
	for _, e := range execs {
		o, ev := commitOne(t, e, loaders...)
		ops, events = ops+o, events+ev
	}
	for _, l := range loaders {
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return ops, events
}

// commitOne commits one execution's rows to every loader.
func commitOne(t *testing.T, e emulator.Execution, loaders ...load.Loader) (ops, events int) {
	t.Helper()
	ctx := context.Background()
	meta := transform.RowMeta{ExecutionArn: e.ARN, RunID: "r", ExtractedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	snap := transform.NewSnapshot(meta)
	var opRows []schema.Operation
	for i := range e.Len {
		opRows = snap.Add(opRows, []types.Operation{e.Op(i)})
	}
	var evRows []schema.Event
	var keys transform.EventKeys
	for i := range e.History.Len() {
		ev := e.History.Event(i)
		evRows = append(evRows, transform.EventRow(&ev, keys.Next(&ev), meta))
	}
	dt, _ := snap.Partition(time.Time{})
	row := snap.Finish()
	for _, l := range loaders {
		x, err := l.Begin(ctx, e.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, opRows)); err != nil {
			t.Fatal(err)
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Events, evRows)); err != nil {
			t.Fatal(err)
		}
		if err := x.Commit(ctx, dt, row); err != nil {
			t.Fatal(err)
		}
	}
	return len(opRows), len(evRows)
}

func countRows[T any](t *testing.T, files []string) int {
	t.Helper()
	n := 0
	for _, f := range files {
		rows, err := parquet.ReadFile[T](f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(rows)
	}
	return n
}

// TestParquetManyPartitions: executions spread over hundreds of start
// dates, with a buffer budget small enough to spill many times, land whole,
// one file per table per partition, byte-identical in two destinations,
// and leave no spill behind; also when they come in start order and each
// partition is finished once its last execution is committed (as a run by
// discovery does): then most partitions are published before Close, and
// an execution that comes after its partition was finished lands in a
// file of its own. Their writers are reused.
func TestParquetManyPartitions(t *testing.T) {
	n, minDates := 400, 200
	if testing.Short() { // the race run
		n, minDates = 110, 70
	}
	execs := emulator.Generate(61, n, emulator.GenerateOptions{MaxOps: 40, Days: 300, LargePayloadEvery: -1})
	dtOf := func(e emulator.Execution) string { return e.Op(0).StartTimestamp.UTC().Format(time.DateOnly) }
	dts := map[string]bool{}
	for _, e := range execs {
		dts[dtOf(e)] = true
	}
	if len(dts) < minDates {
		t.Fatalf("only %d start dates: the test needs hundreds", len(dts))
	}
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprint("finish partitions ", finish), func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			var loaders []load.Loader
			for _, dir := range dirs {
				pd, err := load.NewParquetDir(dir, load.WithBufferBudget(256<<10), load.WithRowGroupSize(128<<10), load.WithFilePrefix("part-x"))
				if err != nil {
					t.Fatal(err)
				}
				loaders = append(loaders, pd)
			}
			var ops, events int
			late := ""
			if !finish {
				ops, events = commitAll(t, execs, loaders...)
			} else {
				ops, events, late = commitInStartOrder(t, execs, dtOf, load.Fanout(loaders...), loaders[0].(*load.Parquet))
			}
			// Small files' writers are reset for the next files, not made
			// anew each time (the twins below still hold the same bytes).
			// Four partitions are written at once and two writers a table
			// are kept, so when the four always overlap (a loaded machine,
			// the race run) half the files get a new writer; without reuse
			// every file would.
			all, _ := filepath.Glob(filepath.Join(dirs[0], "*", "dt=*", "*.parquet"))
			if made := load.WritersMadeForTest(loaders[0].(*load.Parquet)); made*2 > int64(len(all))+12 {
				t.Errorf("%d writers made for %d files: want them reused", made, len(all))
			}
			for _, table := range []string{"operations", "events", "executions"} {
				files, _ := filepath.Glob(filepath.Join(dirs[0], table, "dt=*", "*.parquet"))
				perDT := map[string]int{}
				for _, f := range files {
					perDT[strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "dt=")]++
				}
				if len(perDT) != len(dts) {
					t.Errorf("%s: files in %d partitions, want %d", table, len(perDT), len(dts))
				}
				for dt, n := range perDT {
					if want := 1 + btoi(dt == late); n != want {
						t.Errorf("%s/%s: %d files, want %d", table, dt, n, want)
					}
				}
				var want, got int
				switch table {
				case "operations":
					want, got = ops, countRows[schema.Operation](t, files)
				case "events":
					want, got = events, countRows[schema.Event](t, files)
				default:
					want, got = len(execs), countRows[schema.Execution](t, files)
				}
				if got != want {
					t.Errorf("%s: %d rows, want %d", table, got, want)
				}
				// The twin destination holds the same bytes.
				sort.Strings(files)
				for _, f := range files {
					rel, _ := filepath.Rel(dirs[0], f)
					a, _ := os.ReadFile(f)
					b, err := os.ReadFile(filepath.Join(dirs[1], rel))
					if err != nil || !bytes.Equal(a, b) {
						t.Fatalf("%s differs between the two destinations (%v)", rel, err)
					}
				}
			}
			for _, dir := range dirs {
				left, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, "*"))
				left2, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, ".*"))
				if len(left)+len(left2) != 0 {
					t.Errorf("%s: left in _incoming: %v %v", dir, left, left2)
				}
			}
		})
	}
}

// commitInStartOrder commits execs oldest first through l, finishing each
// partition after its last execution, and then one more execution of the
// first partition (late: its rows must land all the same). It checks that
// pd (one of l's destinations) published most partitions before Close.
func commitInStartOrder(t *testing.T, execs []emulator.Execution, dtOf func(emulator.Execution) string, l load.Loader, pd *load.Parquet) (ops, events int, late string) {
	t.Helper()
	ctx := context.Background()
	sorted := slices.Clone(execs)
	slices.SortStableFunc(sorted, func(a, b emulator.Execution) int { return strings.Compare(dtOf(a), dtOf(b)) })
	// The late execution shares its partition with one committed in order.
	k := 0
	for k = range len(sorted) - 1 {
		if dtOf(sorted[k]) == dtOf(sorted[k+1]) {
			break
		}
	}
	lateExec := sorted[k]
	sorted = slices.Delete(sorted, k, k+1)
	finished := 0
	for i, e := range sorted {
		o, ev := commitOne(t, e, l)
		ops, events = ops+o, events+ev
		if dt := dtOf(e); i == len(sorted)-1 || dtOf(sorted[i+1]) != dt {
			if err := l.(load.PartitionFinisher).FinishPartition(ctx, dt); err != nil {
				t.Fatal(err)
			}
			finished++
		}
	}
	o, ev := commitOne(t, lateExec, l)
	ops, events = ops+o, events+ev
	published := pd.Stats().Files
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Every batch of finished partitions but the last is published before
	// Close (the last may still be under way): three files each.
	if want := 3 * load.FinishBatch * (finished/load.FinishBatch - 1); published < want || finished < 2*load.FinishBatch {
		t.Errorf("%d files published before Close, want at least %d (%d partitions finished)", published, want, finished)
	}
	return ops, events, dtOf(lateExec)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestParquetRollsAtTargetSize: a busy partition rolls into several files of
// about the target size, each whole (its executions rows with their rows).
func TestParquetRollsAtTargetSize(t *testing.T) {
	n := 200
	if testing.Short() { // the race run
		n = 60
	}
	execs := emulator.Generate(62, n, emulator.GenerateOptions{MinOps: 50, MaxOps: 100, Days: 1, LargePayloadEvery: -1})
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir, load.WithTargetFileSize(64<<10), load.WithBufferBudget(512<<10), load.WithRowGroupSize(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := commitAll(t, execs, pd)
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	if len(files) < 3 {
		t.Fatalf("%d operations files: no roll", len(files))
	}
	if got := countRows[schema.Operation](t, files); got != ops {
		t.Errorf("%d rows, want %d", got, ops)
	}
	// Each executions file names exactly the executions of its operations sibling.
	checkSiblings(t, dir, files)
}

// TestParquetRollsAtClose: partitions that spilled many times roll at the
// target size while Close writes them: every file is whole (its executions
// sibling names exactly its executions) and no row is lost or doubled.
func TestParquetRollsAtClose(t *testing.T) {
	n := 300
	if testing.Short() { // the race run
		n = 100
	}
	execs := emulator.Generate(63, n, emulator.GenerateOptions{MinOps: 20, MaxOps: 60, Days: 5, LargePayloadEvery: -1})
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir, load.WithTargetFileSize(24<<10), load.WithBufferBudget(1<<20), load.WithRowGroupSize(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := commitAll(t, execs, pd)
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*-r*.parquet"))
	if len(files) == 0 {
		t.Fatal("no file rolled at Close (no -rK name)")
	}
	all, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	if got := countRows[schema.Operation](t, all); got != ops {
		t.Errorf("%d operations rows, want %d", got, ops)
	}
	seen := checkSiblings(t, dir, all)
	for _, e := range execs {
		if seen[e.ARN] != 1 {
			t.Errorf("%s: %d executions rows, want 1", e.ARN, seen[e.ARN])
		}
	}
}

// checkSiblings checks that each operations file's executions sibling (same
// partition, same name) names exactly the executions of its rows, and
// counts the executions rows of each execution.
func checkSiblings(t *testing.T, dir string, files []string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, f := range files {
		rows, _ := parquet.ReadFile[schema.Operation](f)
		arns := map[string]bool{}
		for _, r := range rows {
			arns[r.ExecutionArn] = true
		}
		ex, err := parquet.ReadFile[schema.Execution](filepath.Join(dir, "executions", filepath.Base(filepath.Dir(f)), filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ex {
			seen[e.ExecutionArn]++
			if !arns[e.ExecutionArn] {
				t.Errorf("%s: executions row of %s without its operations", f, e.ExecutionArn)
			}
			delete(arns, e.ExecutionArn)
		}
		if len(arns) != 0 {
			t.Errorf("%s: %d executions with operations but no executions row beside them", f, len(arns))
		}
	}
	return seen
}

// TestRowsReadsOnlyWhatItNeeds: Rows of a few executions of a partition
// whose files hold many row groups (so the selective read seeks across row
// groups and pages) gives exactly those executions' rows, as a full read of
// the files does; so too when the key indexes' hashes collide (64 values
// for every key, or one), which makes them read more rows, never fewer;
// and so too for every other execution of each partition, which a local
// file also reads by its key index, its wanted runs alone (a seek before
// each), rather than decoding every row of the file.
func TestRowsReadsOnlyWhatItNeeds(t *testing.T) {
	n := 200
	if testing.Short() { // the race run
		n = 70
	}
	execs := emulator.Generate(64, n, emulator.GenerateOptions{MinOps: 5, MaxOps: 80, Days: 1, LargePayloadEvery: -1})
	dir, _, latest := archivedForReading(t, execs, load.WithRowGroupSize(48<<10), load.WithBufferBudget(256<<10))
	for _, pick := range []struct {
		name string
		of   func(i int) bool
	}{{"few", func(i int) bool { return i%17 == 3 }}, {"half", func(i int) bool { return i%2 == 0 }}} {
		for _, c := range []struct {
			name string
			hash func(h uint64) uint64
		}{{"own hash", nil}, {"64 hashes", func(h uint64) uint64 { return h & 63 }}, {"one hash", func(uint64) uint64 { return 7 }}} {
			t.Run(pick.name+"/"+c.name, func(t *testing.T) {
				rd, err := load.OpenParquetDirForReading(dir)
				if err != nil {
					t.Fatal(err)
				}
				if c.hash != nil {
					own := rd.KeyHashForTest()
					rd.SetKeyHashForTest(func(k []parquet.Value) uint64 { return c.hash(own(k)) })
				}
				checkRowsOf(t, execs, pick.of, dir, rd, latest)
				if rd.KeyIndexedFilesForTest("operations") == 0 {
					t.Error("no operations file's keys indexed: the files were decoded whole")
				}
			})
		}
	}
}

// TestRowsOfPartitionsOfSeveralFiles: a partition's files from three runs
// (as nightly runs leave them until compacted), every other execution
// read: the rows wanted of all its files together outnumber each file's,
// yet no file is wanted whole, so every file is read by its key index,
// its wanted runs alone, and the rows are exactly the executions'.
func TestRowsOfPartitionsOfSeveralFiles(t *testing.T) {
	execs := emulator.Generate(67, 120, emulator.GenerateOptions{MinOps: 5, MaxOps: 80, Days: 1, LargePayloadEvery: -1})
	dir := t.TempDir()
	for i, part := range [][]emulator.Execution{execs[:40], execs[40:80], execs[80:]} {
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix(fmt.Sprint("part-run", i)), load.WithRowGroupSize(48<<10))
		if err != nil {
			t.Fatal(err)
		}
		commitAll(t, part, pd)
	}
	rd, latest := openForReading(t, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	partitions, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*"))
	if len(files) < 2*len(partitions) {
		t.Fatalf("%d operations files in %d partitions: the test wants several a partition", len(files), len(partitions))
	}
	checkRowsOf(t, execs, func(i int) bool { return i%2 == 0 }, dir, rd, latest)
	if n := rd.KeyIndexedFilesForTest("operations"); n != len(files) {
		t.Errorf("%d of the %d operations files read by their key index: the others were decoded whole", n, len(files))
	}
}

// checkRowsOf checks Rows of the executions of execs that pick picks
// against a full read of their partitions' files.
func checkRowsOf(t *testing.T, execs []emulator.Execution, pick func(i int) bool, dir string, rd *load.Parquet, latest map[string]load.ExecutionState) {
	byDT := map[string][]load.ExecutionState{}
	for i, e := range execs {
		if pick(i) {
			st := latest[e.ARN]
			byDT[st.DT] = append(byDT[st.DT], st)
		}
	}
	for dt, states := range byDT {
		files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt="+dt, "*.parquet"))
		groups := 0
		wantOps := map[string]int{}
		for _, f := range files {
			groups += len(optest.OpenParquet(t, f).RowGroups())
			rows, _ := parquet.ReadFile[schema.Operation](f)
			for _, r := range rows {
				wantOps[r.ExecutionArn]++
			}
		}
		if groups < 4 {
			t.Fatalf("dt=%s: %d row groups; the test needs several", dt, groups)
		}
		wantEvents := map[string]int{}
		evFiles, _ := filepath.Glob(filepath.Join(dir, "events", "dt="+dt, "*.parquet"))
		for _, f := range evFiles {
			rows, _ := parquet.ReadFile[schema.Event](f)
			for _, r := range rows {
				wantEvents[r.ExecutionArn]++
			}
		}
		got, err := rd.Rows(context.Background(), states)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(states) {
			t.Fatalf("dt=%s: rows of %d executions, want %d", dt, len(got), len(states))
		}
		for _, st := range states {
			g := got[st.Arn]
			if len(g.Operations) != wantOps[st.Arn] || int64(len(g.Operations)) != st.OperationCount || len(g.Events) != wantEvents[st.Arn] {
				t.Errorf("%s: %d operations and %d events, want %d and %d", st.Arn, len(g.Operations), len(g.Events), wantOps[st.Arn], wantEvents[st.Arn])
			}
			for i, r := range g.Operations {
				if r.ExecutionArn != st.Arn || r.Seq != int64(i) {
					t.Fatalf("%s: operation %d is %s seq %d", st.Arn, i, r.ExecutionArn, r.Seq)
				}
			}
		}
	}
}

// TestParquetNameCollision: a second run reusing a run's file prefix in the
// same directory (re-archiving the same executions, so the same names come
// up) fails at Close with a message saying so, and leaves the first run's
// files as they were and none of its own.
func TestParquetNameCollision(t *testing.T) {
	execs := emulator.Generate(65, 40, emulator.GenerateOptions{MaxOps: 20, Days: 30, LargePayloadEvery: -1})
	dir := t.TempDir()
	open := func() *load.Parquet {
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-same"), load.WithBufferBudget(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	commitAll(t, execs[:20], open())
	before := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
	for _, f := range files {
		before[f], _ = os.ReadFile(f)
	}
	pd := open()
	ctx := context.Background()
	for _, e := range execs[:20] {
		meta := transform.RowMeta{ExecutionArn: e.ARN, RunID: "r2", ExtractedAt: time.Now()}
		snap := transform.NewSnapshot(meta)
		var rows []schema.Operation
		for i := range e.Len {
			rows = snap.Add(rows, []types.Operation{e.Op(i)})
		}
		dt, _ := snap.Partition(time.Time{})
		x, _ := pd.Begin(ctx, e.ARN)
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			t.Fatal(err)
		}
		if err := x.Commit(ctx, dt, snap.Finish()); err != nil {
			t.Fatal(err)
		}
	}
	err := pd.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "own file prefix") {
		t.Fatalf("Close: %v, want a name collision", err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
	if len(after) != len(before) {
		t.Errorf("%d files after, %d before", len(after), len(before))
	}
	for f, b := range before {
		if got, _ := os.ReadFile(f); !bytes.Equal(got, b) {
			t.Errorf("%s changed", f)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, ".*")); len(left) != 0 {
		t.Errorf("left in _incoming: %v", left)
	}
}

// TestRowsKeyIndexesStayBounded: reading one execution of each of many
// partitions (the selective path, which indexes each file's keys) returns
// its rows, and the loader keeps the key indexes of a bounded number of
// partitions, however many it has read.
func TestRowsKeyIndexesStayBounded(t *testing.T) {
	execs := emulator.Generate(65, 600, emulator.GenerateOptions{MinOps: 3, MaxOps: 20, Days: 40, LargePayloadEvery: -1})
	_, rd, latest := archivedForReading(t, execs)
	one := map[string]load.ExecutionState{}
	for _, st := range latest {
		if cur, ok := one[st.DT]; !ok || st.Arn < cur.Arn {
			one[st.DT] = st
		}
	}
	if len(one) < 20 {
		t.Fatalf("only %d partitions: the test needs more than the indexes kept", len(one))
	}
	for dt, st := range one {
		got, err := rd.Rows(context.Background(), []load.ExecutionState{st})
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(len(got[st.Arn].Operations)); n != st.OperationCount {
			t.Fatalf("dt=%s: %d operations read back, the executions row says %d", dt, n, st.OperationCount)
		}
	}
	if n := rd.KeyIndexedPartitionsForTest(); n == 0 || n > 8 { // keyIndexPartitions
		t.Errorf("key indexes of %d partitions kept after reading %d", n, len(one))
	}
}

// TestKeyIndexKeepsOnlyItsKeys: a key index keeps each run's key's hash,
// not the batch of column values the key was read in (a verify of partitions of
// 770,000 rows held 190 MB of such batches). One partition of 300
// executions: after one execution's rows are read (which indexes the
// files' keys), the heap holds about the index's few hundred keys, not
// the 300 batches of 1,024 keys each their first row falls in.
func TestKeyIndexKeepsOnlyItsKeys(t *testing.T) {
	execs := emulator.Generate(66, 300, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: 1, LargePayloadEvery: -1})
	_, rd, latest := archivedForReading(t, execs)
	st := latest[execs[0].ARN]
	// Twice: a sync.Pool's buffers (parquet-go's pages) outlive one
	// collection in its victim cache; the reader does not hold them.
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	got, err := rd.Rows(context.Background(), []load.ExecutionState{st})
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(got[st.Arn].Operations)); n != st.OperationCount {
		t.Fatalf("%d operations read back, the executions row says %d", n, st.OperationCount)
	}
	got = nil
	grown := int64(heap()) - int64(before)
	if rd.KeyIndexedPartitionsForTest() == 0 {
		t.Fatal("no key index was built: the test reads too large a share of the file")
	}
	if grown > 1<<20 { // about 40 KiB; the batches, tens of MB
		t.Errorf("the heap grew by %d KiB with the key index of 300 executions' runs", grown>>10)
	}
	runtime.KeepAlive(rd)
}

// archivedForReading archives execs in a new directory (written with opts)
// and opens it for reading, with the newest state of every execution.
func archivedForReading(t *testing.T, execs []emulator.Execution, opts ...load.ParquetOption) (string, *load.Parquet, map[string]load.ExecutionState) {
	t.Helper()
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	commitAll(t, execs, pd)
	rd, latest := openForReading(t, dir)
	return dir, rd, latest
}

// openForReading opens the archive in dir for reading, with the newest
// state of every execution.
func openForReading(t *testing.T, dir string) (*load.Parquet, map[string]load.ExecutionState) {
	t.Helper()
	rd, err := load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := rd.Latest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rd, latest
}

// retypedOperation is an operations row as a version that wrote attempt as
// a 64-bit integer might have: a column type this version does not write.
type retypedOperation struct {
	ExecutionArn    string    `parquet:"execution_arn"`
	OperationID     string    `parquet:"operation_id"`
	Seq             int64     `parquet:"seq"`
	Attempt         *int64    `parquet:"attempt,optional"`
	ErrorStackTrace []string  `parquet:"error_stack_trace,optional,list"`
	RunID           string    `parquet:"run_id"`
	ExtractedAt     time.Time `parquet:"extracted_at,timestamp(millisecond)"`
}

// TestRowsReadsOtherColumnTypes: a file whose column types differ from
// this version's is read by reflection instead of the row decoder, with
// every row's values its own (more rows than one read batch, each with a
// stack trace of its own).
func TestRowsReadsOtherColumnTypes(t *testing.T) {
	const arn, runID = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/x/1", "old-run"
	at := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	rows := make([]retypedOperation, 1500)
	for i := range rows {
		n := int64(i % 7)
		rows[i] = retypedOperation{ExecutionArn: arn, OperationID: fmt.Sprint("op-", i), Seq: int64(i), Attempt: &n,
			ErrorStackTrace: []string{fmt.Sprint("frame-", i), "main"}, RunID: runID, ExtractedAt: at}
	}
	dir := t.TempDir()
	part := filepath.Join(dir, "operations", "dt=2026-01-01")
	os.MkdirAll(part, 0o755)
	if err := parquet.WriteFile(filepath.Join(part, "old.parquet"), rows); err != nil {
		t.Fatal(err)
	}
	rd, err := load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := load.ExecutionState{Arn: arn, RunID: runID, ExtractedAt: at, OperationCount: int64(len(rows)), DT: "2026-01-01"}
	got, err := rd.Rows(context.Background(), []load.ExecutionState{st})
	if err != nil {
		t.Fatal(err)
	}
	ops := got[arn].Operations
	if len(ops) != len(rows) {
		t.Fatalf("%d operations read of %d", len(ops), len(rows))
	}
	for i, op := range ops {
		w := rows[i]
		if op.OperationID != w.OperationID || op.Attempt == nil || int64(*op.Attempt) != *w.Attempt || !slices.Equal(op.ErrorStackTrace, w.ErrorStackTrace) {
			t.Fatalf("row %d: %s attempt %v trace %v, want %s %d %v", i, op.OperationID, op.Attempt, op.ErrorStackTrace, w.OperationID, *w.Attempt, w.ErrorStackTrace)
		}
	}
}

// TestLatestReadsFilesAtOnce: Latest reads its files on several goroutines
// and says the same whatever order they finish in: every execution's
// newest snapshot, and of two equally new ones (an executions file
// written again into a later partition) the earlier partition's; a file
// that cannot be read is named, whichever reader met it.
func TestLatestReadsFilesAtOnce(t *testing.T) {
	execs := emulator.Generate(62, 120, emulator.GenerateOptions{MaxOps: 5, Days: 40, LargePayloadEvery: -1})
	dir, rd, first := archivedForReading(t, execs)
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	if len(files) < 20 {
		t.Fatalf("%d executions files: too few to read at once", len(files))
	}
	sort.Strings(files)
	if len(first) != len(execs) {
		t.Fatalf("%d executions read, %d archived", len(first), len(execs))
	}
	// The first partition's file again, in a partition listed last.
	copied := filepath.Join(dir, "executions", "dt=2999-12-31", "copy.parquet")
	os.MkdirAll(filepath.Dir(copied), 0o755)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(copied, b, 0o644)
	firstDT := strings.TrimPrefix(filepath.Base(filepath.Dir(files[0])), "dt=")
	for range 20 {
		got, err := rd.Latest(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(first) {
			t.Fatalf("%d executions, want %d", len(got), len(first))
		}
		for arn, st := range first {
			if g := got[arn]; g != st && !(g.DT == st.DT && g.Arn == st.Arn && g.RunID == st.RunID && g.ExtractedAt.Equal(st.ExtractedAt) && g.ContentHash == st.ContentHash) {
				t.Fatalf("%s: %+v, want %+v", arn, g, st)
			}
			if st.DT == firstDT && got[arn].DT != firstDT {
				t.Fatalf("%s: read from %s, want the earlier partition (%s)", arn, got[arn].DT, firstDT)
			}
		}
	}
	// A damaged file, in the middle of the listing: left out (its
	// executions missing), named by Unreadable, every time.
	bad := files[len(files)/2]
	held, err := parquet.ReadFile[schema.Execution](bad)
	if err != nil || len(held) == 0 {
		t.Fatalf("%s: %d rows, %v", bad, len(held), err)
	}
	os.WriteFile(bad, []byte("not parquet"), 0o644)
	for range 5 {
		got, err := rd.Latest(context.Background(), nil)
		if err != nil || len(got) != len(first)-len(held) || len(rd.Unreadable()) != 1 || !strings.HasSuffix(rd.Unreadable()[0], filepath.Base(bad)) {
			t.Fatalf("Latest with %s damaged: %d executions, %v, unreadable %v: want all but its %d, it named", filepath.Base(bad), len(got), err, rd.Unreadable(), len(held))
		}
	}
	// A file that cannot be read (a folder in its place) stops Latest,
	// naming it.
	os.Remove(bad)
	os.Mkdir(bad, 0o755)
	for range 5 {
		if _, err := rd.Latest(context.Background(), nil); err == nil || !strings.Contains(err.Error(), filepath.Base(bad)) {
			t.Fatalf("Latest with %s unreadable: %v, want an error naming it", filepath.Base(bad), err)
		}
	}
}

// TestSpilledExecutionKeepsEveryRow: a small execution, then one whose
// staged rows spill (its row groups copied into the file at commit, after
// the rows waiting there), then a small one again, of the same partition:
// every row reaches the file. With parquet-go v0.32, rows written with
// WriteRows and then with Write in one row group were lost (4.7% of a
// million-event history, when commits read spilled rows back).
func TestSpilledExecutionKeepsEveryRow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := load.NewParquetDir(dir, load.WithStageMemory(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 200)
	want := map[string]int{"before": 40, "big": 20_000, "small": 30}
	for _, arn := range []string{"before", "big", "small"} {
		ex, err := d.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		for first := 0; first < want[arn]; first += 500 {
			if err := ex.Write(ctx, succeededOps(arn, first, min(500, want[arn]-first), &payload)); err != nil {
				t.Fatal(err)
			}
		}
		if err := ex.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: arn, OperationCount: int64(want[arn])}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	got := map[string][]int64{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Operation](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[r.ExecutionArn] = append(got[r.ExecutionArn], r.Seq)
		}
	}
	for arn, n := range want {
		seqs := got[arn]
		slices.Sort(seqs)
		if len(seqs) != n {
			t.Errorf("%s: %d operations in %d files, want %d", arn, len(seqs), len(files), n)
			continue
		}
		for i, seq := range seqs {
			if seq != int64(i) {
				t.Fatalf("%s: seq %d where %d was due", arn, seq, i)
			}
		}
	}
}

// TestSpilledStageRowGroups: a spilled execution's rows reach its
// partition's file as the stage's own row groups (copied, not encoded
// again at commit), each ending at the stage memory's worth of row data
// whenever the stage began to spill: a destination whose stage budget made
// the execution spill early (another execution held most of it) writes the
// same bytes as one where it spilled only when its own stage filled.
func TestSpilledStageRowGroups(t *testing.T) {
	ctx := context.Background()
	payload := strings.Repeat("x", 1000)
	write := func(x load.Execution, arn string, first, n int) {
		t.Helper()
		if err := x.Write(ctx, succeededOps(arn, first, n, &payload)); err != nil {
			t.Fatal(err)
		}
	}
	per := schema.RowsOf(schema.Operations, []schema.Operation{{ExecutionArn: "big", OperationID: "0", Status: "SUCCEEDED", Result: &payload}}).Size()
	pageRows := int((100 << 10) / per) // pages of about 100 KiB
	const pages = 60                   // about 6 MiB
	archive := func(otherFirst bool, helpers int) string {
		dir := t.TempDir()
		d, err := load.NewParquetDir(dir, load.WithStageMemory(1<<20), load.WithStageBudget(1<<20),
			load.WithStageHelpers(helpers), load.WithHelpersAlways())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			// WithHelpersAlways: with helpers, row groups go to them.
			if n := load.StageHelped(d); helpers == 0 && n != 0 || helpers > 0 && n == 0 {
				t.Errorf("with %d helpers, %d row groups helped", helpers, n)
			}
		}()
		big, _ := d.Begin(ctx, "big")
		other, _ := d.Begin(ctx, "other")
		if otherFirst { // 0.9 MiB staged: big spills once it holds 256 KiB
			write(other, "other", 0, int(0.9*(1<<20)/float64(per)))
		}
		for p := range pages {
			write(big, "big", p*pageRows, pageRows)
		}
		if !otherFirst {
			write(other, "other", 0, int(0.9*(1<<20)/float64(per)))
		}
		if n := load.StageSpills(d); n != 1 {
			t.Fatalf("%d stages spilled, want big's", n)
		}
		for _, x := range []struct {
			arn string
			ex  load.Execution
		}{{"big", big}, {"other", other}} {
			if err := x.ex.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: x.arn}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	early, late, helped := archive(true, 0), archive(false, 0), archive(false, 2)
	files, _ := filepath.Glob(filepath.Join(late, "operations", "dt=*", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("operations files: %v, want one", files)
	}
	f := optest.OpenParquet(t, files[0])
	groups := f.RowGroups()
	var bigRows int64
	for _, rg := range groups[:len(groups)-1] {
		bigRows += rg.NumRows()
	}
	// A row group ends after the page that brings it to 1 MiB; then big's
	// last, partial one; then other's.
	perGroup := int(((1 << 20) + int64(pageRows)*per - 1) / (int64(pageRows) * per))
	if want := (pages+perGroup-1)/perGroup + 1; len(groups) != want || bigRows != pages*int64(pageRows) {
		t.Errorf("%d row groups holding %d of big's %d rows before other's, want %d", len(groups), bigRows, pages*pageRows, want)
	}
	for _, rg := range groups[:pages/perGroup] {
		if n := rg.NumRows(); n != int64(perGroup*pageRows) {
			t.Errorf("a full row group of %d rows, want %d (%d pages)", n, perGroup*pageRows, perGroup)
		}
	}
	a, _ := os.ReadFile(files[0])
	b, err := os.ReadFile(filepath.Join(early, strings.TrimPrefix(files[0], late)))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("the file differs where the stage budget made big spill early (%v)", err)
	}
	c, err := os.ReadFile(filepath.Join(helped, strings.TrimPrefix(files[0], late)))
	if err != nil || !bytes.Equal(a, c) {
		t.Errorf("the file differs where helpers encoded row groups (%v)", err)
	}
}

// TestSpilledStageAborted: an execution aborted after its stage spilled
// (its pages on their way to the stage's encoder) leaves no row in the
// archive and nothing counted in the stage budget, and a later execution
// of the same partition is archived whole.
func TestSpilledStageAborted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := load.NewParquetDir(dir, load.WithStageMemory(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1000)
	write := func(x load.Execution, arn string, n int) {
		t.Helper()
		for first := 0; first < n; first += 100 {
			if err := x.Write(ctx, succeededOps(arn, first, 100, &payload)); err != nil {
				t.Fatal(err)
			}
		}
	}
	lost, _ := d.Begin(ctx, "lost")
	write(lost, "lost", 5000)
	if load.StageSpills(d) != 1 {
		t.Fatalf("%d stages spilled, want 1", load.StageSpills(d))
	}
	if err := lost.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if n := load.StagedBytes(d); n != 0 {
		t.Errorf("%d bytes still counted in the stage budget after the abort", n)
	}
	if err := lost.Write(ctx, schema.RowsOf(schema.Operations, []schema.Operation{{ExecutionArn: "lost"}})); err == nil {
		t.Error("a write after the abort was taken")
	}
	kept, _ := d.Begin(ctx, "kept")
	write(kept, "kept", 3000)
	if err := kept.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := operationsByExecution(t, dir)
	if want := map[string]int{"kept": 3000}; !maps.Equal(got, want) {
		t.Errorf("rows archived: %v, want %v", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, "*")); len(left) != 0 {
		t.Errorf("left under _incoming: %v", left)
	}
}

// TestEndTableFreesHelper: a spilled stage's row group still open (its
// execution may add rows) holds its helper; once its table is ended
// (EndTable, which the history path calls after the last events page),
// the helper is free for the execution's other stage, whose operations
// come after. Every row lands; no row is taken after the end.
func TestEndTableFreesHelper(t *testing.T) {
	ctx := context.Background()
	payload := strings.Repeat("x", 1000)
	for _, end := range []bool{false, true} {
		dir := t.TempDir()
		d, err := load.NewParquetDir(dir, load.WithStageMemory(1<<20), load.WithStageBudget(256<<10),
			load.WithStageHelpers(1), load.WithHelpersAlways())
		if err != nil {
			t.Fatal(err)
		}
		x, _ := d.Begin(ctx, "big")
		events := make([]schema.Event, 400) // about 400 KiB: spilled, a row group open on the helper
		for i := range events {
			events[i] = schema.Event{ExecutionArn: "big", EventID: int32(i + 1), EventType: "StepSucceeded", Result: &payload}
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Events, events)); err != nil {
			t.Fatal(err)
		}
		if load.StageSpills(d) != 1 || load.StageHelped(d) != 1 {
			t.Fatalf("%d stages spilled, %d row groups helped; want 1 and 1", load.StageSpills(d), load.StageHelped(d))
		}
		if end {
			if err := x.(load.TableEnder).EndTable(ctx, schema.Events); err != nil {
				t.Fatal(err)
			}
			if err := x.Write(ctx, schema.RowsOf(schema.Events, events[:1])); err == nil {
				t.Error("an events row was taken after the table's end")
			}
		}
		for first := 0; first < 3000; first += 100 { // about 3 MiB: 3 row groups
			if err := x.Write(ctx, succeededOps("big", first, 100, &payload)); err != nil {
				t.Fatal(err)
			}
		}
		helped := load.StageHelped(d)
		if end { // a table ended before its first row takes none either
			y, _ := d.Begin(ctx, "empty")
			if err := y.(load.TableEnder).EndTable(ctx, schema.Events); err != nil {
				t.Fatal(err)
			}
			if err := y.Write(ctx, schema.RowsOf(schema.Events, events[:1])); err == nil {
				t.Error("an events row was taken after the table's end")
			}
			y.Abort(ctx)
		}
		if err := x.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: "big"}); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if end && helped < 2 || !end && helped != 1 {
			t.Errorf("EndTable called %v: %d row groups helped, want %s", end, helped, map[bool]string{false: "1", true: "2 or more"}[end])
		}
		ops, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
		evs, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
		if n, m := countRows[schema.Operation](t, ops), countRows[schema.Event](t, evs); n != 3000 || m != len(events) {
			t.Errorf("EndTable called %v: %d operations and %d events archived, want 3000 and %d", end, n, m, len(events))
		}
	}
}

// TestFanoutTwinsUnderStageBudget: twin Parquet destinations fed by
// executions written at once, whose stages cross the shared stage budget
// now and then (a stage spills or not by what the others hold), write the
// same bytes: every destination sees the executions' writes and commits
// in one order, so each makes the same spill decisions.
func TestFanoutTwinsUnderStageBudget(t *testing.T) {
	ctx := context.Background()
	dirs := []string{t.TempDir(), t.TempDir()}
	var twins []load.Loader
	for _, dir := range dirs {
		d, err := load.NewParquetDir(dir, load.WithFilePrefix("twin"), load.WithStageMemory(1<<20), load.WithStageBudget(2<<20))
		if err != nil {
			t.Fatal(err)
		}
		twins = append(twins, d)
	}
	f := load.Fanout(twins...)
	payload := strings.Repeat("y", 900)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 5 {
				arn := fmt.Sprintf("exec-%d-%d", g, k)
				x, err := f.Begin(ctx, arn)
				if err != nil {
					errs <- err
					return
				}
				pages := 1 + (g*7+k*3)%9 // 100 to 900 rows of about 1 KiB
				for p := range pages {
					if err := x.Write(ctx, succeededOps(arn, p*100, 100, &payload)); err != nil {
						errs <- err
						return
					}
					runtime.Gosched()
				}
				if err := x.Commit(ctx, fmt.Sprintf("2026-01-0%d", 1+g%3), schema.Execution{ExecutionArn: arn}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	spilled := load.StageSpills(twins[0].(*load.Parquet))
	if spilled == 0 || spilled == 40 {
		t.Fatalf("%d of 40 stages spilled: the budget decided nothing", spilled)
	}
	files, _ := filepath.Glob(filepath.Join(dirs[0], "*", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, name := range files {
		a, _ := os.ReadFile(name)
		b, err := os.ReadFile(filepath.Join(dirs[1], strings.TrimPrefix(name, dirs[0])))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from its twin (%v); stages spilled: %d and %d", strings.TrimPrefix(name, dirs[0]), err,
				spilled, load.StageSpills(twins[1].(*load.Parquet)))
		}
	}
}

// TestStageBudgetIsShared: executions in flight share the stage budget:
// past it, the one adding rows spills its stage (a file unlinked at once)
// although its own stage memory has room; a stage under 256 KiB never does.
// Every row is archived either way.
func TestStageBudgetIsShared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := load.NewParquetDir(dir, load.WithStageMemory(8<<20), load.WithStageBudget(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1000)
	stageFiles := func() int {
		if f, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, ".stage-*")); len(f) != 0 {
			t.Fatalf("stage files left named under _incoming: %v", f)
		}
		return int(load.StageSpills(d))
	}
	write := func(x load.Execution, arn string, first, n int) {
		if err := x.Write(ctx, succeededOps(arn, first, n, &payload)); err != nil {
			t.Fatal(err)
		}
	}
	// Row counts by the loader's own size estimate, against the 1 MiB budget.
	per := schema.RowsOf(schema.Operations, []schema.Operation{{ExecutionArn: "a", OperationID: "0", Status: "SUCCEEDED", Result: &payload}}).Size()
	rowsFor := func(frac float64) int { return int(frac * (1 << 20) / float64(per)) }
	small, _ := d.Begin(ctx, "small")
	write(small, "small", 0, 10)
	a, _ := d.Begin(ctx, "a")
	write(a, "a", 0, rowsFor(0.85)) // within the budget
	if n := stageFiles(); n != 0 {
		t.Fatalf("%d stage files within the budget", n)
	}
	b, _ := d.Begin(ctx, "b")
	write(b, "b", 0, rowsFor(0.2)) // past the budget, but under 256 KiB: stays
	if n := stageFiles(); n != 0 {
		t.Fatalf("%d stage files for a small stage", n)
	}
	write(b, "b", rowsFor(0.2), rowsFor(0.2)) // past both: b spills
	if n := stageFiles(); n != 1 {
		t.Fatalf("%d stage files past the budget, want b's", n)
	}
	want := map[string]int{"small": 10, "a": rowsFor(0.85), "b": 2 * rowsFor(0.2)}
	for arn, x := range map[string]load.Execution{"small": small, "a": a, "b": b} {
		if err := x.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: arn}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := operationsByExecution(t, dir)
	if !maps.Equal(got, want) {
		t.Errorf("rows archived: %v, want %v", got, want)
	}
}

// operationsByExecution counts the rows of dir's published operations
// files by execution.
func operationsByExecution(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	got := map[string]int{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Operation](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[r.ExecutionArn]++
		}
	}
	return got
}

// succeededOps is n SUCCEEDED operations of arn, ids and seq from first on,
// each with result.
func succeededOps(arn string, first, n int, result *string) schema.Rows {
	rows := make([]schema.Operation, n)
	for i := range rows {
		rows[i] = schema.Operation{ExecutionArn: arn, OperationID: fmt.Sprint(first + i), Seq: int64(first + i), Status: "SUCCEEDED", Result: result}
	}
	return schema.RowsOf(schema.Operations, rows)
}

// commitFails wraps a loader as a destination that is not a file ledger
// (as Postgres is not) and fails the commit of one execution, rolling
// back what it staged, as a database whose commit failed does.
type commitFails struct {
	load.Loader
	arn string
}

func (c commitFails) Begin(ctx context.Context, arn string) (load.Execution, error) {
	x, err := c.Loader.Begin(ctx, arn)
	if err != nil || arn != c.arn {
		return x, err
	}
	return commitFailsExec{x}, nil
}

type commitFailsExec struct{ load.Execution }

func (x commitFailsExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	x.Execution.Abort(ctx)
	return errors.New("commit refused (test)")
}

// TestFanoutCommitFailure: the fan-out commits the transactional
// destinations first, in the order given, then the file ledgers
// (Parquet). When one fails to commit an execution, the destinations
// before it keep it (each is whole on its own; a rerun completes the
// others) and those after it, the Parquet files among them, never show
// it: what the files hold is committed everywhere else. Another
// execution lands in every destination.
func TestFanoutCommitFailure(t *testing.T) {
	ctx := context.Background()
	dirs := map[string]string{"before": t.TempDir(), "failing": t.TempDir(), "ledger": t.TempDir()}
	open := func(name string) *load.Parquet {
		pd, err := load.NewParquetDir(dirs[name], load.WithFilePrefix("part-"+name))
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	f := load.Fanout(open("ledger"), commitFails{Loader: open("before"), arn: "none"}, commitFails{Loader: open("failing"), arn: "refused"})
	for _, arn := range []string{"refused", "landed"} {
		x, err := f.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Write(ctx, succeededOps(arn, 0, 10, nil)); err != nil {
			t.Fatal(err)
		}
		err = x.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: arn})
		if (err != nil) != (arn == "refused") {
			t.Fatalf("commit %s: %v", arn, err)
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for name, dir := range dirs {
		got := operationsByExecution(t, dir)
		want := map[string]int{"landed": 10}
		if name == "before" {
			want["refused"] = 10
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s destination holds %v operations by execution, want %v", name, got, want)
		}
	}
}

// TestLostEventsPerDestination: two Parquet destinations fed the same
// runs, one of which lost an events file (the first run's events of an
// execution, 1-4); all its events written again through Fanout's
// WriteLost (etl run --force --rewrite-events) give each destination
// what it lacks: the one that lost the file gets 1-4 and the new 8-9,
// the other 8-9, and both then hold 1-9 once each. An event written with
// Write beside them (given the payloads it was archived without) is
// written whatever the destination holds.
func TestLostEventsPerDestination(t *testing.T) {
	root := t.TempDir()
	open := func(archive, run string) load.Loader {
		pd, err := load.NewParquetDir(filepath.Join(root, archive), load.WithFilePrefix("part-"+run))
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	both := func(run string) load.Loader { return load.Fanout(open("a", run), open("b", run)) }
	commitWithEvents(t, both("held-1"), heldDT, nil, heldEvents("held-1", 1, 4), heldRow("held-1", 4))
	commitWithEvents(t, both("held-2"), heldDT, nil, heldEvents("held-2", 5, 7), heldRow("held-2", 7))
	lost, _ := filepath.Glob(filepath.Join(root, "a", "events", "dt="+heldDT, "part-held-1*"))
	if len(lost) != 1 {
		t.Fatalf("the first run's events files of a: %v, want one", lost)
	}
	if err := os.Remove(lost[0]); err != nil {
		t.Fatal(err)
	}
	if ids := heldEventIDs(t, open("a", "read")); !slices.Equal(ids, []int32{5, 6, 7}) {
		t.Fatalf("a holds events %v after the loss, want 5-7", ids)
	}
	if n, _ := rewriteHeldEvents(t, both("held-3"), "held-3"); n != 6 {
		t.Errorf("%d events written, want 6: the most either destination lacked (a: 1-4, 8, 9)", n)
	}
	for _, archive := range []string{"a", "b"} {
		if ids := heldEventIDs(t, open(archive, "read")); !slices.Equal(ids, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("%s holds events %v after the rewrite, want each of 1-9 once", archive, ids)
		}
	}
	if n, _ := rewriteHeldEvents(t, both("held-4"), "held-4", 2); n != 0 {
		t.Errorf("%d events written through WriteLost, want none: both hold 1-9", n)
	}
	for _, archive := range []string{"a", "b"} {
		if ids := heldEventIDs(t, open(archive, "read")); !slices.Equal(ids, []int32{1, 2, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("%s holds events %v after event 2 was written again, want it twice and 1-9 once", archive, ids)
		}
	}
}

// TestLostEventsWithAnUnreadableFile: a partition holding a file that is
// not Parquet (a stray one) cannot tell which events it holds: all are
// written again, none lost and the run not stopped, the kept ones then
// held twice.
func TestLostEventsWithAnUnreadableFile(t *testing.T) {
	root := t.TempDir()
	var logged bytes.Buffer
	open := func(run string) load.Loader {
		pd, err := load.NewParquetDir(root, load.WithFilePrefix("part-"+run), load.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	commitWithEvents(t, open("held-1"), heldDT, nil, heldEvents("held-1", 1, 4), heldRow("held-1", 4))
	stray := filepath.Join(root, "events", "dt="+heldDT, "stray.parquet")
	if err := os.WriteFile(stray, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, _ := rewriteHeldEvents(t, open("held-2"), "held-2"); n != 9 {
		t.Errorf("%d events written, want all 9", n)
	}
	if err := os.Remove(stray); err != nil {
		t.Fatal(err)
	}
	if ids := heldEventIDs(t, open("read")); !slices.Equal(ids, []int32{1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("events held: %v, want 1-4 twice and 5-9 once", ids)
	}
	if !strings.Contains(logged.String(), "events written again whole") || !strings.Contains(logged.String(), "stray.parquet") {
		t.Errorf("the log does not name the stray file:\n%s", logged.String())
	}
}

// TestLostEventsRewritesAnAlteredOne: an event the archive holds otherwise
// than the service has it (a file altered since, or a row read without its
// payloads) is written again by WriteLost, its newer row then the event;
// those held as they are, though archived by another run (run_id and
// extracted_at differ), are not.
func TestLostEventsRewritesAnAlteredOne(t *testing.T) {
	root := t.TempDir()
	open := func(run string) load.Loader {
		pd, err := load.NewParquetDir(root, load.WithFilePrefix("part-"+run))
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	archived := heldEvents("held-1", 1, 4)
	archived[1].Name = aws.String("altered")
	commitWithEvents(t, open("held-1"), heldDT, nil, archived, heldRow("held-1", 4))
	if n, _ := rewriteHeldEvents(t, open("held-2"), "held-2"); n != 6 {
		t.Errorf("%d events written, want 6 (2 and 5-9)", n)
	}
	if ids := heldEventIDs(t, open("read")); !slices.Equal(ids, []int32{1, 2, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("events held: %v, want the altered 2 twice and the others once", ids)
	}
	// Altered again, in a newer row: held-2's form of event 2 is held
	// still, but the _latest views read held-3's, so it is written again.
	altered := heldEvents("held-3", 2, 2)
	altered[0].Name = aws.String("altered again")
	commitWithEvents(t, open("held-3"), heldDT, nil, altered, heldRow("held-3", 9))
	if n, _ := rewriteHeldEvents(t, open("held-4"), "held-4"); n != 1 {
		t.Errorf("%d events written, want 1 (2)", n)
	}
	if ids := heldEventIDs(t, open("read")); !slices.Equal(ids, []int32{1, 2, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("events held: %v, want 2 four times (its newest row altered) and the others once", ids)
	}
}
