package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/spool"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/verify"
)

func verifyCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "dest", Usage: "the archive to verify: a `DIR`, file:///abs/path, s3://BUCKET/PREFIX or postgres://...", EnvVars: env("dest"), Value: "./archive"},
		&cli.StringFlag{Name: "manifest", Usage: "verify the executions of this manifest: `FILE`, - for standard input, or s3://BUCKET/KEY (instead of --function / --all-functions; with none of them, the archive's own executions are verified)", EnvVars: env("manifest")},
		&cli.IntFlag{Name: "sample", Usage: "re-read this many archived executions from the API and compare their content row by row", EnvVars: env("sample"), Value: 300},
		&cli.BoolFlag{Name: "all", Usage: "compare the content of every archived execution (instead of --sample)", EnvVars: env("all")},
		&cli.Uint64Flag{Name: "seed", Usage: "the sample's seed (default: from the clock; the report names it)", EnvVars: env("seed")},
		&cli.StringFlag{Name: "report", Usage: "write the verification as JSON to `FILE`", EnvVars: env("report")},
		&cli.StringFlag{Name: "metrics-file", Usage: "write durable_etl_verify_* metrics in Prometheus text format to `FILE`", EnvVars: env("metrics-file")},
		&cli.StringFlag{Name: "mend-manifest", Usage: "write a manifest (JSON Lines) of the executions a run can mend to `FILE`: those missing, differing, whose content differs, that lack members or columns, and those inconsistent that the service still has; then etl run --force --rewrite-events --manifest FILE (stale ones need no manifest: the next run archives them)", EnvVars: env("mend-manifest")},
		&cli.StringFlag{Name: "retention-warning", Usage: "name executions whose history the service deletes within this `DURATION` and that are not verified complete", EnvVars: env("retention-warning"), Value: "7d"},
		&cli.IntFlag{Name: "concurrency", Usage: "executions checked at once", EnvVars: env("concurrency"), Value: 8},
		&cli.DurationFlag{Name: "progress-interval", Usage: "when stderr is not a terminal, log a progress line this often (on a terminal, a progress bar)", EnvVars: env("progress-interval"), Value: 30 * time.Second},
		&cli.Float64Flag{Name: "rate-limit", Usage: "API calls per second, retries included; 0 for none", EnvVars: env("rate-limit")},
		&cli.StringFlag{Name: "endpoint-url", Usage: "the Lambda API endpoint `URL`", EnvVars: env("endpoint-url")},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION`", EnvVars: env("region")},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`", EnvVars: env("profile")},
		&cli.DurationFlag{Name: "request-timeout", Usage: "timeout of one API request attempt", EnvVars: env("request-timeout"), Value: 60 * time.Second},
		&cli.IntFlag{Name: "max-attempts", Usage: "attempts per API call, retries included", EnvVars: env("max-attempts"), Value: 5},
		&cli.StringFlag{Name: "pg-schema", Usage: "the Postgres `SCHEMA` of the tables", EnvVars: env("pg-schema"), Value: schema.DefaultPostgresSchema},
		memoryLimitFlag(),
		hugePagesFlag(),
	}, logFlags()...)
	flags = append(flags, discoveryFlags()...)
	flags = append(flags, s3Flags()...)
	return &cli.Command{
		Name:   "verify",
		Before: summaryOnly,
		Usage:  "prove the archive holds what the API says, before the service forgets it",
		Description: `Completeness: every execution the API lists (--function, --all-functions) or
the manifest names is in the archive, archived in a terminal state once the
API says it ended, with the API's status and end time. Content: for --sample N
(or --all) archived executions, re-reads each from the API by the source it
was archived with and compares every operation and event and the executions
row, naming the first difference (one archived through state with --history
and no token, or one the API refuses: by its history alone, not its
operations); an execution whose rows lack only members
the API now sends that etl's SDK does not know (archived before etl kept
them), or only columns added since it was archived, is named apart, and
etl run --force archives it again. With neither --function, --all-functions
nor --manifest, the archive's own executions are checked so; only one whose
operations or events remain without its executions row (a file deleted or
lost) can be found missing, and those archived as ended longer ago than the
service keeps any history are counted, not asked of the API (the service
has forgotten them). Those, and those the API says it no longer has, are
checked against their own executions rows instead (a share of --sample as
large as theirs, or --all), as are those drawn for the sample that cannot
be compared (still running or paused, or archived through state with no
token): their operations and events must be as many as the row counts, and
the operations must give its content_hash (Postgres: the counts, and the
hash where its stored form can give it); what disagrees is named
inconsistent. Exit 0 when everything agrees, 1 when something is missing
or differs, 2 for usage.

Example (the nightly job):
  etl run --all-functions --dest s3://my-archive/durable && etl verify --all-functions --dest s3://my-archive/durable`,
		Flags:  flags,
		Action: verifyAction,
	}
}

