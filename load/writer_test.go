package load

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// BenchmarkSmallFileWriter: a partition's operations file of a backfill
// over many dates (300 generated operations of one execution: every type,
// retries, errors, unicode; about 190 KiB of row data) written with a new
// writer and with a reset one, in one run; it reports both times per file
// and their ratio (new/reset), which is what keeping writers saves.
func BenchmarkSmallFileWriter(b *testing.B) {
	e := emulator.Generate(5, 1, emulator.GenerateOptions{MinOps: 300, MaxOps: 300, LargePayloadEvery: -1})[0]
	rows := make([]schema.Operation, e.Len)
	for i := range rows {
		op := e.Op(i)
		rows[i] = transform.OperationRow(&op, int64(i), transform.RowMeta{ExecutionArn: e.ARN, RunID: "bench"})
	}
	d := &Parquet{cfg: parquetConfig{codec: Compressions["zstd"]}}
	opts := d.newWriterOptions(schema.Operations)
	write := func(w schema.ParquetWriter) {
		if _, err := w.Write(schema.RowsOf(schema.Operations, rows)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reused := schema.Operations.NewParquetWriter(io.Discard, opts...)
	var fresh, reset time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		write(schema.Operations.NewParquetWriter(io.Discard, opts...))
		fresh += time.Since(start)
		start = time.Now()
		reused.Reset(io.Discard)
		write(reused)
		reset += time.Since(start)
	}
	b.ReportMetric(float64(fresh.Microseconds())/float64(b.N)/1000, "new-ms/file")
	b.ReportMetric(float64(reset.Microseconds())/float64(b.N)/1000, "reset-ms/file")
	b.ReportMetric(fresh.Seconds()/reset.Seconds(), "new/reset")
	b.ReportMetric(float64(schema.RowsOf(schema.Operations, rows).Size())/1024, "row-KiB")
}

// TestOnlySmallFilesWritersAreKept: a closed file's writer is kept for the
// next file only if its row groups stayed under pooledGroup, only
// pooledWriters of them per table, and never one a file was given
// options of its own for (compaction's).
func TestOnlySmallFilesWritersAreKept(t *testing.T) {
	d, err := NewParquetDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closed := func(largest int64, shared bool) *partFile {
		return &partFile{table: schema.Operations, largest: largest, shared: shared, w: schema.Operations.NewParquetWriter(io.Discard, d.writerOptions(schema.Operations)...)}
	}
	for _, c := range []struct {
		largest int64
		shared  bool
		kept    int
	}{{pooledGroup + 1, true, 0}, {10, false, 0}, {pooledGroup, true, 1}, {0, true, 2}, {10, true, 2}} {
		d.release(closed(c.largest, c.shared))
		if n := len(d.writers[schema.Operations]); n != min(c.kept, pooledWriters) {
			t.Errorf("after a file with %d bytes in its largest row group: %d writers kept, want %d", c.largest, n, c.kept)
		}
	}
}

// TestWriterOfACopiedLargeRowGroupIsNotKept: a partition spilled as a
// Parquet segment (over a MiB) reaches its file as a copied row group at
// Close; that file's writer counts the row group's bytes, so it is not
// kept (see release), while a small partition's writer is.
func TestWriterOfACopiedLargeRowGroupIsNotKept(t *testing.T) {
	ctx := context.Background()
	payload := strings.Repeat("p", 64<<10)
	// One loader each: Close finishes partitions at once, so with both in
	// one loader the large file could take the small one's kept writer.
	for _, c := range []struct {
		arn, dt string
		n, kept int
	}{{"large", "2026-01-01", 48, 0}, {"small", "2026-01-02", 3, 1}} {
		d, err := NewParquetDir(t.TempDir(), WithBufferBudget(2<<20))
		if err != nil {
			t.Fatal(err)
		}
		x, err := d.Begin(ctx, c.arn)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]schema.Operation, c.n)
		for i := range rows {
			rows[i] = schema.Operation{ExecutionArn: c.arn, OperationID: fmt.Sprint(i), Seq: int64(i), Status: "SUCCEEDED", Result: &payload}
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			t.Fatal(err)
		}
		if err := x.Commit(ctx, c.dt, schema.Execution{ExecutionArn: c.arn, OperationCount: int64(c.n)}); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if c.kept == 0 && (d.Stats().SpillRuns == 0 || d.segments[1].Load() == 0) {
			t.Fatalf("no Parquet segment spilled (%d runs): the test does not test", d.Stats().SpillRuns)
		}
		if n := len(d.writers[schema.Operations]); n != c.kept {
			t.Errorf("%s partition (%d KiB of rows): %d operations writers kept, want %d", c.arn, c.n*64, n, c.kept)
		}
	}
}
