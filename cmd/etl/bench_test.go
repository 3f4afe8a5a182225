package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/peakrss"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/schema"
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
		report := filepath.Join(b.TempDir(), "r.json")
		cmd := peakrss.Command(b.TempDir(), os.Args[0], "run", "--manifest", manifest, "--dest", "s3://"+bucket+"/arch-"+run, "--endpoint-url", url,
			"--run-id", run, "--report", report, "--log-level", "warn")
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("etl: %v\n%s", err, out)
		}
		p, err := cmd.Peak()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
		// Every row the run read is in the archive (a memory figure of a
		// run that lost rows would mean nothing).
		s := readReport(b, report)
		if got, want := s3test.ParquetRows(b, srv3, bucket, "arch-"+run+"/"), s.Operations+s.EventsNew+int64(s.ExecutionsOK); got != want {
			b.Fatalf("%d rows in the archive, the run read %d", got, want)
		}
	}
	written = s3test.Size(b, srv3, bucket, "arch-") / int64(b.N)
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
	b.ReportMetric(float64(written)/(1<<30), "GiB-written/run")
}

// BenchmarkVerify archives 2,000 executions of 250 operations through
// history (as --all-functions does; 90 days of start dates, one operation
// in 500 with a 256 KiB payload), then times
// `etl verify --all` (this binary, as etl: every execution described and
// re-read, every row compared) against a drain-only baseline of the same API
// calls (GetDurableExecution and every history page, discarded), and reports
// the ratio (target >= 0.5) and verify's peak RSS (target < 256 MiB).
// ETL_BENCH_EXECUTIONS makes it smaller.
func BenchmarkVerify(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("ETL_BENCH_EXECUTIONS")); err == nil && v > 0 {
		n = v
	}
	execs := emulator.Generate(75, n, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: 90, LargePayloadEvery: 500})
	emu := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithPageCache())
	emu.Add(execs...)
	url, client := emulatortest.Start(b, emu, extract.WithSDKDecoder()) // the baseline's client: the stock SDK
	dest := filepath.Join(b.TempDir(), "archive")
	cmd := exec.Command(os.Args[0], "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--concurrency", "8", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("etl run: %v\n%s", err, out)
	}
	drain := func() time.Duration {
		start := time.Now()
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for arn := range work {
					extract.Describe(context.Background(), client, arn)
					extract.DrainHistory(context.Background(), client, arn, extract.MaxPageSize, func(context.Context, extract.HistoryPage) error { return nil })
				}
			}()
		}
		for _, e := range execs {
			work <- e.ARN
		}
		close(work)
		wg.Wait()
		return time.Since(start)
	}
	var peak int64
	var ratios []float64
	for i := 0; i < b.N; i++ {
		d := drain()
		start := time.Now()
		cmd := peakrss.Command(b.TempDir(), os.Args[0], "verify", "--all-functions", "--all", "--dest", dest, "--endpoint-url", url, "--concurrency", "8",
			"--report", filepath.Join(b.TempDir(), "v.json"))
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("etl verify: %v\n%s", err, out)
		}
		ratios = append(ratios, d.Seconds()/time.Since(start).Seconds())
		p, err := cmd.Peak()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkVerifyForgotten archives 20,000 executions (2 to 20
// operations, production-like statuses and the generator's odd shapes,
// one operation in 1,000 with a 256 KiB result, start dates over 120 days
// from January 2026: those ended are past any retention today, as in an
// archive kept for a year), then times `etl verify --dest DIR --all`
// alone (this binary, as etl: each of those checked against its own
// executions row, with no API call; the few still running asked of the
// API) against a baseline that reads every row of the archive's files
// into the schema's row types (parquet-go, one file at a time), and
// reports the ratio, the archive's rows per second and verify's peak RSS
// (target < 256 MiB). ETL_BENCH_EXECUTIONS makes it smaller.
func BenchmarkVerifyForgotten(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("ETL_BENCH_EXECUTIONS")); err == nil && v > 0 {
		n = v
	}
	execs := emulator.Generate(77, n, emulator.GenerateOptions{MinOps: 2, MaxOps: 20, Days: 120, Settled: true, LargePayloadEvery: 1000})
	emu := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	emu.Add(execs...)
	url, _ := emulatortest.Start(b, emu)
	dest := filepath.Join(b.TempDir(), "archive")
	cmd := exec.Command(os.Args[0], "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--concurrency", "8", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("etl run: %v\n%s", err, out)
	}
	readAll := func() (time.Duration, int64) {
		start := time.Now()
		var rows int64
		for table, read := range map[string]func(string) (int, error){
			"executions": func(f string) (int, error) { r, err := parquet.ReadFile[schema.Execution](f); return len(r), err },
			"operations": func(f string) (int, error) { r, err := parquet.ReadFile[schema.Operation](f); return len(r), err },
			"events":     func(f string) (int, error) { r, err := parquet.ReadFile[schema.Event](f); return len(r), err },
		} {
			files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
			for _, f := range files {
				n, err := read(f)
				if err != nil {
					b.Fatal(err)
				}
				rows += int64(n)
			}
		}
		return time.Since(start), rows
	}
	var peak int64
	var ratios, rates []float64
	for i := 0; i < b.N; i++ {
		base, rows := readAll()
		report := filepath.Join(b.TempDir(), "v.json")
		start := time.Now()
		cmd := peakrss.Command(b.TempDir(), os.Args[0], "verify", "--dest", dest, "--all", "--endpoint-url", url, "--concurrency", "8", "--report", report, "--log-level", "warn")
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("etl verify: %v\n%s", err, out)
		}
		took := time.Since(start)
		// A figure of a verify that checked nothing would mean nothing.
		if rep := readVerify(b, report); rep.SelfChecked == 0 || rep.SelfChecked-rep.NotComparedSelfChecked != rep.PastRetention || len(rep.Inconsistent) != 0 {
			b.Fatalf("verify: %d checked against their own rows, %d past retention, inconsistent %v", rep.SelfChecked, rep.PastRetention, rep.Inconsistent)
		} else if i == 0 {
			b.Logf("%d executions past their retention, %d not compared (running), all checked against their own rows", rep.PastRetention, rep.NotComparedSelfChecked)
		}
		ratios = append(ratios, base.Seconds()/took.Seconds())
		rates = append(rates, float64(rows)/took.Seconds())
		p, err := cmd.Peak()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
	}
	sort.Float64s(ratios)
	sort.Float64s(rates)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(rates[len(rates)/2], "archive-rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}