func verifyAction(c *cli.Context) error {
	start := time.Now()
	logger, err := loggerFromFlags(c) // first, as run's
	if err != nil {
		return err
	}
	warn, err := checkVerifyFlags(c)
	if err != nil {
		return err
	}
	ml, _ := memoryLimit(c) // checked above
	limitMemory(ml, verifyGCPercent, c.Bool("huge-pages"), logger)
	disc, _ := parseDiscovery(c, start) // checked above
	ctx, stop := signalContext(c)
	defer stop()
	s3c := &s3Clients{c: c, logger: logger} // the destination's and the manifest's
	reader, closeReader, err := openSnapshotReader(ctx, c, s3c, logger)
	if err != nil {
		return err
	}
	defer closeReader()
	var calls extract.CallStats
	client, err := clientFromFlags(ctx, c, logger, &calls)
	if err != nil {
		return err
	}
	exp, retention, err := expectedExecutions(ctx, client, reader, c, disc, s3c, logger)
	if err != nil {
		return err
	}
	defer exp.close()
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(start.UnixNano())
	}
	progress := &pipeline.Progress{}
	stopProgress := showProgress(ctx, c.App.ErrWriter, logger, progress, &calls, exp.Len(), c.Duration("progress-interval"), "verifying")
	ctx, refused := context.WithCancelCause(ctx)
	defer refused(nil)
	opts := verify.Options{Sample: c.Int("sample"), All: c.Bool("all"), Seed: seed, Concurrency: c.Int("concurrency"), Progress: progress,
		RetryFailedAfter: disc.RetryFailedAfter, Logger: logger, AtRisk: func(exp []verify.Execution, rep *verify.Report, archived map[string]load.ExecutionState) []verify.AtRisk {
			return atRiskOf(exp, rep, archived, retention, start, warn)
		}}
	if exp.from() == "archive" {
		opts.PastRetention = func(st load.ExecutionState) bool { return pastRetention(st, start) }
		// Those whose executions row was lost: few, each asked. (A
		// manifest's missing ones are not: it may name a million the
		// archive lacks, and a run fails one the service does not know.)
		opts.MissingForgotten = "no executions row in the archive, only operations or events, and the service has forgotten it"
	}
	rep, err := verify.InRounds(ctx, verify.NewCallGuard(client, refused, c.Int("concurrency")), reader, exp, opts)
	stopProgress()
	if rep != nil {
		rep.ListedFrom = exp.from()
	}
	if told, ok := extract.RefusedCredentials(context.Cause(ctx)); ok {
		return credentialsRefused(c, rep, told, start)
	}
	var gone *verify.UnreachableError
	if errors.As(context.Cause(ctx), &gone) {
		again := "once it is reachable"
		if gone.Unanswered() {
			again = "once it answers"
		}
		return stoppedEarly(c, rep, &exitError{code: exitFailed, err: fmt.Errorf("%w; verify stopped: verify again %s", gone, again)}, start)
	}
	if err == nil {
		err = exp.err() // a report from an unreadable list would be wrong
	}
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if u, ok := reader.(interface{ Unreadable() []string }); ok {
		rep.UnreadableFiles = u.Unreadable()
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	rep.APICalls, rep.APIRetries = calls.Calls.Load(), calls.Attempts.Load()-calls.Calls.Load()
	if nl := exp.notListed(); nl != nil {
		rep.FunctionsNotListed = nl
	}
	if err := writeVerifyOutputs(c, rep); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &exitError{code: exitFailed, err: errors.New("interrupted")}
	}
	return verifyExit(rep)
}

