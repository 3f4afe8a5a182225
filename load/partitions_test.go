package load

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

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

// heldHandler calls at once, on the first record whose message is msg.
type heldHandler struct {
	slog.Handler
	msg  string
	once sync.Once
	at   func()
}

func (h *heldHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *heldHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(h.at)
	}
	return nil
}

// liveHeap is the heap still reachable, after two collections (a
// sync.Pool's buffers outlive one in its victim cache).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestCloseLetsGoOfFinishedFiles: Close finishes hundreds of partitions'
// files and reveals them after one shared sync; a partition's writers
// (their column and page buffers) and file buffers must be let go as soon
// as its files are complete, not held until the last is revealed. Held,
// 730 partitions' took a backfill run past 550 MiB, far over its memory
// limit, and the collector's struggle near it doubled the run's time.
func TestCloseLetsGoOfFinishedFiles(t *testing.T) {
	ctx := context.Background()
	var atReveal int64
	h := &heldHandler{msg: "published parquet file", at: func() { atReveal = liveHeap() }}
	d, err := NewParquetDir(t.TempDir(), WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.sink.(batchSink); !ok {
		t.Fatal("a local directory's sink shares its syncs: this test reads the heap between the files' completion and their reveal")
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const partitions = 300
	for i := range partitions {
		dt := at.AddDate(0, 0, -i).Format(time.DateOnly)
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/e%d/x", i)
		x, err := d.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		ops := []schema.Operation{{ExecutionArn: arn, OperationID: "a", Seq: 1, RunID: "r", ExtractedAt: at}, {ExecutionArn: arn, OperationID: "b", Seq: 2, RunID: "r", ExtractedAt: at}}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, ops)); err != nil {
			t.Fatal(err)
		}
		if err := x.Commit(ctx, dt, schema.Execution{ExecutionArn: arn, RunID: "r", ExtractedAt: at, OperationCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	before := liveHeap()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Files != 2*partitions {
		t.Fatalf("published %d files, want %d", st.Files, 2*partitions)
	}
	t.Logf("live heap before Close %d KiB, when the first file is revealed %d KiB", before>>10, atReveal>>10)
	// About 2 KiB a file stays for its reveal (names, paths), and the
	// partition jobs still at work hold their writers (a few MiB in all,
	// whatever the partitions: 13-20 KiB a partition here, measured alone
	// and beside the package's other tests); a partition's writers held
	// to the reveal are hundreds of KiB each (750 KiB a partition in the
	// backfill above).
	if grown := atReveal - before; grown > 64<<10*partitions {
		t.Errorf("the live heap grew %d KiB (%d KiB a partition) between the commits and the first file's reveal: finished files are held", grown>>10, grown>>10/partitions)
	}
}

// TestSpillSegmentsOfBothForms: two partitions spill again and again, each
// spill holding a segment of one in Parquet (1,024 rows or more) and of
// the other in row form, turn about, then rows stay waiting at Close.
// Every file holds its partition's rows exactly, in commit order, its
// Parquet segments copied and its row-form rows encoded around them; two
// destinations fed the same commits write the same bytes.
func TestSpillSegmentsOfBothForms(t *testing.T) {
	ctx := context.Background()
	var loaders []*Parquet
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, dir := range dirs {
		d, err := NewParquetDir(dir, WithBufferBudget(1<<20), WithFilePrefix("part-both"))
		if err != nil {
			t.Fatal(err)
		}
		loaders = append(loaders, d)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(3, 4))
	want := map[string][]schema.Operation{}
	for i := range 24 {
		// Turn about, one partition gets 1,100 small rows (about 0.4 MiB),
		// the other 30.
		for k, dt := range []string{"2026-01-01", "2026-01-02"} {
			n := 30
			if (i/3+k)%2 == 0 {
				n = 1100
			}
			arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/%s-%d/x", dt, i)
			ops := make([]schema.Operation, n)
			for j := range ops {
				name := fmt.Sprintf("step-%d", r.IntN(1000))
				ops[j] = schema.Operation{ExecutionArn: arn, OperationID: fmt.Sprint(j), Seq: int64(j), Name: &name, RunID: "r", ExtractedAt: at}
				if r.IntN(4) == 0 {
					ops[j].Name = nil
				}
			}
			want[dt] = append(want[dt], ops...)
			for _, d := range loaders {
				x, err := d.Begin(ctx, arn)
				if err != nil {
					t.Fatal(err)
				}
				if err := x.Write(ctx, schema.RowsOf(schema.Operations, ops)); err != nil {
					t.Fatal(err)
				}
				if err := x.Commit(ctx, dt, schema.Execution{ExecutionArn: arn, RunID: "r", ExtractedAt: at, OperationCount: int64(n)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, d := range loaders {
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rowForm, pq := loaders[0].segments[0].Load(), loaders[0].segments[1].Load()
	if rowForm == 0 || pq == 0 {
		t.Fatalf("spilled %d row-form and %d Parquet segments: the test needs both", rowForm, pq)
	}
	for dt, ops := range want {
		files, _ := filepath.Glob(filepath.Join(dirs[0], "operations", "dt="+dt, "*.parquet"))
		if len(files) != 1 {
			t.Fatalf("%s: %d operations files", dt, len(files))
		}
		got, err := parquet.ReadFile[schema.Operation](files[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ops) {
			t.Fatalf("%s: %d rows, want %d", dt, len(got), len(ops))
		}
		for i := range ops {
			if c := schema.DiffRow(schema.Operations, &ops[i], &got[i], nil); c >= 0 {
				t.Fatalf("%s row %d: column %s differs: %+v, want %+v", dt, i, schema.Operations.Columns[c].Name, got[i], ops[i])
			}
		}
		a, _ := os.ReadFile(files[0])
		b, err := os.ReadFile(filepath.Join(dirs[1], "operations", "dt="+dt, filepath.Base(files[0])))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the two destinations (%v)", dt, err)
		}
	}
	t.Logf("%d row-form and %d Parquet segments", rowForm, pq)
}
