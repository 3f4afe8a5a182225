package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/clip"
	"github.com/durable-etl/durable-etl/internal/jsonstream"
	"github.com/durable-etl/durable-etl/internal/scratch"
	"github.com/durable-etl/durable-etl/internal/spool"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

func env(name string) []string {
	return []string{"ETL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func runCommand() *cli.Command {
	cmd := &cli.Command{
		Name:   "run",
		Before: summaryOnly,
		Usage:  "archive the executions of functions, of a manifest, or one execution",
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
			&cli.GenericFlag{Name: "dest", Usage: "where to write: a `DIR`, file:///abs/path or s3://BUCKET/PREFIX (Parquet), or postgres://... (tables); repeat for several (a comma is part of the value, not a separator)", EnvVars: env("dest"), Value: &destList{values: []string{"./archive"}}},
			&cli.StringFlag{Name: "endpoint-url", Usage: "the Lambda API endpoint `URL` (default: the SDK's resolution, which honours AWS_ENDPOINT_URL_LAMBDA)", EnvVars: env("endpoint-url")},
			&cli.StringFlag{Name: "region", Usage: "AWS `REGION` (default: the AWS configuration chain)", EnvVars: env("region")},
			&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`", EnvVars: env("profile")},
			&cli.IntFlag{Name: "page-size", Usage: "MaxItems per GetDurableExecutionState or GetDurableExecutionHistory call, 1..1000", EnvVars: env("page-size"), Value: 1000},
			&cli.IntFlag{Name: "concurrency", Usage: "executions in flight", EnvVars: env("concurrency"), Value: 4},
			&cli.StringFlag{Name: "run-id", Usage: "this run's `ID`, written to every row and file name; a run given the ID of one that stopped resumes it (default: in an AWS Batch job its job id, an array's children sharing their parent's, so that a retried attempt resumes; else generated, sortable by time)", EnvVars: env("run-id")},
			&cli.StringFlag{Name: "report", Usage: "write the run summary as JSON to `FILE`", EnvVars: env("report")},
			&cli.StringFlag{Name: "pg-schema", Usage: "the Postgres `SCHEMA` of the tables, for postgres:// destinations", EnvVars: env("pg-schema"), Value: schema.DefaultPostgresSchema},
			&cli.BoolFlag{Name: "migrate", Usage: "apply pending Postgres migrations before the run (else a run against an unmigrated schema stops, naming etl migrate)", EnvVars: env("migrate")},
			&cli.DurationFlag{Name: "progress-interval", Usage: "when stderr is not a terminal, log a progress line this often (on a terminal, a progress bar)", EnvVars: env("progress-interval"), Value: 30 * time.Second},
			&cli.StringFlag{Name: "compression", Usage: "Parquet compression: zstd, snappy or none", EnvVars: env("compression"), Value: "zstd"},
			&cli.StringFlag{Name: "target-file-size", Usage: "roll Parquet files at about this `SIZE` (e.g. 256MiB, 1GiB)", EnvVars: env("target-file-size"), Value: "256MiB"},
			&cli.StringFlag{Name: "row-group-size", Usage: "end Parquet row groups at about this `SIZE` of row data; bounds memory per open file", EnvVars: env("row-group-size"), Value: "64MiB"},
			memoryLimitFlag(),
			hugePagesFlag(),
			&cli.DurationFlag{Name: "request-timeout", Usage: "timeout of one API request attempt", EnvVars: env("request-timeout"), Value: 60 * time.Second},
			&cli.IntFlag{Name: "max-attempts", Usage: "attempts per API call, retries included", EnvVars: env("max-attempts"), Value: 5},
			&cli.StringFlag{Name: "retry-mode", Usage: "the SDK's retry mode: adaptive (once the API throttles, every call slows to the rate it takes: an account's quota slows the run rather than failing executions) or standard (each call retried alone); both honour Retry-After", EnvVars: env("retry-mode"), Value: extract.DefaultRetryMode},
			&cli.Float64Flag{Name: "rate-limit", Usage: "API calls per second for the whole run, retries included; 0 for none", EnvVars: env("rate-limit")},
			&cli.DurationFlag{Name: "deadline", Usage: "stop the run after this long (in-flight executions are abandoned, complete files published, the report written; exit 1); 0 for none", EnvVars: env("deadline")},
			&cli.StringFlag{Name: "on-bad-line", Usage: "a malformed manifest line: fail (refuse the manifest) or skip (report it and go on)", EnvVars: env("on-bad-line"), Value: "fail"},
			&cli.StringFlag{Name: "shard", Usage: "archive only shard `I/N` of the manifest (by ARN hash); also from JOB_COMPLETION_INDEX with --shard-count, or AWS_BATCH_JOB_ARRAY_INDEX and _SIZE", EnvVars: env("shard")},
			&cli.IntFlag{Name: "shard-count", Usage: "the number of shards, with a Kubernetes Indexed Job's JOB_COMPLETION_INDEX", EnvVars: env("shard-count")},
			&cli.BoolFlag{Name: "rewrite-events", Usage: "with --force: read every event of the executions read through history again and write those the archive lacks or holds otherwise: what mends events lost from the archive (a file deleted, an executions row lost: verify's missing, inconsistent \"events: ...\" or \"event N is not in the archive\") or altered in it, while the service keeps the history; Parquet first reads which its files hold, Postgres rewrites none unchanged", EnvVars: env("rewrite-events")},
			&cli.BoolFlag{Name: "force", Usage: "archive every execution, even those whose last archived snapshot was terminal (SUCCEEDED, FAILED, TIMED_OUT, STOPPED; CANCELLED read through state) or that are unchanged since it, writing again the events that carry members etl's SDK does not know or have values in columns the contract gained later (the pause events) where the archive does not hold them as they are (Parquet reads which it holds)", EnvVars: env("force")},
			&cli.StringFlag{Name: "metrics-file", Usage: "write the run's metrics in Prometheus text format to `FILE` (for node_exporter's textfile collector)", EnvVars: env("metrics-file")},
			&cli.StringFlag{Name: "retention-warning", Usage: "with --function: report executions whose history the service deletes within this `DURATION` (7d, 36h) and that are not archived in a terminal state", EnvVars: env("retention-warning"), Value: "7d"},
			&cli.BoolFlag{Name: "history", Usage: "also archive GetDurableExecutionHistory (events) for entries that carry a token; entries without one always use history", EnvVars: env("history")},
			&cli.StringFlag{Name: "on-refused-token", Usage: "what to do with an entry whose checkpoint token the API refuses (stale: every checkpoint replaces it): fail, or history (read it without the token)", EnvVars: env("on-refused-token"), Value: "fail"},
		},
		Action: runAction,
	}
	cmd.Flags = append(cmd.Flags, logFlags()...)
	cmd.Flags = append(cmd.Flags, discoveryFlags()...)
	cmd.Flags = append(cmd.Flags, s3Flags()...)
	return cmd
}

// runOptions is etl run's flags, read and checked in one place
// (readRunOptions) before anything is opened or fetched.
type runOptions struct {
	pageSize, concurrency, maxAttempts int
	retryMode                          string
	rateLimit                          float64
	deadline, requestTimeout           time.Duration
	retryFailedAfter                   time.Duration
	region, profile, endpoint          string
	manifestOpts                       []extract.ManifestOption
	shard, shards                      int
	metricsFile, report                string
	codec                              compress.Codec
	target, rowGroup                   int64
	memoryLimit                        int64 // 0: leave the runtime's
	runID                              string
	disc                               discovery.Config
	retentionWarning                   time.Duration
	dests                              []string
	force, history, rewriteEvents      bool
	refusedTokenHistory                bool // --on-refused-token history
}

// readRunOptions reads every flag of etl run; any problem is a usage error
// (exit 2), found before anything is opened.
func readRunOptions(c *cli.Context) (runOptions, error) {
	o := runOptions{pageSize: c.Int("page-size"), concurrency: c.Int("concurrency"), maxAttempts: c.Int("max-attempts"),
		retryMode: c.String("retry-mode"), rateLimit: c.Float64("rate-limit"), deadline: c.Duration("deadline"), retryFailedAfter: c.Duration("retry-failed-after"),
		requestTimeout: c.Duration("request-timeout"), region: c.String("region"), profile: c.String("profile"),
		endpoint: c.String("endpoint-url"), metricsFile: c.String("metrics-file"), report: c.String("report"),
		runID: c.String("run-id"), dests: c.Generic("dest").(*destList).values, force: c.Bool("force"), history: c.Bool("history"), rewriteEvents: c.Bool("rewrite-events")}
	switch {
	case c.Args().Present():
		return o, usageError("run: unexpected argument %q (flags only; see etl run --help)", c.Args().First())
	case o.pageSize < 1 || o.pageSize > extract.MaxPageSize:
		return o, usageError("--page-size %d: want 1..%d", o.pageSize, extract.MaxPageSize)
	case o.concurrency < 1:
		return o, usageError("--concurrency %d: want at least 1", o.concurrency)
	case o.maxAttempts < 1:
		return o, usageError("--max-attempts %d: want at least 1", o.maxAttempts)
	case o.retryMode != "standard" && o.retryMode != "adaptive":
		return o, usageError("--retry-mode %q: want standard or adaptive", o.retryMode)
	case o.rateLimit < 0 || o.deadline < 0 || o.retryFailedAfter < 0:
		return o, usageError("--rate-limit, --deadline and --retry-failed-after must not be negative")
	case o.rewriteEvents && !o.force:
		return o, usageError("--rewrite-events needs --force (it writes again the events of executions the archive holds)")
	}
	switch c.String("on-bad-line") {
	case "fail":
	case "skip":
		o.manifestOpts = append(o.manifestOpts, extract.TolerateBadLines())
	default:
		return o, usageError("--on-bad-line %q: want fail or skip", c.String("on-bad-line"))
	}
	var err error
	if o.shard, o.shards, err = shardOf(c); err != nil {
		return o, usageError("%v", err)
	}
	if o.shards > 0 {
		o.manifestOpts = append(o.manifestOpts, extract.Shard(o.shard, o.shards))
	}
	for flag, path := range map[string]string{"--metrics-file": o.metricsFile, "--report": o.report} {
		if path != "" {
			if err := checkWritableFile(path); err != nil {
				return o, usageError("%s %s: %v", flag, path, err)
			}
		}
	}
	if err := checkTempDir(); err != nil {
		return o, err
	}
	var ok bool
	if o.codec, ok = load.Compressions[c.String("compression")]; !ok {
		return o, usageError("--compression %q: want zstd, snappy or none", c.String("compression"))
	}
	if o.target, err = parseSize(c.String("target-file-size")); err != nil {
		return o, usageError("--target-file-size: %v", err)
	}
	if o.rowGroup, err = parseSize(c.String("row-group-size")); err != nil {
		return o, usageError("--row-group-size: %v", err)
	}
	switch c.String("on-refused-token") {
	case "fail":
	case "history":
		o.refusedTokenHistory = true
	default:
		return o, usageError("--on-refused-token %q: want fail or history", c.String("on-refused-token"))
	}
	if o.memoryLimit, err = memoryLimit(c); err != nil {
		return o, err
	}
	if o.runID == "" {
		o.runID = cmp.Or(batchRunID(), newRunID(time.Now()))
	}
	if strings.ContainsAny(o.runID, `/\`) || strings.HasPrefix(o.runID, ".") {
		return o, usageError("--run-id %q: must not contain / or \\ or start with a dot", o.runID)
	}
	if o.disc, err = parseDiscovery(c, time.Now()); err != nil {
		return o, err
	}
	if o.retentionWarning, err = parseDays(c.String("retention-warning")); err != nil {
		return o, usageError("--retention-warning: %v", err)
	}
	return o, nil
}

// runAction reads the options, opens the manifest, the destinations and the
// client, discovers, runs, and reports. Until the pipeline starts, any
// problem is a usage error (exit 2) and nothing has been fetched or
// written. runAction closes the destinations on every path until it hands
// them to pipeline.Run, which closes them.
func runAction(c *cli.Context) error {
	logger, err := loggerFromFlags(c) // first: under --log-format json, errors of the options are records too
	if err != nil {
		return err
	}
	o, err := readRunOptions(c)
	if err != nil {
		return err
	}
	logger = logger.With("run_id", o.runID)
	limitMemory(o.memoryLimit, runGCPercent, c.Bool("huge-pages"), logger)
	ctx, stop := runContext(c, o.deadline, logger)
	defer stop()
	s3c := &s3Clients{c: c, logger: logger}
	m, err := openManifest(ctx, c, s3c, o.manifestOpts)
	if err != nil {
		return err
	}
	if m != nil {
		defer m.Close()
		for _, bad := range m.Skipped() {
			logger.Warn("manifest line skipped", "line", bad.Line, "reason", bad.Reason)
		}
	}
	loaders, made, err := openDestinations(ctx, c, o, s3c, logger)
	if err != nil {
		return err
	}
	loader := load.Fanout(loaders...)
	handed := false
	defer func() {
		if !handed {
			loader.Close(context.WithoutCancel(ctx))
			made.remove()
		}
	}()
	var calls extract.CallStats
	client, err := newRunClient(ctx, o, &calls, logger)
	if err != nil {
		return err
	}
	var watch *discovery.Watch
	if m == nil { // --function, --all-functions: discovery checks the endpoint first
		if m, watch, err = discoverManifest(ctx, client, o, logger); err != nil {
			return err
		}
		defer func() { m.Close(); watch.List().Close() }()
	} else if m.Count() > 0 {
		if err := reachable(ctx, client.Options()); err != nil {
			return usageError("%v", err)
		}
	}
	if m.Count() == 0 {
		logger.Info("nothing to do: the manifest lists no executions", "manifest", m.Source())
	}
	release, err := leaseDestinations(ctx, loader, o, m)
	if err != nil {
		return err
	}
	defer func() {
		if err := release(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("the run's record is left at the destination; it counts for nothing once it expires", "err", err)
		}
	}()
	cfg := pipeline.Config{API: client, History: client, HistoryAlways: o.history, RefusedTokenHistory: o.refusedTokenHistory, Loader: loader, RunID: o.runID,
		PageSize: int32(o.pageSize), Concurrency: o.concurrency, Logger: logger, Version: version, Progress: &pipeline.Progress{}, Calls: &calls,
		RetryFailedAfter: cmp.Or(o.retryFailedAfter, -1)} // 0: never
	unreadable, err := readArchive(ctx, loader, o, &cfg, logger)
	if err != nil {
		return err
	}
	if watch != nil {
		cfg.Skip, cfg.Archived, cfg.Described = watch.Skip(cfg.Skip), watch.Done, watch.Described
	}
	logger.Info("run starting", "executions", m.Count(), "duplicates_skipped", m.Duplicates(), "bad_lines_skipped", len(m.Skipped()),
		"shard", fmt.Sprintf("%d/%d", o.shard, max(o.shards, 1)), "manifest", m.Source(), "dest", strings.Join(redactedDests(o.dests), ","))
	stopProgress := showProgress(ctx, c.App.ErrWriter, logger, cfg.Progress, &calls, m.Count(), c.Duration("progress-interval"), "progress")
	handed = true
	sum, runErr := pipeline.Run(ctx, cfg, m)
	stopProgress()
	sum.UnreadableFiles, runErr = unreadable, cmp.Or(runErr, addCallsAndRetention(sum, &calls, watch, o.retentionWarning, logger)) // the run's own error first
	return finishRun(c.App.Writer, o, logger, sum, runErr)
}

// signalContext is c's context, ended by SIGINT or SIGTERM: the command
// then stops as it was built to (a run publishes what is complete and
// writes its report), which can take a while. A second signal ends the
// process at once, as its default action (nothing archived is lost: a
// rerun finishes what was cut short); the first says so (see say).
func signalContext(c *cli.Context) (context.Context, func()) {
	parent := c.Context
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	unhook := context.AfterFunc(ctx, func() {
		stop()
		if parent.Err() == nil {
			say(c, slog.LevelWarn, "etl: ", "interrupted: stopping cleanly; interrupt again to quit at once")
		}
	})
	return ctx, func() { unhook(); stop() }
}

// runContext is the run's context: signals (see signalContext) and the
// deadline (none when 0) stop every phase, the manifest's download and
// --migrate included. When the deadline passes, it warns so on logger
// (publishing what is complete can take a while, in silence before), and
// an interrupt then quits at once. Its stop function waits for that
// warning to be written, so that nothing writes to stderr after it
// returns.
func runContext(c *cli.Context, deadline time.Duration, logger *slog.Logger) (context.Context, func()) {
	sigCtx, stop := signalContext(c)
	if deadline <= 0 {
		return sigCtx, stop
	}
	ctx, cancel := context.WithTimeout(sigCtx, deadline)
	said := make(chan struct{})
	unhook := context.AfterFunc(ctx, func() {
		defer close(said)
		if sigCtx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			stop()
			logger.Warn(fmt.Sprintf("--deadline %s reached: abandoning the executions in flight, publishing the complete files (this can take a while); interrupt to quit at once", deadline))
		}
	})
	return ctx, func() {
		if !unhook() {
			<-said // it started: let it finish
		}
		cancel()
		stop()
	}
}

// addCallsAndRetention adds the API call counts to the summary and, for a
// discovered run, the per-function counts and the executions whose history
// expires within warn (each also logged). An error is discovery's list's
// (its file unreadable): the report's counts and at-risk list are then
// incomplete, though the archive is not.
func addCallsAndRetention(sum *pipeline.Summary, calls *extract.CallStats, watch *discovery.Watch, warn time.Duration, logger *slog.Logger) error {
	sum.APICalls, sum.APIRetries = calls.Calls.Load(), calls.Attempts.Load()-calls.Calls.Load()
	sum.APICallsByOperation = calls.ByOperation()
	if watch == nil {
		return nil
	}
	sum.Functions = watch.Functions(sum.Failures)
	now := time.Now()
	sum.RetentionAtRisk = watch.AtRisk(now, warn, sum.Failures)
	logAtRisk(logger, sum.RetentionAtRisk, now)
	return watch.List().Err()
}

// atRiskLogged is how many executions at risk a run logs one by one; the
// report lists them all. An interrupted backfill of a large account can
// leave hundreds of thousands.
const atRiskLogged = 1000

// logAtRisk logs the executions at risk, the first atRiskLogged one by
// one, then how many more.
func logAtRisk(logger *slog.Logger, atRisk []pipeline.AtRisk, now time.Time) {
	for i, r := range atRisk {
		if i == atRiskLogged {
			logger.Warn("more executions whose history expires soon are not archived whole: the report (--report) names them all", "more", len(atRisk)-i)
			return
		}
		logger.Warn(expiryText(r.HistoryExpiresAt, now)+", and the execution is not archived whole", "execution_arn", r.ExecutionArn,
			"history_expires_at", r.HistoryExpiresAt, "reason", r.Reason)
	}
}

// openDestinations opens every --dest, and says which folders it made for
// the local ones (a run refused before it starts removes them again: see
// madeDirs); on a failure it closes those it opened, removes those
// folders and returns a usage error naming the culprit.
func openDestinations(ctx context.Context, c *cli.Context, o runOptions, s3c *s3Clients, logger *slog.Logger) ([]load.Loader, madeDirs, error) {
	var loaders []load.Loader
	var made madeDirs
	fail := func(err error) ([]load.Loader, madeDirs, error) {
		for _, l := range loaders {
			l.Close(context.WithoutCancel(ctx))
		}
		made.remove()
		return nil, nil, err
	}
	prefix := "part-" + o.runID
	if o.shards > 0 {
		prefix += fmt.Sprintf("-s%dof%d", o.shard, o.shards) // shards never write the same name
	}
	var attempt [6]byte // compaction removes files by name: no run may draw an old one
	rand.Read(attempt[:])
	prefix += "-" + hex.EncodeToString(attempt[:]) // nor does a resumed run (same --run-id)
	parquetOpts := []load.ParquetOption{load.WithCompression(o.codec), load.WithTargetFileSize(o.target), load.WithRowGroupSize(o.rowGroup),
		load.WithFilePrefix(prefix), load.WithCreatedBy("durable-etl " + version), load.WithLogger(logger)}
	for _, raw := range o.dests {
		d, err := load.ParseDest(raw)
		if err != nil {
			return fail(usageError("--dest: %v", err))
		}
		var l load.Loader
		switch d.Kind {
		case load.DestLocal:
			made = append(load.MissingLocalDirs(d.Path), made...) // the last made removed first
			l, err = load.NewParquetDir(d.Path, parquetOpts...)
		case load.DestPostgres:
			l, err = load.NewPostgres(ctx, d.URL, load.WithPGSchema(c.String("pg-schema")),
				load.WithMaxConns(int32(o.concurrency+2)), load.WithMigrate(c.Bool("migrate")), load.WithPGLogger(logger))
		case load.DestS3:
			client, cerr := s3c.forBucket(ctx, d.Bucket)
			if cerr != nil {
				return fail(usageError("--dest: destination %s: %v", d, cerr))
			}
			l, err = load.NewParquetS3(ctx, client, d.Bucket, d.Prefix, "", load.S3Options{
				SSE: c.String("s3-sse"), KMSKeyID: c.String("s3-kms-key-id"), StorageClass: c.String("s3-storage-class"),
				StaleUploadAge: staleAge(c.Duration("s3-abort-uploads-older-than")),
			}, parquetOpts...)
		}
		if err != nil {
			return fail(usageError("--dest: %v", err))
		}
		loaders = append(loaders, l)
	}
	return loaders, made, nil
}

// madeDirs are folders a run made at its local destinations
// (load.MissingLocalDirs), each below the ones after it: a run refused
// before it starts (exit 2) removes them again, so that a mistyped flag
// beside a new --dest leaves nothing behind. Only empty folders are
// removed (os.Remove), so nothing that something else wrote there
// meanwhile is lost.
type madeDirs []string

// remove removes the folders that are still empty, deepest first.
func (m madeDirs) remove() {
	for _, p := range m {
		os.Remove(p) // not empty, or gone: left as it is
	}
}

// newRunClient builds the Lambda client with the run's retries, timeouts,
// rate limit and call counts; the SDK's own log lines go to logger at debug
// level.
func newRunClient(ctx context.Context, o runOptions, calls *extract.CallStats, logger *slog.Logger) (extract.Regional, error) {
	opts := []extract.ClientOption{extract.WithRequestTimeout(o.requestTimeout), extract.WithMaxAttempts(o.maxAttempts),
		extract.WithRetryMode(o.retryMode), extract.WithCallStats(calls), extract.WithLogger(logger),
		extract.WithConnections(2 * o.concurrency)} // each worker reads a page ahead
	if o.rateLimit > 0 {
		opts = append(opts, extract.WithRateLimit(rate.NewLimiter(rate.Limit(o.rateLimit), 1)))
	}
	if o.region != "" {
		opts = append(opts, extract.WithRegion(o.region))
	}
	if o.profile != "" {
		opts = append(opts, extract.WithProfile(o.profile))
	}
	if o.endpoint != "" {
		opts = append(opts, extract.WithEndpointURL(o.endpoint))
	}
	client, err := extract.NewClient(ctx, opts...)
	if err != nil {
		return extract.Regional{}, usageError("%v", err)
	}
	return extract.Regional{Client: client}, nil // an execution's calls go to its ARN's region
}

// discoverManifest finds the executions of --function / --all-functions and
// makes them the run's manifest (oldest first, with their start times: see
// discovery.WriteManifest).
func discoverManifest(ctx context.Context, client extract.Regional, o runOptions, logger *slog.Logger) (*extract.Manifest, *discovery.Watch, error) {
	if err := reachable(ctx, client.Options()); err != nil {
		return nil, nil, usageError("%v", err)
	}
	found, fns, err := discover(ctx, client, o.disc, logger.Info)
	if err != nil {
		return nil, nil, err
	}
	warnFunctions(logger, fns)
	m, err := discovery.Manifest(found, o.manifestOpts)
	if err != nil {
		found.Close()
		return nil, nil, usageError("%v", err)
	}
	return m, discovery.NewWatch(found, fns), nil
}

// leaseDestinations records the run at the destinations that keep two
// runs from archiving the same executions at once (load.Leaser), before
// the run reads what they hold: another live run there whose functions
// (those of the manifest's ARNs, discovered or given; of one function,
// the spans of its executions' starts when both know them) and shard
// overlap this one's stops it, exit 2, before anything is fetched; so does a
// destination where the record cannot be written.
func leaseDestinations(ctx context.Context, loader load.Loader, o runOptions, m *extract.Manifest) (func(context.Context) error, error) {
	ls, ok := loader.(load.Leaser)
	if !ok {
		return func(context.Context) error { return nil }, nil
	}
	release, err := ls.Lease(ctx, load.RunScope{RunID: o.runID, Shard: o.shard, Shards: o.shards, Functions: m.Functions(), StartSpans: m.StartSpans()})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return release, nil
}

// readArchive asks the destinations what they hold: the executions to skip
// (unless --force) and the events already archived. It returns the files
// the destinations left out for not being Parquet (load.Archived's
// Unreadable).
func readArchive(ctx context.Context, loader load.Loader, o runOptions, cfg *pipeline.Config, logger *slog.Logger) ([]string, error) {
	ar, ok := loader.(load.ArchivedReader)
	if !ok {
		return nil, nil
	}
	archived, err := ar.Archived(ctx, o.runID)
	if err != nil {
		return nil, usageError("%v", err)
	}
	// Events are immutable: --force rewrites none but those archived
	// without payloads, those with members the SDK does not know and
	// those with values in columns added since the first contract;
	// --rewrite-events, every one, each destination leaving out those it
	// holds (the mend for events lost).
	cfg.ArchivedEvents, cfg.RewriteLacking, cfg.RewriteEvents = archived.Events, o.force, o.rewriteEvents
	if !o.force {
		cfg.Skip, cfg.SkipUnchanged = archived.Skip, true
		if af, ok := loader.(load.AloneFiller); ok {
			af.FillAlone()
		}
	}
	logger.Info("read what is archived", "executions_known", archived.Len())
	if o.force {
		return archived.Unreadable, nil
	}
	if archived.Alone > 0 {
		logger.Info("a destination lacks executions another holds done (added since, restored from an older backup, or left behind by a killed run): they are archived into the destinations that lack them alone",
			"executions", archived.Alone)
	}
	if n := archived.Ahead - archived.Twice; n > 0 {
		logger.Info("a destination lacks events of executions another holds still running: they are read again for every destination, each given only the events it lacks, and their snapshot unless it holds it",
			"executions", n)
	}
	if archived.Twice > 0 {
		logger.Warn("a destination lacks events of executions one destination holds without their payloads: should the service give the payloads now, every destination gets their events again, which the _latest views and etl compact drop in Parquet (to fill that destination alone, run once with it as the only --dest)",
			"executions", archived.Twice)
	}
	return archived.Unreadable, nil
}

// finishRun logs, prints and writes what the run did, and picks the exit.
func finishRun(w io.Writer, o runOptions, logger *slog.Logger, sum *pipeline.Summary, runErr error) error {
	logger.Info("run finished", "executions_ok", sum.ExecutionsOK, "executions_failed", sum.ExecutionsFailed,
		"pages", sum.Pages, "operations", sum.Operations, "events", sum.Events, "events_new", sum.EventsNew, "rows_written", sum.RowsWritten,
		"files_written", sum.FilesWritten, "bytes_written", sum.BytesWritten, "duration_ms", sum.DurationMS, "ops_per_sec", int64(sum.OperationsPerSec),
		"large_history_waits", sum.LargeHistoryWaits)
	// The files first: should standard output be gone (a closed pipe, a
	// full disk), only the summary is lost.
	if o.metricsFile != "" {
		if err := writeMetrics(o.metricsFile, sum, runErr); err != nil {
			logger.Error("metrics file not written", "path", o.metricsFile, "error", err)
		}
	}
	var reportErr error
	if o.report != "" {
		reportErr = writeReport(o.report, sum, runErr)
	}
	printSummary(w, sum, o.dests, runErr)
	if reportErr != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("--report %s: %w", o.report, reportErr)}
	}
	var creds *pipeline.CredentialsError
	left := notListed(reportedFunctions(sum.Functions))
	switch {
	case errors.As(runErr, &creds) && sum.ExecutionsOK == 0 && sum.RowsWritten == 0:
		// Refused at the first calls: bad configuration, and nothing
		// written.
		return &exitError{code: exitUsage, err: runErr}
	case runErr != nil:
		return &exitError{code: exitFailed, err: runErr}
	case sum.Interrupted:
		return &exitError{code: exitFailed, err: errors.New("interrupted: rerun to archive the rest")}
	case sum.ExecutionsFailed > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d executions failed (see the log or --report)%s", sum.ExecutionsFailed, sum.Executions, deniedHint(sum.Failures))}
	case left != "":
		return &exitError{code: exitFailed, err: errors.New(left + " (rerun to archive them)")}
	case len(sum.UnreadableFiles) > 0:
		return &exitError{code: exitFailed, err: errors.New(notParquetLine(sum.UnreadableFiles, "what they held was archived again where the service still has it"))}
	}
	return nil
}

// notParquetLine is the last line of a command that found files in the
// archive that are not Parquet etl can read: which, what became of what
// they held (held), and what to do, which no rerun does for the user.
func notParquetLine(files []string, held string) string {
	what := "it"
	if len(files) > 1 {
		what = "them"
	}
	return fmt.Sprintf("%d files in the archive are not Parquet etl can read (%s): a file etl did not write, or a damaged one, which Athena cannot read either; %s: move %s out of the archive",
		len(files), someOf(files, 3, ", "), held, what)
}

// reportedFunctions are the functions of a run's report as discovery
// knew them, for what it tells of them.
func reportedFunctions(rs []pipeline.FunctionReport) []discovery.Function {
	fns := make([]discovery.Function, len(rs))
	for i, r := range rs {
		fns[i] = discovery.Function{Name: r.Function, Unlisted: r.QualifiersUnlisted, ListingFailed: r.ListingFailed}
	}
	return fns
}

func openManifest(ctx context.Context, c *cli.Context, s3c *s3Clients, opts []extract.ManifestOption) (*extract.Manifest, error) {
	path, arn, token := c.String("manifest"), c.String("execution"), c.String("checkpoint-token")
	switch {
	case path != "" && arn != "":
		return nil, usageError("--manifest and --execution exclude each other")
	case (path != "" || arn != "") && (len(c.StringSlice("function")) > 0 || c.Bool("all-functions")):
		return nil, usageError("--function and --all-functions exclude --manifest and --execution")
	case path != "":
		return manifestAt(ctx, path, s3c, opts...)
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

// manifestAt opens the manifest at path: a file, "-" (standard input) or
// s3://BUCKET/KEY. The error is a usage error naming it.
func manifestAt(ctx context.Context, path string, s3c *s3Clients, opts ...extract.ManifestOption) (*extract.Manifest, error) {
	if !strings.HasPrefix(path, "s3://") {
		m, err := extract.OpenManifest(path, opts...)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return m, nil
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(path, "s3://"), "/")
	client, err := s3c.forBucket(ctx, bucket)
	if err != nil {
		return nil, usageError("--manifest %s: %v", path, err)
	}
	m, err := extract.OpenS3Manifest(ctx, client, path, opts...)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return m, nil
}

// logFlags are the flags of every command that logs (run, verify,
// compact): the log lines' format and level.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Usage: "text or json", EnvVars: env("log-format"), Value: "text"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", EnvVars: env("log-level"), Value: "info"},
	}
}

// loggerFromFlags is the command's logger on its stderr, as logFlags say;
// a bad value is a usage error. A JSON logger is also kept in the app's
// metadata, so that what the command says on stderr outside its log (its
// final error, an interrupt) is a JSON record too: see say.
func loggerFromFlags(c *cli.Context) (*slog.Logger, error) {
	l, err := newLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
	if err == nil && c.String("log-format") == "json" {
		if c.App.Metadata == nil {
			c.App.Metadata = map[string]any{}
		}
		c.App.Metadata[jsonLogKey] = l
	}
	return l, err
}

// jsonLogKey holds, in cli.App.Metadata, the command's logger under
// --log-format json.
const jsonLogKey = "json-logger"

// jsonLogger is the command's logger under --log-format json, else nil.
func jsonLogger(app *cli.App) *slog.Logger {
	l, _ := app.Metadata[jsonLogKey].(*slog.Logger)
	return l
}

// say writes a line for the operator on the command's stderr: prefix and
// msg as text, or, under --log-format json, a record of level whose
// message is msg, so that every line there parses as JSON.
func say(c *cli.Context, level slog.Level, prefix, msg string) {
	if l := jsonLogger(c.App); l != nil {
		l.Log(c.Context, level, msg)
		return
	}
	fmt.Fprintln(c.App.ErrWriter, prefix+msg)
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
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
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

// checkTempDir tells, before anything is fetched, a temporary folder
// that cannot be written: a command's scratch files (staged and spilled
// rows, discovery's list, a manifest read from S3 or standard input) go
// there, and a container whose root file system is read-only has none
// unless a volume is mounted there or TMPDIR points at one. Found later,
// it stopped the run once discovery began (exit 1).
func checkTempDir() error {
	dir := os.TempDir()
	f, err := scratch.Create(dir, ".etl-probe-*")
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return usageError("the temporary folder %s cannot be written (%v): point TMPDIR at a writable folder", dir, err)
	}
	return f.Close()
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
	return writeJSONAtomic(path, report)
}

// writeJSONAtomic writes v to path as indented JSON, whole or not at all
// (spool.WriteFile), streamed (jsonstream): a report naming hundreds of
// thousands of executions is not held whole, nor twice.
func writeJSONAtomic(path string, v any) error {
	return spool.WriteFile(path, func(w io.Writer) error { return jsonstream.Write(w, v) })
}

// tablesOnly says whether every destination is a database (no files to
// count).
func tablesOnly(dests []string) bool {
	for _, raw := range dests {
		if d, err := load.ParseDest(raw); err != nil || d.Kind != load.DestPostgres {
			return false
		}
	}
	return len(dests) > 0
}

// printSummary writes the run's summary for people. After a destination
// failed, the executions read are not all archived (a Parquet destination
// publishes most files at the end), so it says "read", not "archived", and
// how to finish.
func printSummary(w io.Writer, s *pipeline.Summary, dests []string, runErr error) {
	done := "archived"
	var dest *pipeline.DestinationError
	if errors.As(runErr, &dest) {
		done = "read but not all archived (a destination failed: rerun with --run-id " + s.RunID + " to finish)"
	}
	fmt.Fprintf(w, "run %s: %d executions %s, %d failed", s.RunID, s.ExecutionsOK, done, s.ExecutionsFailed)
	if s.TokensRefused > 0 {
		fmt.Fprintf(w, ", %d refused tokens read through history", s.TokensRefused)
	}
	if s.WithoutPayloads > 0 {
		fmt.Fprintf(w, ", %d without payloads (the service could not decrypt them)", s.WithoutPayloads)
	}
	if s.PayloadsRecovered > 0 {
		fmt.Fprintf(w, ", %d archived again with the payloads an earlier run could not decrypt", s.PayloadsRecovered)
	}
	if s.StillWithoutPayloads > 0 {
		fmt.Fprintf(w, ", %d still without payloads (tried again: the service still could not give them)", s.StillWithoutPayloads)
	}
	if n := s.SkippedTerminal + s.SkippedResumed + s.SkippedUnchanged; n > 0 {
		fmt.Fprintf(w, ", %d skipped (%d terminal, %d already archived by this run, %d running and unchanged)", n, s.SkippedTerminal, s.SkippedResumed, s.SkippedUnchanged)
	}
	if s.DuplicatesSkipped > 0 {
		fmt.Fprintf(w, ", %d duplicate manifest entries skipped", s.DuplicatesSkipped)
	}
	fmt.Fprintf(w, "\n  %d pages, %d operations in %s (%.0f operations/s)\n", s.Pages, s.Operations, s.Duration.Round(time.Millisecond), s.OperationsPerSec)
	if tablesOnly(dests) {
		fmt.Fprintf(w, "  %d rows into %s\n", s.RowsWritten, strings.Join(redactedDests(dests), ", "))
	} else {
		fmt.Fprintf(w, "  %d rows in %d files, %s, under %s\n", s.RowsWritten, s.FilesWritten, humanBytes(s.BytesWritten), strings.Join(redactedDests(dests), ", "))
	}
	if s.APIRetries > 0 {
		// Throttling or faults the SDK rode out: each costs a backoff, and
		// many mean the account's limits are near (--rate-limit paces the
		// run; --concurrency lowers it).
		fmt.Fprintf(w, "  %d API retries over %d calls (throttled or failed for a moment: --rate-limit or a lower --concurrency spares the account's limits)\n", s.APIRetries, s.APICalls)
	}
	if s.TriedAgain > 0 {
		fmt.Fprintf(w, "  %d executions tried once more at the end after the API failed them for a passing reason (throttled, a 5xx, no answer)\n", s.TriedAgain)
	}
	if s.DestinationRetries > 0 {
		fmt.Fprintf(w, "  %d times an execution was archived again from the start after a destination failed for a moment (a database restarting, a connection lost)\n", s.DestinationRetries)
	}
	if s.LargeHistoryWaits > 0 {
		fmt.Fprintf(w, "  %d large histories waited for memory before folding on (--memory-limit)\n", s.LargeHistoryWaits)
	}
	for _, f := range reportedFunctions(s.Functions) {
		if f.Unlisted != "" {
			fmt.Fprintln(w, "  warning: "+unlistedWarning(f))
		}
		if f.ListingFailed != "" {
			fmt.Fprintf(w, "  not listed, left out: %s\n", f.ListingFailed)
		}
	}
	for i, f := range s.UnreadableFiles {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more files not Parquet\n", len(s.UnreadableFiles)-10)
			break
		}
		fmt.Fprintf(w, "  not Parquet etl can read, left out (move it out of the archive): %s\n", f)
	}
	for i, f := range s.Failures {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more failures (%s)\n", len(s.Failures)-10, failuresByCode(s.Failures))
			break
		}
		fmt.Fprintf(w, "  failed: %s: %s\n", f.ExecutionArn, f.Reason)
	}
}

// deniedHint points at the IAM policy etl needs when some of fs were
// denied by policy (AccessDeniedException), else "".
func deniedHint(fs []pipeline.Failure) string {
	n := 0
	for _, f := range fs {
		if f.Code == "AccessDeniedException" {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d denied by the credentials' IAM policy: docs/deploy/iam-policy.json lists the actions etl needs", n)
}

// failuresByCode counts fs by code, the most common first: "980
// AccessDeniedException, 20 ResourceNotFoundException".
func failuresByCode(fs []pipeline.Failure) string {
	n := map[string]int{}
	for _, f := range fs {
		n[f.Code]++
	}
	codes := slices.Collect(maps.Keys(n))
	slices.SortFunc(codes, func(a, b string) int { return cmp.Or(n[b]-n[a], strings.Compare(a, b)) })
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d %s", n[c], c)
	}
	return "in all: " + strings.Join(parts, ", ")
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

// reachable checks, before any request, that the Lambda endpoint of the
// client's options can be reached the way the client's calls reach it:
// the endpoint as the SDK resolves it (--endpoint-url,
// AWS_ENDPOINT_URL_LAMBDA or AWS_ENDPOINT_URL, a profile's endpoint_url,
// else the region's, FIPS or dual-stack when so configured), through the
// proxy the client's transport picks for it (HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY), whose TCP connection is then what is checked (a network that
// lets only its proxy out refused every run before), else with a TLS
// handshake for https under the client's TLS settings (AWS_CA_BUNDLE): a
// certificate the client would refuse on every call is named here, once,
// not as each execution's failure after its retries.
func reachable(ctx context.Context, o lambda.Options) error {
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, lambda.EndpointParameters{
		Region: aws.String(o.Region), Endpoint: o.BaseEndpoint,
		UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
	})
	if err != nil {
		return fmt.Errorf("the Lambda endpoint: %v", err)
	}
	u := ep.URI
	endpoint := u.Redacted() // a password in the URL stays out of the message
	if u.Host == "" {
		return fmt.Errorf("endpoint %q: not a URL", endpoint)
	}
	var tr *http.Transport // the client's, when it tells (the SDK's buildable client does)
	if b, ok := o.HTTPClient.(interface{ GetTransport() *http.Transport }); ok {
		tr = b.GetTransport()
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if tr != nil && tr.Proxy != nil {
		if proxy, err := tr.Proxy(&http.Request{URL: &u}); err == nil && proxy != nil {
			conn, err := d.DialContext(ctx, "tcp", hostPort(proxy))
			if err != nil {
				return fmt.Errorf("proxy %s, through which endpoint %s is reached, is unreachable: %v", proxy.Redacted(), endpoint, err)
			}
			return conn.Close()
		}
	}
	if u.Scheme != "https" {
		conn, err := d.DialContext(ctx, "tcp", hostPort(&u))
		if err != nil {
			return fmt.Errorf("endpoint %s is unreachable: %v", endpoint, err)
		}
		return conn.Close()
	}
	cfg := &tls.Config{}
	if tr != nil && tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.ServerName = u.Hostname()
	conn, err := (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", hostPort(&u))
	var untrusted *tls.CertificateVerificationError
	switch {
	case errors.As(err, &untrusted):
		return fmt.Errorf("endpoint %s: its TLS certificate is not trusted (%v): on a network whose proxy inspects TLS, set AWS_CA_BUNDLE to the proxy's CA bundle", endpoint, untrusted.Err)
	case err != nil:
		return fmt.Errorf("endpoint %s is unreachable: %v", endpoint, err)
	}
	return conn.Close()
}

// hostPort is u's host and port, the scheme's port when u names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// memoryLimitFlag is --memory-limit, of the commands whose memory follows
// the data they read (run, verify, compact).
func memoryLimitFlag() cli.Flag {
	return &cli.StringFlag{Name: "memory-limit", Usage: "soft memory `SIZE` for the Go runtime, which collects more often near it (it never fails a run); 0 turns it off; GOMEMLIMIT, when set, wins", EnvVars: env("memory-limit"), Value: "192MiB"}
}

// memoryLimit is --memory-limit in bytes: 0 when it is 0, or when
// GOMEMLIMIT is set (the runtime applies that one itself).
func memoryLimit(c *cli.Context) (int64, error) {
	ml := c.String("memory-limit")
	if ml == "0" || os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	n, err := parseSize(ml)
	if err != nil {
		return 0, usageError("--memory-limit: %v", err)
	}
	return n, nil
}

// destList is --dest: repeatable, each value one destination exactly as
// given. urfave/cli's StringSliceFlag splits values on commas, which cut a
// multi-host postgres:// URL (host1,host2) or a path with a comma in two
// destinations, one of them a relative path. The first value given
// replaces the default.
type destList struct {
	values []string
	given  bool
}

func (d *destList) Set(v string) error {
	if !d.given {
		d.values, d.given = nil, true
	}
	d.values = append(d.values, v)
	return nil
}

func (d *destList) String() string { return strings.Join(d.values, " ") }

// expiryText says, for the run's log, when an execution's history goes:
// "history expires soon", or, once the date (reckoned from its end and its
// retention: see discovery.Watch.AtRisk) is past, that the service may delete it any time
// (verify's lines say the same, with the date: atRiskLines).
func expiryText(at, now time.Time) string {
	if at.Before(now) {
		return "history was due to expire (the service may delete it any time)"
	}
	return "history expires soon"
}
