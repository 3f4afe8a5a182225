package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/peakrss"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// nightly archives execs as ten nightly runs would: all of them the first
// night, then again each night those still running (one in five).
func nightly(t testing.TB, dir string, execs []emulator.Execution) {
	t.Helper()
	nightlyFrom(t, dir, execs, 0)
}

// nightlyFrom is nightly's ten runs from night first on (their run ids
// and clocks; each file named after its run).
func nightlyFrom(t testing.TB, dir string, execs []emulator.Execution, first int) {
	t.Helper()
	nights(t, dir, execs, first, 10)
}

// nights is the first n of nightlyFrom's runs.
func nights(t testing.TB, dir string, execs []emulator.Execution, first, n int) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 2, 15, 0, 0, time.UTC).AddDate(0, 0, first)
	for night := range n {
		runID := fmt.Sprintf("run-%02d", first+night)
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-"+runID))
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range execs {
			if night > 0 && i%5 != 0 {
				continue
			}
			meta := transform.RowMeta{ExecutionArn: e.ARN, RunID: runID, ExtractedAt: base.AddDate(0, 0, night)}
			snap := transform.NewSnapshot(meta)
			var ops []schema.Operation
			n := e.Len
			if night < 9 && i%5 == 0 {
				n = max(1, e.Len*(night+1)/10) // a running execution grows night after night
			}
			for j := range n {
				ops = snap.Add(ops, []types.Operation{e.Op(j)})
			}
			var evs []schema.Event
			var keys transform.EventKeys
			for j := range min(e.History.Len(), 3*n) {
				ev := e.History.Event(j)
				evs = append(evs, transform.EventRow(&ev, keys.Next(&ev), meta))
			}
			dt, _ := snap.Partition(time.Time{})
			x, _ := pd.Begin(ctx, e.ARN)
			x.Write(ctx, schema.RowsOf(schema.Operations, ops))
			x.Write(ctx, schema.RowsOf(schema.Events, evs))
			if err := x.Commit(ctx, dt, snap.Finish()); err != nil {
				t.Fatal(err)
			}
		}
		if err := pd.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// archiveView reads every table under dir: the number of rows, the files per
// partition, and what the _latest views return (per partition and key, the
// newest row by extracted_at, then run_id), as printed rows.
type archiveView struct {
	rows, maxFiles map[string]int
	latest         map[string]map[string]string
	all            map[string]map[string]int // every row printed, how many times
}

func viewOf(t *testing.T, dir string) archiveView {
	t.Helper()
	v := archiveView{rows: map[string]int{}, maxFiles: map[string]int{}, latest: map[string]map[string]string{}, all: map[string]map[string]int{}}
	for _, table := range []string{"operations", "events", "executions"} {
		files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
		per := map[string]int{}
		newest := map[string]struct {
			at  int64
			run string
			row string
		}{}
		for _, f := range files {
			dt := filepath.Base(filepath.Dir(f))
			per[dt]++
			var keys []string
			var ats []int64
			var runs, printed []string
			order := optest.RowOrder{T: t, File: f, Ordered: table == "operations"}
			switch table {
			case "operations":
				rows, err := parquet.ReadFile[schema.Operation](f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					keys, ats, runs, printed = append(keys, dt+r.ExecutionArn+"/"+r.OperationID), append(ats, r.ExtractedAt.UnixMilli()), append(runs, r.RunID), append(printed, jsonOf(r))
					order.Row(r.ExecutionArn, r.RunID, r.ExtractedAt, r.Seq)
				}
			case "events":
				rows, err := parquet.ReadFile[schema.Event](f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					keys, ats, runs, printed = append(keys, fmt.Sprint(dt, r.ExecutionArn, "/", r.EventID)), append(ats, r.ExtractedAt.UnixMilli()), append(runs, r.RunID), append(printed, jsonOf(r))
					order.Row(r.ExecutionArn, r.RunID, r.ExtractedAt, int64(r.EventID))
				}
			default:
				rows, err := parquet.ReadFile[schema.Execution](f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					keys, ats, runs, printed = append(keys, dt+r.ExecutionArn), append(ats, r.ExtractedAt.UnixMilli()), append(runs, r.RunID), append(printed, jsonOf(r))
				}
			}
			v.rows[table] += len(keys)
			if v.all[table] == nil {
				v.all[table] = map[string]int{}
			}
			for _, p := range printed {
				v.all[table][dt+p]++
			}
			for i, k := range keys {
				cur, ok := newest[k]
				if !ok || ats[i] > cur.at || (ats[i] == cur.at && runs[i] > cur.run) {
					newest[k] = struct {
						at  int64
						run string
						row string
					}{ats[i], runs[i], printed[i]}
				}
			}
		}
		for _, n := range per {
			v.maxFiles[table] = max(v.maxFiles[table], n)
		}
		v.latest[table] = map[string]string{}
		for k, n := range newest {
			v.latest[table][k] = n.row
		}
	}
	return v
}

func sameLatest(t *testing.T, before, after archiveView) {
	t.Helper()
	for table, want := range before.latest {
		got := after.latest[table]
		if len(got) != len(want) {
			t.Errorf("%s: the _latest view has %d rows, had %d", table, len(got), len(want))
		}
		for k, row := range want {
			if got[k] != row {
				t.Errorf("%s %s: the _latest view changed", table, k)
				break
			}
		}
	}
}

func TestCompact(t *testing.T) {
	n := 300
	if testing.Short() { // the race run
		n = 60
	}
	execs := emulator.Generate(71, n, emulator.GenerateOptions{MaxOps: 30, Days: 12, LargePayloadEvery: -1})
	later := func() time.Time { return time.Now().Add(2 * time.Hour) } // every file is old enough
	// Keeping the latest, with the keys' memory bounded too: 8 KiB (under
	// a hundred keys) a share (KeyMemory), a share of the executions at a
	// time.
	for _, c := range []struct {
		keep bool
		keys int64
	}{{false, 0}, {true, 0}, {true, 8 << 10}} {
		keep := c.keep
		t.Run(fmt.Sprint("keep latest ", keep, ", key memory ", c.keys), func(t *testing.T) {
			dir := t.TempDir()
			nightly(t, dir, execs)
			before := viewOf(t, dir)
			if before.maxFiles["operations"] < 5 {
				t.Fatalf("only %d files in a partition: the nightly runs did not multiply them", before.maxFiles["operations"])
			}
			var logged bytes.Buffer // the log says when a partition is merged by shares
			pd, err := load.NewParquetDir(dir, load.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
			if err != nil {
				t.Fatal(err)
			}
			// Files younger than MinAge are left alone, and counted.
			published, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
			if st, err := pd.Compact(context.Background(), load.CompactOptions{KeepLatest: keep, MinAge: time.Hour}); err != nil || st.Partitions != 0 || st.Young != len(published) {
				t.Fatalf("fresh files compacted, or not all %d counted young: %+v %v", len(published), st, err)
			}
			st, err := pd.Compact(context.Background(), load.CompactOptions{KeepLatest: keep, KeyMemory: c.keys, Now: later})
			if err != nil || st.Young != 0 {
				t.Fatalf("%+v %v", st, err)
			}
			if shares := strings.Contains(logged.String(), "a share of its executions at a time"); shares != (c.keys > 0) {
				t.Errorf("key memory %d: the log says merged by shares %v", c.keys, shares)
			}
			after := viewOf(t, dir)
			for _, table := range []string{"operations", "events", "executions"} {
				if after.maxFiles[table] != 1 {
					t.Errorf("%s: %d files in a partition after compaction", table, after.maxFiles[table])
				}
				want := before.rows[table]
				if keep {
					want = len(before.latest[table])
				}
				if after.rows[table] != want {
					t.Errorf("%s: %d rows after compaction, want %d", table, after.rows[table], want)
				}
			}
			sameLatest(t, before, after)
			if st.FilesOut == 0 || st.FilesIn <= st.FilesOut || st.RowsIn < st.RowsOut {
				t.Errorf("stats %+v", st)
			}
			// Nothing left to do.
			if st, err := pd.Compact(context.Background(), load.CompactOptions{KeepLatest: keep, Now: later}); err != nil || st.Partitions != 0 {
				t.Errorf("second compaction: %+v %v", st, err)
			}
		})
	}
}

// TestCompactLeavesWhatNothingSupersedes: keeping the latest, a partition
// already of one file per table in which no key has two versions (a date
// only one run wrote, as after a backfill) is left as it is, files and
// bytes; a single file that holds superseded snapshots (a merge that kept
// all) is merged as before, down to the _latest views' rows.
func TestCompactLeavesWhatNothingSupersedes(t *testing.T) {
	execs := emulator.Generate(74, 60, emulator.GenerateOptions{MaxOps: 20, Days: 6, LargePayloadEvery: -1})
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	ctx := context.Background()
	files := func(dir string) map[string]string { // name: content
		t.Helper()
		names, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
		out := map[string]string{}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = string(b)
		}
		return out
	}

	dir := t.TempDir()
	nights(t, dir, execs, 0, 1)
	before := files(dir)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	dts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*"))
	// With 4 KiB of keys at most (about a hundred): a file's keys are
	// read a share at a time.
	st, err := pd.Compact(ctx, load.CompactOptions{KeepLatest: true, KeyMemory: 4 << 10, Now: later})
	if err != nil || st.Partitions != 0 || st.FilesIn != 0 || st.AlreadyCompact != len(dts) || len(dts) < 4 {
		t.Errorf("one run's %d partitions merged again, or not counted already compact: %+v %v", len(dts), st, err)
	}
	if after := files(dir); len(after) != len(before) || len(before) < 12 {
		t.Errorf("%d files before, %d after", len(before), len(after))
	} else {
		for n, b := range before {
			if after[n] != b {
				t.Errorf("%s: rewritten or gone", n)
			}
		}
	}

	// Ten runs merged keeping every row: one file per table, superseded
	// snapshots in them.
	dir = t.TempDir()
	nightly(t, dir, execs)
	view := viewOf(t, dir)
	if pd, err = load.NewParquetDir(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := pd.Compact(ctx, load.CompactOptions{Now: later}); err != nil || st.Partitions == 0 {
		t.Fatalf("%+v %v", st, err)
	}
	// Kept latest with every key in memory, and with 4 KiB of them at
	// most (a file's keys checked a share at a time, then merged by
	// shares).
	merged := dir
	for _, keys := range []int64{0, 4 << 10} {
		dir := filepath.Join(t.TempDir(), "archive")
		if err := os.CopyFS(dir, os.DirFS(merged)); err != nil {
			t.Fatal(err)
		}
		pd, err := load.NewParquetDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := pd.Compact(ctx, load.CompactOptions{KeepLatest: true, KeyMemory: keys, Now: later}); err != nil || st.Partitions == 0 || st.RowsOut >= st.RowsIn {
			t.Errorf("%d keys: single files holding superseded snapshots left as they were: %+v %v", keys, st, err)
		}
		after := viewOf(t, dir)
		for _, table := range []string{"operations", "events", "executions"} {
			if after.rows[table] != len(view.latest[table]) || after.maxFiles[table] != 1 {
				t.Errorf("%d keys: %s: %d rows in up to %d files a partition, want %d in 1", keys, table, after.rows[table], after.maxFiles[table], len(view.latest[table]))
			}
		}
		sameLatest(t, view, after)
		if st, err := pd.Compact(ctx, load.CompactOptions{KeepLatest: true, KeyMemory: keys, Now: later}); err != nil || st.Partitions != 0 || st.AlreadyCompact != len(dts) {
			t.Errorf("%d keys: compacted again: %+v %v, want %d partitions already compact", keys, st, err, len(dts))
		}
	}
}

// TestCompactKeysShareTheirBound: keeping the latest, what holds keys at
// once (the checks of partitions merged before, each file's keys; the
// merges of several partitions) reserves its part of KeyMemory first, so
// that all of them together never hold more; what they asked for in all
// is several times the bound, and the _latest views read the same after.
func TestCompactKeysShareTheirBound(t *testing.T) {
	execs := emulator.Generate(76, 240, emulator.GenerateOptions{MaxOps: 30, Days: 8, LargePayloadEvery: -1})
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	ctx := context.Background()
	dir := t.TempDir()
	nightly(t, dir, execs)
	view := viewOf(t, dir)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Merged keeping every row: each partition a file a table, whose keys
	// the next compaction checks before it merges them again.
	if st, err := pd.Compact(ctx, load.CompactOptions{Now: later}); err != nil || st.Partitions < 8 {
		t.Fatalf("%+v %v", st, err)
	}
	const bound = 96 << 10 // about a partition's operations' keys
	var mu sync.Mutex
	var reserved, most, reservations int64
	o := load.CompactOptions{KeepLatest: true, KeyMemory: bound, Now: later}
	load.OnKeysReserved(&o, func(n, held int64) {
		mu.Lock()
		defer mu.Unlock()
		reserved += n
		most = max(most, held)
		reservations++
	})
	st, err := pd.Compact(ctx, o)
	if err != nil || st.Partitions < 8 {
		t.Fatalf("%+v %v", st, err)
	}
	if most > bound {
		t.Errorf("keys held at once: %d bytes reserved, over the bound of %d", most, bound)
	}
	if reserved < 4*bound || reservations < 2*int64(st.Partitions) {
		t.Errorf("%d reservations of %d bytes in all, for %d partitions: the bound of %d never binding", reservations, reserved, st.Partitions, bound)
	}
	t.Logf("%d reservations, %d bytes in all, at most %d at once (bound %d)", reservations, reserved, most, bound)
	after := viewOf(t, dir)
	for _, table := range []string{"operations", "events", "executions"} {
		if after.rows[table] != len(view.latest[table]) || after.maxFiles[table] != 1 {
			t.Errorf("%s: %d rows in up to %d files a partition, want %d in 1", table, after.rows[table], after.maxFiles[table], len(view.latest[table]))
		}
	}
	sameLatest(t, view, after)
}

// TestCompactKilled: a compaction killed after publishing a partition's
// merged files and before removing the old ones leaves every row visible
// and the _latest views right; the next compaction finishes it.
func TestCompactKilled(t *testing.T) {
	execs := emulator.Generate(72, 120, emulator.GenerateOptions{MaxOps: 20, Days: 4, LargePayloadEvery: -1})
	dir := t.TempDir()
	nightly(t, dir, execs)
	before := viewOf(t, dir)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	o := load.CompactOptions{Now: later}
	load.StopAfterPublish(&o)
	if st, err := pd.Compact(context.Background(), o); err == nil || st.Done >= st.Total || st.Total < 2 {
		t.Fatalf("the kill: %+v, %v: want an error, the partitions done short of all", st, err)
	}
	sameLatest(t, before, viewOf(t, dir))
	st, err := pd.Compact(context.Background(), load.CompactOptions{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	after := viewOf(t, dir)
	if st.Finished == 0 || st.Done != st.Total || st.Total < 2 || after.maxFiles["operations"] != 1 || after.rows["operations"] != before.rows["operations"] {
		t.Errorf("after the rerun: %+v, %d files, %d rows (want %d)", st, after.maxFiles["operations"], after.rows["operations"], before.rows["operations"])
	}
	sameLatest(t, before, after)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// BenchmarkCompact: ten nightly runs over 2,000 executions spread over 30
// days (many small files), one operation in 500 with a 256 KiB payload,
// compacted with --keep latest; rows read per second.
func BenchmarkCompact(b *testing.B) {
	execs := emulator.Generate(73, 2000, emulator.GenerateOptions{MaxOps: 60, Days: 30, LargePayloadEvery: 500})
	var rows int64
	var took time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		nightly(b, dir, execs)
		st, d := compactTimed(b, dir, load.CompactOptions{KeepLatest: true})
		took += d
		rows += st.RowsIn
		b.ReportMetric(float64(st.FilesIn), "files-in")
		b.ReportMetric(float64(st.FilesOut), "files-out")
	}
	b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
}

// BenchmarkCompactAgain: a partition of 2,000 executions (one start date,
// 60 operations at most, one in 500 with a 256 KiB result), archived by
// ten nightly runs and compacted (--keep all), then archived by ten more
// runs (the 400 still running); the second compaction's rows read per
// second and the row groups it copied whole. Rows of the merged file's
// row groups are copied, not read.
func BenchmarkCompactAgain(b *testing.B) {
	execs := emulator.Generate(76, 2000, emulator.GenerateOptions{MaxOps: 60, Days: 1, LargePayloadEvery: 500})
	src := b.TempDir()
	nightly(b, src, execs)
	pd, err := load.NewParquetDir(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pd.Compact(context.Background(), load.CompactOptions{}); err != nil {
		b.Fatal(err)
	}
	nightlyFrom(b, src, execs[:400], 10)
	var rows int64
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := copyArchive(b, src)
		b.StartTimer()
		st, d := compactTimed(b, dir, load.CompactOptions{})
		took += d
		rows += st.RowsIn
		b.ReportMetric(float64(st.RowGroupsCopied), "row-groups-copied")
		b.ReportMetric(float64(st.FilesIn), "files-in")
	}
	b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
}

// compactTimed compacts the archive under dir with o and says how long
// the compaction took.
func compactTimed(b *testing.B, dir string, o load.CompactOptions) (load.CompactStats, time.Duration) {
	b.Helper()
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	st, err := pd.Compact(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	return st, time.Since(start)
}

// copyArchive copies the archive under src to a directory of its own.
func copyArchive(b *testing.B, src string) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "archive")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkCompactRSS: BenchmarkCompact's archive (900 files) compacted by
// the etl binary (ETL_BIN, built by make bench) as a user runs it
// (--keep latest; --min-age 0, the files being minutes old): its peak RSS
// against the 256 MiB target, and rows read per second, process start
// included.
func BenchmarkCompactRSS(b *testing.B) {
	compactRSS(b, emulator.Generate(73, 2000, emulator.GenerateOptions{MaxOps: 60, Days: 30, LargePayloadEvery: 500}))
}

// BenchmarkCompactLargePartitionRSS: as BenchmarkCompactRSS, on one
// partition of millions of rows: 6,000 executions that start the same
// day (150 operations at most, one in 500 with a 256 KiB result, their
// events), archived by ten nightly runs. --keep latest holds every key
// of a table's files while it merges them (they take less than half of
// --memory-limit).
func BenchmarkCompactLargePartitionRSS(b *testing.B) {
	compactRSS(b, emulator.Generate(74, 6000, emulator.GenerateOptions{MaxOps: 150, Days: 1, LargePayloadEvery: 500}))
}

// BenchmarkCompactLargePartitionSharesRSS: BenchmarkCompactLargePartitionRSS
// at --memory-limit 64MiB, whose half (the keys' bound) holds fewer
// keys than they have, so that the events and operations are indexed a
// share of their executions at a time (load.CompactOptions.KeyMemory):
// the peak RSS such a partition
// takes within a lower limit, and what the shares cost in rows/s.
func BenchmarkCompactLargePartitionSharesRSS(b *testing.B) {
	compactRSS(b, emulator.Generate(74, 6000, emulator.GenerateOptions{MaxOps: 150, Days: 1, LargePayloadEvery: 500}), "--memory-limit", "64MiB")
}

// compactRSS is the compaction RSS benchmarks' body: execs archived by
// nightly, then compacted by the binary (with args too), b.N times.
func compactRSS(b *testing.B, execs []emulator.Execution, args ...string) {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	src := b.TempDir()
	nightly(b, src, execs)
	summary := regexp.MustCompile(`(\d+) files into (\d+), (\d+) rows into`)
	var peak, rows int64
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := copyArchive(b, src)
		cmd := peakrss.Command(b.TempDir(), bin, append([]string{"compact", "--dest", dir, "--keep", "latest", "--min-age", "0"}, args...)...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took += time.Since(start)
		if err != nil {
			b.Fatalf("etl compact: %v\n%s", err, out)
		}
		m := summary.FindSubmatch(out)
		if m == nil {
			b.Fatalf("etl compact said %q", out)
		}
		rows += mustInt(b, m[3])
		p, err := cmd.Peak()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
		b.ReportMetric(float64(mustInt(b, m[1])), "files-in")
		b.ReportMetric(float64(mustInt(b, m[2])), "files-out")
		b.ReportMetric(float64(mustInt(b, m[3])), "rows-in")
	}
	b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
}

func mustInt(b *testing.B, s []byte) int64 {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// firstRoundExecution is the executions row as the first release wrote it:
// no source, no GetDurableExecution columns.
type firstRoundExecution struct {
	ExecutionArn   string    `parquet:"execution_arn,dict"`
	Status         *string   `parquet:"status,optional"`
	OperationCount int64     `parquet:"operation_count"`
	ContentHash    string    `parquet:"content_hash"`
	RunID          string    `parquet:"run_id,dict"`
	ExtractedAt    time.Time `parquet:"extracted_at,timestamp(millisecond)"`
}

// TestCompactOlderFiles: a partition holding a file written before columns
// were added compacts with the newer ones; the older rows read back whole,
// the columns they lacked null (or empty, for a required one), and --keep
// latest compares their versions with the newer rows'.
func TestCompactOlderFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	running, done := "RUNNING", "SUCCEEDED"
	old := []firstRoundExecution{
		{ExecutionArn: "arn:a", Status: &running, OperationCount: 3, ContentHash: "h1", RunID: "old", ExtractedAt: at},
		{ExecutionArn: "arn:b", Status: &done, OperationCount: 5, ContentHash: "h2", RunID: "old", ExtractedAt: at},
	}
	path := filepath.Join(dir, "executions", "dt=2026-01-05", "part-old-00001.parquet")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, old); err != nil {
		t.Fatal(err)
	}
	pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-new"))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := pd.Begin(ctx, "arn:a")
	fn := "arn:aws:lambda:us-east-1:123456789012:function:f"
	if err := x.Commit(ctx, "2026-01-05", schema.Execution{ExecutionArn: "arn:a", Status: &done, OperationCount: 4, ContentHash: "h3",
		Source: "history", FunctionArn: &fn, RunID: "new", ExtractedAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := pd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := pd.Compact(ctx, load.CompactOptions{KeepLatest: true, Now: later}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=2026-01-05", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("%d files after compaction: %v", len(files), files)
	}
	rows, err := parquet.ReadFile[schema.Execution](files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schema.Execution{}
	for _, r := range rows {
		got[r.ExecutionArn] = r
	}
	a, b := got["arn:a"], got["arn:b"]
	if len(rows) != 2 || a.RunID != "new" || a.ContentHash != "h3" || a.FunctionArn == nil || *a.FunctionArn != fn || a.Source != "history" {
		t.Fatalf("the newer snapshot of arn:a did not win: %+v", rows)
	}
	if b.RunID != "old" || b.OperationCount != 5 || b.ContentHash != "h2" || *b.Status != done || !b.ExtractedAt.Equal(at) ||
		b.FunctionArn != nil || b.EventCount != nil || b.Source != "" {
		t.Fatalf("the older row read back wrong: %+v", b)
	}
}

// TestLatestReadsOlderFiles: the executions projection reads files from
// before columns were added (the missing ones zero or nil) beside newer
// ones, and keeps each execution's newest snapshot.
func TestLatestReadsOlderFiles(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	running := "RUNNING"
	path := filepath.Join(dir, "executions", "dt=2026-01-05", "part-old-00001.parquet")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	old := []firstRoundExecution{{ExecutionArn: "arn:a", Status: &running, OperationCount: 3, ContentHash: "h1", RunID: "old", ExtractedAt: at},
		{ExecutionArn: "arn:b", OperationCount: 7, ContentHash: "h2", RunID: "old", ExtractedAt: at}}
	if err := parquet.WriteFile(path, old); err != nil {
		t.Fatal(err)
	}
	pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-new"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	x, _ := pd.Begin(ctx, "arn:a")
	done, n := "SUCCEEDED", int64(9)
	end := at.Add(time.Minute)
	if err := x.Commit(ctx, "2026-01-05", schema.Execution{ExecutionArn: "arn:a", Status: &done, EndTime: &end, OperationCount: 4, EventCount: &n,
		ContentHash: "h3", Source: "history", RunID: "new", ExtractedAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := pd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := pd.Latest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := got["arn:a"], got["arn:b"]
	if len(got) != 2 || a.RunID != "new" || *a.Status != done || !a.EndTime.Equal(end) || *a.EventCount != 9 || a.Source != "history" || a.DT != "2026-01-05" {
		t.Fatalf("arn:a: %+v", a)
	}
	if b.RunID != "old" || b.Status != nil || b.EndTime != nil || b.EventCount != nil || b.OperationCount != 7 || b.ContentHash != "h2" || !b.ExtractedAt.Equal(at) || b.Source != "" {
		t.Fatalf("arn:b, from the older file: %+v", b)
	}
}

// TestCompactAgainCopiesWholeRowGroups: compacting (--keep all) a
// partition again after more runs added small files beside its merged one
// copies the merged file's row groups whole and re-encodes only the small
// files' rows into row groups of their own; every row stays, each as many
// times as before.
func TestCompactAgainCopiesWholeRowGroups(t *testing.T) {
	execs := emulator.Generate(75, 150, emulator.GenerateOptions{MaxOps: 40, Days: 1, LargePayloadEvery: -1})
	dir := t.TempDir()
	nightly(t, dir, execs)
	opts := []load.ParquetOption{load.WithRowGroupSize(256 << 10)}
	pd, err := load.NewParquetDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Compact(context.Background(), load.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	merged := rowGroupsUnder(t, dir)
	nightlyFrom(t, dir, execs[:30], 10) // ten more runs' small files
	small := rowGroupsUnder(t, dir) - merged
	before := viewOf(t, dir)
	if pd, err = load.NewParquetDir(dir, opts...); err != nil {
		t.Fatal(err)
	}
	st, err := pd.Compact(context.Background(), load.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each table's last merged row group may be too small to stand alone;
	// a small file's row group may be large enough to (a run of a busy
	// day).
	if st.RowGroupsCopied < merged-3 {
		t.Errorf("second compaction copied %d row groups whole, want the merged files' %d but their last ones: %+v", st.RowGroupsCopied, merged, st)
	}
	if got := rowGroupsUnder(t, dir); got >= merged+small {
		t.Errorf("%d row groups after compaction: the %d of the small files were not merged", got, small)
	}
	after := viewOf(t, dir)
	for table, want := range before.all {
		if after.maxFiles[table] != 1 {
			t.Errorf("%s: %d files in a partition", table, after.maxFiles[table])
		}
		if len(after.all[table]) != len(want) {
			t.Errorf("%s: %d distinct rows, had %d", table, len(after.all[table]), len(want))
		}
		for row, n := range want {
			if after.all[table][row] != n {
				t.Fatalf("%s: a row is there %d times, was %d", table, after.all[table][row], n)
			}
		}
	}
	if st.RowsIn != st.RowsOut || int64(before.rows["operations"]+before.rows["events"]+before.rows["executions"]) != st.RowsIn {
		t.Errorf("stats %+v, rows before %v", st, before.rows)
	}
}

// TestCompactKeepsANewFileOfAReplacedName: a run's file that draws the
// name of a file a merged file replaced (a run id used again, as a
// resumed run does, and the same file number) is written after the merged
// file, so it is not taken for a file an interrupted compaction left
// behind: the next compaction merges its rows, and none is lost.
func TestCompactKeepsANewFileOfAReplacedName(t *testing.T) {
	execs := emulator.Generate(77, 40, emulator.GenerateOptions{MaxOps: 20, Days: 3, LargePayloadEvery: -1})
	dir := t.TempDir()
	nightly(t, dir, execs)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Compact(context.Background(), load.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	nightly(t, dir, execs[:10]) // the same runs' names again
	before := viewOf(t, dir)
	if pd, err = load.NewParquetDir(dir); err != nil {
		t.Fatal(err)
	}
	st, err := pd.Compact(context.Background(), load.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Finished != 0 {
		t.Errorf("%d new files taken for an interrupted compaction's", st.Finished)
	}
	after := viewOf(t, dir)
	for table, want := range before.all {
		for row, n := range want {
			if after.all[table][row] != n {
				t.Fatalf("%s: a row is there %d times, was %d", table, after.all[table][row], n)
			}
		}
	}
}

// rowGroupsUnder counts the row groups of every published file under dir.
func rowGroupsUnder(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
	n := 0
	for _, f := range files {
		n += len(optest.OpenParquet(t, f).RowGroups())
	}
	return n
}

// TestCompactBoundsRowGroups: a partition of large results that no
// compression shrinks is merged into row groups of about the row-group
// size, not into one row group of all its rows (parquet-go holds a row
// group's pages in memory until it ends: 64K rows of 1 MiB results would
// be 64 GiB), and every row is kept; keeping the latest, a run's row
// group larger than that is not moved into one whole, and its rows (read
// one by one) and the masked row groups beside it leave exactly the
// _latest views' rows.
func TestCompactBoundsRowGroups(t *testing.T) {
	const groupSize = 2 << 20
	for _, c := range []struct {
		keepLatest bool
		executions int
	}{
		{false, 12}, // runs' row groups under the row-group size
		{true, 48},  // one over it (the first run's: 8 MiB), read as rows
	} {
		execs := emulator.Generate(74, c.executions, emulator.GenerateOptions{MinOps: 20, MaxOps: 20, Days: 1, LargePayloadEvery: 3, RandomPayloads: true})
		dir := t.TempDir()
		nightly(t, dir, execs)
		before := viewOf(t, dir)
		pd, err := load.NewParquetDir(dir, load.WithRowGroupSize(groupSize))
		if err != nil {
			t.Fatal(err)
		}
		st, err := pd.Compact(context.Background(), load.CompactOptions{KeepLatest: c.keepLatest})
		if err != nil {
			t.Fatal(err)
		}
		if !c.keepLatest && st.RowsOut != st.RowsIn || st.RowsOut == 0 {
			t.Fatalf("%+v: %d rows in, %d out", c, st.RowsIn, st.RowsOut)
		}
		if c.keepLatest {
			after := viewOf(t, dir)
			if after.rows["operations"] != len(before.latest["operations"]) || after.rows["operations"] >= before.rows["operations"] {
				t.Errorf("%+v: %d operations rows after, %d before, %d latest", c, after.rows["operations"], before.rows["operations"], len(before.latest["operations"]))
			}
			sameLatest(t, before, after)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
		var groups, large int
		for _, f := range files {
			pf := optest.OpenParquet(t, f)
			for _, rg := range pf.Metadata().RowGroups {
				groups++
				var size int64
				for _, c := range rg.Columns {
					size += c.MetaData.TotalCompressedSize
				}
				// The size is looked at every few rows, each under 300 KiB.
				if size > groupSize+8*300<<10 {
					t.Errorf("%+v: %s: a row group of %d rows, %d bytes: over the row-group size", c, f, rg.NumRows, size)
				}
				if size > groupSize/2 {
					large++
				}
			}
		}
		if large < 2 {
			t.Errorf("%+v: %d row groups near the row-group size in %d: too few large results to test the bound", c, large, groups)
		}
	}
}

// TestCompactLeavesAKilledRunsFileApart: an events (or operations) file
// that a run killed between publishing it and its executions sibling left
// stays apart while no later executions row covers its executions: the
// next run counts its events as archived only under its own name. Once a
// later run archived them, it merges like any other file.
func TestCompactLeavesAKilledRunsFileApart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t1 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	exec := func(arn string, at time.Time, count int64) schema.Execution {
		running := "STARTED"
		last := int32(count)
		return schema.Execution{ExecutionArn: arn, Status: &running, ExtractedAt: at, EventCount: &count, LastEventID: &last, RunID: "r"}
	}
	events := func(arn string, at time.Time, ids ...int32) []schema.Event {
		var out []schema.Event
		for _, id := range ids {
			out = append(out, schema.Event{ExecutionArn: arn, EventID: id, EventType: "StepStarted", ExtractedAt: at, RunID: "r"})
		}
		return out
	}
	const p = "dt=2026-01-01/"
	writeRows(t, dir, "executions/"+p+"part-r1-aaaa-00001.parquet", exec("X", t1, 3))
	writeRows(t, dir, "events/"+p+"part-r1-aaaa-00001.parquet", events("X", t1, 1, 2, 3)...)
	writeRows(t, dir, "executions/"+p+"part-r3-cccc-00001.parquet", exec("Y", t1, 1))
	writeRows(t, dir, "events/"+p+"part-r3-cccc-00001.parquet", events("Y", t1, 1)...)
	orphan := writeRows(t, dir, "events/"+p+"part-r2-bbbb-00001.parquet", events("X", t2, 4, 5)...)
	orphanOps := writeRows(t, dir, "operations/"+p+"part-r2-bbbb-00001.parquet",
		schema.Operation{ExecutionArn: "X", OperationID: "o", Type: "STEP", Status: "STARTED", Source: "history", RunID: "r", ExtractedAt: t2})
	compact := func() {
		t.Helper()
		pd, err := load.NewParquetDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pd.Compact(ctx, load.CompactOptions{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(table string) int {
		files, _ := filepath.Glob(filepath.Join(dir, table, p, "*.parquet"))
		return len(files)
	}
	compact()
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("the killed run's events file was merged while the archive counts its events by it")
	}
	if _, err := os.Stat(orphanOps); err != nil {
		t.Fatal("the killed run's operations file was merged before a later run archived its execution")
	}
	if count("events") != 2 || count("executions") != 1 {
		t.Fatalf("%d events and %d executions files, want the others merged into one each beside the orphan", count("events"), count("executions"))
	}
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pd.Archived(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Events("X"); got.Count != 5 {
		t.Fatalf("X: %+v archived, want 5 events counted (3 by its row, 2 by the orphan)", got)
	}

	// A later run archives X: 5 events by its row, a sixth of its own.
	writeRows(t, dir, "executions/"+p+"part-r4-dddd-00001.parquet", exec("X", t3, 6))
	writeRows(t, dir, "events/"+p+"part-r4-dddd-00001.parquet", events("X", t3, 6)...)
	compact()
	for _, table := range []string{"events", "executions", "operations"} {
		if n := count(table); n != 1 {
			t.Errorf("%s: %d files once the orphan's execution is archived again, want 1", table, n)
		}
	}
}

// TestCompactGoesOnPastAFileThatIsNotParquet: a partition holding a file
// that is not Parquet (a stray file, a damaged copy) is left as it was and
// named; the other partitions are compacted.
func TestCompactGoesOnPastAFileThatIsNotParquet(t *testing.T) {
	execs := emulator.Generate(73, 40, emulator.GenerateOptions{MaxOps: 20, Days: 5, LargePayloadEvery: -1})
	dir := t.TempDir()
	nightly(t, dir, execs)
	parts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*"))
	if len(parts) < 3 {
		t.Fatalf("%d partitions: want a few", len(parts))
	}
	damaged := filepath.Join(parts[1], "stray.parquet")
	if err := os.WriteFile(damaged, []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := func(part string) []string {
		var out []string
		for _, table := range []string{"operations", "events", "executions"} {
			fs, _ := filepath.Glob(filepath.Join(dir, table, filepath.Base(part), "*.parquet"))
			out = append(out, fs...)
		}
		return out
	}
	left := files(parts[1])
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pd.Compact(context.Background(), load.CompactOptions{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || len(st.Unreadable) != 1 || st.Unreadable[0] != damaged || st.Partitions != len(parts)-1 {
		t.Fatalf("compact: %+v, %v: want every partition but %s's compacted, and it named", st, err, damaged)
	}
	if got := files(parts[1]); !slices.Equal(got, left) {
		t.Errorf("the partition with the stray file holds %v, want it as it was: %v", got, left)
	}
	for _, p := range []string{parts[0], parts[2]} {
		if got := files(p); len(got) != 3 {
			t.Errorf("%s: %d files after compaction, want one a table", filepath.Base(p), len(got))
		}
	}
	// Its stats count what stands merged only: the partition left as it
	// was, whose operations and events were merged before its stray
	// executions file stopped it (and removed again), counts no row.
	merged, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "compact-*.parquet"))
	var rows int64
	for _, f := range merged {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		rows += pf.NumRows()
	}
	if st.RowsOut != rows || st.RowsIn != rows || st.FilesOut != len(merged) {
		t.Errorf("stats %+v: want %d rows in and out, %d files out: what the merged files hold", st, rows, len(merged))
	}
}

// TestLatestAndRowsNameWhatIsNotParquet: verification's reads go on past
// an executions file that is not Parquet (Latest leaves it out: its
// executions are missing from what it returns) and fail the partition
// whose operations folder holds one (Rows); both are named by Unreadable.
func TestLatestAndRowsNameWhatIsNotParquet(t *testing.T) {
	ctx := context.Background()
	execs := emulator.Generate(79, 30, emulator.GenerateOptions{MaxOps: 20, Days: 4, LargePayloadEvery: -1})
	dir := t.TempDir()
	nightly(t, dir, execs)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pd.Latest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*"))
	strayExec := filepath.Join(parts[0], "stray.parquet")
	strayOps := filepath.Join(dir, "operations", filepath.Base(parts[1]), "stray.parquet")
	for _, f := range []string{strayExec, strayOps} {
		if err := os.WriteFile(f, []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pd, err = load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pd.Latest(ctx, nil)
	if err != nil || len(got) != len(all) {
		t.Fatalf("latest: %d executions, %v: want all %d (the stray file holds none)", len(got), err, len(all))
	}
	var states []load.ExecutionState
	for _, st := range got {
		if "dt="+st.DT == filepath.Base(parts[1]) {
			states = append(states, st)
		}
	}
	if _, err := pd.Rows(ctx, states); err == nil {
		t.Error("rows of the partition with a stray operations file: no error")
	}
	want := []string{strayExec, strayOps} // as the destination's
	slices.Sort(want)
	if u := pd.Unreadable(); !slices.Equal(u, want) {
		t.Errorf("unreadable %v, want %v", u, want)
	}
}
