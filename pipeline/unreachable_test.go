package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
)

// TestUnreachableStopsTheRun: once the API stops answering (every
// connection reset after the 10th request), the run stops after
// Config.UnreachableAfter executions in a row failed so, instead of
// failing every execution left, each after its retries; the executions
// archived before stay. Failures without an answer between answered
// ones do not stop it.
func TestUnreachableStopsTheRun(t *testing.T) {
	execs, _ := randomExecutions(29, 60, 10)
	third := map[string]bool{}
	for i, e := range execs {
		third[e.ARN] = i%3 == 0
	}
	for _, c := range []struct {
		name  string
		fault func(n int64, arn string) bool
		stop  bool
	}{
		{"gone after the 10th request", func(n int64, _ string) bool { return n > 10 }, true},
		{"a third of the executions unanswered", func(_ int64, arn string) bool { return third[arn] }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := emulator.New(emulator.WithFaults(func(n int64, arn string) emulator.Fault {
				requests.Store(n)
				if c.fault(n, arn) {
					return emulator.Reset
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2), extract.WithMaxBackoff(time.Millisecond))
			pd, err := load.NewParquetDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			const concurrency, after = 3, 6
			sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "r", Concurrency: concurrency, UnreachableAfter: after, Logger: testLogger(t)}, manifestOf(t, execs))
			var unreachable *pipeline.UnreachableError
			if got := errors.As(err, &unreachable); got != c.stop {
				t.Fatalf("run: %v: want an UnreachableError: %v", err, c.stop)
			}
			if !c.stop {
				if sum.Interrupted || sum.ExecutionsOK != len(execs)-len(execs)/3 || sum.ExecutionsFailed != len(execs)/3 {
					t.Errorf("%d archived, %d failed, interrupted %v: want every execution tried, a third (more than %d) failed", sum.ExecutionsOK, sum.ExecutionsFailed, sum.Interrupted, after)
				}
				return
			}
			if !strings.Contains(err.Error(), "did not answer for 6 executions in a row (last: read tcp") {
				t.Errorf("error %q: want the count and the last cause, in one line", err)
			}
			// Each execution is one call here, two attempts each; an
			// execution asked before the 10th request may settle late,
			// archived, and start the count again. Without the rule every
			// execution would be tried: 10 + 2*50 requests.
			if !sum.Interrupted || unreachable.Count != after || sum.ExecutionsOK == 0 || sum.ExecutionsFailed < after || sum.ExecutionsFailed > after+2*concurrency ||
				requests.Load() > int64(10+2*(after+3*concurrency)) {
				t.Errorf("%d archived, %d failed, %d abandoned, %d requests, interrupted %v, %d in a row: want the run stopped after %d failed in a row, a few in flight besides",
					sum.ExecutionsOK, sum.ExecutionsFailed, sum.Abandoned, requests.Load(), sum.Interrupted, unreachable.Count, after)
			}
		})
	}
}
