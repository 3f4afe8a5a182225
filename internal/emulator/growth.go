package emulator

import (
	"math/rand/v2"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Growth serves the histories of running executions in part, and more of
// them at each Grow, as a live account's running executions go on between
// two nightly runs (lambda-emulator -grow-on-signal, and the tests).
type Growth struct {
	rng    *rand.Rand
	execs  []Execution     // the running ones, as served
	full   [][]types.Event // their whole histories
	served map[string]int  // by ARN: how many events of each are served
}

// NewGrowth makes execs' running executions (those GetDurableExecution
// says are RUNNING, with two events or more) serve a part of their history,
// at least the first event and not all of it, drawn from rng: add execs to
// the server after. rng draws every later Grow too.
func NewGrowth(rng *rand.Rand, execs []Execution) *Growth {
	g := &Growth{rng: rng, served: map[string]int{}}
	for i, e := range execs {
		n := e.History.Len()
		if InfoOf(e).Status != types.ExecutionStatusRunning || n < 2 {
			continue
		}
		evs := make([]types.Event, n)
		for j := range evs {
			evs[j] = e.History.Event(j)
		}
		k := 1 + rng.IntN(n-1)
		execs[i].History = FixedHistory(slices.Clone(evs[:k]))
		g.execs = append(g.execs, execs[i])
		g.full = append(g.full, evs)
		g.served[e.ARN] = k
	}
	return g
}

// Running is how many executions it serves in part, or did.
func (g *Growth) Running() int { return len(g.execs) }

// Served is how many events of the execution arn's history are served,
// and whether it is one of those Growth serves.
func (g *Growth) Served(arn string) (n int, ok bool) {
	n, ok = g.served[arn]
	return n, ok
}

// Grow serves more events of about a third of the running executions
// whose histories are not all served yet, and returns them, to be added
// to the server again.
func (g *Growth) Grow() []Execution {
	var out []Execution
	for i, e := range g.execs {
		n, k := len(g.full[i]), g.served[e.ARN]
		if k == n || g.rng.IntN(3) != 0 {
			continue
		}
		k += 1 + g.rng.IntN(n-k)
		g.served[e.ARN] = k
		g.execs[i].History = FixedHistory(slices.Clone(g.full[i][:k]))
		out = append(out, g.execs[i])
	}
	return out
}
