package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

func verifyCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "dest", Usage: "the archive to verify: a `DIR`, file:///abs/path, s3://BUCKET/PREFIX or postgres://...", EnvVars: env("dest"), Value: "./archive"},
		&cli.StringFlag{Name: "manifest", Usage: "verify the executions of this manifest: `FILE`, - for standard input, or s3://BUCKET/KEY (instead of --function / --all-functions)", EnvVars: env("manifest")},
		&cli.IntFlag{Name: "sample", Usage: "re-read this many archived executions from the API and compare their content row by row", EnvVars: env("sample"), Value: 300},
		&cli.BoolFlag{Name: "all", Usage: "compare the content of every archived execution (instead of --sample)", EnvVars: env("all")},
		&cli.Uint64Flag{Name: "seed", Usage: "the sample's seed (default: from the clock; the report names it)", EnvVars: env("seed")},
		&cli.StringFlag{Name: "report", Usage: "write the verification as JSON to `FILE`", EnvVars: env("report")},
		&cli.StringFlag{Name: "metrics-file", Usage: "write durable_etl_verify_* metrics in Prometheus text format to `FILE`", EnvVars: env("metrics-file")},
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
		Name:  "verify",
		Usage: "prove the archive holds what the API says, before the service forgets it",
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
etl run --force archives it again. Exit 0 when everything agrees, 1 when
something is missing or differs, 2 for usage.

Example (the nightly job):
  etl run --all-functions --dest s3://my-archive/durable && etl verify --all-functions --dest s3://my-archive/durable`,
		Flags:  flags,
		Action: verifyAction,
	}
}

// VerifyReport is what verify found.
type VerifyReport struct {
	Expected      int          `json:"executions_expected"`
	Complete      int          `json:"executions_complete"`
	Missing       []string     `json:"missing"`
	Stale         []Difference `json:"stale"`
	Differing     []Difference `json:"differing"`
	GoneFromAPI   int          `json:"gone_from_api"`
	Seed          uint64       `json:"seed"`
	Sampled       int          `json:"sampled"`
	Equal         int          `json:"sampled_equal"`
	NotSampleable int          `json:"not_sampleable"`
	// Running counts those of not_sampleable that the API says are still
	// running (or paused); the others were archived through state without
	// --history and verify has no token to read them again.
	Running int `json:"not_sampleable_running"`
	// ByHistory counts the sampled executions archived through state that
	// were compared by their history alone (no token, or a refused one:
	// see TokensRefused): their events, event counts and
	// GetDurableExecution's columns, not their operations.
	ByHistory int `json:"compared_by_history"`
	// TokensRefused names the sampled executions archived through state
	// whose checkpoint token the API refused (stale: every checkpoint replaces
	// it, and an ended execution has none): compared by their history
	// alone when their events were archived (--history), else not
	// compared (among not_sampleable). Not a fault of the archive.
	TokensRefused []string     `json:"tokens_refused"`
	ContentDiffer []Difference `json:"content_differs"`
	// LacksUnknown names the executions whose archived rows differ from
	// the API's only by members the API sends that etl's SDK does not
	// know (overflow_json's Unknown): archived before etl kept them, or
	// before the service sent them. `etl run --force` archives them again.
	LacksUnknown []Difference `json:"unknown_members_not_archived"`
	// LacksColumns names the executions whose rows (the executions row,
	// events) differ from the API's only by nulls in columns added to the
	// archive since they were written (execution_data_included, the pause
	// columns, ...): archived by an older etl. `etl run --force` archives
	// them again.
	LacksColumns []Difference `json:"columns_not_archived"`
	// WithoutPayloads names the executions archived without their
	// payloads (execution_data_included false: the service could not
	// decrypt them). Complete as archived; once the key works again, the
	// next etl run archives them again with their payloads.
	WithoutPayloads []string `json:"executions_without_payloads"`
	// PayloadsUnchecked names the executions archived with their payloads
	// whose content was compared without them: the service can no longer
	// decrypt them (their key was disabled or its grant removed since).
	// Not a fault of the archive, which holds them. One archived through
	// state is not compared at all (GetDurableExecutionState has no read
	// without them): it counts among not_sampleable too.
	PayloadsUnchecked []string `json:"payloads_not_compared"`
	// FunctionsNotListed tells the functions whose executions could not
	// be listed (access denied, retries run out): none of theirs was
	// verified, so the archive is not proven.
	FunctionsNotListed []string       `json:"functions_not_listed"`
	AtRisk             []AtRiskVerify `json:"retention_at_risk"`
	Errors             []Difference   `json:"errors"`
	// UnreadableFiles names the files of the archive that are not Parquet
	// etl can read (a stray file, a damaged one): an executions file's
	// executions count as missing, another's as errors.
	UnreadableFiles []string `json:"unreadable_files,omitempty"`
	DurationMS      int64    `json:"duration_ms"`
}

// Difference names an execution and what is wrong with it.
type Difference struct {
	ExecutionArn string `json:"execution_arn"`
	What         string `json:"what"`
}

// AtRiskVerify is an execution whose history expires soon and that is not
// verified complete, or is archived without its payloads (which go with
// the history).
type AtRiskVerify struct {
	ExecutionArn     string    `json:"execution_arn"`
	HistoryExpiresAt time.Time `json:"history_expires_at"`
}

// faults are the lists of r that name an execution the archive does not
// hold as the API has it (each counts against the exit code and marks it
// at risk): one place to add a new such list.
func (r *VerifyReport) faults() []*[]Difference {
	return []*[]Difference{&r.Stale, &r.Differing, &r.ContentDiffer, &r.LacksUnknown, &r.LacksColumns, &r.Errors}
}

// ok reports an archive proven to hold what the API has: nothing differs,
// and every function was listed.
func (r *VerifyReport) ok() bool { return !r.differs() && len(r.FunctionsNotListed) == 0 }

// differs reports an execution missing from the archive or held
// otherwise than the API has it.
func (r *VerifyReport) differs() bool {
	n := len(r.Missing)
	for _, l := range r.faults() {
		n += len(*l)
	}
	return n > 0
}

// verdict is the last line of a report that differs: whether something
// differs, or could only not be checked (errors: an API or a destination
// that failed), which verifying again may settle.
func (r *VerifyReport) verdict() string {
	differ := len(r.Missing)
	for _, l := range r.faults() {
		if l != &r.Errors {
			differ += len(*l)
		}
	}
	switch {
	case differ == 0:
		return fmt.Sprintf("could not check %d of the executions (see above or --report, errors): the archive is not proven for them; verify them again", len(r.Errors))
	case len(r.Errors) > 0:
		return fmt.Sprintf("the archive differs from the API, and verify could not check %d of the executions (see above or --report; %s)", len(r.Errors), mends)
	}
	return "the archive differs from the API (see above or --report; " + mends + ")"
}

// mends points an operator at what mends each finding.
const mends = "the README's Verification says what mends each finding"

// expected is one execution verify checks, with what discovery or the
// manifest knew of it.
type expected struct {
	arn, token, function string
	end                  int64 // ms since the epoch; 0 when not known
	pos                  int32 // the position in its listing
	deleting             bool  // listed as DELETING: its history goes now
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
	exp, retention, err := expectedExecutions(ctx, client, c, disc, s3c, logger)
	if err != nil {
		return err
	}
	defer exp.close()
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(start.UnixNano())
	}
	progress := &pipeline.Progress{}
	stopProgress := showProgress(ctx, c.App.ErrWriter, logger, progress, &calls, exp.len(), c.Duration("progress-interval"), "verifying")
	ctx, refused := context.WithCancelCause(ctx)
	defer refused(nil)
	rep, err := verifyInRounds(ctx, newCallGuard(client, refused, c.Int("concurrency")), reader, exp, verifyOptions{sample: c.Int("sample"), all: c.Bool("all"), seed: seed, concurrency: c.Int("concurrency"), progress: progress,
		logger: logger, atRisk: func(exp []expected, rep *VerifyReport, archived map[string]load.ExecutionState) []AtRiskVerify {
			return atRiskOf(exp, rep, archived, retention, start, warn)
		}})
	stopProgress()
	if told, ok := extract.RefusedCredentials(context.Cause(ctx)); ok {
		return credentialsRefused(c, rep, told, start)
	}
	var gone *unreachableError
	if errors.As(context.Cause(ctx), &gone) {
		return stoppedEarly(c, rep, &exitError{code: exitFailed, err: fmt.Errorf("%w; verify stopped: verify again once it is reachable", gone)}, start)
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
	if nl := exp.notListed(); nl != nil {
		rep.FunctionsNotListed = nl
	}
	if err := writeVerifyOutputs(c, rep); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &exitError{code: exitFailed, err: errors.New("interrupted")}
	}
	return rep.exit()
}