// pastRetention reports an archived execution whose history the service
// has deleted by now: archived in a terminal state, its history expired
// (discovery.HistoryExpires: its own retention as archived, else the longest the
// service keeps any, discovery.MaxRetentionDays) a day ago or more (the deletion is
// not to the minute). Verify of the archive alone does not ask the API
// for such.
func pastRetention(st load.ExecutionState, now time.Time) bool {
	if st.Status == nil || !load.Terminal(*st.Status) || st.EndTime == nil {
		return false
	}
	var own int32
	if st.RetentionDays != nil {
		own = *st.RetentionDays
	}
	return now.After(discovery.HistoryExpires(*st.EndTime, own, discovery.MaxRetentionDays, false, now).Add(24 * time.Hour))
}

// verifyExit is a finished verify's exit: nil when the archive is proven, else
// exit 1 with what stands in the way, first what verifying again does not
// mend.
func verifyExit(r *verify.Report) error {
	switch {
	case len(r.UnreadableFiles) > 0:
		return &exitError{code: exitFailed, err: errors.New(notParquetLine(r.UnreadableFiles, "what they held counts as missing or not checked"))}
	case r.Differs():
		return &exitError{code: exitFailed, err: errors.New(r.Verdict())}
	case !r.OK():
		return &exitError{code: exitFailed, err: fmt.Errorf("the executions of %d functions could not be listed: the archive is not proven for them (see above or --report)", len(r.FunctionsNotListed))}
	}
	return nil
}

// credentialsRefused ends a verify that the API stopped answering for
// its credentials (told): the report so far, when there is one, then
// exit 1, or 2 when nothing was verified (refused at the first calls).
func credentialsRefused(c *cli.Context, rep *verify.Report, told string, start time.Time) error {
	err := &exitError{code: exitUsage, err: errors.New(told + "; verify stopped: renew them and verify again")}
	if rep != nil && rep.Complete+rep.Sampled > 0 {
		err.code = exitFailed
	}
	return stoppedEarly(c, rep, err, start)
}

