package pipeline

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// largeGate admits the folds of large histories. A history folded holds
// its operations until it ends (150 bytes each, and what its payloads
// keep), so sixteen histories of 100,000 events folded at once held more
// than the run's soft memory limit and the collector ran without pause
// (docs/BENCHMARKS.md). An execution whose history reaches largeHistory
// events enters the gate before it reads on: it enters at once while no
// other large history is being folded, or while the heap the last
// collection left live is under half the memory limit; otherwise it waits
// until an execution ends and looks again. At least one large
// history is always admitted, so the run always progresses; without a
// memory limit (or with room under it) nothing ever waits, so a run whose
// time is the API's latency keeps every execution in flight.
type largeGate struct {
	mu        sync.Mutex
	cond      *sync.Cond
	active    int
	maxActive int   // the most admitted at once
	waits     int64 // histories admitted after waiting
	room      func() bool
}

func newLargeGate(room func() bool) *largeGate {
	g := &largeGate{room: room}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter admits one large history, waiting as above; it fails only when ctx
// ends first (and then admits nothing).
func (g *largeGate) enter(ctx context.Context) error {
	defer context.AfterFunc(ctx, g.recheck)()
	g.mu.Lock()
	defer g.mu.Unlock()
	waited := false
	for g.active > 0 && !g.room() {
		if err := ctx.Err(); err != nil {
			return err
		}
		waited = true
		g.cond.Wait()
	}
	if waited {
		g.waits++
	}
	g.active++
	g.maxActive = max(g.maxActive, g.active)
	return nil
}

// leave ends an admitted large history.
func (g *largeGate) leave() {
	g.mu.Lock()
	g.active--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// waited is how many histories were admitted after waiting.
func (g *largeGate) waited() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waits
}

// recheck wakes the waiters to look at the heap again (an execution ended)
// or at their context.
func (g *largeGate) recheck() {
	g.mu.Lock()
	g.cond.Broadcast()
	g.mu.Unlock()
}

// heapRoom reports whether the heap the last collection left live is
// under half the runtime's soft memory limit; always, without a limit.
func heapRoom() bool {
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == math.MaxInt64 {
		return true
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	return s[0].Value.Uint64() < uint64(limit)/2
}

// largeTicket is one execution's passage through the gate: it enters once,
// when its history reaches the threshold, and leaves when done.
type largeTicket struct {
	g         *largeGate
	threshold int64
	in        bool
}

// page notes that the history has reached total events.
func (t *largeTicket) page(ctx context.Context, total int64) error {
	if t == nil || t.in || total < t.threshold {
		return nil
	}
	if err := t.g.enter(ctx); err != nil {
		return err
	}
	t.in = true
	return nil
}

// done leaves the gate if the ticket entered it.
func (t *largeTicket) done() {
	if t != nil && t.in {
		t.g.leave()
		t.in = false
	}
}

// largeHistory is the event count from which a history's fold passes
// through the gate: 20,000 events hold some 5,000 operations, under 1 MiB.
const largeHistory = 20_000
