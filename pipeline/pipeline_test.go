package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// testLogger routes the pipeline's log to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// randomExecutions makes n executions of random operations, each led by an
// EXECUTION operation that fixes its partition.
func randomExecutions(seed uint64, n, maxOps int) ([]emulator.Execution, map[string][]types.Operation) {
	g := optest.New(seed)
	want := map[string][]types.Operation{}
	var execs []emulator.Execution
	for i := range n {
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/e-%d/%d", i, seed)
		start := time.Date(2026, 1, 1+i%3, 12, 0, 0, 0, time.UTC)
		ops := []types.Operation{{Id: aws.String("exec"), Type: "EXECUTION", Status: "SUCCEEDED", StartTimestamp: &start,
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String("{}")}}}
		for range g.R.IntN(maxOps) {
			ops = append(ops, g.Operation())
		}
		want[arn] = ops
		execs = append(execs, emulator.Fixed(arn, "tok-"+arn, ops))
	}
	return execs, want
}

func manifestOf(t *testing.T, execs []emulator.Execution) *extract.Manifest {
	t.Helper()
	var b strings.Builder
	if err := emulator.WriteManifest(&b, execs); err != nil {
		t.Fatal(err)
	}
	m, err := extract.NewManifest("test", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type runResult struct {
	dir   string
	sum   *pipeline.Summary
	err   error
	stats load.Stats // the loader's, after the run
}

func run(t *testing.T, srv *emulator.Server, m *extract.Manifest, pageSize int32, opts ...load.ParquetOption) runResult {
	t.Helper()
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2))
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir, append([]load.ParquetOption{load.WithFilePrefix("part-test")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "run-test", PageSize: pageSize,
		Concurrency: 3, Logger: testLogger(t), RetryFailedAfter: time.Millisecond}, m)
	return runResult{dir, sum, err, pd.Stats()}
}

// readArchive reads every published file back, checking that nothing is
// left in _incoming and that each file sits in the dt folder its rows say.
func readArchive(t *testing.T, dir string) (map[string][]schema.Operation, map[string]schema.Execution, map[string]string) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(dir, load.IncomingDir)); len(left) > 0 {
		t.Errorf("files left in _incoming: %v", left)
	}
	ops := map[string][]schema.Operation{}
	execs := map[string]schema.Execution{}
	dts := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Operation](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		order := optest.RowOrder{T: t, File: f, Ordered: true}
		for _, r := range rows {
			order.Row(r.ExecutionArn, r.RunID, r.ExtractedAt, r.Seq)
			ops[r.ExecutionArn] = append(ops[r.ExecutionArn], r)
			dts[r.ExecutionArn] = filepath.Base(filepath.Dir(f))
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Execution](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range rows {
			if _, dup := execs[r.ExecutionArn]; dup {
				t.Errorf("two executions rows for %s", r.ExecutionArn)
			}
			execs[r.ExecutionArn] = r
			if d := filepath.Base(filepath.Dir(f)); dts[r.ExecutionArn] != "" && dts[r.ExecutionArn] != d {
				t.Errorf("%s: operations in %s, execution in %s", r.ExecutionArn, dts[r.ExecutionArn], d)
			}
		}
	}
	for arn := range ops {
		sort.Slice(ops[arn], func(i, j int) bool { return ops[arn][i].Seq < ops[arn][j].Seq })
	}
	return ops, execs, dts
}

// checkArchive asserts that the archive holds exactly want, row for row.
func checkArchive(t *testing.T, dir string, want map[string][]types.Operation) {
	t.Helper()
	ops, execs, dts := readArchive(t, dir)
	if len(ops) != len(want) || len(execs) != len(want) {
		t.Fatalf("archive has %d executions with operations and %d executions rows, want %d", len(ops), len(execs), len(want))
	}
	for arn, wantOps := range want {
		rows := ops[arn]
		if len(rows) != len(wantOps) {
			t.Fatalf("%s: %d rows, want %d", arn, len(rows), len(wantOps))
		}
		for i := range rows {
			if rows[i].Seq != int64(i) || rows[i].RunID != "run-test" {
				t.Fatalf("%s row %d: seq %d run %q", arn, i, rows[i].Seq, rows[i].RunID)
			}
			if diff := optest.DiffRow(wantOps[i], &rows[i]); diff != "" {
				t.Fatalf("%s operation %d did not survive the archive (-want +got):\n%s", arn, i, diff)
			}
		}
		ex := execs[arn]
		if ex.OperationCount != int64(len(wantOps)) || dts[arn] != "dt="+wantOps[0].StartTimestamp.Format(time.DateOnly) {
			t.Errorf("%s: execution row %+v in %s", arn, ex, dts[arn])
		}
		snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn})
		snap.Add(nil, wantOps)
		if ex.ContentHash != snap.Finish().ContentHash {
			t.Errorf("%s: content hash differs from the input's", arn)
		}
	}
}

