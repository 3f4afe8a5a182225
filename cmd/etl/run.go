package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/durable-etl/durable-etl/internal/clip"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

func env(name string) []string {
	return []string{"ETL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func runCommand() *cli.Command {
	cmd := &cli.Command{
		Name:  "run",
		Usage: "archive the executions of functions, of a manifest, or one execution",
		Description: `Archives each execution. --function finds every execution of a function
(every version and alias) with ListDurableExecutionsByFunction and archives it
from GetDurableExecution and its event history: no checkpoint token needed.
A manifest is JSON Lines ({"DurableExecutionArn":"...","CheckpointToken":"..."}
per line, the token optional) or CSV with the header
durable_execution_arn,checkpoint_token; "-" reads standard input. An entry
with a token is archived from GetDurableExecutionState (add --history for its
events too); one without, from history.

Examples:
  etl run --function orders --function payments --dest ./archive
  etl run --manifest executions.jsonl --dest ./archive
  etl run --execution "$ARN" --checkpoint-token "$TOKEN" --dest /data/archive
  etl run --manifest - --endpoint-url http://127.0.0.1:9001 < manifest.csv`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "manifest", Usage: "the executions to archive: `FILE`, - for standard input, or s3://BUCKET/KEY", EnvVars: env("manifest")},
			&cli.StringFlag{Name: "execution", Usage: "one execution `ARN` to archive, instead of a manifest", EnvVars: env("execution")},
			&cli.StringFlag{Name: "checkpoint-token", Usage: "the checkpoint `TOKEN` for --execution (prefer ETL_CHECKPOINT_TOKEN: flags show in ps)", EnvVars: env("checkpoint-token")},
			&cli.StringSliceFlag{Name: "dest", Usage: "where to write: a `DIR`, file:///abs/path or s3://BUCKET/PREFIX (Parquet), or postgres://... (tables); repeat for several", EnvVars: env("dest"), Value: cli.NewStringSlice("./archive")},
			&cli.StringFlag{Name: "endpoint-url", Usage: "the Lambda API endpoint `URL` (default: the SDK's resolution, which honours AWS_ENDPOINT_URL_LAMBDA)", EnvVars: env("endpoint-url")},
			&cli.StringFlag{Name: "region", Usage: "AWS `REGION` (default: the AWS configuration chain)", EnvVars: env("region")},
			&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`", EnvVars: env("profile")},
			&cli.IntFlag{Name: "page-size", Usage: "MaxItems per GetDurableExecutionState call, 1..1000", EnvVars: env("page-size"), Value: 1000},
			&cli.IntFlag{Name: "concurrency", Usage: "executions in flight", EnvVars: env("concurrency"), Value: 4},
			&cli.StringFlag{Name: "run-id", Usage: "this run's `ID`, written to every row and file name (default: generated, sortable by time)", EnvVars: env("run-id")},
			&cli.StringFlag{Name: "report", Usage: "write the run summary as JSON to `FILE`", EnvVars: env("report")},
			&cli.StringFlag{Name: "pg-schema", Usage: "the Postgres `SCHEMA` of the tables, for postgres:// destinations", EnvVars: env("pg-schema"), Value: schema.DefaultPostgresSchema},
			&cli.BoolFlag{Name: "migrate", Usage: "apply pending Postgres migrations before the run (else a run against an unmigrated schema stops, naming etl migrate)", EnvVars: env("migrate")},
			&cli.DurationFlag{Name: "progress-interval", Usage: "when stderr is not a terminal, log a progress line this often (on a terminal, a progress bar)", EnvVars: env("progress-interval"), Value: 30 * time.Second},
			&cli.StringFlag{Name: "log-format", Usage: "text or json", EnvVars: env("log-format"), Value: "text"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", EnvVars: env("log-level"), Value: "info"},
			&cli.StringFlag{Name: "compression", Usage: "Parquet compression: zstd, snappy or none", EnvVars: env("compression"), Value: "zstd"},
			&cli.StringFlag{Name: "target-file-size", Usage: "roll Parquet files at about this `SIZE` (e.g. 256MiB, 1GiB)", EnvVars: env("target-file-size"), Value: "256MiB"},
			&cli.StringFlag{Name: "row-group-size", Usage: "end Parquet row groups at about this `SIZE` of row data; bounds memory per open file", EnvVars: env("row-group-size"), Value: "64MiB"},
			&cli.StringFlag{Name: "memory-limit", Usage: "soft memory `SIZE` for the Go runtime, which collects more often near it (it never fails a run); 0 turns it off; GOMEMLIMIT, when set, wins", EnvVars: env("memory-limit"), Value: "192MiB"},
			&cli.DurationFlag{Name: "request-timeout", Usage: "timeout of one API request attempt", EnvVars: env("request-timeout"), Value: 60 * time.Second},
			&cli.IntFlag{Name: "max-attempts", Usage: "attempts per API call, retries included", EnvVars: env("max-attempts"), Value: 5},
			&cli.StringFlag{Name: "retry-mode", Usage: "the SDK's retry mode: standard, or adaptive (also slows down when throttled); both honour Retry-After", EnvVars: env("retry-mode"), Value: "standard"},
			&cli.Float64Flag{Name: "rate-limit", Usage: "API calls per second for the whole run, retries included; 0 for none", EnvVars: env("rate-limit")},
			&cli.DurationFlag{Name: "deadline", Usage: "stop the run after this long (in-flight executions are abandoned, complete files published, the report written; exit 1); 0 for none", EnvVars: env("deadline")},
			&cli.StringFlag{Name: "on-bad-line", Usage: "a malformed manifest line: fail (refuse the manifest) or skip (report it and go on)", EnvVars: env("on-bad-line"), Value: "fail"},
			&cli.StringFlag{Name: "shard", Usage: "archive only shard `I/N` of the manifest (by ARN hash); also from JOB_COMPLETION_INDEX with --shard-count, or AWS_BATCH_JOB_ARRAY_INDEX and _SIZE", EnvVars: env("shard")},
			&cli.IntFlag{Name: "shard-count", Usage: "the number of shards, with a Kubernetes Indexed Job's JOB_COMPLETION_INDEX", EnvVars: env("shard-count")},
			&cli.BoolFlag{Name: "force", Usage: "archive every execution, even those whose last archived snapshot was terminal (SUCCEEDED, FAILED, TIMED_OUT, STOPPED)", EnvVars: env("force")},
			&cli.StringFlag{Name: "metrics-file", Usage: "write the run's metrics in Prometheus text format to `FILE` (for node_exporter's textfile collector)", EnvVars: env("metrics-file")},
			&cli.StringFlag{Name: "retention-warning", Usage: "with --function: report executions whose history the service deletes within this `DURATION` (7d, 36h) and that are not archived in a terminal state", EnvVars: env("retention-warning"), Value: "7d"},
			&cli.BoolFlag{Name: "history", Usage: "also archive GetDurableExecutionHistory (events) for entries that carry a token; entries without one always use history", EnvVars: env("history")},
		},
		Action: runAction,
	}
	cmd.Flags = append(cmd.Flags, discoveryFlags()...)
	cmd.Flags = append(cmd.Flags, s3Flags()...)
	return cmd
}

// runAction checks every input and destination, then runs the pipeline.
// Until the pipeline starts, any problem is a usage error (exit 2) and
// nothing has been fetched or written.
func runAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError("run: unexpected argument %q (flags only; see etl run --help)", c.Args().First())
	}
	logger, err := newLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
	if err != nil {
		return err
	}
	pageSize := c.Int("page-size")
	if pageSize < 1 || pageSize > extract.MaxPageSize {
		return usageError("--page-size %d: want 1..%d", pageSize, extract.MaxPageSize)
	}
	if c.Int("concurrency") < 1 {
		return usageError("--concurrency %d: want at least 1", c.Int("concurrency"))
	}
	if c.Int("max-attempts") < 1 {
		return usageError("--max-attempts %d: want at least 1", c.Int("max-attempts"))
	}
	if m := c.String("retry-mode"); m != "standard" && m != "adaptive" {
		return usageError("--retry-mode %q: want standard or adaptive", m)
	}
	if c.Float64("rate-limit") < 0 || c.Duration("deadline") < 0 {
		return usageError("--rate-limit and --deadline must not be negative")
	}
	var manifestOpts []extract.ManifestOption
	switch c.String("on-bad-line") {
	case "fail":
	case "skip":
		manifestOpts = append(manifestOpts, extract.TolerateBadLines())
	default:
		return usageError("--on-bad-line %q: want fail or skip", c.String("on-bad-line"))
	}
	shard, shards, err := shardOf(c)
	if err != nil {
		return usageError("%v", err)
	}
	if shards > 0 {
		manifestOpts = append(manifestOpts, extract.Shard(shard, shards))
	}
	if mf := c.String("metrics-file"); mf != "" {
		if err := checkWritableFile(mf); err != nil {
			return usageError("--metrics-file %s: %v", mf, err)
		}
	}
	codec, ok := load.Compressions[c.String("compression")]
	if !ok {
		return usageError("--compression %q: want zstd, snappy or none", c.String("compression"))
	}
	target, err := parseSize(c.String("target-file-size"))
	if err != nil {
		return usageError("--target-file-size: %v", err)
	}
	rowGroup, err := parseSize(c.String("row-group-size"))
	if err != nil {
		return usageError("--row-group-size: %v", err)
	}
	if ml := c.String("memory-limit"); ml != "0" && os.Getenv("GOMEMLIMIT") == "" {
		limit, err := parseSize(ml)
		if err != nil {
			return usageError("--memory-limit: %v", err)
		}
		debug.SetMemoryLimit(limit)
	}
	runID := c.String("run-id")
	if runID == "" {
		runID = newRunID(time.Now())
	} else if strings.ContainsAny(runID, `/\`) || strings.HasPrefix(runID, ".") {
		return usageError("--run-id %q: must not contain / or \\ or start with a dot", runID)
	}
	if rp := c.String("report"); rp != "" {
		if err := checkWritableFile(rp); err != nil {
			return usageError("--report %s: %v", rp, err)
		}
	}

	disc, err := parseDiscovery(c, time.Now())
	if err != nil {
		return err
	}
	retentionWarning, err := parseDays(c.String("retention-warning"))
	if err != nil {
		return usageError("--retention-warning: %v", err)
	}
	logger = logger.With("run_id", runID)

	s3c := &s3Clients{c: c}
	m, err := openManifest(c, s3c, manifestOpts)
	if err != nil {
		return err
	}
	if m != nil {
		defer m.Close()
		for _, bad := range m.Skipped() {
			logger.Warn("manifest line skipped", "line", bad.Line, "reason", bad.Reason)
		}
	}

	var loaders []load.Loader
	closeAll := func() {
		for _, l := range loaders {
			l.Close(context.Background())
		}
	}
	prefix := "part-" + runID
	if shards > 0 {
		prefix += fmt.Sprintf("-s%dof%d", shard, shards) // shards never write the same name
	}
	var attempt [2]byte
	rand.Read(attempt[:])
	prefix += "-" + hex.EncodeToString(attempt[:]) // nor does a resumed run (same --run-id)
	parquetOpts := []load.ParquetOption{load.WithCompression(codec), load.WithTargetFileSize(target), load.WithRowGroupSize(rowGroup),
		load.WithFilePrefix(prefix), load.WithCreatedBy("durable-etl " + version), load.WithLogger(logger)}
	for _, raw := range c.StringSlice("dest") {
		d, err := load.ParseDest(raw)
		if err != nil {
			closeAll()
			return usageError("--dest: %v", err)
		}
		switch d.Kind {
		case load.DestLocal:
			pd, err := load.NewParquetDir(d.Path, parquetOpts...)
			if err != nil {
				closeAll()
				return usageError("--dest: %v", err)
			}
			loaders = append(loaders, pd)
		case load.DestPostgres:
			pg, err := load.NewPostgres(c.Context, d.URL, load.WithPGSchema(c.String("pg-schema")),
				load.WithMaxConns(int32(c.Int("concurrency")+2)), load.WithMigrate(c.Bool("migrate")), load.WithPGLogger(logger))
			if err != nil {
				closeAll()
				return usageError("--dest: %v", err)
			}
			loaders = append(loaders, pg)
		case load.DestS3:
			client, err := s3c.get(c.Context)
			if err != nil {
				closeAll()
				return usageError("--dest %s: %v", d, err)
			}
			pq, err := load.NewParquetS3(c.Context, client, d.Bucket, d.Prefix, "", load.S3Options{
				SSE: c.String("s3-sse"), KMSKeyID: c.String("s3-kms-key-id"), StorageClass: c.String("s3-storage-class"),
				StaleUploadAge: staleAge(c.Duration("s3-abort-uploads-older-than")),
			}, parquetOpts...)
			if err != nil {
				closeAll()
				return usageError("--dest: %v", err)
			}
			loaders = append(loaders, pq)
		}
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var calls extract.CallStats
	clientOpts := []extract.ClientOption{extract.WithRequestTimeout(c.Duration("request-timeout")), extract.WithMaxAttempts(c.Int("max-attempts")),
		extract.WithRetryMode(c.String("retry-mode")), extract.WithCallStats(&calls)}
	if r := c.Float64("rate-limit"); r > 0 {
		clientOpts = append(clientOpts, extract.WithRateLimit(rate.NewLimiter(rate.Limit(r), 1)))
	}
	if d := c.Duration("deadline"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if v := c.String("region"); v != "" {
		clientOpts = append(clientOpts, extract.WithRegion(v))
	}
	if v := c.String("profile"); v != "" {
		clientOpts = append(clientOpts, extract.WithProfile(v))
	}
	if v := c.String("endpoint-url"); v != "" {
		clientOpts = append(clientOpts, extract.WithEndpointURL(v))
	}
	client, err := extract.NewClient(ctx, clientOpts...)
	if err != nil {
		closeAll()
		return usageError("%v", err)
	}
	var watch *retentionWatch
	if m == nil {
		if err := reachable(ctx, c.String("endpoint-url"), client.Options().Region); err != nil {
			closeAll()
			return usageError("%v", err)
		}
		found, fns, err := discover(ctx, client, disc, logger.Info)
		if err != nil {
			closeAll()
			return err
		}
		watch = newRetentionWatch(found, fns)
		if m, err = discoveredManifest(found, manifestOpts); err != nil {
			closeAll()
			return usageError("%v", err)
		}
		defer m.Close()
	}
	if m.Count() > 0 {
		if err := reachable(ctx, c.String("endpoint-url"), client.Options().Region); err != nil {
			closeAll()
			return usageError("%v", err)
		}
	}

	if m.Count() == 0 {
		logger.Info("nothing to do: the manifest lists no executions", "manifest", m.Source())
	}
	var skip func(string) (string, bool)
	var lastEvent func(string) int32
	loader := load.Fanout(loaders...)
	if ar, ok := loader.(load.ArchivedReader); ok {
		archived, err := ar.Archived(ctx, runID)
		if err != nil {
			closeAll()
			return usageError("%v", err)
		}
		lastEvent = archived.LastEventID // events are immutable: --force rewrites none
		if !c.Bool("force") {
			skip = archived.Skip
		}
		logger.Info("read what is archived", "executions_known", archived.Len())
	}
	logger.Info("run starting", "executions", m.Count(), "duplicates_skipped", m.Duplicates(), "bad_lines_skipped", len(m.Skipped()),
		"shard", fmt.Sprintf("%d/%d", shard, max(shards, 1)), "manifest", m.Source(), "dest", strings.Join(redactedDests(c.StringSlice("dest")), ","))
	var onArchived func(string)
	if watch != nil {
		skip, onArchived = watch.skip(skip), watch.done
	}
	progress := &pipeline.Progress{}
	stopProgress := showProgress(ctx, c.App.ErrWriter, logger, progress, m.Count(), c.Duration("progress-interval"))
	sum, runErr := pipeline.Run(ctx, pipeline.Config{
		API: client, History: client, HistoryAlways: c.Bool("history"), LastEventID: lastEvent,
		Loader: loader, RunID: runID, Skip: skip, Progress: progress, Archived: onArchived,
		PageSize: int32(pageSize), Concurrency: c.Int("concurrency"), Logger: logger, Version: version,
	}, m)

	stopProgress()
	sum.APICalls, sum.APIRetries = calls.Calls.Load(), calls.Attempts.Load()-calls.Calls.Load()
	sum.APICallsByOperation = calls.ByOperation()
	if watch != nil {
		sum.Functions = watch.functions(sum.Failures)
		sum.RetentionAtRisk = watch.atRisk(time.Now(), retentionWarning, sum.Failures)
		for _, r := range sum.RetentionAtRisk {
			logger.Warn("history expires soon and the execution is not archived in a terminal state", "execution_arn", r.ExecutionArn,
				"history_expires_at", r.HistoryExpiresAt, "reason", r.Reason)
		}
	}
	logger.Info("run finished", "executions_ok", sum.ExecutionsOK, "executions_failed", sum.ExecutionsFailed,
		"pages", sum.Pages, "operations", sum.Operations, "events", sum.Events, "events_new", sum.EventsNew, "rows_written", sum.RowsWritten, "files_written", sum.FilesWritten,
		"bytes_written", sum.BytesWritten, "duration_ms", sum.DurationMS, "ops_per_sec", int64(sum.OperationsPerSec))
	printSummary(c.App.Writer, sum, c.StringSlice("dest"))
	if mf := c.String("metrics-file"); mf != "" {
		if err := writeMetrics(mf, sum, runErr); err != nil {
			logger.Error("metrics file not written", "path", mf, "error", err)
		}
	}
	if rp := c.String("report"); rp != "" {
		if err := writeReport(rp, sum, runErr); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--report %s: %w", rp, err)}
		}
	}
	switch {
	case runErr != nil:
		return &exitError{code: exitFailed, err: runErr}
	case sum.Interrupted:
		return &exitError{code: exitFailed, err: errors.New("interrupted: rerun to archive the rest")}
	case sum.ExecutionsFailed > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d executions failed (see the log or --report)", sum.ExecutionsFailed, sum.Executions)}
	}
	return nil
}

func openManifest(c *cli.Context, s3c *s3Clients, opts []extract.ManifestOption) (*extract.Manifest, error) {
	path, arn, token := c.String("manifest"), c.String("execution"), c.String("checkpoint-token")
	switch {
	case path != "" && arn != "":
		return nil, usageError("--manifest and --execution exclude each other")
	case (path != "" || arn != "") && (len(c.StringSlice("function")) > 0 || c.Bool("all-functions")):
		return nil, usageError("--function and --all-functions exclude --manifest and --execution")
	case strings.HasPrefix(path, "s3://"):
		client, err := s3c.get(c.Context)
		if err != nil {
			return nil, usageError("--manifest %s: %v", path, err)
		}
		m, err := extract.OpenS3Manifest(c.Context, client, path, opts...)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return m, nil
	case path != "":
		m, err := extract.OpenManifest(path, opts...)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return m, nil
	case arn != "":
		m, err := extract.SingleEntry(arn, token, opts...)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return m, nil
	}
	if len(c.StringSlice("function")) > 0 || c.Bool("all-functions") {
		return nil, nil // discovered once the client is built
	}
	return nil, usageError("run: give --all-functions, --function NAME, --manifest FILE or --execution ARN")
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: clip.ReplaceAttr}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("--log-format %q: want text or json", format)
}

// newRunID is sortable by time: 20261125T063512Z-3f9a1c.
func newRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// parseSize reads 256MiB, 1GiB, 512KiB or a plain number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 256MiB)", s)
	}
	return n * mult, nil
}

func checkWritableFile(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".etl-report-probe-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func redactedDests(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = load.Redact(d)
	}
	return out
}

// writeReport writes the summary as JSON, atomically (temp file + rename).
func writeReport(path string, sum *pipeline.Summary, runErr error) error {
	report := struct {
		*pipeline.Summary
		Version string `json:"version"`
		Error   string `json:"error,omitempty"`
	}{Summary: sum, Version: version}
	if runErr != nil {
		report.Error = runErr.Error()
	}
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printSummary(w io.Writer, s *pipeline.Summary, dests []string) {
	fmt.Fprintf(w, "run %s: %d executions archived, %d failed", s.RunID, s.ExecutionsOK, s.ExecutionsFailed)
	if s.SkippedTerminal+s.SkippedResumed > 0 {
		fmt.Fprintf(w, ", %d skipped (%d terminal, %d already archived by this run)", s.SkippedTerminal+s.SkippedResumed, s.SkippedTerminal, s.SkippedResumed)
	}
	if s.DuplicatesSkipped > 0 {
		fmt.Fprintf(w, ", %d duplicate manifest entries skipped", s.DuplicatesSkipped)
	}
	fmt.Fprintf(w, "\n  %d pages, %d operations in %s (%.0f operations/s)\n", s.Pages, s.Operations, s.Duration.Round(time.Millisecond), s.OperationsPerSec)
	fmt.Fprintf(w, "  %d rows in %d files, %s, under %s\n", s.RowsWritten, s.FilesWritten, humanBytes(s.BytesWritten), strings.Join(redactedDests(dests), ", "))
	for i, f := range s.Failures {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more failures\n", len(s.Failures)-10)
			break
		}
		fmt.Fprintf(w, "  failed: %s: %s\n", f.ExecutionArn, f.Reason)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// staleAge maps the flag's 0 (never) to S3Options' negative.
func staleAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// reachable checks, before any request, that the Lambda endpoint accepts a
// TCP connection: the flag's URL, else AWS_ENDPOINT_URL_LAMBDA or
// AWS_ENDPOINT_URL, else the region's public endpoint.
func reachable(ctx context.Context, endpoint, region string) error {
	for _, v := range []string{endpoint, os.Getenv("AWS_ENDPOINT_URL_LAMBDA"), os.Getenv("AWS_ENDPOINT_URL")} {
		if v != "" {
			endpoint = v
			break
		}
	}
	if endpoint == "" {
		endpoint = "https://lambda." + region + ".amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("endpoint %q: not a URL", endpoint)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80"}[u.Scheme])
		if u.Scheme != "http" {
			host = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("endpoint %s is unreachable: %v", endpoint, err)
	}
	return conn.Close()
}