// stoppedEarly writes the report of a verify stopped before its end (rep,
// nil if none was made) and returns err.
func stoppedEarly(c *cli.Context, rep *verify.Report, err *exitError, start time.Time) error {
	if rep == nil {
		return err
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	if werr := writeVerifyOutputs(c, rep); werr != nil {
		return werr
	}
	return err
}

// verifyGCPercent is verify's GOGC while --memory-limit holds its heap
// (GOGC, when set, wins; with --memory-limit 0 the runtime's default
// stays). Verify's rows, archived and re-read, live only until their
// execution is compared, so a collector running half as often frees as
// much with half the work, and the limit, not the pacing, bounds memory.
// BenchmarkVerify (2,000 executions of 250 operations): 0.45-0.46 of the
// drain-only rate at GOGC 100, 0.53-0.54 at 200, peak RSS 167-182 MiB and
// 203-206 MiB (at 400: 0.50-0.54, 210-217 MiB).
const verifyGCPercent = 200

// runGCPercent is etl run's GOGC under --memory-limit, for the same
// reason: a run's rows live only until they are written. A small gain,
// measured back to back on 2026-12-01 (docs/BENCHMARKS.md): the binary
// against the SDK's drain 0.56-0.59 -> 0.58-0.59 at 1 day, unchanged at
// 730 days; peak RSS within 12 MiB of GOGC 100's, every RSS benchmark
// under its target as before.
const runGCPercent = 200

// limitMemory sets the runtime's soft memory limit (none for 0) and,
// under it, the collector's GOGC to gcPercent unless the environment sets
// GOGC: with the limit bounding the heap, a collector that runs less often
// frees as much with less work. With hugePages (--huge-pages), it first
// asks for transparent huge pages for the heap up to the limit
// (hugeHeap; GOMEMLIMIT's when that one is set, 192 MiB without a
// limit, 1 GiB at most), once a process;
// where that fails, the run goes on without them and logger says so at
// debug level.
func limitMemory(limit int64, gcPercent int, hugePages bool, logger *slog.Logger) {
	if hugePages {
		hugeHeapOnce.Do(func() {
			if _, _, err := hugeHeap(hugeHeapSize(limit)); err != nil {
				logger.Debug("the heap goes without transparent huge pages", "reason", err)
			}
		})
	}
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// checkVerifyFlags returns every usage error of etl verify before anything
// is opened, and the retention warning.
func checkVerifyFlags(c *cli.Context) (time.Duration, error) {
	if c.Args().Present() {
		return 0, usageError("verify: unexpected argument %q", c.Args().First())
	}
	disc, err := parseDiscovery(c, time.Now())
	if err != nil {
		return 0, err
	}
	if disc.Enabled() && c.String("manifest") != "" {
		return 0, usageError("verify: give --function/--all-functions or --manifest, not both")
	}
	warn, err := parseDays(c.String("retention-warning"))
	if err != nil {
		return 0, usageError("--retention-warning: %v", err)
	}
	if _, err := memoryLimit(c); err != nil {
		return 0, err
	}
	if c.Int("sample") < 0 || c.Int("concurrency") < 1 {
		return 0, usageError("--sample must not be negative and --concurrency at least 1")
	}
	for _, f := range []string{"report", "metrics-file", "mend-manifest"} {
		if p := c.String(f); p != "" {
			if err := checkWritableFile(p); err != nil {
				return 0, usageError("--%s %s: %v", f, p, err)
			}
		}
	}
	return warn, checkTempDir()
}

// clientFromFlags builds the Lambda client from the region, profile,
// endpoint, timeout, attempts and rate-limit flags a command has (verify,
// discover), and checks that the endpoint takes a connection: an
// unreachable one is a usage error at once, as for etl run, not a listing
// that fails after its retries.
func clientFromFlags(ctx context.Context, c *cli.Context, logger *slog.Logger, calls *extract.CallStats) (extract.Regional, error) {
	opts := []extract.ClientOption{extract.WithRequestTimeout(c.Duration("request-timeout")), extract.WithMaxAttempts(c.Int("max-attempts")),
		extract.WithConnections(2 * c.Int("concurrency")), extract.WithLogger(logger), extract.WithCallStats(calls)}
	if r := c.Float64("rate-limit"); r > 0 {
		opts = append(opts, extract.WithRateLimit(rate.NewLimiter(rate.Limit(r), 1)))
	}
	for _, o := range []struct {
		flag string
		opt  func(string) extract.ClientOption
	}{{"region", extract.WithRegion}, {"profile", extract.WithProfile}, {"endpoint-url", extract.WithEndpointURL}} {
		if v := c.String(o.flag); v != "" {
			opts = append(opts, o.opt(v))
		}
	}
	client, err := extract.NewClient(ctx, opts...)
	if err != nil {
		return extract.Regional{}, usageError("%v", err)
	}
	if err := reachable(ctx, client.Options()); err != nil {
		return extract.Regional{}, usageError("%v", err)
	}
	return extract.Regional{Client: client}, nil // an execution's calls go to its ARN's region
}

// expectedExecutions are what verify checks: the discovered executions (with
// their functions' retention), the manifest's, or, with neither, the
// archive's own.
func expectedExecutions(ctx context.Context, client extract.Regional, reader archive, c *cli.Context, disc discovery.Config, s3c *s3Clients, logger *slog.Logger) (listing, map[string]int32, error) {
	retention := map[string]int32{}
	if !disc.Enabled() && c.String("manifest") == "" {
		l, err := archivedListing(ctx, reader, c.String("dest"), logger)
		return l, retention, err
	}
	if disc.Enabled() {
		found, fns, err := discover(ctx, client, disc, logger.Info)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range fns {
			retention[f.Name] = f.RetentionDays
		}
		warnFunctions(logger, fns)
		return foundListing{found: found, fns: fns}, retention, nil
	}
	m, err := manifestAt(ctx, c.String("manifest"), s3c)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	l, err := listManifest(ctx, m, reader)
	return l, retention, err
}

// listManifest lists a manifest's executions as discovery's list is kept
// (discovery.List: about 65 bytes an execution, the ARNs in a temporary
// file; a manifest of an account's executions holds millions), with the
// tokens of those that carry one (a manifest for state) in memory, in
// order of the start each gives (StartTimestamp, as etl discover writes
// it), so that a round reads its own start dates only. Those without one
// take the dates the archive holds them under (archivedDates), the
// earliest as their start and the latest as their end; the rest come
// last, read with every date. A bad line is a usage error, as for a run.
func listManifest(ctx context.Context, m *extract.Manifest, dl load.DatedLister) (listing, error) {
	found, err := discovery.NewList()
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	tokens := map[string]string{}
	undated := 0
	for m.Next() {
		e := m.Entry()
		f := extract.Found{ARN: e.ARN}
		if !e.Started.IsZero() {
			f.Start = &e.Started
		} else {
			undated++
		}
		if found.Add(f, 0) != nil {
			break // kept: Seal returns it
		}
		if e.Token != "" {
			tokens[e.ARN] = e.Token
		}
	}
	if err := m.Err(); err != nil {
		found.Close()
		return nil, usageError("%v", err)
	}
	if err := found.Seal(nil); err != nil {
		found.Close()
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("list the manifest's executions: %w", err)}
	}
	if undated > 0 {
		if err := archivedDates(ctx, dl, found); err != nil {
			found.Close()
			return nil, &exitError{code: exitFailed, err: fmt.Errorf("list the archive's executions: %w", err)}
		}
	}
	return listed{found: found, tokens: tokens, source: "manifest"}, nil
}

// archivedDates gives the executions of found that have no start the
// dates the archive holds them under (the earliest as the start, the
// latest as the end; 8 bytes an execution while it reads) and puts found
// in order of start again.
func archivedDates(ctx context.Context, dl load.DatedLister, found *discovery.List) error {
	const none, given = math.MaxInt32, math.MinInt32                      // no date yet; a start the manifest gave
	first, last := make([]int32, found.Len()), make([]int32, found.Len()) // days since the epoch
	for i := range first {
		first[i], last[i] = none, -none
		if found.Start(i) != nil {
			first[i] = given
		}
	}
	dayOf := dateParser()
	err := dl.ListDated(ctx, func(arn, dt string) {
		day, ok := dayOf(dt)
		if !ok {
			return
		}
		if i := found.Find(arn); i >= 0 && first[i] != given {
			d := int32(day.Unix() / 86400)
			first[i], last[i] = min(first[i], d), max(last[i], d)
		}
	})
	if err != nil {
		return err
	}
	if err := found.Err(); err != nil {
		return err
	}
	found.Retime(func(i int) (start, end *time.Time, ok bool) {
		if first[i] == none || first[i] == given {
			return nil, nil, false
		}
		s, e := time.Unix(int64(first[i])*86400, 0).UTC(), time.Unix(int64(last[i])*86400, 0).UTC()
		return &s, &e, true
	})
	return nil
}

// dateParser returns a parser of partition dates (YYYY-MM-DD) that
// remembers the last one: a listing gives a partition's executions one
// after the other.
func dateParser() func(dt string) (time.Time, bool) {
	var lastDT string
	var lastDay time.Time
	var lastOK bool
	return func(dt string) (time.Time, bool) {
		if dt != lastDT { // "" at first: not a date, as it should be
			lastDT = dt
			d, err := time.Parse(time.DateOnly, dt)
			lastDay, lastOK = d, err == nil
		}
		return lastDay, lastOK
	}
}

// listing is a verify.Listing with what the command needs besides: its
// failure to be read back (discovery's list is in a file), after which
// At gives nothing, its cleanup, and the functions whose executions could
// not be listed.
type listing interface {
	verify.Listing
	err() error
	close() error
	notListed() []string
	// from is where the executions come from, as the report's
	// executions_listed_from says: "api", "manifest" or "archive".
	from() string
}

// archivedListing lists the executions the archive at dest holds (every
// snapshot's ARN, each once), for a verify given no --function,
// --all-functions or --manifest: each is checked against the API
// (stale, differing, gone) and the sample compared. Only an execution
// whose operations or events remain without its executions row (a file
// deleted or lost: load.OrphanFinder, where the destination can tell)
// can be found missing, there being no listing of the API's to miss any
// other from. Kept as discovery's list is (discovery.List: about 65 bytes an
// execution, the ARNs in a temporary file), read from the executions
// table's key columns. An archive that holds no execution is a usage
// error (a --dest mistyped would otherwise verify clean).
func archivedListing(ctx context.Context, reader archive, dest string, logger *slog.Logger) (listing, error) {
	start := time.Now()
	found, err := discovery.NewList()
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	// Each under its start date, so that a round reads its own dates'
	// files only: the list is in order of the earliest date an execution
	// is archived under, its latest as its end.
	dayOf := dateParser()
	err = reader.ListDated(ctx, func(arn, dt string) {
		f := extract.Found{ARN: arn}
		if day, ok := dayOf(dt); ok { // else a folder not a date: read with every date
			f.Start, f.End = &day, &day
		}
		_ = found.Add(f, 0) // a failure is kept: Seal returns it
	})
	orphans := 0
	if err == nil {
		// Rows whose executions row is gone (a file deleted or lost):
		// listed, so that they are found missing.
		var arns []string
		arns, err = reader.Orphans(ctx)
		for _, arn := range arns {
			_ = found.Add(extract.Found{ARN: arn}, 0) // a failure is kept: Seal returns it
		}
		orphans = len(arns)
	}
	if err == nil {
		err = found.Seal(nil)
	}
	if err != nil {
		found.Close()
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("list the archive's executions: %w", err)}
	}
	if found.Len() == 0 {
		found.Close()
		return nil, usageError("--dest %s: the archive holds no execution to verify (give --function, --all-functions or --manifest to look for executions it lacks)", redactedDests([]string{dest})[0])
	}
	if orphans > 0 {
		logger.Warn("the archive holds operations or events of executions it has no executions row of (a file deleted or lost?): those the service keeps are found missing (--mend-manifest names them for etl run --force --rewrite-events, which archives them again without a second row of an event held), those it has forgotten inconsistent", "executions", orphans)
	}
	logger.Info("listed the archive's executions: checking them against the API (only those without an executions row can be found missing)", "executions", found.Len(), "without_executions_row", orphans, "duration_ms", time.Since(start).Milliseconds())
	return listed{found: found, source: "archive"}, nil
}

