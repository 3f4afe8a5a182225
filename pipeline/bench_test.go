package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/peakrss"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// discard is the drain-only baseline's loader: it takes the rows and drops
// them, so the baseline does everything but write Parquet.
type discard struct{}

func (discard) Begin(context.Context, string) (load.Execution, error)  { return discard{}, nil }
func (discard) Close(context.Context) error                            { return nil }
func (discard) Write(context.Context, schema.Rows) error               { return nil }
func (discard) Commit(context.Context, string, schema.Execution) error { return nil }
func (discard) Abort(context.Context) error                            { return nil }

// BenchmarkPipelineVsDrain measures, in one run against one emulator with no
// latency, the drain-only baseline (fetch and parse every page, map it to
// rows, discard them) and the full pipeline to Parquet, and reports both
// rates and their ratio (target: pipeline >= 0.75 of drain-only).
func BenchmarkPipelineVsDrain(b *testing.B) {
	benchPipelineVsDrain(b, emulator.Generate(99, 300, emulator.GenerateOptions{}), 4, false)
}

// BenchmarkBackfill is the same measure on a backfill: 2,000 executions of
// 250 operations whose start dates spread over 1, 90 and 730 days, at
// concurrency 16; it also reports the files written per partition (target:
// ratio >= 0.80 at every spread, one file per table per partition). The
// executions come in the order generated (start dates at random, as a
// manifest may list them); "start-order" feeds them oldest first with
// their start times (StartTimestamp), as a run by discovery does, so that
// the loader finishes partitions as it goes.
func BenchmarkBackfill(b *testing.B) {
	for _, days := range []int{1, 90, 730} {
		execs := emulator.Generate(97, benchBackfillN, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: days, LargePayloadEvery: -1})
		b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) {
			benchPipelineVsDrain(b, execs, 16, false)
		})
		if days == 1 {
			continue
		}
		b.Run(fmt.Sprintf("start-order/days=%d", days), func(b *testing.B) {
			benchPipelineVsDrain(b, inStartOrder(execs), 16, true)
		})
	}
}

// inStartOrder is execs oldest first.
func inStartOrder(execs []emulator.Execution) []emulator.Execution {
	sorted := slices.Clone(execs)
	slices.SortStableFunc(sorted, func(a, b emulator.Execution) int { return a.Op(0).StartTimestamp.Compare(*b.Op(0).StartTimestamp) })
	return sorted
}

// BenchmarkBackfillRSS: the etl binary's peak RSS over BenchmarkBackfill's
// executions at 1, 90 and 730 days, --concurrency 16, with one operation in
// 500 carrying a 256 KiB payload (big rows are what fill the partition
// buffer and its spills); target: under 256 MiB. It also times the binary,
// as users run it (its --memory-limit and all), against the SDK paginator
// draining the same pages at the same concurrency with nothing kept
// (binary-ratio, target >= 0.8): BenchmarkBackfill's in-process pipeline
// has no memory limit, so it did not show the binary's collector
// struggling when Close held more than the limit.
func BenchmarkBackfillRSS(b *testing.B) {
	for _, days := range []int{1, 90, 730} {
		b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) {
			execs := emulator.Generate(97, benchBackfillN, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: days, LargePayloadEvery: 500})
			env := rssSetupClient(b, execs, extract.WithConnections(32), extract.WithSDKDecoder())
			peak, ratio := binaryVsDrain(b, env.dir, env.bin, func() time.Duration { return drainStates(b, env.client, execs, 16) },
				"--manifest", env.manifest, "--endpoint-url", env.url, "--concurrency", "16")
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
			b.ReportMetric(ratio, "binary-ratio")
		})
	}
}

// binaryVsDrain runs the etl binary (bin run, with args, an archive and a
// report of its own under dir each time) b.N times, each after drain,
// checks that each archive holds every row its run read, and returns the
// binary's peak RSS and the median of the paired ratios of drain's time to
// the binary's (steadier than the ratio of the sums).
func binaryVsDrain(b *testing.B, dir, bin string, drain func() time.Duration, args ...string) (peak int64, ratio float64) {
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := drain()
		archive, report := filepath.Join(dir, fmt.Sprint("archive-", i)), filepath.Join(dir, fmt.Sprint("report-", i))
		start := time.Now()
		peak = max(peak, peakOf(b, dir, bin, append([]string{"run", "--dest", archive, "--log-level", "warn", "--report", report}, args...)...))
		ratios = append(ratios, d.Seconds()/time.Since(start).Seconds())
		checkRowCounts(b, archive, report)
		os.RemoveAll(archive)
	}
	return peak, median(ratios)
}

