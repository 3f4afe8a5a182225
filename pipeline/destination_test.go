package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// transient is a destination's failure that load.Transient tells as worth
// trying again (a lost database connection).
type transient struct{}

func (transient) Error() string   { return "connection lost (test)" }
func (transient) Transient() bool { return true }

// failingCommits fails the commits of one execution in a real Parquet
// loader, transiently, the first fails times (negative: every time), and
// drops what the loader staged for it, as a destination whose commit
// failed does; with atBegin, its Begin fails so instead (a database gone
// when the execution's transaction begins).
type failingCommits struct {
	load.Loader
	arn     string
	err     error
	atBegin bool
	mu      sync.Mutex
	fails   int
	tries   int
}

// fail counts a try and reports whether it fails.
func (f *failingCommits) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	return f.fails < 0 || f.tries <= f.fails
}

func (f *failingCommits) Begin(ctx context.Context, arn string) (load.Execution, error) {
	if f.atBegin && arn == f.arn {
		if f.fail() {
			return nil, f.err
		}
		return f.Loader.Begin(ctx, arn)
	}
	x, err := f.Loader.Begin(ctx, arn)
	if err != nil || arn != f.arn {
		return x, err
	}
	return &failingCommit{Execution: x, f: f}, nil
}

type failingCommit struct {
	load.Execution
	f *failingCommits
}

func (x *failingCommit) Commit(ctx context.Context, dt string, row schema.Execution) error {
	if x.f.fail() {
		x.Execution.Abort(ctx)
		return x.f.err
	}
	return x.Execution.Commit(ctx, dt, row)
}

// TestDestinationFailsForAMoment: an execution whose destination failed
// transiently (load.Transient), at its commit or at its Begin, is
// archived again from the start, up to Config.DestinationRetries times,
// waiting the backoff before each try; the archive then holds it once.
// Past the retries, or for a failure that is not transient, the run stops
// as before, the execution named among the failures.
func TestDestinationFailsForAMoment(t *testing.T) {
	execs, want := randomExecutions(23, 6, 40)
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	for _, c := range []struct {
		name     string
		err      error
		fails    int
		wantErr  bool
		wantRuns int // tries of the failing execution
		atBegin  bool
	}{
		{"twice, then it commits", transient{}, 2, false, 3, false},
		{"every time", transient{}, -1, true, 4, false},
		{"not transient", errors.New("disk full (test)"), 1, true, 1, false},
		{"at Begin, twice, then it commits", transient{}, 2, false, 3, true},
		{"at Begin, every time", transient{}, -1, true, 4, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-test"))
			if err != nil {
				t.Fatal(err)
			}
			l := &failingCommits{Loader: pd, arn: execs[2].ARN, err: c.err, fails: c.fails, atBegin: c.atBegin}
			var waits []int
			cfg := pipeline.Config{API: client, Loader: l, RunID: "run-test", Concurrency: 2, DestinationRetries: 3, Logger: testLogger(t)}
			pipeline.WithDestinationBackoff(&cfg, func(n int) time.Duration {
				waits = append(waits, n) // one execution retries: no race
				return time.Millisecond
			})
			sum, err := pipeline.Run(context.Background(), cfg, manifestOf(t, execs))
			var de *pipeline.DestinationError
			if got := errors.As(err, &de); got != c.wantErr || (got && !errors.Is(err, c.err)) {
				t.Fatalf("run: %v, want a destination failure: %v", err, c.wantErr)
			}
			if l.tries != c.wantRuns || sum.DestinationRetries != c.wantRuns-1 || len(waits) != c.wantRuns-1 {
				t.Errorf("%d tries, %d counted retries, waits %v: want %d tries", l.tries, sum.DestinationRetries, waits, c.wantRuns)
			}
			for i, n := range waits {
				if n != i+1 {
					t.Errorf("backoff asked for try %v: want 1, 2, ...", waits)
				}
			}
			if c.wantErr {
				if len(sum.Failures) != 1 || sum.Failures[0].ExecutionArn != l.arn || sum.Failures[0].Code != "destination" {
					t.Errorf("failures %+v: want %s's destination failure alone", sum.Failures, l.arn)
				}
				return
			}
			if sum.ExecutionsOK != len(execs) || sum.ExecutionsFailed != 0 {
				t.Errorf("%d archived, %d failed: want all %d", sum.ExecutionsOK, sum.ExecutionsFailed, len(execs))
			}
			checkArchive(t, dir, want)
		})
	}
}

