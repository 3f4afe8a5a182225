package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/outage"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
)

// TestUnreachableStopsTheRun: once the API cannot be reached (its
// connections cut at the 10th request and new ones refused), the run
// stops after Config.UnreachableAfter executions in a row failed so,
// instead of failing every execution left, each after its retries; the
// executions archived before stay. Executions that fail on connections
// made (reset, for a third of them) do not stop it.
func TestUnreachableStopsTheRun(t *testing.T) {
	execs, _ := randomExecutions(29, 60, 10)
	third := map[string]bool{}
	for i, e := range execs {
		third[e.ARN] = i%3 == 0
	}
	for _, c := range []struct {
		name string
		gone bool // the API goes away at the 10th request
		stop bool
	}{
		{"gone after the 10th request", true, true},
		{"a third of the executions reset", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int64
			var proxy *outage.Proxy
			var once sync.Once
			srv := emulator.New(emulator.WithFaults(func(n int64, arn string) emulator.Fault {
				requests.Store(n)
				switch {
				case c.gone && n >= 10:
					once.Do(proxy.Down)
					return emulator.Drop
				case !c.gone && third[arn]:
					return emulator.Drop
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			proxy = outage.Start(t, strings.TrimPrefix(url, "http://"))
			client := emulatortest.Client(t, "http://"+proxy.Addr, extract.WithMaxAttempts(2), extract.WithMaxBackoff(time.Millisecond))
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
			if !strings.Contains(err.Error(), "could not be reached for 6 executions in a row (last: dial tcp") {
				t.Errorf("error %q: want the count and the last cause, in one line", err)
			}
			// An execution asked before the API went may settle late,
			// archived, and start the count again; without the rule every
			// one of the 60 would be tried.
			if !sum.Interrupted || unreachable.Count != after || sum.ExecutionsOK == 0 || sum.ExecutionsFailed < after || sum.ExecutionsFailed > after+2*concurrency ||
				sum.ExecutionsOK+sum.ExecutionsFailed+sum.Abandoned > 10+after+3*concurrency {
				t.Errorf("%d archived, %d failed, %d abandoned, interrupted %v, %d in a row: want the run stopped after %d failed in a row, a few in flight besides",
					sum.ExecutionsOK, sum.ExecutionsFailed, sum.Abandoned, sum.Interrupted, unreachable.Count, after)
			}
		})
	}
}