// TestArchiveIsLossless: random operations, through the emulator's wire,
// the SDK, the transform and Parquet files, read back equal to the input.
func TestArchiveIsLossless(t *testing.T) {
	n := 40
	if testing.Short() { // the race run
		n = 12
	}
	execs, want := randomExecutions(11, n, 300)
	srv := emulator.New()
	srv.Add(execs...)
	r := run(t, srv, manifestOf(t, execs), 37)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sum.ExecutionsOK != n || r.sum.ExecutionsFailed != 0 {
		t.Fatalf("summary %+v", r.sum)
	}
	checkArchive(t, r.dir, want)
}

// TestSpillAndRoll: a tiny stage forces executions through the spill file,
// tiny files and row groups force rolls; the archive is the same. With
// the default row groups, the spilled rows, those left in memory and the
// next executions share row groups: the archive is the same again.
func TestSpillAndRoll(t *testing.T) {
	execs, want := randomExecutions(12, 12, 400)
	srv := emulator.New()
	srv.Add(execs...)
	shared := run(t, srv, manifestOf(t, execs), 50, load.WithStageMemory(4<<10))
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	checkArchive(t, shared.dir, want)
	r := run(t, srv, manifestOf(t, execs), 50, load.WithStageMemory(4<<10), load.WithTargetFileSize(16<<10), load.WithRowGroupSize(16<<10))
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkArchive(t, r.dir, want)
	files, _ := filepath.Glob(filepath.Join(r.dir, "operations", "dt=*", "*.parquet"))
	if len(files) <= 3 || r.sum.FilesWritten != len(files)+countFiles(r.dir, "executions") {
		t.Errorf("%d operations files (summary says %d in all); want rolls beyond one per partition", len(files), r.sum.FilesWritten)
	}
	f := optest.OpenParquet(t, files[0])
	if len(f.RowGroups()) < 2 {
		t.Errorf("%s has %d row groups; the row-group bound did not hold", files[0], len(f.RowGroups()))
	}
}

func countFiles(dir, table string) int {
	files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
	return len(files)
}