// drainStates reads every state page of execs through the SDK paginator,
// concurrency at a time, keeping nothing, and returns how long it took.
func drainStates(b *testing.B, client extract.StateAPI, execs []emulator.Execution, concurrency int) time.Duration {
	start := time.Now()
	concurrently(concurrency, execs, func(e emulator.Execution) {
		if err := extract.Drain(context.Background(), client, extract.Entry{ARN: e.ARN, Token: e.Token}, extract.MaxPageSize,
			func(context.Context, extract.Page) error { return nil }); err != nil {
			b.Error(err)
		}
	})
	return time.Since(start)
}

// concurrently calls fn for each execution, n at a time, and waits.
func concurrently(n int, execs []emulator.Execution, fn func(emulator.Execution)) {
	work := make(chan emulator.Execution)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				fn(e)
			}
		}()
	}
	for _, e := range execs {
		work <- e
	}
	close(work)
	wg.Wait()
}

// benchBackfillN is BenchmarkBackfill's execution count (ETL_BENCH_EXECUTIONS
// overrides it, for profiling).
var benchBackfillN = func() int {
	if n, err := strconv.Atoi(os.Getenv("ETL_BENCH_EXECUTIONS")); err == nil && n > 0 {
		return n
	}
	return 2000
}()

// benchPipelineVsDrain measures the drain-only and full passes over execs,
// in that order; withStarts: the manifest gives their start times.
func benchPipelineVsDrain(b *testing.B, execs []emulator.Execution, concurrency int, withStarts bool) {
	srv := emulator.New()
	srv.Add(execs...)
	url, client := emulatortest.Start(b, srv, extract.WithConnections(2*concurrency)) // as etl run's client
	// The baseline decodes with the stock SDK.
	sdkClient := emulatortest.Client(b, url, extract.WithConnections(2*concurrency), extract.WithSDKDecoder())

	var manifest []byte
	{
		var buf bytesBuffer
		emulator.WriteManifest(&buf, execs)
		manifest = buf
	}
	if withStarts {
		starts := map[string]time.Time{}
		for _, e := range execs {
			starts[e.ARN] = *e.Op(0).StartTimestamp
		}
		manifest = startsManifest(execs, starts)
	}
	pass := func(client *lambda.Client, loader load.Loader) (time.Duration, int64, int64) {
		m, err := extract.NewManifest("bench", manifest)
		if err != nil {
			b.Fatal(err)
		}
		before := srv.Stats().BytesOK
		start := time.Now()
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: loader, RunID: "bench", Concurrency: concurrency}, m)
		if err != nil || sum.ExecutionsFailed > 0 {
			b.Fatalf("run: %v %+v", err, sum.Failures)
		}
		return time.Since(start), sum.Operations, srv.Stats().BytesOK - before
	}
	var filesPerDT float64
	var drainT, fullT time.Duration
	var ops, apiBytes int64
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, n, by := pass(sdkClient, discard{})
		drainT += d
		ops, apiBytes = n, by
		dir := b.TempDir()
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix("bench-"+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		f, _, _ := pass(client, pd)
		fullT += f
		ratios = append(ratios, d.Seconds()/f.Seconds())
		files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
		parts, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*"))
		filesPerDT = max(filesPerDT, float64(len(files))/float64(max(len(parts), 1)))
		os.RemoveAll(dir)
	}
	drainRate := float64(ops) * float64(b.N) / drainT.Seconds()
	fullRate := float64(ops) * float64(b.N) / fullT.Seconds()
	b.ReportMetric(drainRate, "drain-ops/s")
	b.ReportMetric(fullRate, "pipeline-ops/s")
	b.ReportMetric(float64(apiBytes)*float64(b.N)/drainT.Seconds()/(1<<20), "drain-MB/s")
	b.ReportMetric(float64(apiBytes)*float64(b.N)/fullT.Seconds()/(1<<20), "pipeline-MB/s")
	// Each iteration measures both passes back to back; the median of those
	// paired ratios is steadier than the ratio of the sums.
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(filesPerDT, "op-files/partition")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type bytesBuffer []byte

