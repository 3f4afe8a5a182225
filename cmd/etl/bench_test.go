package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/s3test"
)

// BenchmarkS3TwoGiBRSS runs etl (this binary, as etl) writing about 2 GiB of
// Parquet (random payloads, which no compression shrinks) to MinIO, and
// reports the child's peak RSS (target: under 256 MiB) and the bytes written.
func BenchmarkS3TwoGiBRSS(b *testing.B) {
	execs := emulator.Generate(71, 900, emulator.GenerateOptions{MinOps: 100, MaxOps: 100, LargePayloadEvery: 1, RandomPayloads: true})
	emu := emulator.New()
	emu.Add(execs...)
	url, _ := emulatortest.Start(b, emu)
	srv3, bucket := s3test.Bucket(b)
	srv3.Env(b)
	manifest := manifestFile(b, execs)
	var peak, written int64
	for i := 0; i < b.N; i++ {
		run := "rss-" + strconv.Itoa(i)
		cmd := exec.Command(os.Args[0], "run", "--manifest", manifest, "--dest", "s3://"+bucket+"/arch", "--endpoint-url", url,
			"--run-id", run, "--report", filepath.Join(b.TempDir(), "r.json"), "--log-level", "warn")
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("etl: %v\n%s", err, out)
		}
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss*1024)
	}
	written = s3test.Size(b, srv3, bucket, "arch/") / int64(b.N)
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
	b.ReportMetric(float64(written)/(1<<30), "GiB-written/run")
}