// TestParquetFileProperties checks what Athena needs of every file: zstd,
// V1 data pages, and no statistics or page bounds on the large columns.
func TestParquetFileProperties(t *testing.T) {
	srv := emulator.New()
	execs := emulator.Generate(5, 30, emulator.GenerateOptions{LargePayloadEvery: 100})
	srv.Add(execs...)
	r := run(t, srv, manifestOf(t, execs), 1000)
	if r.err != nil {
		t.Fatal(r.err)
	}
	files, _ := filepath.Glob(filepath.Join(r.dir, "*", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no files")
	}
	large := map[string]bool{}
	for _, tbl := range schema.Tables() {
		for _, c := range tbl.Columns {
			large[c.Name] = large[c.Name] || c.Large
		}
	}
	for _, path := range files {
		if strings.HasPrefix(filepath.Base(path), "_") || strings.HasPrefix(filepath.Base(path), ".") {
			t.Errorf("published file with a hidden name: %s", path)
		}
		f := optest.OpenParquet(t, path)
		md := f.Metadata()
		for _, rg := range md.RowGroups {
			for _, cc := range rg.Columns {
				name := cc.MetaData.PathInSchema[0]
				if cc.MetaData.Codec != format.Zstd {
					t.Errorf("%s %s: codec %v", path, name, cc.MetaData.Codec)
				}
				for _, es := range cc.MetaData.EncodingStats {
					if es.PageType == format.DataPageV2 {
						t.Errorf("%s %s: V2 data page", path, name)
					}
				}
				if large[name] && (len(cc.MetaData.Statistics.MaxValue) > 0 || len(cc.MetaData.Statistics.Max) > 0) {
					t.Errorf("%s %s: a large column carries statistics", path, name)
				}
			}
		}
		for i, ci := range f.ColumnIndexes() {
			name := f.Schema().Columns()[i%len(f.Schema().Columns())][0]
			if large[name] {
				for _, v := range ci.MaxValues {
					if len(v) > 0 {
						t.Errorf("%s %s: page bounds recorded", path, name)
						break
					}
				}
			}
		}
	}
}

// TestFailedExecutionsLeaveNothing: unknown ARNs, wrong tokens and an
// execution that breaks after its first page fail alone, are reported with
// their reasons, and leave no row; the others land whole.
func TestFailedExecutionsLeaveNothing(t *testing.T) {
	execs, want := randomExecutions(13, 10, 200)
	// The last one fails on its second page, every attempt.
	breaking := execs[9]
	breaking.Len = 150
	ops := want[breaking.ARN]
	for len(ops) < 150 {
		ops = append(ops, types.Operation{Id: aws.String(fmt.Sprint(len(ops))), Type: "STEP"})
	}
	breaking.Op = func(i int) types.Operation { return ops[i] }
	delete(want, breaking.ARN)
	pages := map[string]int{}
	srv := emulator.New(emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		if arn != breaking.ARN {
			return emulator.NoFault
		}
		pages[arn]++
		if pages[arn] > 1 {
			return emulator.ServerError
		}
		return emulator.NoFault
	}))
	srv.Add(execs[:9]...)
	srv.Add(breaking)
	listed := append([]emulator.Execution{}, execs...)
	listed = append(listed,
		emulator.Execution{ARN: "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/ghost/1", Token: "x"},
		emulator.Execution{ARN: execs[0].ARN + "-wrong-token", Token: "x"})
	wrongTok := execs[1]
	wrongTok.Token = "not-the-token"
	listed[1] = wrongTok
	delete(want, wrongTok.ARN)

	r := run(t, srv, manifestOf(t, listed), 100)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sum.ExecutionsOK != 8 || r.sum.ExecutionsFailed != 4 || len(r.sum.Failures) != 4 {
		t.Fatalf("summary %+v", r.sum)
	}
	codes := map[string]string{}
	for _, f := range r.sum.Failures {
		codes[f.ExecutionArn] = f.Code
		if strings.Contains(f.Reason, "not-the-token") {
			t.Errorf("token in reason %q", f.Reason)
		}
	}
	if codes[breaking.ARN] != "ServiceException" || codes[wrongTok.ARN] != "InvalidParameterValueException" || codes[listed[10].ARN] != "ResourceNotFoundException" {
		t.Errorf("failure codes %v", codes)
	}
	checkArchive(t, r.dir, want)
}

// TestOddShapesAreArchived: an execution whose operations carry an empty
// Error object, several details objects with outcomes, or no Id is archived
// like any other, and its rows give the operations back.
func TestOddShapesAreArchived(t *testing.T) {
	execs, want := randomExecutions(14, 3, 20)
	odd := execs[2]
	oddOps := []types.Operation{
		{Id: aws.String("x"), Type: "STEP", Status: "FAILED", StartTimestamp: aws.Time(time.UnixMilli(1767607200123).UTC()), StepDetails: &types.StepDetails{Error: &types.ErrorObject{}}},
		{Id: aws.String("y"), Type: "CHAINED_INVOKE", ChainedInvokeDetails: &types.ChainedInvokeDetails{Error: &types.ErrorObject{}},
			StepDetails: &types.StepDetails{Result: aws.String("r"), Error: &types.ErrorObject{ErrorType: aws.String("T")}}},
		{Type: "WAIT"},
	}
	odd.Len = len(oddOps)
	odd.Op = func(i int) types.Operation { return oddOps[i] }
	want[odd.ARN] = oddOps
	srv := emulator.New()
	srv.Add(execs[0], execs[1], odd)
	r := run(t, srv, manifestOf(t, execs), 100)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.sum.Failures) != 0 {
		t.Fatalf("failures %+v", r.sum.Failures)
	}
	checkArchive(t, r.dir, want)
}

// TestDestinationFailure: a destination that cannot publish stops the run
// with a DestinationError and shows no partial file.
func TestDestinationFailure(t *testing.T) {
	execs, _ := randomExecutions(15, 5, 50)
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the operations table folder should be: publishing fails.
	if err := os.WriteFile(filepath.Join(dir, "operations"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "r", Logger: testLogger(t)}, manifestOf(t, execs))
	var de *pipeline.DestinationError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want a DestinationError naming %s, got %v", dir, err)
	}
	if sum == nil {
		t.Fatal("no summary")
	}
	if n := countFiles(dir, "executions") + countFiles(dir, "operations"); n > 1 {
		t.Errorf("%d files published despite the failure", n)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, load.IncomingDir)); len(left) > 0 {
		t.Errorf("files left in _incoming: %v", left)
	}
}

func TestNewParquetDirUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	_, err := load.NewParquetDir(filepath.Join(file, "archive"))
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("want an error naming %s, got %v", file, err)
	}
}