// flakyLedger is a real Parquet loader with a run ledger whose first
// fails records fail with err.
type flakyLedger struct {
	load.Loader
	err   error
	fails int
	calls []string // the statuses recorded, failed or not
	// stallAt is the call (from 1) from which on it answers nothing, until
	// the call's context ends (0: never).
	stallAt int
}

func (l *flakyLedger) RecordRun(ctx context.Context, run load.RunInfo) error {
	l.calls = append(l.calls, run.Status)
	if l.stallAt > 0 && len(l.calls) >= l.stallAt {
		<-ctx.Done()
		return ctx.Err()
	}
	if len(l.calls) <= l.fails {
		return l.err
	}
	return nil
}

// TestRunRecordStalled: a ledger that stops answering as the run ends (a
// database stopped, a lock never let go) does not hold the run for ever,
// its work done: the record's try fails after its timeout, and the run
// with a destination error saying so; what it archived stays.
func TestRunRecordStalled(t *testing.T) {
	execs, _ := randomExecutions(37, 4, 10)
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	pd, err := load.NewParquetDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := &flakyLedger{Loader: pd, stallAt: 2}
	cfg := pipeline.Config{API: client, Loader: l, RunID: "r", Logger: testLogger(t)}
	pipeline.WithRecordTimeout(&cfg, 50*time.Millisecond)
	type result struct {
		sum *pipeline.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := pipeline.Run(context.Background(), cfg, manifestOf(t, execs))
		done <- result{sum, err}
	}()
	select {
	case r := <-done:
		var de *pipeline.DestinationError
		if !errors.As(r.err, &de) || !strings.Contains(r.err.Error(), "(no answer in 50ms)") {
			t.Errorf("run: %v: want a destination error, the record unanswered", r.err)
		}
		if r.sum.ExecutionsOK != len(execs) || !slices.Equal(l.calls, []string{"running", "succeeded"}) {
			t.Errorf("%d archived, records %v: want %d archived, the end's record tried once", r.sum.ExecutionsOK, l.calls, len(execs))
		}
	case <-time.After(time.Minute):
		t.Fatal("the run still waits on its record, a minute on")
	}
}

// TestRunRecordedAgain: a run's record that a destination failed to write
// for a moment is written again, at the start and at the end; another
// failure stops the run.
func TestRunRecordedAgain(t *testing.T) {
	execs, _ := randomExecutions(31, 4, 10)
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	for _, c := range []struct {
		err     error
		wantErr bool
		calls   []string
	}{
		{transient{}, false, []string{"running", "running", "running", "succeeded"}},
		{errors.New("permission denied (test)"), true, []string{"running"}},
	} {
		pd, err := load.NewParquetDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		l := &flakyLedger{Loader: pd, err: c.err, fails: 2}
		cfg := pipeline.Config{API: client, Loader: l, RunID: "r", Logger: testLogger(t)}
		pipeline.WithDestinationBackoff(&cfg, func(int) time.Duration { return time.Millisecond })
		_, err = pipeline.Run(context.Background(), cfg, manifestOf(t, execs))
		var de *pipeline.DestinationError
		if errors.As(err, &de) != c.wantErr || !slices.Equal(l.calls, c.calls) {
			t.Errorf("%v: run %v, records %v: want a failure %v, records %v", c.err, err, l.calls, c.wantErr, c.calls)
		}
	}
}

// failingHeldReads is a real Parquet loader whose execution of arn fails
// to read which events it holds (load.LostEventsWriter), transiently,
// the first fails times (negative: every time), or with err as given.
type failingHeldReads struct {
	failingCommits
}

