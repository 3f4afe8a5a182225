package emulator_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
)

// TestGrowth: a Growth serves a part of each running execution's history,
// then more at each Grow, always a prefix of the whole, until all of it is
// served; ended executions are served whole from the start.
func TestGrowth(t *testing.T) {
	execs := emulator.Generate(5, 60, emulator.GenerateOptions{MaxOps: 30})
	whole := map[string][]types.Event{}
	for _, e := range execs {
		for i := range e.History.Len() {
			whole[e.ARN] = append(whole[e.ARN], e.History.Event(i))
		}
	}
	g := emulator.NewGrowth(rand.New(rand.NewPCG(5, 0)), execs)
	served := map[string]int{}
	check := func(e emulator.Execution) {
		t.Helper()
		n := e.History.Len()
		if n < served[e.ARN] || n > len(whole[e.ARN]) {
			t.Fatalf("%s: %d events served, after %d, of %d", e.ARN, n, served[e.ARN], len(whole[e.ARN]))
		}
		if k, ok := g.Served(e.ARN); ok && k != n {
			t.Fatalf("%s: %d events served, Served says %d", e.ARN, n, k)
		}
		for i := range n {
			if !reflect.DeepEqual(e.History.Event(i), whole[e.ARN][i]) {
				t.Fatalf("%s: event %d served is not the history's", e.ARN, i)
			}
		}
		served[e.ARN] = n
	}
	running := 0
	for _, e := range execs {
		check(e)
		_, grows := g.Served(e.ARN)
		switch isRunning := emulator.InfoOf(e).Status == types.ExecutionStatusRunning; {
		case grows && !isRunning:
			t.Errorf("%s ended, served in part", e.ARN)
		case !isRunning && served[e.ARN] != len(whole[e.ARN]):
			t.Errorf("%s ended, %d of %d events served", e.ARN, served[e.ARN], len(whole[e.ARN]))
		case grows && served[e.ARN] == len(whole[e.ARN]):
			t.Errorf("%s running, served whole from the start", e.ARN)
		case grows:
			running++
		}
	}
	if running == 0 || running != g.Running() {
		t.Fatalf("%d running executions served in part, Running says %d", running, g.Running())
	}
	servedWhole := func() bool {
		for arn := range served {
			if _, ok := g.Served(arn); ok && served[arn] != len(whole[arn]) {
				return false
			}
		}
		return true
	}
	for round := 0; round < 1000 && !servedWhole(); round++ {
		for _, e := range g.Grow() {
			before := served[e.ARN]
			check(e)
			if served[e.ARN] == before {
				t.Fatalf("%s grew by nothing", e.ARN)
			}
		}
	}
	if !servedWhole() {
		t.Error("the running executions' histories were never served whole")
	}
}