// TestBufferBudget: with a row-group size too large to matter, a tiny
// buffer budget sends the waiting rows to spill runs again and again; the
// archive is the same, one file per table per partition, and a file's
// rows spilled in row form are encoded together at Close: far fewer row
// groups than spills (a segment of 1 MiB, an execution of big payloads,
// stays a row group of its own).
func TestBufferBudget(t *testing.T) {
	execs, want := randomExecutions(16, 12, 300)
	srv := emulator.New()
	srv.Add(execs...)
	r := run(t, srv, manifestOf(t, execs), 50, load.WithRowGroupSize(1<<40), load.WithBufferBudget(32<<10))
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkArchive(t, r.dir, want)
	if r.stats.SpillRuns < 3 {
		t.Errorf("%d spill runs under a 32 KiB budget", r.stats.SpillRuns)
	}
	files, _ := filepath.Glob(filepath.Join(r.dir, "operations", "dt=*", "*.parquet"))
	groups := 0
	for _, f := range files {
		groups += len(optest.OpenParquet(t, f).RowGroups())
	}
	t.Logf("%d spill runs, %d row groups in %d files", r.stats.SpillRuns, groups, len(files))
	if groups >= r.stats.SpillRuns {
		t.Errorf("%d row groups in %d files after %d spill runs: the spilled rows were not gathered", groups, len(files), r.stats.SpillRuns)
	}
}

