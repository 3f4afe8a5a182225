package main

import (
	"math/rand/v2"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
)

// growth serves the histories of the running executions in part, and more
// of them at each grow, as a live account's running executions go on
// between two nightly runs (-grow-on-signal).
type growth struct {
	rng    *rand.Rand
	execs  []emulator.Execution // the running ones, as served
	full   [][]types.Event      // their whole histories
	served []int                // how many of each are served
}

// newGrowth serves a part of each running execution's history (at least
// its first event, not all of it) in execs.
func newGrowth(seed uint64, execs []emulator.Execution) *growth {
	g := &growth{rng: rand.New(rand.NewPCG(seed, 0x6e6f7720))}
	for i, e := range execs {
		if s := e.Op(0).Status; s != types.OperationStatusStarted && s != types.OperationStatusPending {
			continue
		}
		n := e.History.Len()
		if n < 2 {
			continue
		}
		evs := make([]types.Event, n)
		for j := range evs {
			evs[j] = e.History.Event(j)
		}
		k := 1 + g.rng.IntN(n-1)
		execs[i].History = emulator.FixedHistory(slices.Clone(evs[:k]))
		g.execs = append(g.execs, execs[i])
		g.full = append(g.full, evs)
		g.served = append(g.served, k)
	}
	return g
}

// grow serves more events of about a third of the running executions
// whose histories are not all served yet, and returns those executions.
func (g *growth) grow() []emulator.Execution {
	var out []emulator.Execution
	for i := range g.execs {
		n := len(g.full[i])
		if g.served[i] == n || g.rng.IntN(3) != 0 {
			continue
		}
		g.served[i] += 1 + g.rng.IntN(n-g.served[i])
		g.execs[i].History = emulator.FixedHistory(slices.Clone(g.full[i][:g.served[i]]))
		out = append(out, g.execs[i])
	}
	return out
}
