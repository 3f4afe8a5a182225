package pipeline_test

import (
	"context"
	"errors"
	"fmt"
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
			sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "r", Concurrency: concurrency, UnreachableAfter: after, Logger: testLogger(t),
				RetryFailedAfter: time.Millisecond}, manifestOf(t, execs))
			var unreachable *pipeline.UnreachableError
			if got := errors.As(err, &unreachable); got != c.stop {
				t.Fatalf("run: %v: want an UnreachableError: %v", err, c.stop)
			}
			if !c.stop {
				if sum.Interrupted || sum.ExecutionsOK != len(execs)-len(execs)/3 || sum.ExecutionsFailed != len(execs)/3 || sum.TriedAgain != len(execs)/3 {
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

// TestDeniedFunctionAskedFewTimes: a policy that lets the run list a
// function's executions but not read them (AccessDeniedException on
// GetDurableExecution, the history and the state) costs a few denied
// calls, not one for each execution: after extract.DeniedAfter denials
// of an action, none allowed, the function's other executions fail
// without that call ("not asked"), each named in the report as denied. The other functions' executions are
// archived, read through history (no token) and through state alike.
func TestDeniedFunctionAskedFewTimes(t *testing.T) {
	execs := emulator.Generate(31, 600, emulator.GenerateOptions{MinOps: 2, MaxOps: 5})
	for _, withTokens := range []bool{false, true} {
		t.Run(map[bool]string{false: "history", true: "state"}[withTokens], func(t *testing.T) {
			srv := emulator.New(emulator.WithDeniedReads("payments"))
			srv.Add(execs...)
			_, client := emulatortest.Start(t, srv)
			var lines strings.Builder
			denied := 0
			for _, e := range execs {
				if strings.Contains(e.ARN, ":function:payments:") {
					denied++
				}
				if withTokens {
					fmt.Fprintf(&lines, "{\"DurableExecutionArn\":%q,\"CheckpointToken\":%q}\n", e.ARN, e.Token)
				} else {
					fmt.Fprintf(&lines, "{\"DurableExecutionArn\":%q}\n", e.ARN)
				}
			}
			if denied < 80 {
				t.Fatalf("%d executions of payments among %d: the test needs more", denied, len(execs))
			}
			m, err := extract.NewManifest("test", []byte(lines.String()))
			if err != nil {
				t.Fatal(err)
			}
			pd, err := load.NewParquetDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			const concurrency = 3
			sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, History: client, Loader: pd, RunID: "r", Concurrency: concurrency, Logger: testLogger(t)}, m)
			if err != nil {
				t.Fatal(err)
			}
			if sum.ExecutionsOK != len(execs)-denied || sum.ExecutionsFailed != denied {
				t.Fatalf("%d archived, %d failed: want %d and the %d of payments", sum.ExecutionsOK, sum.ExecutionsFailed, len(execs)-denied, denied)
			}
			stopped := 0
			for _, f := range sum.Failures {
				if f.Code != "AccessDeniedException" || !strings.Contains(f.ExecutionArn, ":function:payments:") {
					t.Errorf("failure %+v: want payments' denied", f)
				}
				if strings.Contains(f.Reason, "not asked") {
					stopped++
				}
			}
			var calls int64
			for _, e := range execs {
				for _, op := range []string{"get", "history", "state"} {
					if strings.Contains(e.ARN, ":function:payments:") {
						calls += srv.Requests(op, e.ARN)
					}
				}
			}
			// Each qualifier of payments (the generator draws several) is
			// asked up to DeniedAfter times, and those in flight when the
			// last denial came.
			if limit := int64(len(qualifiersOf(execs, "payments")) * (extract.DeniedAfter + concurrency - 1)); calls > limit || stopped == 0 {
				t.Errorf("%d denied calls for %d executions, %d failed without a call: want at most %d calls", calls, denied, stopped, limit)
			}
			t.Logf("%d denied calls for %d executions of payments, %d failed without a call", calls, denied, stopped)
		})
	}
}

// qualifiersOf is the qualifiers of fn among execs' ARNs.
func qualifiersOf(execs []emulator.Execution, fn string) map[string]bool {
	out := map[string]bool{}
	for _, e := range execs {
		head, _, _ := strings.Cut(e.ARN, "/durable-execution/")
		if rest, ok := strings.CutPrefix(head[strings.Index(head, ":function:")+len(":function:"):], fn+":"); ok {
			out[rest] = true
		}
	}
	return out
}

// TestSlowExecutionsDoNotStopTheRun: executions whose every call times
// out (a service slow to answer them) fail many in a row, none settled
// between, while the service answers another execution's calls: the run
// goes on (Config.Calls: the service answered meanwhile) and archives
// every other execution. Tried again at the end of the run (timeouts are
// passing failures), they are the only ones running, so as many in a row
// end those second tries, not the run: the rest fail with their first
// reason. A service that answers nothing stops the run after as many
// (TestAPIHungMidway, cmd/etl).
func TestSlowExecutionsDoNotStopTheRun(t *testing.T) {
	execs, _ := randomExecutions(67, 25, 5)
	long, _ := randomExecutions(68, 1, 400)
	slow := map[string]bool{}
	for _, e := range execs[:16] {
		slow[e.ARN] = true // first in the manifest, after the long one
	}
	var slowAsked, slowAskedAtLongEnd atomic.Int64
	srv := emulator.New(emulator.WithSlowDelay(time.Minute), emulator.WithFaults(func(n int64, arn string) emulator.Fault {
		switch {
		case arn == long[0].ARN:
			time.Sleep(50 * time.Millisecond) // a service some way off: its pages take a while
			slowAskedAtLongEnd.Store(slowAsked.Load())
		case slow[arn]:
			slowAsked.Add(1)
			return emulator.Slow
		}
		return emulator.NoFault
	}))
	srv.Add(long...)
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	var calls extract.CallStats
	client := emulatortest.Client(t, url, extract.WithMaxAttempts(1), extract.WithRequestTimeout(time.Second), extract.WithCallStats(&calls))
	pd, err := load.NewParquetDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const concurrency, after = 3, 4
	sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "r", Concurrency: concurrency, UnreachableAfter: after,
		PageSize: 1, Calls: &calls, Logger: testLogger(t), RetryFailedAfter: time.Millisecond}, manifestOf(t, append(long, execs...)))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Interrupted || sum.ExecutionsOK != 1+len(execs)-len(slow) || sum.ExecutionsFailed != len(slow) {
		t.Errorf("%d archived, %d failed, interrupted %v: want every execution tried, the %d slow ones failed", sum.ExecutionsOK, sum.ExecutionsFailed, sum.Interrupted, len(slow))
	}
	if sum.TriedAgain < after || sum.TriedAgain >= len(slow) {
		t.Errorf("%d of the %d slow executions tried again: want those until %d in a row had no answer, and no more", sum.TriedAgain, len(slow), after)
	}
	for _, f := range sum.Failures {
		if f.Code != "timeout" {
			t.Errorf("%s failed %s (%s): want a timeout", f.ExecutionArn, f.Code, f.Reason)
		}
	}
	// Else the long execution's pages (157, 50 ms each) came before the
	// slow ones failed in a row (two at a time, a second each), and the
	// test proves nothing.
	if n := slowAskedAtLongEnd.Load(); n < after+concurrency {
		t.Errorf("%d slow calls made by the long execution's last page: want at least %d, so many failed while it was answered", n, after+concurrency)
	}
}