func (w *bytesBuffer) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// BenchmarkMillionOperationsRSS archives one execution of 1,000,000
// operations with the etl binary (ETL_BIN, built by make bench) against the
// emulator in this process, and reports the binary's peak RSS (target: under
// 256 MiB) and its ratio to the target.
func BenchmarkMillionOperationsRSS(b *testing.B) {
	execs := emulator.Generate(7, 1, emulator.GenerateOptions{MinOps: 1_000_000, MaxOps: 1_000_000})
	benchRSS(b, execs)
	b.ReportMetric(float64(execs[0].Len), "operations")
}

// benchRSS runs the etl binary (ETL_BIN) over execs, served by an emulator
// in this process, b.N times, and reports its peak RSS against the 256 MiB
// target.
func benchRSS(b *testing.B, execs []emulator.Execution, args ...string) {
	bin, dir, url, manifest := rssSetup(b, execs)
	var peak int64
	for i := 0; i < b.N; i++ {
		archive, report := filepath.Join(dir, fmt.Sprint("archive-", i)), filepath.Join(dir, fmt.Sprint("report-", i))
		peak = max(peak, peakOf(b, dir, bin, append([]string{"run", "--manifest", manifest, "--dest", archive,
			"--endpoint-url", url, "--log-level", "warn", "--report", report}, args...)...))
		checkRowCounts(b, archive, report)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
}

// checkRowCounts fails b unless the archive's files (by their footers)
// hold every row the run read from the API, as its report counts them:
// a memory figure of a run that lost rows would mean nothing.
func checkRowCounts(b *testing.B, archive, report string) {
	var sum pipeline.Summary
	if buf, err := os.ReadFile(report); err != nil || json.Unmarshal(buf, &sum) != nil {
		b.Fatalf("report %s: %v", report, err)
	}
	want := map[string]int64{"executions": int64(sum.ExecutionsOK), "operations": sum.Operations, "events": sum.EventsNew}
	for table, n := range want {
		files, _ := filepath.Glob(filepath.Join(archive, table, "dt=*", "*.parquet"))
		var got int64
		for _, name := range files {
			got += optest.OpenParquet(b, name).NumRows()
		}
		if got != n {
			b.Fatalf("%s: %d rows in the archive, the run read %d", table, got, n)
		}
	}
}

// rssSetup serves execs from an emulator in this process and writes their
// manifest; it returns the etl binary (ETL_BIN), a folder, the emulator's
// URL and the manifest.
func rssSetup(b *testing.B, execs []emulator.Execution) (bin, dir, url, manifest string) {
	env := rssSetupClient(b, execs)
	return env.bin, env.dir, env.url, env.manifest
}

// rssEnv is what rssSetupClient sets up.
type rssEnv struct {
	bin, dir, url, manifest string
	client                  *lambda.Client // an SDK client of the emulator, made with opts
}

// rssSetupClient is rssSetup, with a client of the emulator.
func rssSetupClient(b *testing.B, execs []emulator.Execution, opts ...extract.ClientOption) rssEnv {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	srv := emulator.New()
	srv.Add(execs...)
	url, client := emulatortest.Start(b, srv, opts...)
	dir := b.TempDir()
	manifest := filepath.Join(dir, "m.jsonl")
	f, _ := os.Create(manifest)
	emulator.WriteManifest(f, execs)
	f.Close()
	return rssEnv{bin: bin, dir: dir, url: url, manifest: manifest, client: client}
}

// peakOf runs bin with args in dir and returns its peak RSS; exit status 0
// is required.
func peakOf(b *testing.B, dir, bin string, args ...string) int64 {
	cmd := peakrss.Command(dir, bin, args...)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("etl %s: %v\n%s", args[0], err, tail(out))
	}
	p, err := cmd.Peak()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// tail is the end of out, for an error message.
func tail(out []byte) []byte { return out[max(0, len(out)-4000):] }

// BenchmarkVerifyMillionEventsRSS archives one execution of 1,000,000
// events (steps retried once, JSON payloads of about 200 bytes: 250,000 operations) with
// the etl binary, then verifies it (--all: its content compared) b.N
// times, and reports verify's peak RSS against the 256 MiB target. An
// execution this large is compared as a stream of row hashes; read whole,
// its rows on both sides took gigabytes.
func BenchmarkVerifyMillionEventsRSS(b *testing.B) {
	e := millionEvents(200, true)
	// Ended, as GetDurableExecution says: only a terminal execution's
	// content is compared.
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	exec := types.Operation{Id: aws.String("big"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded,
		StartTimestamp: &start, EndTimestamp: aws.Time(start.Add(time.Hour))}
	e.Len, e.Op = 1, func(int) types.Operation { return exec }
	bin, dir, url, manifest := rssSetup(b, []emulator.Execution{e})
	archive := filepath.Join(dir, "archive")
	peakOf(b, dir, bin, "run", "--manifest", manifest, "--dest", archive, "--endpoint-url", url, "--log-level", "warn")
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		peak = max(peak, peakOf(b, dir, bin, "verify", "--manifest", manifest, "--dest", archive, "--endpoint-url", url, "--all", "--report", filepath.Join(dir, "v.json")))
		var rep struct {
			Sampled int `json:"sampled"`
			Equal   int `json:"sampled_equal"`
		}
		if buf, err := os.ReadFile(filepath.Join(dir, "v.json")); err != nil || json.Unmarshal(buf, &rep) != nil || rep.Sampled != 1 || rep.Equal != 1 {
			b.Fatalf("verify: %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
}

// BenchmarkLatencyBound: 1,000 executions of 250 operations behind 50 ms of
// emulator latency per page; for concurrency 1, 8 and 32, the wall time
// against the ideal pages × latency / concurrency (target: within 1.25×).
func BenchmarkLatencyBound(b *testing.B) {
	const latency = 50 * time.Millisecond
	execs := emulator.Generate(13, 1000, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, LargePayloadEvery: -1})
	// The page cache, warmed by one untimed pass, takes the emulator's JSON
	// encoding off this machine's two cores, as the real service's is.
	srv := emulator.New(emulator.WithLatency(latency), emulator.WithPageCache())
	srv.Add(execs...)
	_, client := emulatortest.Start(b, srv)
	var manifest bytesBuffer
	emulator.WriteManifest(&manifest, execs)
	warm, _ := extract.NewManifest("warm", manifest)
	if _, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: discard{}, RunID: "warm", Concurrency: 64}, warm); err != nil {
		b.Fatal(err)
	}
	for _, c := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			var worst float64
			for i := 0; i < b.N; i++ {
				m, err := extract.NewManifest("bench", manifest)
				if err != nil {
					b.Fatal(err)
				}
				pd, err := load.NewParquetDir(b.TempDir(), load.WithFilePrefix(fmt.Sprint("lat-", c, "-", i)))
				if err != nil {
					b.Fatal(err)
				}
				before := srv.Stats().PagesOK
				start := time.Now()
				sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, Loader: pd, RunID: "lat", Concurrency: c, PageSize: 1000}, m)
				took := time.Since(start)
				if err != nil || sum.ExecutionsFailed > 0 {
					b.Fatalf("%v %v", err, sum.Failures)
				}
				pages := srv.Stats().PagesOK - before
				ideal := time.Duration(pages) * latency / time.Duration(c)
				worst = max(worst, took.Seconds()/ideal.Seconds())
				b.ReportMetric(ideal.Seconds(), "ideal-s")
				b.ReportMetric(took.Seconds(), "wall-s")
			}
			b.ReportMetric(worst, "wall/ideal")
		})
	}
}

