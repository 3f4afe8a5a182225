package load

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/schema"
)

// gatedSink holds every write to its files until gate is closed, and
// closes entered at the first.
type gatedSink struct {
	fileSink
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (s *gatedSink) create(name string) (sinkFile, error) {
	f, err := s.fileSink.create(name)
	if err != nil {
		return nil, err
	}
	return &gatedFile{sinkFile: f, s: s}, nil
}

type gatedFile struct {
	sinkFile
	s *gatedSink
}

func (f *gatedFile) Write(p []byte) (int, error) {
	f.s.once.Do(func() { close(f.s.entered) })
	<-f.s.gate
	return f.sinkFile.Write(p)
}

// TestCommitsGoOnWhileRowGroupsAreWritten: a partition's rows written as a
// row group are written on the loader's background goroutine, so commits
// (into another partition) go on while its file is being written; once
// the write ends, every row is published.
func TestCommitsGoOnWhileRowGroupsAreWritten(t *testing.T) {
	ctx := context.Background()
	d, err := NewParquetDir(t.TempDir(), WithBufferBudget(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	gs := &gatedSink{fileSink: d.sink, gate: make(chan struct{}), entered: make(chan struct{})}
	d.sink = gs
	// Incompressible, so that the row group's pages reach the file as they
	// are written, not at Close.
	raw := make([]byte, 1<<19)
	rand.NewChaCha8([32]byte{1}).Read(raw)
	payload := hex.EncodeToString(raw)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	commit := func(dt string, i int) error {
		arn := "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/" + dt + "/" + string(rune('a'+i))
		x, err := d.Begin(ctx, arn)
		if err != nil {
			return err
		}
		op := schema.Operation{ExecutionArn: arn, OperationID: "op", Seq: 1, Result: &payload, RunID: "r", ExtractedAt: at}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, []schema.Operation{op})); err != nil {
			return err
		}
		return x.Commit(ctx, dt, schema.Execution{ExecutionArn: arn, RunID: "r", ExtractedAt: at, OperationCount: 1})
	}
	done := make(chan error, 1)
	go func() {
		// Five 1 MiB executions pass half the budget in one partition of
		// at least 4 MiB: its rows go to its file as a row group.
		for i := range 5 {
			if err := commit("2026-01-01", i); err != nil {
				done <- err
				return
			}
		}
		<-gs.entered // that write has begun, and waits at the gate
		for i := range 3 {
			if err := commit("2026-01-02", i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("commits waited for a row group being written")
	}
	close(gs.gate)
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Rows != 16 || st.Files != 4 {
		t.Errorf("published %d rows in %d files, want 16 in 4 (8 operations, 8 executions, two partitions)", st.Rows, st.Files)
	}
}
