package pipeline

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
)

// TestLargeGate: without room, a second large history waits until the
// first leaves; with room, it enters at once; a waiter whose context ends
// gives up and is not admitted; the first always enters.
func TestLargeGate(t *testing.T) {
	room := false
	asked := make(chan bool, 16) // a room() call: the caller waits next, unless it was told room
	g := newLargeGate(func() bool { asked <- room; return room })
	ctx := context.Background()
	if err := g.enter(ctx); err != nil { // alone: admitted whatever the room
		t.Fatal(err)
	}
	entered := make(chan error, 1)
	go func() { entered <- g.enter(ctx) }()
	<-asked // no room: it waits, and leave below takes the lock only once it does
	select {
	case err := <-entered:
		t.Fatalf("admitted beside another without room: %v", err)
	default:
	}
	g.leave()
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
	if g.active != 1 || g.maxActive != 1 || g.waited() != 1 {
		t.Fatalf("active %d, at most %d, %d waited; want 1, 1 and 1", g.active, g.maxActive, g.waited())
	}

	g.mu.Lock()
	room = true
	g.mu.Unlock()
	if err := g.enter(ctx); err != nil || g.active != 2 || !<-asked {
		t.Fatalf("with room: %v, %d active", err, g.active)
	}

	g.mu.Lock()
	room = false
	g.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	go func() { entered <- g.enter(cctx) }()
	<-asked
	cancel()
	if err := <-entered; !errors.Is(err, context.Canceled) || g.active != 2 || g.waited() != 1 {
		t.Fatalf("cancelled waiter: %v, %d active, %d waited; want context.Canceled, 2 and 1", err, g.active, g.waited())
	}
}

// TestLargeHistoriesOneAtATime: with no room in memory, a run of many
// large histories (here: past 50 events) folds one at a time and still
// archives every event and operation; the executions under the threshold
// never wait. So that a large history surely waits, the emulator holds
// every history past its fifth page of ten events until one has asked the
// gate for room: the first admitted keeps the gate until another large
// history comes to it.
func TestLargeHistoriesOneAtATime(t *testing.T) {
	execs := emulator.Generate(7, 12, emulator.GenerateOptions{MinOps: 5, MaxOps: 60})
	for i := range execs {
		execs[i].Token = ""
	}
	contended := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	calls := map[string]int{}
	srv := emulator.New(emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		mu.Lock()
		calls[arn]++
		n := calls[arn]
		mu.Unlock()
		if n > 6 { // GetDurableExecution, then pages of ten: past 50 events
			select {
			case <-contended:
			case <-time.After(time.Minute): // a guard against a hang: the waits check below fails
			}
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	var manifest bytes.Buffer
	emulator.WriteManifest(&manifest, execs)
	m, err := extract.NewManifest("test", manifest.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	pd, err := load.NewParquetDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gate := newLargeGate(func() bool { once.Do(func() { close(contended) }); return false })
	sum, err := Run(context.Background(), Config{API: client, History: client, Loader: pd, RunID: "gate", Concurrency: 4, PageSize: 10,
		gate: gate, largeHistory: 50}, m)
	if err != nil || sum.ExecutionsFailed > 0 {
		t.Fatalf("run: %v %+v", err, sum.Failures)
	}
	var events, large int64
	for _, e := range execs {
		n := int64(e.History.Len())
		events += n
		if n >= 50 {
			large++
		}
	}
	if sum.ExecutionsOK != len(execs) || sum.Events != events || large < 4 || large == int64(len(execs)) {
		t.Fatalf("%d of %d archived, %d events of %d; %d large histories (want some, not all)", sum.ExecutionsOK, len(execs), sum.Events, events, large)
	}
	if gate.maxActive != 1 || gate.active != 0 || gate.waited() == 0 || sum.LargeHistoryWaits != gate.waited() {
		t.Fatalf("large histories folded at once: at most %d (want 1), %d still admitted; %d waits reported of %d (want some)", gate.maxActive, gate.active, sum.LargeHistoryWaits, gate.waited())
	}
}