// BenchmarkManySmallExecutionsRSS: the etl binary (ETL_BIN) archives
// 100,000 executions of 10 operations; its peak RSS against the 256 MiB
// target.
func BenchmarkManySmallExecutionsRSS(b *testing.B) {
	benchRSS(b, emulator.Generate(17, 100_000, emulator.GenerateOptions{MinOps: 10, MaxOps: 10, LargePayloadEvery: -1}), "--concurrency", "16")
}

// BenchmarkManyDiscoveredExecutionsRSS: the etl binary (ETL_BIN) finds
// every execution of the emulator's durable functions (--all-functions)
// and archives them, 50,000 and then 200,000 executions of 1 to 3
// operations (production-like statuses, start dates over 90 days): the
// worst case for what a run keeps per execution (discovery's list, the
// rows that wait for their date, each pointing into the chunks its page
// was decoded and folded into). It reports both peak RSS figures against
// the 256 MiB target, and that of `etl verify --all-functions` over the
// larger archive (every execution checked complete, a sample compared).
// RSS stays near the binary's soft memory limit whatever the live heap
// (the collector works harder instead), so what discovery keeps per
// execution is measured apart, in bytes (cmd/etl
// BenchmarkDiscoveredBytes).
func BenchmarkManyDiscoveredExecutionsRSS(b *testing.B) {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	sizes := []int{50_000, 200_000}
	peaks := make([]int64, len(sizes))
	var verifyPeak int64
	for j, n := range sizes {
		srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
		srv.Add(emulator.Generate(29, n, emulator.GenerateOptions{MinOps: 1, MaxOps: 3, Days: 90, LargePayloadEvery: -1, Settled: true})...)
		url, _ := emulatortest.Start(b, srv)
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			archive, report := filepath.Join(dir, fmt.Sprint("archive-", i)), filepath.Join(dir, fmt.Sprint("report-", i))
			peaks[j] = max(peaks[j], peakOf(b, dir, bin, "run", "--all-functions", "--dest", archive, "--endpoint-url", url,
				"--concurrency", "16", "--log-level", "warn", "--report", report))
			checkRowCounts(b, archive, report)
			var sum pipeline.Summary
			if buf, err := os.ReadFile(report); err != nil || json.Unmarshal(buf, &sum) != nil || sum.ExecutionsOK != n {
				b.Fatalf("report %s: %v, %d executions archived, want %d", report, err, sum.ExecutionsOK, n)
			}
			if j == len(sizes)-1 {
				verifyPeak = max(verifyPeak, peakOf(b, dir, bin, "verify", "--all-functions", "--dest", archive, "--endpoint-url", url,
					"--log-level", "warn", "--seed", "7"))
			}
		}
	}
	for j, n := range sizes {
		b.ReportMetric(float64(peaks[j])/(1<<20), fmt.Sprintf("peak-RSS-MiB-%dk", n/1000))
	}
	b.ReportMetric(float64(peaks[1])/(256<<20), "RSS/target")
	b.ReportMetric(float64(verifyPeak)/(1<<20), "verify-peak-RSS-MiB-200k")
}