// foundListing is discovery's list of executions.
type foundListing struct {
	found *discovery.List
	fns   []discovery.Function
}

func (f foundListing) from() string { return "api" }

func (f foundListing) Len() int     { return f.found.Len() }
func (f foundListing) err() error   { return f.found.Err() }
func (f foundListing) close() error { return f.found.Close() }

func (f foundListing) notListed() []string { return discovery.ListingFailures(f.fns) }

// Dates: discovery's list is in order of start, those without one last.
func (f foundListing) Dates(lo, hi int) (from, to string, ok bool) {
	return startDates(f.found, lo, hi)
}

// startDates are the start dates of the executions lo to hi of a list in
// order of start (the first's and the last's), not ok when one has none.
func startDates(l *discovery.List, lo, hi int) (from, to string, ok bool) {
	if hi <= lo {
		return "", "", false
	}
	a, b := l.Start(lo), l.Start(hi-1)
	if a == nil || b == nil {
		return "", "", false
	}
	return a.Format(time.DateOnly), b.Format(time.DateOnly), true
}

func (f foundListing) At(i int) verify.Execution {
	e := verify.Execution{ARN: f.found.ARN(i), Function: f.fns[f.found.Function(i)].Name, Deleting: f.found.Status(i) == types.ExecutionStatusDeleting}
	if end := f.found.End(i); end != nil {
		e.End = end.UnixMilli()
	}
	return e
}

