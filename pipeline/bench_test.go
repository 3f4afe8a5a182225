package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// discard is the drain-only baseline's loader: it takes the rows and drops
// them, so the baseline does everything but write Parquet.
type discard struct{}

func (discard) Begin(context.Context, string) (load.Execution, error)  { return discard{}, nil }
func (discard) Close(context.Context) error                            { return nil }
func (discard) Write(context.Context, []schema.Operation) error        { return nil }
func (discard) Commit(context.Context, string, schema.Execution) error { return nil }
func (discard) Abort(context.Context) error                            { return nil }

// BenchmarkPipelineVsDrain measures, in one run against one emulator with no
// latency, the drain-only baseline (fetch and parse every page, map it to
// rows, discard them) and the full pipeline to Parquet, and reports both
// rates and their ratio (target: pipeline >= 0.75 of drain-only).
func BenchmarkPipelineVsDrain(b *testing.B) {
	execs := emulator.Generate(99, 300, emulator.GenerateOptions{})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(b, srv)
	var manifest []byte
	{
		var buf bytesBuffer
		emulator.WriteManifest(&buf, execs)
		manifest = buf
	}
	pass := func(loader load.Loader) (time.Duration, int64, int64) {
		m, err := extract.NewManifest("bench", manifest)
		if err != nil {
			b.Fatal(err)
		}
		before := srv.Stats().BytesOK
		start := time.Now()
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: loader, RunID: "bench", Concurrency: 4}, m)
		if err != nil || sum.ExecutionsFailed > 0 {
			b.Fatalf("run: %v %+v", err, sum.Failures)
		}
		return time.Since(start), sum.Operations, srv.Stats().BytesOK - before
	}
	var drainT, fullT time.Duration
	var ops, apiBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, n, by := pass(discard{})
		drainT += d
		ops, apiBytes = n, by
		dir := b.TempDir()
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix("bench-"+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		f, _, _ := pass(pd)
		fullT += f
		os.RemoveAll(dir)
	}
	drainRate := float64(ops) * float64(b.N) / drainT.Seconds()
	fullRate := float64(ops) * float64(b.N) / fullT.Seconds()
	b.ReportMetric(drainRate, "drain-ops/s")
	b.ReportMetric(fullRate, "pipeline-ops/s")
	b.ReportMetric(float64(apiBytes)*float64(b.N)/drainT.Seconds()/(1<<20), "drain-MB/s")
	b.ReportMetric(float64(apiBytes)*float64(b.N)/fullT.Seconds()/(1<<20), "pipeline-MB/s")
	b.ReportMetric(fullRate/drainRate, "ratio")
}

type bytesBuffer []byte

func (w *bytesBuffer) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// BenchmarkMillionOperationsRSS archives one execution of 1,000,000
// operations with the etl binary (ETL_BIN, built by make bench) against the
// emulator in this process, and reports the binary's peak RSS (target: under
// 256 MiB) and its ratio to the target.
func BenchmarkMillionOperationsRSS(b *testing.B) {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	execs := emulator.Generate(7, 1, emulator.GenerateOptions{MinOps: 1_000_000, MaxOps: 1_000_000})
	srv := emulator.New()
	srv.Add(execs...)
	url, _ := emulatortest.Start(b, srv)
	dir := b.TempDir()
	manifest := filepath.Join(dir, "m.jsonl")
	f, _ := os.Create(manifest)
	emulator.WriteManifest(f, execs)
	f.Close()
	var peak int64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "run", "--manifest", manifest, "--dest", filepath.Join(dir, "archive"), "--endpoint-url", url,
			"--run-id", "rss-"+strconv.Itoa(i), "--log-level", "warn")
		cmd.Env = os.Environ()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("etl: %v\n%s", err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // Linux reports KiB
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
	b.ReportMetric(float64(execs[0].Len), "operations")
}