// TestPartitionsFinishedDuringTheRun: with a manifest that gives each
// execution's start time (as discovery's does), a partition is finished
// once its last execution is done, whether archived or failed, never
// before one of its executions commits; an execution whose given start
// date was wrong still lands; the archive is whole, one file per table per
// partition.
func TestPartitionsFinishedDuringTheRun(t *testing.T) {
	g := emulator.Generate(71, 120, emulator.GenerateOptions{MaxOps: 30, Days: 40, LargePayloadEvery: -1})
	dtOf := func(e emulator.Execution) string { return e.Op(0).StartTimestamp.UTC().Format(time.DateOnly) }
	slices.SortStableFunc(g, func(a, b emulator.Execution) int { return strings.Compare(dtOf(a), dtOf(b)) })
	srv := emulator.New()
	srv.Add(g...)
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2))
	starts := map[string]time.Time{}
	for _, e := range g {
		starts[e.ARN] = *e.Op(0).StartTimestamp
	}
	// An execution the service does not know, expected in a busy partition:
	// its failure counts as done.
	ghost := emulator.Execution{ARN: g[0].ARN + "-ghost", Token: "x"}
	starts[ghost.ARN] = *g[0].Op(0).StartTimestamp
	// An execution expected in the wrong partition.
	starts[g[5].ARN] = time.Date(2020, 1, 1, 9, 0, 0, 0, time.UTC)
	partitions := map[string]string{}
	for arn, at := range starts {
		partitions[arn] = at.Format(time.DateOnly)
	}
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-f"))
	if err != nil {
		t.Fatal(err)
	}
	w := &finishWatch{Loader: pd, finisher: pd, commits: map[string]int{}, atFinish: map[string]int{}}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: w, RunID: "run-test", Concurrency: 6, Logger: testLogger(t)},
		manifestWithStarts(t, append([]emulator.Execution{ghost}, g...), starts))
	if err != nil || sum.ExecutionsOK != len(g) || sum.ExecutionsFailed != 1 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	want := map[string]bool{}
	for _, dt := range partitions {
		want[dt] = true
	}
	if len(w.atFinish) != len(want) {
		t.Errorf("%d partitions finished, want %d", len(w.atFinish), len(want))
	}
	for dt, n := range w.atFinish {
		expected := 0
		for arn, p := range partitions {
			if p == dt && arn != ghost.ARN && (arn != g[5].ARN || dtOf(g[5]) == dt) {
				expected++
			}
		}
		if dt != dtOf(g[5]) && n != expected {
			t.Errorf("%s finished after %d commits, want %d", dt, n, expected)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	perDT := map[string]int{}
	for _, f := range files {
		perDT[filepath.Base(filepath.Dir(f))]++
	}
	for dt, n := range perDT {
		if n != 1 && dt != "dt="+dtOf(g[5]) {
			t.Errorf("%s: %d operations files, want 1", dt, n)
		}
	}
	wantOps := map[string][]types.Operation{}
	for _, e := range g {
		for i := range e.Len {
			wantOps[e.ARN] = append(wantOps[e.ARN], e.Op(i))
		}
	}
	checkArchive(t, dir, wantOps)
}

// finishWatch is a loader that notes, for each partition, how many commits
// it had received when it was finished.
type finishWatch struct {
	load.Loader
	finisher load.PartitionFinisher
	mu       sync.Mutex
	commits  map[string]int
	atFinish map[string]int
}

func (w *finishWatch) Begin(ctx context.Context, arn string) (load.Execution, error) {
	x, err := w.Loader.Begin(ctx, arn)
	return watchedExec{Execution: x, w: w}, err
}

func (w *finishWatch) FinishPartition(ctx context.Context, dt string) error {
	w.mu.Lock()
	if _, twice := w.atFinish[dt]; twice {
		w.atFinish[dt] = -1
	} else {
		w.atFinish[dt] = w.commits[dt]
	}
	w.mu.Unlock()
	return w.finisher.FinishPartition(ctx, dt)
}

type watchedExec struct {
	load.Execution
	w *finishWatch
}

func (x watchedExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	x.w.mu.Lock()
	x.w.commits[dt]++
	x.w.mu.Unlock()
	return x.Execution.Commit(ctx, dt, row)
}

// manifestWithStarts is execs' manifest (ARN and token) with each one's
// StartTimestamp from starts.
func manifestWithStarts(t testing.TB, execs []emulator.Execution, starts map[string]time.Time) *extract.Manifest {
	t.Helper()
	m, err := extract.NewManifest("test", startsManifest(execs, starts))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// startsManifest is the JSON Lines of manifestWithStarts.
func startsManifest(execs []emulator.Execution, starts map[string]time.Time) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range execs {
		enc.Encode(map[string]string{"DurableExecutionArn": e.ARN, "CheckpointToken": e.Token, "StartTimestamp": starts[e.ARN].Format(time.RFC3339Nano)})
	}
	return b.Bytes()
}

// TestSourcesEndTheirTables: each source tells the destination when a
// table's rows are all written (load.TableEnder), before the other
// table's come: the history path ends events before the folded
// operations, state with --history ends operations before the events.
// A spilled stage's encoders are then free for the rest (see
// load.WithStageHelpers). Every execution is archived all the same.
func TestSourcesEndTheirTables(t *testing.T) {
	execs := emulator.Generate(29, 12, emulator.GenerateOptions{MinOps: 5, MaxOps: 40, LargePayloadEvery: -1})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	for _, c := range []struct {
		name   string
		tokens bool
		want   []string
	}{
		{"history", false, []string{"write events", "end events", "write operations"}},
		{"state and history", true, []string{"write operations", "end operations", "write events"}},
	} {
		run := append([]emulator.Execution(nil), execs...)
		if !c.tokens {
			for i := range run {
				run[i].Token = ""
			}
		}
		pd, err := load.NewParquetDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		w := &tableWatch{Loader: pd, calls: map[string][]string{}}
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, History: client, HistoryAlways: c.tokens, Loader: w,
			RunID: "r", Logger: testLogger(t)}, manifestOf(t, run))
		if err != nil || sum.ExecutionsOK != len(run) {
			t.Fatalf("%s: %v, %d of %d archived", c.name, err, sum.ExecutionsOK, len(run))
		}
		for arn, calls := range w.calls {
			if !slices.Equal(slices.Compact(calls), c.want) {
				t.Errorf("%s: %s: calls %v, want %v (each repeated)", c.name, arn, slices.Compact(calls), c.want)
			}
		}
	}
}

// tableWatch is a loader that notes each execution's writes and table
// ends, by table, in order.
type tableWatch struct {
	load.Loader
	mu    sync.Mutex
	calls map[string][]string
}

func (w *tableWatch) Begin(ctx context.Context, arn string) (load.Execution, error) {
	x, err := w.Loader.Begin(ctx, arn)
	return &tableWatchExec{Execution: x, w: w, arn: arn}, err
}

type tableWatchExec struct {
	load.Execution
	w   *tableWatch
	arn string
}

func (x *tableWatchExec) note(call string) {
	x.w.mu.Lock()
	x.w.calls[x.arn] = append(x.w.calls[x.arn], call)
	x.w.mu.Unlock()
}

func (x *tableWatchExec) Write(ctx context.Context, rows schema.Rows) error {
	x.note("write " + rows.Table().Name)
	return x.Execution.Write(ctx, rows)
}

func (x *tableWatchExec) EndTable(ctx context.Context, t *schema.Table) error {
	x.note("end " + t.Name)
	return x.Execution.(load.TableEnder).EndTable(ctx, t)
}