// listed is a manifest's executions (listManifest) or the archive's own
// (archivedListing), each ARN once. Each holds the start date it was
// listed with, the earliest it is archived under when the archive gave
// it, and then the latest as its end, so that a round reads the dates
// from its first execution's start to the latest of their ends
// (spanDates); those with none (not archived, an orphan, a folder not a
// date) come last, read with every date.
type listed struct {
	found  *discovery.List
	tokens map[string]string // a manifest's ARNs that came with a checkpoint token
	source string            // from's
}

func (l listed) from() string        { return l.source }
func (l listed) Len() int            { return l.found.Len() }
func (l listed) err() error          { return l.found.Err() }
func (l listed) close() error        { return l.found.Close() }
func (l listed) notListed() []string { return nil }

func (l listed) At(i int) verify.Execution {
	arn := l.found.ARN(i)
	return verify.Execution{ARN: arn, Token: l.tokens[arn]}
}

func (l listed) Dates(lo, hi int) (from, to string, ok bool) {
	return spanDates(l.found, lo, hi)
}

// spanDates are the dates that hold the executions lo to hi of a list in
// order of start whose ends, where set, are the latest date each is
// archived under (the archive's own listing, a manifest's dated by the
// archive): from the first's start to the latest of their ends and
// starts; not ok when one has no start.
func spanDates(l *discovery.List, lo, hi int) (from, to string, ok bool) {
	from, to, ok = startDates(l, lo, hi)
	if !ok {
		return "", "", false
	}
	for i := lo; i < hi; i++ {
		if end := l.End(i); end != nil && end.Format(time.DateOnly) > to {
			to = end.Format(time.DateOnly)
		}
	}
	return from, to, true
}