// BenchmarkHistoryVsDrain measures the history path against a drain-only
// baseline of the same calls (GetDurableExecution and every page of
// GetDurableExecutionHistory through the SDK paginator, events discarded),
// in one run against one emulator whose page cache was warmed by an untimed
// pass (so that the emulator's encoding, which the real service does on its
// own machines, is off this machine's cores), at concurrency 4. It reports
// both event rates and the median of the paired ratios (target: >= 0.8).
// It also times the same run with a loader that keeps nothing
// (unloaded-ratio): what reading, decoding, mapping and folding cost
// without the archive's encoding, so that each run shows where the rest
// goes.
func BenchmarkHistoryVsDrain(b *testing.B) {
	h := newHistoryBench(b)
	run := func(loader load.Loader) (time.Duration, int64) {
		m, err := extract.NewManifest("bench", h.manifest)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: h.client, History: h.client, Loader: loader, RunID: "bench", Concurrency: 4}, m)
		if err != nil || sum.ExecutionsFailed > 0 {
			b.Fatalf("run: %v %+v", err, sum.Failures)
		}
		return time.Since(start), sum.Events
	}
	var drainT, fullT time.Duration
	var events int64
	var ratios, unloaded []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pd, err := load.NewParquetDir(b.TempDir(), load.WithFilePrefix(fmt.Sprint("hist-", i)))
		if err != nil {
			b.Fatal(err)
		}
		d, n := h.drain()
		f, _ := run(pd)
		u, _ := run(discardLoader{})
		drainT, fullT, events = drainT+d, fullT+f, n
		ratios = append(ratios, d.Seconds()/f.Seconds())
		unloaded = append(unloaded, d.Seconds()/u.Seconds())
	}
	b.ReportMetric(float64(events)*float64(b.N)/drainT.Seconds(), "drain-events/s")
	b.ReportMetric(float64(events)*float64(b.N)/fullT.Seconds(), "pipeline-events/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(unloaded), "unloaded-ratio")
}

// discardLoader keeps nothing: the pipeline's cost without a destination's.
type discardLoader struct{}

func (discardLoader) Begin(context.Context, string) (load.Execution, error) {
	return discardLoader{}, nil
}
func (discardLoader) Close(context.Context) error                            { return nil }
func (discardLoader) Write(context.Context, schema.Rows) error               { return nil }
func (discardLoader) Commit(context.Context, string, schema.Execution) error { return nil }
func (discardLoader) Abort(context.Context) error                            { return nil }