func (f *failingHeldReads) Begin(ctx context.Context, arn string) (load.Execution, error) {
	x, err := f.Loader.Begin(ctx, arn)
	if err != nil {
		return nil, err
	}
	lw, ok := x.(load.LostEventsWriter)
	if !ok {
		return nil, errors.New("a Parquet execution that cannot tell which events it holds")
	}
	return &failingHeldRead{Execution: x, LostEventsWriter: lw, f: f, fails: arn == f.arn}, nil
}

type failingHeldRead struct {
	load.Execution
	load.LostEventsWriter
	f     *failingHeldReads
	fails bool
}

func (x *failingHeldRead) ReadHeldEvents(ctx context.Context, dt string) error {
	if x.fails && x.f.fail() {
		return x.f.err
	}
	return x.LostEventsWriter.ReadHeldEvents(ctx, dt)
}

// TestHeldEventsUnreadable: under Config.RewriteEvents, a destination
// that fails to read which of an execution's events it holds fails that
// execution as a failed commit does: a transient failure is tried again
// from the start, and the archive then holds each event once; another
// stops the run, the execution named, and the archive keeps what it
// held, each event once.
func TestHeldEventsUnreadable(t *testing.T) {
	execs := emulator.Generate(61, 8, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	var lines strings.Builder
	for _, e := range execs {
		fmt.Fprintf(&lines, "{\"DurableExecutionArn\":%q}\n", e.ARN)
	}
	manifest := func() *extract.Manifest {
		m, err := extract.NewManifest("test", []byte(lines.String()))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	served := 0
	for _, e := range execs {
		served += e.History.Len()
	}
	for _, c := range []struct {
		name     string
		err      error
		fails    int
		wantErr  bool
		wantRuns int
	}{
		{"twice, then it reads", transient{}, 2, false, 3},
		{"not transient", errors.New("read denied (test)"), 1, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			run := func(prefix string, l load.Loader, mend bool) (*pipeline.Summary, error) {
				cfg := pipeline.Config{API: client, History: client, Loader: l, RunID: prefix, Concurrency: 2, DestinationRetries: 3,
					RewriteLacking: mend, RewriteEvents: mend, Logger: testLogger(t)}
				pipeline.WithDestinationBackoff(&cfg, func(int) time.Duration { return time.Millisecond })
				return pipeline.Run(context.Background(), cfg, manifest())
			}
			first, err := load.NewParquetDir(dir, load.WithFilePrefix("part-first"))
			if err != nil {
				t.Fatal(err)
			}
			if sum, err := run("first", first, false); err != nil || sum.ExecutionsOK != len(execs) {
				t.Fatalf("first run: %v, %+v", err, sum)
			}
			pd, err := load.NewParquetDir(dir, load.WithFilePrefix("part-mend"))
			if err != nil {
				t.Fatal(err)
			}
			l := &failingHeldReads{failingCommits{Loader: pd, arn: execs[3].ARN, err: c.err, fails: c.fails}}
			sum, err := run("mend", l, true)
			var de *pipeline.DestinationError
			if got := errors.As(err, &de); got != c.wantErr || got && !errors.Is(err, c.err) {
				t.Fatalf("the mend: %v, want a destination failure: %v", err, c.wantErr)
			}
			if l.tries != c.wantRuns || sum.DestinationRetries != c.wantRuns-1 {
				t.Errorf("%d tries, %d counted retries: want %d tries", l.tries, sum.DestinationRetries, c.wantRuns)
			}
			if c.wantErr && (len(sum.Failures) != 1 || sum.Failures[0].ExecutionArn != l.arn || sum.Failures[0].Code != "destination") {
				t.Errorf("failures %+v: want %s's destination failure alone", sum.Failures, l.arn)
			}
			if !c.wantErr && sum.ExecutionsOK != len(execs) {
				t.Errorf("the mend: %d archived, want %d", sum.ExecutionsOK, len(execs))
			}
			held := map[string]int{}
			for _, r := range readEventRows(t, dir) {
				held[fmt.Sprint(r.ExecutionArn, " ", r.EventID)]++
			}
			if len(held) != served {
				t.Errorf("%d events held, %d served", len(held), served)
			}
			for k, n := range held {
				if n != 1 {
					t.Errorf("event %s held %d times", k, n)
				}
			}
		})
	}
}