// writeVerifyOutputs writes the report, metrics and mend manifest, then
// prints the summary: a standard output that is gone (a closed pipe, a
// full disk) loses only the summary.
func writeVerifyOutputs(c *cli.Context, rep *verify.Report) error {
	written := writeVerifyFiles(c, rep)
	notCompared := ""
	if rep.NotSampleable > 0 {
		var why []string
		if rep.Running > 0 {
			why = append(why, fmt.Sprintf("%d running or paused", rep.Running))
		}
		if n := rep.NotSampleable - rep.Running; n > 0 {
			why = append(why, fmt.Sprintf("%d archived through state without --history, with no token", n))
		}
		if rep.NotComparedSelfChecked > 0 {
			why = append(why, fmt.Sprintf("%d of them checked against their own executions rows instead", rep.NotComparedSelfChecked))
		}
		notCompared = fmt.Sprintf("; %d not compared (%s)", rep.NotSampleable, strings.Join(why, ", "))
	}
	if n := len(rep.TokensRefused); n > 0 {
		notCompared += fmt.Sprintf("; %d checkpoint tokens refused (stale)", n)
	}
	if n := len(rep.WithoutPayloads); n > 0 {
		notCompared += fmt.Sprintf("; %d archived without their payloads (the service could not decrypt them)", n)
	}
	if n := len(rep.PayloadsUnchecked); n > 0 {
		notCompared += fmt.Sprintf("; %d compared without their payloads (archived with them; the service can no longer decrypt them; through state: not compared)", n)
	}
	if n := len(rep.LacksUnknown); n > 0 {
		notCompared += fmt.Sprintf("; %d archived without members etl's SDK does not know (etl run --force archives them again)", n)
	}
	if n := len(rep.LacksColumns); n > 0 {
		notCompared += fmt.Sprintf("; %d archived before etl had some of the columns (etl run --force archives them again)", n)
	}
	byHistory := ""
	if rep.ByHistory > 0 {
		byHistory = fmt.Sprintf(" (%d of them compared by their history alone: archived through state, with no token; their events, not their operations)", rep.ByHistory)
	}
	archived := ""
	if rep.ListedFrom == "archive" {
		archived = " archived"
	}
	if rep.PastRetention > 0 {
		notCompared += fmt.Sprintf("; %d ended longer ago than the service keeps their history (not asked of the API)", rep.PastRetention)
	}
	if n := rep.SelfChecked - rep.NotComparedSelfChecked; n > 0 {
		notCompared += fmt.Sprintf("; %d checked against their own executions rows (the service no longer has them)", n)
	}
	fmt.Fprintf(c.App.Writer, "%d of %d%s executions complete; %d sampled, %d equal%s%s (seed %d)\n", rep.Complete, rep.Expected, archived, rep.Sampled, rep.Equal, byHistory, notCompared, rep.Seed)
	if archived != "" {
		fmt.Fprintln(c.App.Writer, "  listed from the archive itself: an execution it lacks altogether is not looked for (--all-functions, --function or --manifest)")
	}
	if rep.APIRetries > 0 {
		fmt.Fprintf(c.App.Writer, "  %d API retries over %d calls (throttled or failed for a moment: --rate-limit or a lower --concurrency spares the account's limits)\n", rep.APIRetries, rep.APICalls)
	}
	for _, line := range rep.Lines(10, time.Now()) {
		fmt.Fprintln(c.App.Writer, "  "+line)
	}
	return written
}

// writeVerifyFiles writes the report, metrics and mend manifest a verify
// was asked for, and returns the first failure as its exit.
func writeVerifyFiles(c *cli.Context, rep *verify.Report) error {
	if p := c.String("report"); p != "" {
		if err := writeJSONAtomic(p, rep); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--report %s: %w", p, err)}
		}
	}
	if p := c.String("metrics-file"); p != "" {
		if err := writeVerifyMetrics(p, rep); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--metrics-file %s: %w", p, err)}
		}
	}
	if p := c.String("mend-manifest"); p != "" {
		if err := writeMendManifest(p, rep.Mendable()); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--mend-manifest %s: %w", p, err)}
		}
	}
	return nil
}