// BenchmarkHistoryLatencyBound is BenchmarkHistoryVsDrain against a
// service that takes as long to answer as a distant one does (every call
// 30 ms, GetDurableExecution and each history page alike), both passes 16
// executions at a time: the calls, not this machine's two cores, set most
// of the pace, as in a nightly run by discovery. It reports the pipeline's
// rate against the drain's (ratio), the same with a loader that keeps
// nothing (unloaded-ratio), the calls of each pass (the same, or the
// pipeline asks for more than it needs) and the drain's wall time against
// the ideal calls x latency / concurrency. The CPU-bound ratio (no
// latency) is BenchmarkHistoryVsDrain's.
func BenchmarkHistoryLatencyBound(b *testing.B) {
	const latency, concurrency = 30 * time.Millisecond, 16
	h := newHistoryBenchAt(b, concurrency, emulator.WithLatency(latency))
	run := func(loader load.Loader) (time.Duration, int64, int64) {
		m, err := extract.NewManifest("bench", h.manifest)
		if err != nil {
			b.Fatal(err)
		}
		calls := h.srv.Stats().Requests
		start := time.Now()
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: h.client, History: h.client, Loader: loader, RunID: "bench", Concurrency: concurrency}, m)
		took := time.Since(start)
		if err != nil || sum.ExecutionsFailed > 0 {
			b.Fatalf("run: %v %+v", err, sum.Failures)
		}
		return took, sum.Events, h.srv.Stats().Requests - calls
	}
	var ratios, unloaded, ideal []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pd, err := load.NewParquetDir(b.TempDir(), load.WithFilePrefix(fmt.Sprint("hlat-", i)))
		if err != nil {
			b.Fatal(err)
		}
		calls := h.srv.Stats().Requests
		d, n := h.drain()
		drainCalls := h.srv.Stats().Requests - calls
		f, events, pipelineCalls := run(pd)
		u, _, _ := run(discardLoader{})
		if events != n || pipelineCalls != drainCalls {
			b.Fatalf("the pipeline read %d events in %d calls, the drain %d in %d", events, pipelineCalls, n, drainCalls)
		}
		ratios = append(ratios, d.Seconds()/f.Seconds())
		unloaded = append(unloaded, d.Seconds()/u.Seconds())
		ideal = append(ideal, d.Seconds()/(float64(drainCalls)*latency.Seconds()/concurrency))
		b.ReportMetric(float64(drainCalls), "calls")
		b.ReportMetric(float64(n)/d.Seconds(), "drain-events/s")
		b.ReportMetric(float64(n)/f.Seconds(), "pipeline-events/s")
	}
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(unloaded), "unloaded-ratio")
	b.ReportMetric(median(ideal), "drain-wall/ideal")
}

