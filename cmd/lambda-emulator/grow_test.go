package main

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
)

// TestGrowth: -grow-on-signal serves a part of each running execution's
// history, then more at each grow, always a prefix of the whole, until all
// of it is served; ended executions are served whole from the start.
func TestGrowth(t *testing.T) {
	execs := emulator.Generate(5, 60, emulator.GenerateOptions{MaxOps: 30})
	whole := map[string][]types.Event{}
	for _, e := range execs {
		for i := range e.History.Len() {
			whole[e.ARN] = append(whole[e.ARN], e.History.Event(i))
		}
	}
	g := newGrowth(5, execs)
	if len(g.execs) == 0 {
		t.Fatal("no running execution generated")
	}
	served := map[string]int{}
	check := func(e emulator.Execution) {
		t.Helper()
		n := e.History.Len()
		if n < served[e.ARN] || n > len(whole[e.ARN]) {
			t.Fatalf("%s: %d events served, after %d, of %d", e.ARN, n, served[e.ARN], len(whole[e.ARN]))
		}
		for i := range n {
			if !reflect.DeepEqual(e.History.Event(i), whole[e.ARN][i]) {
				t.Fatalf("%s: event %d served is not the history's", e.ARN, i)
			}
		}
		served[e.ARN] = n
	}
	for _, e := range execs {
		check(e)
		if running := e.Op(0).Status == types.OperationStatusStarted || e.Op(0).Status == types.OperationStatusPending; !running && served[e.ARN] != len(whole[e.ARN]) {
			t.Errorf("%s ended, served in part", e.ARN)
		}
	}
	for _, e := range g.execs {
		if served[e.ARN] == len(whole[e.ARN]) {
			t.Errorf("%s running, served whole from the start", e.ARN)
		}
	}
	servedWhole := func() bool {
		for _, e := range g.execs {
			if served[e.ARN] != len(whole[e.ARN]) {
				return false
			}
		}
		return true
	}
	for round := 0; round < 1000 && !servedWhole(); round++ {
		for _, e := range g.grow() {
			before := served[e.ARN]
			check(e)
			if served[e.ARN] == before {
				t.Fatalf("%s grew by nothing", e.ARN)
			}
		}
	}
	for _, e := range g.execs {
		if served[e.ARN] != len(whole[e.ARN]) {
			t.Errorf("%s: %d of %d events served at the end", e.ARN, served[e.ARN], len(whole[e.ARN]))
		}
	}
}
