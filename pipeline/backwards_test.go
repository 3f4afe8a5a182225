package pipeline_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// TestHistoryChangedWhileReadBackwards: from a service that lists the
// newest event first whatever ReverseOrder says, a history that grows
// between the pass that lists its pages and the pass that reads them again
// (the emulator's markers count events, so every page moves) is read
// again from the start, once, and archived whole: every event of the grown
// history, each once.
func TestHistoryChangedWhileReadBackwards(t *testing.T) {
	e := emulator.Generate(41, 1, emulator.GenerateOptions{MinOps: 20, MaxOps: 20})[0]
	e.Token = ""
	var events []types.Event
	for i := range e.History.Len() {
		events = append(events, e.History.Event(i))
	}
	if len(events) < 21 {
		t.Fatalf("a history of %d events: too short to page", len(events))
	}
	srv := emulator.New(emulator.WithNewestFirstAlways())
	short := e
	short.History = emulator.FixedHistory(events[:len(events)-5])
	srv.Add(short)
	_, client := emulatortest.Start(t, srv)
	const pageSize = 10
	pages := (len(events) - 5 + pageSize - 1) / pageSize
	// Two calls find the newest event first both ways, pages list the
	// history, and the next call, asking for its last page again, finds
	// it grown.
	api := &growOnce{HistoryAPI: client, at: 2 + pages + 1, grow: func() { srv.Add(e) }}
	dir := t.TempDir()
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, History: api, Loader: pd, RunID: "r", PageSize: pageSize,
		Logger: testLogger(t)}, manifestOf(t, []emulator.Execution{short}))
	if err != nil || sum.ExecutionsOK != 1 {
		t.Fatalf("%v: %d archived, failures %v", err, sum.ExecutionsOK, sum.Failures)
	}
	if !api.grown {
		t.Fatal("the history never grew: the test did not exercise the change")
	}
	seen := map[int32]bool{}
	for _, r := range readEventRows(t, dir) {
		if seen[r.EventID] {
			t.Errorf("event %d archived twice", r.EventID)
		}
		seen[r.EventID] = true
	}
	if len(seen) != len(events) {
		t.Errorf("%d events archived, the grown history has %d", len(seen), len(events))
	}
}

// growOnce calls grow before its at'th GetDurableExecutionHistory.
type growOnce struct {
	extract.HistoryAPI
	at    int
	grow  func()
	mu    sync.Mutex
	calls int
	grown bool
}

func (g *growOnce) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	g.mu.Lock()
	if g.calls++; g.calls == g.at {
		g.grow()
		g.grown = true
	}
	g.mu.Unlock()
	return g.HistoryAPI.GetDurableExecutionHistory(ctx, in, opts...)
}

// readEventRows reads every events row of the Parquet archive dir.
func readEventRows(t *testing.T, dir string) []schema.Event {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	var out []schema.Event
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Event](f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}