// exit is a finished verify's exit: nil when the archive is proven, else
// exit 1 with what stands in the way, first what verifying again does not
// mend.
func (r *VerifyReport) exit() error {
	switch {
	case len(r.UnreadableFiles) > 0:
		return &exitError{code: exitFailed, err: errors.New(notParquetLine(r.UnreadableFiles, "what they held counts as missing or not checked"))}
	case r.differs():
		return &exitError{code: exitFailed, err: errors.New(r.verdict())}
	case !r.ok():
		return &exitError{code: exitFailed, err: fmt.Errorf("the executions of %d functions could not be listed: the archive is not proven for them (see above or --report)", len(r.FunctionsNotListed))}
	}
	return nil
}

// credentialsRefused ends a verify that the API stopped answering for
// its credentials (told): the report so far, when there is one, then
// exit 1, or 2 when nothing was verified (refused at the first calls).
func credentialsRefused(c *cli.Context, rep *VerifyReport, told string, start time.Time) error {
	err := &exitError{code: exitUsage, err: errors.New(told + "; verify stopped: renew them and verify again")}
	if rep != nil && rep.Complete+rep.Sampled > 0 {
		err.code = exitFailed
	}
	return stoppedEarly(c, rep, err, start)
}

// stoppedEarly writes the report of a verify stopped before its end (rep,
// nil if none was made) and returns err.
func stoppedEarly(c *cli.Context, rep *VerifyReport, err *exitError, start time.Time) error {
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
	if disc.enabled() == (c.String("manifest") != "") {
		return 0, usageError("verify: give --function/--all-functions or --manifest (one of them)")
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
	for _, f := range []string{"report", "metrics-file"} {
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
// their functions' retention) or the manifest's.
func expectedExecutions(ctx context.Context, client extract.Regional, c *cli.Context, disc discovery, s3c *s3Clients, logger *slog.Logger) (listing, map[string]int32, error) {
	retention := map[string]int32{}
	if disc.enabled() {
		found, fns, err := discover(ctx, client, disc, logger.Info)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range fns {
			retention[f.name] = f.retentionDays
		}
		warnFunctions(logger, fns)
		return foundListing{found, fns}, retention, nil
	}
	m, err := manifestAt(ctx, c.String("manifest"), s3c)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	var exp sortedListing
	for m.Next() {
		exp = append(exp, expected{arn: m.Entry().ARN, token: m.Entry().Token})
	}
	if err := m.Err(); err != nil {
		return nil, nil, usageError("%v", err)
	}
	sort.Slice(exp, func(i, j int) bool { return exp[i].arn < exp[j].arn })
	return exp, retention, nil
}

// listing is the executions verify checks, by position. Verify makes
// the expected values of one round at a time (verifyInRounds): over an
// account, discovery's list is kept compact and each ARN is made again
// for its round only.
type listing interface {
	len() int
	at(i int) expected
	// dates are the first and last start dates (UTC, as partitions are
	// named) of the executions at [lo, hi), ok false when some of them
	// have no known start or the listing is not in order of start.
	dates(lo, hi int) (from, to string, ok bool)
	// err is the first failure to read the listing back (discovery's
	// list is in a file), after which at gives nothing.
	err() error
	close() error
	// notListed tells the functions whose executions could not be
	// listed.
	notListed() []string
}

// foundListing is discovery's list of executions.
type foundListing struct {
	found *foundList
	fns   []functionInfo
}

func (f foundListing) len() int     { return f.found.len() }
func (f foundListing) err() error   { return f.found.Err() }
func (f foundListing) close() error { return f.found.close() }

func (f foundListing) notListed() []string { return listingFailures(f.fns) }

// dates: discovery's list is in order of start, those without one last.
func (f foundListing) dates(lo, hi int) (from, to string, ok bool) {
	if hi <= lo {
		return "", "", false
	}
	a, b := f.found.items[lo].start, f.found.items[hi-1].start
	if a == noTime || b == noTime {
		return "", "", false
	}
	return timeOf(a).Format(time.DateOnly), timeOf(b).Format(time.DateOnly), true
}

func (f foundListing) at(i int) expected {
	e := expected{arn: f.found.arn(i), function: f.fns[f.found.items[i].fn].name, pos: int32(i), deleting: f.found.status(i) == types.ExecutionStatusDeleting}
	if end := f.found.items[i].end; end != noTime {
		e.end = end
	}
	return e
}

// sortedListing is a manifest's executions, sorted by ARN, each ARN once
// (a manifest skips an ARN it has given already).
type sortedListing []expected

func (s sortedListing) len() int { return len(s) }
func (s sortedListing) at(i int) expected {
	e := s[i]
	e.pos = int32(i)
	return e
}
func (s sortedListing) err() error   { return nil }
func (s sortedListing) close() error { return nil }

func (s sortedListing) notListed() []string { return nil }

// dates: a manifest's listing is in order of ARN.
func (s sortedListing) dates(lo, hi int) (string, string, bool) { return "", "", false }

// writeVerifyOutputs prints the summary and writes the report and metrics.
func writeVerifyOutputs(c *cli.Context, rep *VerifyReport) error {
	notCompared := ""
	if rep.NotSampleable > 0 {
		var why []string
		if rep.Running > 0 {
			why = append(why, fmt.Sprintf("%d running or paused", rep.Running))
		}
		if n := rep.NotSampleable - rep.Running; n > 0 {
			why = append(why, fmt.Sprintf("%d archived through state without --history, with no token", n))
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
	fmt.Fprintf(c.App.Writer, "%d of %d executions complete; %d sampled, %d equal%s%s (seed %d)\n", rep.Complete, rep.Expected, rep.Sampled, rep.Equal, byHistory, notCompared, rep.Seed)
	for _, line := range rep.lines(10, time.Now()) {
		fmt.Fprintln(c.App.Writer, "  "+line)
	}
	if p := c.String("report"); p != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := writeFileAtomic(p, append(b, '\n')); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--report %s: %w", p, err)}
		}
	}
	if p := c.String("metrics-file"); p != "" {
		if err := writeVerifyMetrics(p, rep); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--metrics-file %s: %w", p, err)}
		}
	}
	return nil
}

// lines are the report's findings for people, n of each kind at most; an
// expiry before now reads as past (the service may delete that history
// any time).
func (r *VerifyReport) lines(n int, now time.Time) []string {
	var out []string
	add := func(kind string, ds []Difference) {
		for i, d := range ds {
			if i == n {
				out = append(out, fmt.Sprintf("... and %d more %s", len(ds)-n, kind))
				break
			}
			out = append(out, fmt.Sprintf("%s: %s: %s", kind, d.ExecutionArn, d.What))
		}
	}
	missing := make([]Difference, len(r.Missing))
	for i, m := range r.Missing {
		missing[i] = Difference{m, "not in the archive"}
	}
	add("missing", missing)
	add("stale", r.Stale)
	add("differs", r.Differing)
	add("content differs", r.ContentDiffer)
	add("lacks new members", r.LacksUnknown)
	add("lacks new columns", r.LacksColumns)
	add("error", r.Errors)
	for _, f := range r.FunctionsNotListed {
		out = append(out, "not listed, not verified: "+f)
	}
	for i, a := range r.AtRisk {
		if i == n {
			out = append(out, fmt.Sprintf("... and %d more at risk", len(r.AtRisk)-n))
			break
		}
		when := "history expires " + a.HistoryExpiresAt.Format(time.RFC3339)
		if a.HistoryExpiresAt.Before(now) {
			when = "history was due to expire " + a.HistoryExpiresAt.Format(time.RFC3339) + ": the service may delete it any time"
		}
		out = append(out, fmt.Sprintf("at risk: %s: %s", a.ExecutionArn, when))
	}
	return out
}

func openSnapshotReader(ctx context.Context, c *cli.Context, s3c *s3Clients, logger *slog.Logger) (load.SnapshotReader, func(), error) {
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

type verifyOptions struct {
	sample      int
	all         bool
	seed        uint64
	concurrency int
	progress    *pipeline.Progress // counts executions checked (Done), problems (Failed), rows compared (Operations)
	chunkRows   int64              // archived rows read at once for one partition (default verifyChunkRows)
	// streamRows: an execution with more archived rows is compared as a
	// stream (compareStreamed), when the reader can (default
	// verifyChunkRows).
	streamRows int64
	// streamBudget: the archived rows of executions compared as streams at
	// once (default verifyStreamRows).
	streamBudget int64
	// roundSize: the most executions verifyInRounds checks in one round
	// (default verifyRoundExecutions).
	roundSize int
	// atRisk, when set, names a round's executions at risk (AtRisk).
	atRisk func(exp []expected, rep *VerifyReport, archived map[string]load.ExecutionState) []AtRiskVerify
	logger *slog.Logger // nil: rounds are not logged
}

// verifyRoundExecutions is how many listed executions verify checks in
// one round. Besides discovery's list (about 65 bytes an execution in
// memory, its ARNs in a temporary file), verify holds, for the round it
// checks, each execution's expected value and newest archived state
// (about 600 bytes together), so an account is verified in rounds of
// this many, each reading the executions table's key columns (of its
// start dates' partitions where it can, else of every partition; the
// other tables are read for the sampled executions only). In one round, 500,000 executions of 1-3
// operations peaked at 563 MiB; in rounds of 50,000, verify holds about
// 215 MiB at 500,000 and at 1,000,000 (docs/BENCHMARKS.md).
const verifyRoundExecutions = 50_000

// verifyInRounds verifies the listed executions in rounds of at most
// o.roundSize, by position in the listing: a round makes its executions'
// expected values, reads the newest archived state of those executions
// only (reader.Latest), verifies them as verify does, and drops both
// before the next. The report is the rounds' reports together, as one
// round would give it but for the sample: --sample N is shared among the
// rounds by their sizes (each round draws its share, seeded by the seed
// and the round), and --all compares every archived execution in every
// round. A failure to read the archive ends the verification with that
// error.
//
// When the listing knows its executions' start dates (discovery's, in
// order of start) and the reader can read some partitions only
// (load.PartitionedReader), a round reads the partitions of its dates
// alone, not every executions file again. An execution not found there
// (not archived, or archived under another date: a snapshot taken before
// its start was known) is looked for in every partition after the
// rounds, in rounds of its own. One archived under two dates is compared
// on its newest snapshot under its start date: a snapshot lands under
// another date only before its start is known, so that one is older.
func verifyInRounds(ctx context.Context, api verifyAPI, reader load.SnapshotReader, listed listing, o verifyOptions) (*VerifyReport, error) {
	n := listed.len()
	size := cmp.Or(o.roundSize, verifyRoundExecutions)
	rounds := max(1, (n+size-1)/size)
	rep := newVerifyReport(n, o.seed)
	partitioned, _ := reader.(load.PartitionedReader)
	var elsewhere []int32 // positions not found under their dates
	done, round := 0, 0
	// check reads the newest archived states of part (of the start dates
	// from..to when dated, else of every date) and verifies part; dated,
	// the executions not found are left in elsewhere instead.
	check := func(part []expected, from, to string, dated bool) error {
		slices.SortFunc(part, func(a, b expected) int { return strings.Compare(a.arn, b.arn) })
		keep := func(arn string) bool { // from the readers' goroutines
			_, ok := slices.BinarySearchFunc(part, arn, func(e expected, arn string) int { return strings.Compare(e.arn, arn) })
			return ok
		}
		var archived map[string]load.ExecutionState
		var err error
		if dated {
			archived, err = partitioned.LatestIn(ctx, from, to, keep)
		} else {
			archived, err = reader.Latest(ctx, keep)
		}
		if err != nil {
			return err
		}
		if dated {
			part = slices.DeleteFunc(part, func(e expected) bool {
				_, ok := archived[e.arn]
				if !ok {
					elsewhere = append(elsewhere, e.pos)
				}
				return !ok
			})
		}
		ro := o
		ro.seed = o.seed + uint64(round)
		ro.sample = o.sample*(done+len(part))/max(1, n) - o.sample*done/max(1, n)
		done, round = done+len(part), round+1
		sub := verify(ctx, api, reader, part, archived, ro)
		if o.atRisk != nil {
			sub.AtRisk = o.atRisk(part, sub, archived)
		}
		rep.add(sub)
		return nil
	}
	for r := 0; r < rounds && ctx.Err() == nil; r++ {
		lo, hi := r*n/rounds, (r+1)*n/rounds
		part := make([]expected, hi-lo)
		for i := range part {
			part[i] = listed.at(lo + i)
		}
		from, to, dated := listed.dates(lo, hi)
		dated = dated && partitioned != nil
		if o.logger != nil && rounds > 1 {
			o.logger.Info("verify round", "round", r+1, "rounds", rounds, "executions", hi-lo, "start_dates", from+".."+to, "every_date", !dated)
		}
		if err := check(part, from, to, dated); err != nil {
			return nil, err
		}
	}
	for k := 0; k < len(elsewhere) && ctx.Err() == nil; k += size {
		at := elsewhere[k:min(k+size, len(elsewhere))]
		if o.logger != nil {
			o.logger.Info("verify round: executions not found under their start dates, looked for under every date", "executions", len(at))
		}
		part := make([]expected, len(at))
		for i, p := range at {
			part[i] = listed.at(int(p))
		}
		if err := check(part, "", "", false); err != nil {
			return nil, err
		}
	}
	rep.sort()
	return rep, nil
}

func newVerifyReport(expected int, seed uint64) *VerifyReport {
	r := &VerifyReport{Expected: expected, Seed: seed, Missing: []string{}, AtRisk: []AtRiskVerify{}, WithoutPayloads: []string{}, PayloadsUnchecked: []string{}, FunctionsNotListed: []string{}, TokensRefused: []string{}}
	for _, l := range r.faults() {
		*l = []Difference{} // [] in the JSON report, not null
	}
	return r
}

// add counts a round's report into r.
func (r *VerifyReport) add(o *VerifyReport) {
	r.Complete += o.Complete
	r.GoneFromAPI += o.GoneFromAPI
	r.Sampled += o.Sampled
	r.Equal += o.Equal
	r.NotSampleable += o.NotSampleable
	r.Running += o.Running
	r.ByHistory += o.ByHistory
	r.TokensRefused = append(r.TokensRefused, o.TokensRefused...)
	r.Missing = append(r.Missing, o.Missing...)
	r.WithoutPayloads = append(r.WithoutPayloads, o.WithoutPayloads...)
	r.PayloadsUnchecked = append(r.PayloadsUnchecked, o.PayloadsUnchecked...)
	r.AtRisk = append(r.AtRisk, o.AtRisk...)
	from := o.faults()
	for i, l := range r.faults() {
		*l = append(*l, *from[i]...)
	}
}

// verifyAPI is what verify needs of the client.
type verifyAPI interface {
	extract.HistoryAPI
	extract.StateAPI
}

// callGuard stops verify (stop, with the cause) at the first call made
// with AWS credentials that do not work (extract.RefusedCredentials), or
// once limit calls in a row could not reach the API
// (extract.Unreachable: the service, or the way to it, is gone), none
// answered between: every other call would fail the same way, each after
// its retries. Under it, a function whose executions the credentials'
// policy denies is asked a few times, as etl run asks it
// (extract.Denials): the executions not asked are in the report's
// errors, denied.
type callGuard struct {
	verifyAPI
	stop        context.CancelCauseFunc
	limit       int64
	unreachable *atomic.Int64
}

func newCallGuard(api verifyAPI, stop context.CancelCauseFunc, concurrency int) callGuard {
	d := extract.NewDenials(nil)
	api = struct {
		extract.HistoryAPI
		extract.StateAPI
	}{d.History(api), d.State(api)}
	return callGuard{verifyAPI: api, stop: stop, limit: int64(max(2*concurrency, 8)), unreachable: new(atomic.Int64)}
}

func (g callGuard) check(ctx context.Context, err error) {
	if err == nil {
		g.unreachable.Store(0)
		return
	}
	if ctx.Err() != nil { // verify is stopping: no answer was awaited
		return
	}
	if told, ok := extract.Unreachable(err); ok {
		if n := g.unreachable.Add(1); n == g.limit {
			g.stop(&unreachableError{n: n, last: told})
		}
		return
	}
	if _, refused := extract.RefusedCredentials(err); refused {
		g.stop(err)
	}
	g.unreachable.Store(0) // reached, if with an error
}

// unreachableError is why verify stopped when the API could not be
// reached: n calls in a row, the last one's failure told.
type unreachableError struct {
	n    int64
	last string
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("the Lambda API could not be reached for %d calls in a row (last: %s)", e.n, e.last)
}

func (g callGuard) GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error) {
	out, err := g.verifyAPI.GetDurableExecution(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

func (g callGuard) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	out, err := g.verifyAPI.GetDurableExecutionHistory(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

func (g callGuard) GetDurableExecutionState(ctx context.Context, in *lambda.GetDurableExecutionStateInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionStateOutput, error) {
	out, err := g.verifyAPI.GetDurableExecutionState(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

// verifyClient is the client of verify's content comparisons, with what
// their history reads learn of the history order (see
// extract.HistoryOrder), shared by all of them.
type verifyClient struct {
	verifyAPI
	order *extract.HistoryOrder
}

// verify checks completeness for every expected execution and content for
// the sample.
func verify(ctx context.Context, api verifyAPI, reader load.SnapshotReader, exp []expected, archived map[string]load.ExecutionState, o verifyOptions) *VerifyReport {
	rep := newVerifyReport(len(exp), o.seed)
	sort.Slice(exp, func(i, j int) bool { return exp[i].arn < exp[j].arn })
	for _, e := range exp {
		if st, ok := archived[e.arn]; ok && st.DataIncluded != nil && !*st.DataIncluded {
			rep.WithoutPayloads = append(rep.WithoutPayloads, e.arn)
		}
	}
	sampled := pickSample(exp, archived, o)
	client := verifyClient{verifyAPI: api, order: &extract.HistoryOrder{}}
	var mu sync.Mutex
	// Content: a partition's files are read once for all its sampled
	// executions (by the first worker that needs them), and its executions
	// are compared on every worker, each re-reading its own from the API.
	// Executions that cannot be compared (still running, or archived
	// through state with no token to re-read them) are counted, not read
	// from the archive: a long-running execution's rows can be the largest
	// there are.
	//
	// A sampled execution archived in a terminal state can be compared
	// whatever GetDurableExecution says (a terminal status is final): its
	// completeness check and its content comparison are one task, so the
	// archive is read while the other executions are checked. The others
	// are checked first; those the API says ended (an archive gone stale)
	// are compared after.
	early := map[string]string{}
	for _, e := range exp {
		if st, ok := archived[e.arn]; ok && sampled[e.arn] && st.Status != nil && canCompare(*st.Status, st, e.token) {
			early[e.arn] = *st.Status
		}
	}
	chunkRows := cmp.Or(o.chunkRows, verifyChunkRows)
	streamRows := cmp.Or(o.streamRows, verifyChunkRows)
	if _, ok := reader.(load.RowStreamer); !ok {
		streamRows = -1
	}
	streams := newStreamSlots(cmp.Or(o.streamBudget, verifyStreamRows))
	tasks := contentTasks(exp, early, archived, chunkRows, streamRows, streams)
	for _, e := range exp {
		if _, ok := early[e.arn]; !ok {
			tasks = append(tasks, contentTask{e: e})
		}
	}
	apiStatus := map[string]string{} // of the sampled executions checked alone
	forEach(ctx, tasks, o.concurrency, func(t contentTask) {
		t.start(ctx, reader)
		desc := checkOne(ctx, api, t.e, archived, rep, &mu)
		if o.progress != nil {
			o.progress.Done.Add(1)
		}
		switch {
		case !t.compares() && desc != nil && sampled[t.e.arn]:
			mu.Lock()
			apiStatus[t.e.arn] = string(desc.Status)
			mu.Unlock()
		case t.compares() && desc != nil:
			compareTask(ctx, client, reader, t, comparison{e: t.e, st: archived[t.e.arn], apiStatus: string(desc.Status), desc: desc}, rep, &mu, o.progress)
		case t.part != nil:
			t.part.done() // gone from the API, or an error: nothing to compare
		}
	})
	for _, e := range exp {
		if status, ok := apiStatus[e.arn]; ok && !canCompare(status, archived[e.arn], e.token) {
			delete(apiStatus, e.arn)
			rep.notCompared(status)
		}
	}
	forEach(ctx, contentTasks(exp, apiStatus, archived, chunkRows, streamRows, streams), o.concurrency, func(t contentTask) {
		t.start(ctx, reader)
		compareTask(ctx, client, reader, t, comparison{e: t.e, st: archived[t.e.arn], apiStatus: apiStatus[t.e.arn]}, rep, &mu, o.progress)
	})
	rep.sort()
	return rep
}

// notCompared counts a sampled execution whose content could not be
// compared, whose status the API says is apiStatus.
func (r *VerifyReport) notCompared(apiStatus string) {
	r.NotSampleable++
	if !load.Terminal(apiStatus) {
		r.Running++
	}
}

// sort puts every list of r in ARN order.
func (r *VerifyReport) sort() {
	for _, l := range r.faults() {
		sort.Slice(*l, func(i, j int) bool { return (*l)[i].ExecutionArn < (*l)[j].ExecutionArn })
	}
	sort.Slice(r.AtRisk, func(i, j int) bool { return r.AtRisk[i].ExecutionArn < r.AtRisk[j].ExecutionArn })
	sort.Strings(r.Missing)
	sort.Strings(r.WithoutPayloads)
	sort.Strings(r.PayloadsUnchecked)
	sort.Strings(r.TokensRefused)
}

// compareTask compares one execution's content (c) and records the
// outcome.
func compareTask(ctx context.Context, api verifyClient, reader load.SnapshotReader, t contentTask, c comparison,
	rep *VerifyReport, mu *sync.Mutex, progress *pipeline.Progress) {
	var mine *load.ExecutionRows
	// The API is read first, the chunk's rows waited for after: a worker
	// whose chunk is still being read re-reads its execution from the API
	// meanwhile.
	archivedRows := func() (*load.ExecutionRows, error) {
		rows, err := t.part.get(ctx, reader)
		mine = rows[t.e.arn]
		return mine, err
	}
	var found finding
	var sampleable bool
	var err error
	var rows int64
	if t.streams != nil {
		var release func()
		if release, err = t.streams.take(ctx, rowCount(c.st)); err == nil {
			// A file that vanished mid-stream (a compaction beside
			// verify) has had some rows handed over: the comparison
			// starts over, on a new listing (load.RowStreamer).
			err = load.ListedAgain(func() (err error) {
				found, sampleable, rows, err = compareStreamed(ctx, api, reader.(load.RowStreamer), reader, c)
				return err
			})
			release()
		}
	} else {
		found, sampleable, err = compareContent(ctx, api, reader, archivedRows, c)
		if mine != nil {
			rows = int64(len(mine.Operations) + len(mine.Events))
		}
		t.part.done()
	}
	if progress != nil {
		progress.Operations.Add(rows)
	}
	mu.Lock()
	defer mu.Unlock()
	if err == nil && found.payloadsUnchecked {
		rep.PayloadsUnchecked = append(rep.PayloadsUnchecked, t.e.arn)
	}
	if found.tokenRefused {
		rep.TokensRefused = append(rep.TokensRefused, t.e.arn)
	}
	if err == nil && sampleable && (found.tokenRefused || byHistory(c.st, c.e.token)) {
		rep.ByHistory++
	}
	switch {
	case err != nil:
		rep.Errors = append(rep.Errors, Difference{t.e.arn, errorReason(err)})
	case !sampleable:
		rep.notCompared(c.apiStatus)
	case found.lacksUnknown:
		rep.Sampled++
		rep.LacksUnknown = append(rep.LacksUnknown, Difference{t.e.arn, found.what})
	case found.lacksColumns:
		rep.Sampled++
		rep.LacksColumns = append(rep.LacksColumns, Difference{t.e.arn, found.what})
	case found.what != "":
		rep.Sampled++
		rep.ContentDiffer = append(rep.ContentDiffer, Difference{t.e.arn, found.what})
	default:
		rep.Sampled++
		rep.Equal++
	}
}

// contentTasks are the executions of apiStatus to compare, partition by
// partition, each partition cut into chunks of at most chunkRows archived
// rows, each chunk linked to the next (read ahead); an execution of more
// than streamRows rows (-1: none is) is compared as a stream, on its own,
// once it holds its rows' weight of streams.
func contentTasks(exp []expected, apiStatus map[string]string, archived map[string]load.ExecutionState, chunkRows, streamRows int64, streams *streamSlots) []contentTask {
	var tasks []contentTask
	var prev *partitionRows
	for _, g := range byPartition(exp, apiStatus, archived) {
		var held []expected
		for _, e := range g {
			if streamRows >= 0 && rowCount(archived[e.arn]) > streamRows {
				tasks = append(tasks, contentTask{e: e, streams: streams})
			} else {
				held = append(held, e)
			}
		}
		for _, chunk := range chunksOf(held, archived, chunkRows) {
			part := &partitionRows{pending: int32(len(chunk)), states: make([]load.ExecutionState, len(chunk))}
			if prev != nil {
				prev.next = part
			}
			prev = part
			for i, e := range chunk {
				part.states[i] = archived[e.arn]
				tasks = append(tasks, contentTask{part: part, e: e})
			}
		}
	}
	return tasks
}

// verifyChunkRows bounds the archived rows (operations and events, as the
// executions rows count them) read at once for one partition's sampled
// executions: a partition of any size is read a chunk at a time, and a
// chunk's rows are let go as soon as its last execution is compared, so
// memory holds two or three chunks (the one being compared, perhaps the
// end of the one before, the one read ahead), never whole partitions. An
// execution larger than the bound is compared as a stream instead
// (verifystream.go; a chunk of its own for a reader that cannot stream).
// Each chunk reads its rows from its partition's files again (their key
// columns are scanned once per file: see load's keyIndexOf): smaller
// chunks cost time. (BenchmarkVerify, 2,000 x
// 250 operations over 90 days, about 25,000 rows per partition: 0.23 of
// the drain-only rate at 134 MiB whole; at 16,384 rows 0.18 at 109 MiB; at
// 4,096 0.09 at 91 MiB. Before chunks, a partition read whole by each of 8
// workers took 482 MiB.)
const verifyChunkRows = 32768

// streamSlots bound the archived rows of the executions compared as
// streams at once: each takes its rows' weight, at most the whole.
type streamSlots struct {
	sem *semaphore.Weighted
	max int64
}

func newStreamSlots(rows int64) *streamSlots {
	return &streamSlots{sem: semaphore.NewWeighted(rows), max: rows}
}

// take waits for rows' weight (the whole for more rows than it holds) and
// returns the function that gives it back.
func (s *streamSlots) take(ctx context.Context, rows int64) (func(), error) {
	w := min(max(rows, 1), s.max)
	if err := s.sem.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { s.sem.Release(w) }, nil
}

// verifyStreamRows bounds the archived rows of the executions compared as
// streams at once (each larger than a chunk; one larger than this bound
// alone): one of a million events, 1.25 million rows with its operations,
// was verified in 210 MiB (BenchmarkVerifyMillionEventsRSS), most of it
// the fold of its history and the rows' hashes.
const verifyStreamRows = 1 << 20

// chunksOf splits a partition's executions into runs of at most max rows.
func chunksOf(g []expected, archived map[string]load.ExecutionState, max int64) [][]expected {
	var out [][]expected
	var cur []expected
	var n int64
	for _, e := range g {
		rows := rowCount(archived[e.arn])
		if len(cur) > 0 && n+rows > max {
			out, cur, n = append(out, cur), nil, 0
		}
		cur, n = append(cur, e), n+rows
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// rowCount is an execution's archived rows, as its executions row counts
// them.
func rowCount(st load.ExecutionState) int64 {
	n := st.OperationCount
	if st.EventCount != nil {
		n += *st.EventCount
	}
	return n
}

// contentTask is one sampled execution to compare, with its partition's
// archived rows, or compared as a stream.
type contentTask struct {
	part    *partitionRows // nil and no streams: a completeness check only
	streams *streamSlots   // compared as a stream
	e       expected
}

func (t contentTask) compares() bool { return t.part != nil || t.streams != nil }

// start starts reading the task's chunk, if it has one.
func (t contentTask) start(ctx context.Context, reader load.SnapshotReader) {
	if t.part != nil {
		t.part.start(ctx, reader)
	}
}

// partitionRows is one chunk of a partition's sampled executions and their
// archived rows: read once, when first needed, and let go once the last of
// them is compared (tasks come chunk by chunk, so memory holds two or
// three chunks: see verifyChunkRows).
type partitionRows struct {
	states []load.ExecutionState
	next   *partitionRows // the chunk after this one, read ahead
	// started: the chunk's read was started.
	started atomic.Bool
	once    sync.Once
	rows    map[string]*load.ExecutionRows
	err     error
	pending int32 // executions not compared yet
	mu      sync.Mutex
}

// get returns the chunk's rows, reading them on first use, and starts
// reading the next chunk meanwhile: its files are read while this chunk's
// executions are re-read from the API and compared, so one chunk read ahead
// is in memory beside the current one.
func (p *partitionRows) get(ctx context.Context, reader load.SnapshotReader) (map[string]*load.ExecutionRows, error) {
	p.start(ctx, reader)
	p.once.Do(func() { p.read(ctx, reader) })
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rows, p.err
}

// start starts reading the chunk's rows and the next chunk's, each on a
// goroutine of its own, unless under way already. A worker calls it as it
// takes one of the chunk's executions, before reading that execution from
// the API, so that the files are read meanwhile.
func (p *partitionRows) start(ctx context.Context, reader load.SnapshotReader) {
	for _, c := range []*partitionRows{p, p.next} {
		if c != nil && !c.started.Swap(true) {
			go c.once.Do(func() { c.read(ctx, reader) })
		}
	}
}

func (p *partitionRows) read(ctx context.Context, reader load.SnapshotReader) {
	rows, err := reader.Rows(ctx, p.states)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == 0 { // read ahead for executions that all failed at the API first
		return
	}
	p.rows, p.err = rows, err
}

func (p *partitionRows) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending--; p.pending == 0 {
		p.rows = nil
	}
}

// pickSample draws the executions whose content is compared: --sample N of
// the archived ones (seeded), or all of them with --all. The N are drawn
// first from those whose archived snapshot can be compared (archived in
// a terminal state, and with what re-reading it takes: canCompare), then,
// when fewer than N can, from the others (archived running: comparable
// if the API says they ended since), so that --sample N compares N
// executions whenever the archive holds that many ended ones.
func pickSample(exp []expected, archived map[string]load.ExecutionState, o verifyOptions) map[string]bool {
	var ready, others []string
	for _, e := range exp {
		st, ok := archived[e.arn]
		switch {
		case !ok:
		case st.Status != nil && canCompare(*st.Status, st, e.token):
			ready = append(ready, e.arn)
		default:
			others = append(others, e.arn)
		}
	}
	n := min(o.sample, len(ready)+len(others))
	if o.all {
		n = len(ready) + len(others)
	}
	sampled := make(map[string]bool, n)
	r := rand.New(rand.NewPCG(o.seed, 0x5eed))
	for _, group := range [][]string{ready, others} {
		for _, i := range r.Perm(len(group))[:min(n-len(sampled), len(group))] {
			sampled[group[i]] = true
		}
	}
	return sampled
}

// byPartition groups the executions to compare (those in apiStatus) by
// their archived partition, so that its files are read once for all of
// them; the groups come in a stable order.
func byPartition(exp []expected, apiStatus map[string]string, archived map[string]load.ExecutionState) [][]expected {
	byDT := map[string][]expected{}
	for _, e := range exp {
		if _, ok := apiStatus[e.arn]; ok {
			dt := archived[e.arn].DT
			byDT[dt] = append(byDT[dt], e)
		}
	}
	groups := make([][]expected, 0, len(byDT))
	for _, g := range byDT {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i][0].arn < groups[j][0].arn })
	return groups
}

// forEach calls fn for each item on n goroutines, stopping early when ctx
// ends.
func forEach[T any](ctx context.Context, items []T, n int, fn func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
}

// checkOne checks that e is archived, in a terminal state once the API says
// it ended, with the API's status and end time; it returns
// GetDurableExecution's answer (nil when it could not be had).
func checkOne(ctx context.Context, api verifyAPI, e expected, archived map[string]load.ExecutionState, rep *VerifyReport, mu *sync.Mutex) *extract.Description {
	record := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	st, ok := archived[e.arn]
	if !ok {
		record(func() { rep.Missing = append(rep.Missing, e.arn) })
		return nil
	}
	// The status and times need no payloads: an execution whose data the
	// service cannot decrypt (now, or when it was archived) is checked
	// without them.
	desc, err := extract.Describe(ctx, api, e.arn, withoutData(st)...)
	var ee *extract.ExecutionError
	if errors.As(err, &ee) && ee.Undecryptable() {
		desc, err = extract.Describe(ctx, api, e.arn, extract.WithoutExecutionData())
	}
	if errors.As(err, &ee) && ee.NotFound() {
		record(func() { rep.GoneFromAPI++; rep.Complete++ }) // archived; the service has forgotten it
		return nil
	}
	if err != nil {
		record(func() { rep.Errors = append(rep.Errors, Difference{e.arn, errorReason(err)}) })
		return nil
	}
	apiStatus := string(desc.Status)
	archStatus := ""
	if st.Status != nil {
		archStatus = *st.Status
	}
	complete := true
	switch {
	case load.Terminal(apiStatus) && !load.Terminal(archStatus):
		complete = false
		record(func() {
			rep.Stale = append(rep.Stale, Difference{e.arn, fmt.Sprintf("archived %s, the API says %s", orNull(archStatus), apiStatus)})
		})
	case load.Terminal(apiStatus) && st.Source == transform.SourceHistory && archStatus != apiStatus:
		complete = false
		record(func() {
			rep.Differing = append(rep.Differing, Difference{e.arn, fmt.Sprintf("status: archived %s, API %s", archStatus, apiStatus)})
		})
	case load.Terminal(apiStatus) && desc.EndTimestamp != nil && st.EndTime != nil && !desc.EndTimestamp.Truncate(time.Millisecond).Equal(*st.EndTime):
		complete = false
		record(func() {
			rep.Differing = append(rep.Differing, Difference{e.arn, fmt.Sprintf("end_time: archived %s, API %s", st.EndTime.Format(time.RFC3339Nano), desc.EndTimestamp.UTC().Format(time.RFC3339Nano))})
		})
	}
	if complete {
		record(func() { rep.Complete++ })
	}
	return desc
}

// errorReason is err as the report tells it beside the execution's ARN:
// an execution's error (unwrapped: a wrapping error's context stays) is
// its reason, without the ARN again.
func errorReason(err error) string {
	if ee, ok := err.(*extract.ExecutionError); ok && ee.Reason != "" {
		return ee.Reason
	}
	return err.Error()
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// comparison is what one execution's content is compared as.
type comparison struct {
	e  expected
	st load.ExecutionState // its newest archived snapshot, as Latest read it
	// apiStatus is what the API says of it; desc is GetDurableExecution's
	// answer when the completeness check had it (nil: read when needed).
	apiStatus string
	desc      *extract.Description
	// unreadable: the comparison is of an execution the archive holds with
	// its payloads that the service can no longer decrypt (keyBroken); st
	// then says the read is without them.
	unreadable bool
}

// compareContent re-reads the execution by the source it was archived with,
// then takes its archived rows from archivedRows (which may wait for them)
// and compares: "" when equal, else the first difference. An execution
// archived through state without a token in the manifest cannot be re-read
// (sampleable false). A snapshot of an execution that is still running is
// compared with what the API says now, so it may differ without fault: only
// terminal executions are compared.
//
// An execution the archive holds with its payloads that the service can no
// longer decrypt (its key disabled since) is compared without them: see
// keyBroken. The content hash, which covers them, is then not checked.
func compareContent(ctx context.Context, api verifyClient, reader load.SnapshotReader, archivedRows func() (*load.ExecutionRows, error), c comparison) (finding, bool, error) {
	st := c.st
	if !canCompare(c.apiStatus, st, c.e.token) {
		return finding{}, false, nil
	}
	// The API's rows, sized by the executions row's counts (bounded: a
	// tampered count must not make a huge allocation).
	want := make([]schema.Operation, 0, min(max(st.OperationCount, 0), 1<<16))
	var wantEvents []schema.Event
	if st.EventCount != nil {
		wantEvents = make([]schema.Event, 0, min(max(*st.EventCount, 0), 1<<16))
	}
	wantRow, err := apiRows(ctx, api, c.e, st, reader,
		func(rows []schema.Operation) { want = append(want, rows...) },
		func(ev *schema.Event) { wantEvents = append(wantEvents, *ev) })
	if errors.Is(err, errTokenRefused) {
		c.e.token = ""
		f, sampleable, err := compareContent(ctx, api, reader, archivedRows, c)
		f.tokenRefused = true
		return f, sampleable, err
	}
	if without, comparable, ok := keyBroken(err, st, c.e.token); ok {
		if !comparable {
			return finding{payloadsUnchecked: true}, false, nil
		}
		c.st, c.desc, c.unreadable = without, nil, true
		f, sampleable, err := compareContent(ctx, api, reader, archivedRows, c)
		f.payloadsUnchecked = true
		return f, sampleable, err
	}
	if err != nil {
		return finding{}, true, err
	}
	rows, err := archivedRows()
	if err != nil {
		return finding{}, true, err
	}
	if rows == nil {
		rows = &load.ExecutionRows{}
	}
	if withEvents, ok := eventsBeside(st, len(rows.Events)); ok {
		c.st, st = withEvents, withEvents
		unchecked, err := apiEvents(ctx, api, c, reader, func(ev *schema.Event) { wantEvents = append(wantEvents, *ev) })
		if unchecked || err != nil {
			return finding{payloadsUnchecked: unchecked}, !unchecked, err
		}
	}
	mode := modeOf(st, c.unreadable)
	ops := operationsDiff(rows.Operations, want, mode)
	if ops.differs() {
		return ops, true, nil
	}
	events := eventsEqual(rows.Events, wantEvents, mode)
	if events.differs() {
		return events, true, nil
	}
	lacking := ops
	if lacking.what == "" {
		lacking = events
	}
	f, err := conclude(ctx, api, reader, c, mode, rows.Execution, &wantRow, lacking)
	return f, true, err
}

// conclude ends a comparison, whole or streamed alike, whose operations
// and events were found without a difference (lacking: the first of them
// an archive made by an older etl lacks, if any): then the executions row
// (archived: got; the API's: want, from apiRows), then what an older
// archive lacks (the content hash covers the operations' overflow_json:
// it differs with the members they lack), then the content hash.
func conclude(ctx context.Context, api verifyClient, reader load.SnapshotReader, c comparison, mode dataMode, got, want *schema.Execution, lacking finding) (finding, error) {
	if byHistory(c.st, c.e.token) && got != nil {
		// Compared by its history alone: the columns the state gave
		// (status, times, counts, content_hash) are the archive's own.
		row := *got
		row.EventCount, row.LastEventID = want.EventCount, want.LastEventID
		*want = row
	}
	if err := describedRow(ctx, api, reader, c, got, want); err != nil {
		return finding{}, err
	}
	ex := executionDiff(got, want, mode)
	switch {
	case ex.differs():
		return ex, nil
	case lacking.what != "":
		return lacking, nil
	case ex.what != "":
		return ex, nil
	case want.ContentHash != c.st.ContentHash && !c.unreadable:
		return finding{what: contentHashDiffers}, nil
	}
	return finding{}, nil
}

// eventsBeside reports an execution archived through state whose newest
// snapshot was read without its history (no --history) while the archive
// holds events of it (archivedEvents: an earlier run's, with --history):
// those are compared too, so st is returned as if read with --history.
func eventsBeside(st load.ExecutionState, archivedEvents int) (load.ExecutionState, bool) {
	if st.Source != transform.SourceState || st.EventCount != nil || archivedEvents == 0 {
		return st, false
	}
	st.EventCount = new(int64(archivedEvents))
	return st, true
}

// apiEvents re-reads the history of c's execution, archived through
// state, handing each event to ev, beside the operations its state gave
// (eventsBeside). unchecked: the service can no longer decrypt its
// payloads (keyBroken), and one archived through state is then not
// compared.
func apiEvents(ctx context.Context, api verifyClient, c comparison, reader load.SnapshotReader, ev func(*schema.Event)) (unchecked bool, err error) {
	history := c.e
	history.token = "" // its events alone (apiRows)
	_, err = apiRows(ctx, api, history, c.st, reader, func([]schema.Operation) {}, ev)
	if _, _, ok := keyBroken(err, c.st, c.e.token); ok {
		return true, nil
	}
	return false, err
}

// keyBroken reports a re-read (err) that failed because the service can no
// longer decrypt the execution's payloads, which the archive holds (its
// snapshot was read with them): verify does not report an error of what
// the archive holds whole (a nightly verify would fail every night once a
// key is disabled), and the report names such executions. One archived
// through history is compared without them (comparable; without is st as
// read without them): the payloads, and the content hash that covers
// them, go unchecked. One archived through state is not compared at all
// (GetDurableExecutionState has no read without the payloads) unless it
// is compared by its history alone (byHistory), which is read without
// them as one archived through history is.
func keyBroken(err error, st load.ExecutionState, token string) (without load.ExecutionState, comparable, ok bool) {
	var ee *extract.ExecutionError
	if !errors.As(err, &ee) || !ee.Undecryptable() || readWithoutData(st) {
		return st, false, false
	}
	if st.Source != transform.SourceHistory && !byHistory(st, token) {
		return st, false, true
	}
	st.DataIncluded = new(false)
	return st, true, true
}

// finding is what comparing an execution's content found: nothing (what
// ""), a difference, rows that differ from the API's only by the members
// it sends that etl's SDK does not know (lacksUnknown; see
// transform.WithoutUnknown), or rows that differ only by nulls in columns
// added since they were archived (lacksColumns; see schema.Column.Since):
// what names the first. payloadsUnchecked: the payloads were left out of
// the comparison, or kept it from being made at all (keyBroken).
type finding struct {
	what              string
	lacksUnknown      bool
	lacksColumns      bool
	payloadsUnchecked bool
	// tokenRefused: the API refused the manifest's checkpoint token; the
	// execution was compared by its history alone (byHistory), or, with
	// no events archived, not at all.
	tokenRefused bool
}

// differs reports a difference other than what an archive made by an
// older etl lacks (lacksUnknown, lacksColumns).
func (f finding) differs() bool { return f.what != "" && !f.lacksUnknown && !f.lacksColumns }

// lacksUnknownDiff is a row diff's answer (in place of a column) when the
// archived row lacks only the members the API sends that the SDK does not
// know; lacksColumnsDiff when it lacks only values in columns added since
// it was archived (null there: schema.LackingSince).
const (
	lacksUnknownDiff = -2
	lacksColumnsDiff = -3
)

// olderForm compares archived row got, which differs from the API's want,
// with want as an archive made by an older etl holds it: without the
// members the SDK does not know in its overflow_json (before etl kept
// them: transform.WithoutUnknown) and with nulls in the columns added
// since (schema.LackingSince). It returns the first column that differs
// even so (-1: none), and what got lacks: lacksColumnsDiff (the columns
// added since, which it names, with or without the members) or
// lacksUnknownDiff (the members alone); 0 when it lacks neither.
func olderForm[T any](t *schema.Table, got, want *T, overflow func(*T) **string, skip []bool) (col, lacks int, lacking []string) {
	w := *want
	if o := overflow(&w); *o != nil {
		if without := transform.WithoutUnknown(*o); without != *o && samePtrString(*overflow(got), without) {
			*o, lacks = without, lacksUnknownDiff
		}
	}
	if lacking, col = schema.LackingSince(t, got, &w, skip); len(lacking) > 0 {
		lacks = lacksColumnsDiff
	}
	return col, lacks, lacking
}

// rowDiff is a row diff's answer for got and want, which DiffRow found
// different in col (-1: equal): col, or what got lacks as olderForm says.
func rowDiff[T any](t *schema.Table, got, want *T, overflow func(*T) **string, skip []bool, col int) int {
	if col < 0 {
		return col
	}
	if c, lacks, _ := olderForm(t, got, want, overflow, skip); c < 0 && lacks != 0 {
		return lacks
	}
	return col
}

const contentHashDiffers = "content_hash: the executions row's differs from its operations'"

// apiRows re-reads e from the API by the source it was archived with
// (state, and its history too when read with it, st.EventCount; or
// history: its events, and the operations folded from them) and hands its
// rows over as they come, in the archive's stored form: ops a
// batch of operations at a time (in seq order), ev each event (in the
// history's order); neither may keep what it is handed. It returns the
// executions row the snapshot's operations make (transform.Snapshot: its
// counts and content_hash; event_count and last_event_id when the
// history was read), which describedRow completes.
func apiRows(ctx context.Context, api verifyClient, e expected, st load.ExecutionState, reader load.SnapshotReader,
	ops func([]schema.Operation), ev func(*schema.Event)) (schema.Execution, error) {
	meta := transform.RowMeta{ExecutionArn: e.arn, Source: st.Source}
	snap := transform.NewSnapshot(meta)
	stored := storedForm(reader)
	handOps := func(rows []schema.Operation) {
		for i := range rows {
			stored(&rows[i])
		}
		ops(rows)
	}
	// The events, as the run read them: every page of the history, its
	// events folded into operations unless the operations come from state.
	var fold *transform.Folder
	var total int64
	var maxID int32
	events := func() error {
		var keys transform.EventKeys
		return extract.DrainHistory(ctx, api, e.arn, extract.MaxPageSize, func(_ context.Context, p extract.HistoryPage) error {
			rows := make([]schema.Event, 0, len(p.Events))
			total += int64(len(p.Events))
			for i := range p.Events {
				if id := p.Events[i].EventId; id != nil {
					maxID = max(maxID, *id)
				}
				rows = transform.AppendHistoryEvent(rows, &p, i, keys.Next(&p.Events[i]), meta)
				row := &rows[len(rows)-1]
				stored(row)
				ev(row)
			}
			if fold != nil {
				fold.Add(p.Events)
			}
			return nil
		}, append(withoutData(st), extract.WithHistoryOrder(api.order))...)
	}
	if st.Source == transform.SourceState {
		var err error
		if e.token != "" {
			var buf []schema.Operation
			pages := 0
			err = extract.Drain(ctx, api, extract.Entry{ARN: e.arn, Token: e.token}, extract.MaxPageSize, func(_ context.Context, p extract.Page) error {
				pages++
				buf = snap.AddPage(buf[:0], p)
				handOps(buf)
				return nil
			})
			var ee *extract.ExecutionError
			if pages == 0 && errors.As(err, &ee) && ee.Rejected() {
				err = fmt.Errorf("%w: %w", errTokenRefused, err)
			}
			if err != nil || st.EventCount == nil {
				return snap.Finish(), err
			}
		}
		// Archived with --history: its events too (and only they, by
		// history alone: byHistory).
		err = events()
		row := snap.Finish()
		row.EventCount, row.LastEventID = &total, &maxID
		return row, err
	}
	fold = transform.NewFolder()
	defer fold.Close()
	if err := events(); err != nil {
		return schema.Execution{}, err
	}
	err := fold.Each(snap, extract.MaxPageSize, func(rows []schema.Operation) error {
		handOps(rows)
		return nil
	})
	row := snap.Finish()
	row.EventCount, row.LastEventID = &total, &maxID
	return row, err
}

// storedForm puts a row read from the API in reader's stored form: a
// destination that stores text differently (Postgres: U+0000 as U+FFFD)
// says so (StoredForm), and the API's rows are put in that form to
// compare.
func storedForm(reader load.SnapshotReader) func(row any) {
	if sf, ok := reader.(interface{ StoredForm(row any) }); ok {
		return sf.StoredForm
	}
	return func(any) {}
}

// describedRow completes want, the executions row of the API's rows
// (apiRows), as the run completes it: with GetDurableExecution's columns
// (transform.Describe; c.desc, else read now) when the archived row
// (archived) was read with them, as every snapshot read through history
// and one read through state with --history is; else without the
// history's counts (an earlier --history run's events compared beside a
// snapshot read without it: eventsBeside).
func describedRow(ctx context.Context, api verifyClient, reader load.SnapshotReader, c comparison, archived, want *schema.Execution) error {
	defer storedForm(reader)(want)
	if c.st.Source == transform.SourceState && (archived == nil || archived.EventCount == nil) {
		want.EventCount, want.LastEventID = nil, nil
		return nil
	}
	desc := c.desc
	if desc == nil {
		var err error
		if desc, err = extract.Describe(ctx, api, c.e.arn, withoutData(c.st)...); err != nil {
			return err
		}
	}
	transform.Describe(want, desc)
	return nil
}

// executionDiff names the first column of the executions row got (the
// archive's) that differs from want (the API's, completed by
// describedRow). The content hash is compared apart (contentHashDiffers);
// a read without the payloads of an execution archived with them
// (dataUnreadable) leaves execution_data_included out too. Where got
// differs only by a null in columns added to the contract since it was
// archived (schema.Column.Since), or by lacking the members the SDK does
// not know (see olderForm), the finding says so (lacksColumns,
// lacksUnknown): etl run --force archives it again.
func executionDiff(got, want *schema.Execution, mode dataMode) finding {
	if got == nil {
		return finding{what: "the snapshot's executions row is not in the archive"}
	}
	t := schema.Executions
	skip := compareSkips(t, mode)
	skip[t.Column("content_hash")] = true
	if mode == dataUnreadable {
		skip[t.Column("execution_data_included")] = true
	}
	if schema.DiffRow(t, got, want, skip) < 0 {
		return finding{}
	}
	col, lacks, lacking := olderForm(t, got, want, executionOverflow, skip)
	switch {
	case col >= 0:
		return finding{what: "executions row: column " + t.Columns[col].Name}
	case lacks == lacksColumnsDiff:
		return finding{what: "executions row: " + strings.Join(lacking, ", ") + ": " + lacksColumnsWhat, lacksColumns: true}
	}
	return finding{what: "executions row: " + lacksUnknownWhat, lacksUnknown: true}
}

func executionOverflow(r *schema.Execution) **string { return &r.OverflowJSON }

// samePtrString reports a and b both nil or both set to one value.
func samePtrString(a, b *string) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// lacksColumnsWhat says what an executions row lacking only columns added
// since it was archived lacks.
const lacksColumnsWhat = "null in the archive, which was written before etl had these columns (etl run --force archives it again)"

// readWithoutData reports an execution archived without its payloads
// (the service could not decrypt them): verify reads it the same way.
func readWithoutData(st load.ExecutionState) bool {
	return st.DataIncluded != nil && !*st.DataIncluded
}

// withoutData reads an execution archived without its payloads the same
// way.
func withoutData(st load.ExecutionState) []extract.HistoryOption {
	if readWithoutData(st) {
		return []extract.HistoryOption{extract.WithoutExecutionData()}
	}
	return nil
}

// canCompare reports whether an execution's content can be compared: the
// API says it ended (a running one changes under the comparison) and it
// can be re-read by the source it was archived with (state needs a
// token).
func canCompare(apiStatus string, st load.ExecutionState, token string) bool {
	return load.Terminal(apiStatus) && (st.Source != transform.SourceState || token != "" || byHistory(st, token))
}

// byHistory reports an execution archived through state, with its events
// (--history), that verify compares by its history alone: it has no
// token to read the state again (none in the manifest, --function,
// or one the API refused, as it refuses a token once the execution
// checkpoints again or ends: errTokenRefused). Its events, their counts
// and GetDurableExecution's columns of the executions row are compared;
// its operations, which only the state gives, and the content hash over
// them are not.
func byHistory(st load.ExecutionState, token string) bool {
	return st.Source == transform.SourceState && token == "" && st.EventCount != nil
}

// errTokenRefused is a read through state whose first page the API
// refused (InvalidParameterValueException: the checkpoint token is stale
// or wrong). Verify then compares the execution as if it had no token
// (byHistory), and the report names it (tokens_refused).
var errTokenRefused = errors.New("the API refused the checkpoint token")

// operationsDiff names the first operation (by id) and column that differ.
// Postgres keeps operations an earlier snapshot listed; those are not
// compared.
func operationsDiff(got, want []schema.Operation, mode dataMode) finding {
	skip := compareSkips(schema.Operations, mode)
	return rowsDiff(schema.Operations, got, want, func(g, w *schema.Operation) int {
		return rowDiff(schema.Operations, g, w, operationOverflow, skip, schema.DiffRow(schema.Operations, g, w, skip))
	}, func(r *schema.Operation) string { return r.OperationID }, func(id string) string { return fmt.Sprintf("operation %q", id) })
}

func operationOverflow(r *schema.Operation) **string { return &r.OverflowJSON }

func eventOverflow(r *schema.Event) **string { return &r.OverflowJSON }

// eventsEqual names the first event (by id) and column that differ, or an
// event archived that the API does not have.
func eventsEqual(got, want []schema.Event, mode dataMode) finding {
	skip := compareSkips(schema.Events, mode)
	f := rowsDiff(schema.Events, got, want, func(g, w *schema.Event) int { return eventDiff(g, w, skip) },
		func(r *schema.Event) int32 { return r.EventID }, func(id int32) string { return fmt.Sprintf("event %d", id) })
	if f.differs() {
		return f
	}
	if len(got) > len(want) {
		return finding{what: fmt.Sprintf("%d events archived, the API has %d", len(got), len(want))}
	}
	return f
}

// eventDiff is the first column (or -1) in which archived event got differs
// from the API's want. Only a row that differs is put in today's form
// (transform.NormalizeEventOverflow, some microseconds a row) and compared
// again: a row archived before an overflow_json form changed is equal by
// meaning.
func eventDiff(got, want *schema.Event, skip []bool) int {
	col := schema.DiffRow(schema.Events, got, want, skip)
	if col < 0 {
		return col
	}
	r := *got
	if r.OverflowJSON != nil {
		transform.NormalizeEventOverflow(&r)
		if col = schema.DiffRow(schema.Events, &r, want, skip); col < 0 {
			return col
		}
	}
	return rowDiff(schema.Events, &r, want, eventOverflow, skip, col)
}

// rowsDiff names the first of want (by key) that got lacks or holds with
// another value, and the column (diff: the first differing column's index
// in the table, or -1).
func rowsDiff[T any, K comparable](table *schema.Table, got, want []T, diff func(got, want *T) int, key func(*T) K, name func(K) string) finding {
	// The first row that lacks only what an older etl did not archive:
	// members the SDK does not know (lacksUnknownDiff) or columns added
	// since (lacksColumnsDiff).
	var lacking string
	lackingWhat := lacksUnknownDiff
	differs := func(g, w *T) (finding, bool) {
		switch col := diff(g, w); {
		case col == lacksUnknownDiff || col == lacksColumnsDiff:
			if lacking == "" {
				lacking, lackingWhat = name(key(w)), col
			}
		case col >= 0:
			return finding{what: name(key(w)) + ": column " + table.Columns[col].Name}, true
		}
		return finding{}, false
	}
	// Both sides usually come in the same order (seq, event id): compare
	// row by row while the keys agree, and look up the rest by key.
	for len(got) > 0 && len(want) > 0 && key(&got[0]) == key(&want[0]) {
		if f, ok := differs(&got[0], &want[0]); ok {
			return f
		}
		got, want = got[1:], want[1:]
	}
	byKey := make(map[K]*T, len(got))
	for i := range got {
		byKey[key(&got[i])] = &got[i]
	}
	for i := range want {
		k := key(&want[i])
		g, ok := byKey[k]
		if !ok {
			return finding{what: name(k) + " is not in the archive"}
		}
		if f, ok := differs(g, &want[i]); ok {
			return f
		}
	}
	switch {
	case lacking != "" && lackingWhat == lacksColumnsDiff:
		return finding{what: lacking + ": " + lacksColumnsRowWhat, lacksColumns: true}
	case lacking != "":
		return finding{what: lacking + ": " + lacksUnknownWhat, lacksUnknown: true}
	}
	return finding{}
}

// lacksColumnsRowWhat says what an event row lacking only values in
// columns added since it was archived lacks.
const lacksColumnsRowWhat = "null in columns added since it was archived, where the API has values (etl run --force archives it again)"

// lacksUnknownWhat says what a row lacking only the members the SDK does
// not know lacks.
const lacksUnknownWhat = "overflow_json lacks the members the API now sends that etl's SDK does not know (archived before etl kept them: etl run --force archives them again)"

// dataMode is how a comparison treats the execution's payloads.
type dataMode int

const (
	// dataKept: archived and read again with them.
	dataKept dataMode = iota
	// dataLeftOut: archived without them (the service could not decrypt
	// them then), and read again so.
	dataLeftOut
	// dataUnreadable: archived with them, which the service can no longer
	// decrypt (keyBroken): read again without them.
	dataUnreadable
)

// modeOf is the dataMode of a comparison of st; unreadable as keyBroken.
func modeOf(st load.ExecutionState, unreadable bool) dataMode {
	switch {
	case unreadable:
		return dataUnreadable
	case readWithoutData(st):
		return dataLeftOut
	}
	return dataKept
}

// compareSkips marks, by column index, what content comparison leaves out:
// where and when a row was read.
//
// Read without the execution's data (mode dataLeftOut or dataUnreadable)
// it leaves out the data columns too: the API's answer has none, and the
// archive may hold those an earlier snapshot read with them (its events,
// and what Postgres keeps of its operations, see schema.DataKind); and
// overflow_json, which keeps what was odd about the payloads (an empty
// Error object), which a read without them cannot show.
func compareSkips(t *schema.Table, mode dataMode) []bool {
	skip := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Name {
		case "run_id", "extracted_at", "source":
			skip[i] = true
		case "overflow_json":
			skip[i] = mode != dataKept
		}
		if mode != dataKept && c.Data != schema.NotData {
			skip[i] = true
		}
	}
	return skip
}

// atRiskOf lists the executions that ended (per discovery) whose history
// expires within warn and that are not verified complete or are archived
// without their payloads. An execution's history lasts its own retention
// as archived, else its function's, else the service's default.
func atRiskOf(exp []expected, rep *VerifyReport, archived map[string]load.ExecutionState, retention map[string]int32, now time.Time, warn time.Duration) []AtRiskVerify {
	bad := map[string]bool{}
	for _, l := range [][]string{rep.Missing, rep.WithoutPayloads} {
		for _, arn := range l {
			bad[arn] = true
		}
	}
	for _, l := range rep.faults() {
		for _, d := range *l {
			bad[d.ExecutionArn] = true
		}
	}
	out := []AtRiskVerify{}
	for _, e := range exp {
		if e.end == 0 || !bad[e.arn] {
			continue
		}
		var own int32 // as archived
		if st, ok := archived[e.arn]; ok && st.RetentionDays != nil {
			own = *st.RetentionDays
		}
		expires := historyExpires(time.UnixMilli(e.end), own, retention[e.function], e.deleting, now)
		if expires.Sub(now) <= warn {
			out = append(out, AtRiskVerify{e.arn, expires.UTC()})
		}
	}
	return out
}

func writeVerifyMetrics(path string, r *VerifyReport) error {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_verify_executions", Help: "Executions of the last verification, by result."}, []string{"result"})
	reg.MustRegister(g)
	for k, v := range map[string]int{"expected": r.Expected, "complete": r.Complete, "missing": len(r.Missing), "stale": len(r.Stale),
		"differing": len(r.Differing), "sampled": r.Sampled, "sampled_equal": r.Equal, "content_differs": len(r.ContentDiffer),
		"errors": len(r.Errors), "retention_at_risk": len(r.AtRisk), "without_payloads": len(r.WithoutPayloads),
		"unknown_members_not_archived": len(r.LacksUnknown), "columns_not_archived": len(r.LacksColumns), "payloads_not_compared": len(r.PayloadsUnchecked),
		"not_compared": r.NotSampleable, "not_compared_running": r.Running, "compared_by_history": r.ByHistory, "tokens_refused": len(r.TokensRefused)} {
		g.WithLabelValues(k).Set(float64(v))
	}
	ok := prometheus.NewGauge(prometheus.GaugeOpts{Name: "durable_etl_verify_success", Help: "1 if the last verification found the archive complete and equal, else 0."})
	reg.MustRegister(ok)
	if r.ok() {
		ok.Set(1)
	}
	ts := prometheus.NewGauge(prometheus.GaugeOpts{Name: "durable_etl_verify_timestamp_seconds", Help: "When the last verification finished."})
	reg.MustRegister(ts)
	ts.SetToCurrentTime()
	return writeTextfile(path, reg)
}