// BenchmarkHistoryVsDrainBinary is BenchmarkHistoryVsDrain with the etl
// binary (ETL_BIN) in place of the in-process pipeline, as users run it
// (`etl run --manifest ... --concurrency 4`: its process start, its
// --memory-limit and collector settings, its first touch of fresh memory),
// against the same drain-only baseline; it also reports the binary's peak
// RSS.
func BenchmarkHistoryVsDrainBinary(b *testing.B) {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	h := newHistoryBench(b)
	dir := b.TempDir()
	manifest := filepath.Join(dir, "m.jsonl")
	if err := os.WriteFile(manifest, h.manifest, 0o644); err != nil {
		b.Fatal(err)
	}
	peak, ratio := binaryVsDrain(b, dir, bin, func() time.Duration { d, _ := h.drain(); return d },
		"--manifest", manifest, "--endpoint-url", h.url, "--concurrency", "4")
	b.ReportMetric(ratio, "binary-ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// historyBench is the history benchmarks' data and baseline: 600
// executions over 90 days with production's spread of statuses and retries
// (GenerateOptions.Settled: about 2.5 events an operation, 310,000 events
// in all) and a 256 KiB result in one operation in about 4,000 (as many
// as the unsettled data had: it drew one in 500 among the SUCCEEDED
// eighth), archived through history (no tokens) in the order and with the
// start times discovery hands over (oldest first), served by an emulator
// whose page cache an untimed drain has warmed.
type historyBench struct {
	srv      *emulator.Server
	url      string
	client   *lambda.Client // as etl run's
	manifest []byte
	// drain reads every execution's GetDurableExecution and history pages
	// with the stock SDK, 4 at a time, keeping nothing: its time and the
	// events it read.
	drain func() (time.Duration, int64)
}

func newHistoryBench(b *testing.B, opts ...emulator.Option) historyBench {
	return newHistoryBenchAt(b, 4, opts...)
}

// newHistoryBenchAt is newHistoryBench with a drain of concurrency
// executions at a time, against an emulator with opts besides its page
// cache.
func newHistoryBenchAt(b *testing.B, concurrency int, opts ...emulator.Option) historyBench {
	execs := emulator.Generate(98, 600, emulator.GenerateOptions{Days: 90, LargePayloadEvery: 4000, Settled: true})
	for i := range execs {
		execs[i].Token = "" // archived through history
	}
	srv := emulator.New(append([]emulator.Option{emulator.WithPageCache()}, opts...)...)
	srv.Add(execs...)
	url, client := emulatortest.Start(b, srv)
	sdkClient := emulatortest.Client(b, url, extract.WithSDKDecoder()) // the baseline: the stock SDK
	// Oldest first with their start times, as discovery hands them over
	// (the history path's usual way in: no tokens, so no manifest).
	execs = inStartOrder(execs)
	starts := map[string]time.Time{}
	for _, e := range execs {
		starts[e.ARN] = *e.Op(0).StartTimestamp
	}
	manifest := startsManifest(execs, starts)
	drain := func() (time.Duration, int64) {
		start := time.Now()
		var events atomic.Int64
		concurrently(concurrency, execs, func(e emulator.Execution) {
			if _, err := extract.Describe(context.Background(), sdkClient, e.ARN); err != nil {
				b.Error(err)
			}
			err := extract.DrainHistory(context.Background(), sdkClient, e.ARN, extract.MaxPageSize, func(_ context.Context, p extract.HistoryPage) error {
				events.Add(int64(len(p.Events)))
				return nil
			})
			if err != nil {
				b.Error(err)
			}
		})
		return time.Since(start), events.Load()
	}
	drain() // warms the page cache
	return historyBench{srv: srv, url: url, client: client, manifest: manifest, drain: drain}
}

// BenchmarkMillionEventsRSS archives one execution whose history holds
// 1,000,000 events with the etl binary (ETL_BIN), through history; its peak
// RSS against the 256 MiB target: 250,000 steps, each started, failed and
// retried once, then succeeded, with results and errors of about 200 bytes of JSON (orderJSON), and with
// 2 KiB ones (500 MB of results the fold must not keep in memory); and
// 500,000 steps that each start and succeed (twice the operations the
// fold keeps). It also times the binary against the SDK paginator draining
// the same history (binary-ratio, target >= 0.8): one history is read page
// after page, so the drain is one request at a time, and the binary must
// fold and encode beside its reading, not after it.
func BenchmarkMillionEventsRSS(b *testing.B) {
	for _, size := range []int{200, 2048} {
		b.Run(fmt.Sprintf("retried,payload=%dB", size), func(b *testing.B) {
			benchHistoryRSS(b, millionEvents(size, true))
		})
	}
	b.Run("not-retried,payload=200B", func(b *testing.B) {
		benchHistoryRSS(b, millionEvents(200, false))
	})
}

// benchHistoryRSS runs the etl binary b.N times on e, archived through
// history, from an emulator whose page cache an untimed drain has warmed,
// each run after a drain of the same calls by the stock SDK; it reports
// the binary's peak RSS and the median of the paired ratios of their
// times.
func benchHistoryRSS(b *testing.B, e emulator.Execution) {
	bin := os.Getenv("ETL_BIN")
	if bin == "" {
		b.Fatal("ETL_BIN is not set: run make bench, which builds bin/etl")
	}
	e.Token = ""
	srv := emulator.New(emulator.WithPageCache())
	srv.Add(e)
	url, _ := emulatortest.Start(b, srv)
	sdk := emulatortest.Client(b, url, extract.WithSDKDecoder())
	var events int64
	drain := func() time.Duration {
		start := time.Now()
		events = 0
		if _, err := extract.Describe(context.Background(), sdk, e.ARN); err != nil {
			b.Fatal(err)
		}
		err := extract.DrainHistory(context.Background(), sdk, e.ARN, extract.MaxPageSize, func(_ context.Context, p extract.HistoryPage) error {
			events += int64(len(p.Events))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	drain() // warms the page cache
	dir := b.TempDir()
	manifest := filepath.Join(dir, "m.jsonl")
	var m bytesBuffer
	emulator.WriteManifest(&m, []emulator.Execution{e})
	if err := os.WriteFile(manifest, m, 0o644); err != nil {
		b.Fatal(err)
	}
	peak, ratio := binaryVsDrain(b, dir, bin, drain, "--manifest", manifest, "--endpoint-url", url)
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peak)/(256<<20), "RSS/target")
	b.ReportMetric(ratio, "binary-ratio")
	b.ReportMetric(float64(events), "events")
}

// BenchmarkManyLargeExecutionsRSS archives 32 executions of 100,000
// events each (steps retried once; results and errors of 75-120 bytes of
// JSON that differ from event to event, so that neither dictionaries nor
// zstd make them vanish; start dates every third day over three months, a
// partition each) at --concurrency 16 with the etl binary: 16 large
// histories folded and staged at once.
func BenchmarkManyLargeExecutionsRSS(b *testing.B) {
	var execs []emulator.Execution
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 32 {
		e := largeHistory(100_000, start.AddDate(0, 0, 3*i), true, func(k int) string {
			h := uint64(i)*1_000_003 + uint64(k)*2_654_435_761
			return fmt.Sprintf(`{"order":"ord-%016x","amount":%d.%02d,"note":"%s"}`, h, h%10_000, h%100, strings.Repeat(strconv.FormatUint(h%0xffffff, 36), 2+int(h%10)))
		})
		e.ARN = fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:big:$LATEST/durable-execution/big/%04d", i)
		execs = append(execs, e)
	}
	benchRSS(b, execs, "--concurrency", "16")
	b.ReportMetric(3_200_000, "events")
}

// millionEvents is one execution of 1,000,000 events: steps that each
// start, fail, start again and succeed (retried), or start and succeed.
func millionEvents(size int, retried bool) emulator.Execution {
	return largeHistory(1_000_000, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), retried, func(i int) string { return orderJSON(i, size) })
}

// orderJSON is a step's result or error as users' look: a JSON order of
// about size bytes (at least one line item) whose identifiers, amounts and
// names differ from event to event, so that neither Parquet's
// dictionaries nor zstd make it vanish (a repeated character compresses
// to nothing).
func orderJSON(i, size int) string {
	h := uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e5
	next := func() uint64 { h ^= h << 13; h ^= h >> 7; h ^= h << 17; return h }
	names := []string{"Widget", "Gadget", "Sprocket", "Flange", "Bracket", "Coupler", "Gasket", "Bearing"}
	var b strings.Builder
	fmt.Fprintf(&b, `{"orderId":"ord-%016x","customer":"cust-%08x","status":"CONFIRMED","items":[`, next(), next()%0xffffffff)
	for n := 0; n == 0 || b.Len() < size-40; n++ {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%08X","name":"%s %d","qty":%d,"price":%d.%02d}`, next()%0xffffffff, names[next()%8], next()%1000, 1+next()%20, next()%1000, next()%100)
	}
	fmt.Fprintf(&b, `],"total":%d.%02d}`, next()%100000, next()%100)
	return b.String()
}

// largeHistory is one execution of n events from start, as millionEvents
// makes them, event i's results and errors payload(i).
func largeHistory(n int, base time.Time, retried bool, payload func(i int) string) emulator.Execution {
	per := 2
	if retried {
		per = 4
	}
	e := emulator.Fixed("arn:aws:lambda:us-east-1:123456789012:function:big:$LATEST/durable-execution/big/0001", "", nil)
	e.History = emulator.HistoryOf(n, func(i int) types.Event {
		id := fmt.Sprintf("step-%06d", i/per)
		at := base.Add(time.Duration(i) * time.Millisecond)
		ev := types.Event{EventId: aws.Int32(int32(i + 1)), Id: &id, Name: aws.String("charge-card"), EventTimestamp: &at}
		switch k := i % per; {
		case k == per-1:
			ev.EventType = "StepSucceeded"
			ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(payload(i))}, RetryDetails: &types.RetryDetails{CurrentAttempt: int32(per / 2)}}
		case k == 1:
			ev.EventType = "StepFailed"
			ev.StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("Retryable"), ErrorMessage: aws.String(payload(i))}},
				RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)}}
		default:
			ev.EventType, ev.StepStartedDetails = "StepStarted", &types.StepStartedDetails{}
		}
		return ev
	})
	return e
}