// writeMendManifest writes arns as a manifest, an entry a line with no
// token (a run reads them through history), whole or not at all; with
// none, an empty file.
func writeMendManifest(path string, arns []string) error {
	return spool.WriteFile(path, func(w io.Writer) error {
		mw := extract.NewManifestWriter(w)
		for _, arn := range arns {
			if err := mw.Write(arn, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func openSnapshotReader(ctx context.Context, c *cli.Context, s3c *s3Clients, logger *slog.Logger) (archive, func(), error) {
	d, err := load.ParseDest(c.String("dest"))
	if err != nil {
		return nil, nil, usageError("--dest: %v", err)
	}
	if d.Kind == load.DestPostgres {
		pg, err := load.NewPostgres(ctx, d.URL, load.WithPGSchema(c.String("pg-schema")), load.WithPGLogger(logger), load.WithReadOnly(true))
		if err != nil {
			return nil, nil, usageError("--dest: %v", err)
		}
		return pg, func() { pg.Close(context.Background()) }, nil
	}
	pq, err := openParquetDest(ctx, c, d, false, s3c, logger)
	if err != nil {
		return nil, nil, err
	}
	return pq, func() {}, nil
}

// archive is what verify reads of the destination: its snapshots, and
// the listing of what it holds, for a verify of the archive alone and a
// manifest without start times (every destination can list: the
// conformance suite requires it).
type archive interface {
	load.SnapshotReader
	load.DatedLister
	load.OrphanFinder
}

// atRiskOf lists the executions that ended (per discovery, else per the
// archived snapshot's end_time: a manifest's or the archive's own) whose
// history expires within warn and that are not verified complete or are
// archived without their payloads. An execution's history lasts its own
// retention as archived, else its function's, else the service's default.
func atRiskOf(exp []verify.Execution, rep *verify.Report, archived map[string]load.ExecutionState, retention map[string]int32, now time.Time, warn time.Duration) []verify.AtRisk {
	// Not complete: stale, not checked (an error), without payloads, or
	// what a run can mend (the missing ones among them; an inconsistent
	// one the service has forgotten already is beyond any run).
	bad := map[string]bool{}
	for _, arn := range slices.Concat(rep.WithoutPayloads, rep.Mendable()) {
		bad[arn] = true
	}
	for _, d := range slices.Concat(rep.Stale, rep.Errors) {
		bad[d.ExecutionArn] = true
	}
	out := []verify.AtRisk{}
	for _, e := range exp {
		st, ok := archived[e.ARN]
		end := e.End
		if end == 0 && ok && st.EndTime != nil {
			end = st.EndTime.UnixMilli()
		}
		if end == 0 || !bad[e.ARN] {
			continue
		}
		var own int32 // as archived
		if ok && st.RetentionDays != nil {
			own = *st.RetentionDays
		}
		expires := discovery.HistoryExpires(time.UnixMilli(end), own, retention[e.Function], e.Deleting, now)
		if expires.Sub(now) <= warn {
			out = append(out, verify.AtRisk{ExecutionArn: e.ARN, HistoryExpiresAt: expires.UTC()})
		}
	}
	return out
}

func writeVerifyMetrics(path string, r *verify.Report) error {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_verify_executions", Help: "Executions of the last verification, by result."}, []string{"result"})
	reg.MustRegister(g)
	for k, v := range map[string]int{"expected": r.Expected, "complete": r.Complete, "missing": len(r.Missing), "stale": len(r.Stale),
		"differing": len(r.Differing), "sampled": r.Sampled, "sampled_equal": r.Equal, "content_differs": len(r.ContentDiffer),
		"errors": len(r.Errors), "retention_at_risk": len(r.AtRisk), "past_retention": r.PastRetention, "without_payloads": len(r.WithoutPayloads),
		"unknown_members_not_archived": len(r.LacksUnknown), "columns_not_archived": len(r.LacksColumns), "payloads_not_compared": len(r.PayloadsUnchecked),
		"not_compared": r.NotSampleable, "not_compared_running": r.Running, "compared_by_history": r.ByHistory, "tokens_refused": len(r.TokensRefused),
		"self_checked": r.SelfChecked, "not_compared_self_checked": r.NotComparedSelfChecked, "inconsistent": len(r.Inconsistent)} {
		g.WithLabelValues(k).Set(float64(v))
	}
	ok := prometheus.NewGauge(prometheus.GaugeOpts{Name: "durable_etl_verify_success", Help: "1 if the last verification found the archive complete and equal, else 0."})
	reg.MustRegister(ok)
	if r.OK() {
		ok.Set(1)
	}
	ts := prometheus.NewGauge(prometheus.GaugeOpts{Name: "durable_etl_verify_timestamp_seconds", Help: "When the last verification finished."})
	reg.MustRegister(ts)
	ts.SetToCurrentTime()
	return writeTextfile(path, reg)
}
