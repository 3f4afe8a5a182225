package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/spool"
)

// discoveryFlags select executions by function, for run and discover.
func discoveryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "function", Usage: "archive every execution ListDurableExecutionsByFunction finds for this function `NAME|ARN` (any version or alias; no token needed); repeatable", EnvVars: env("function")},
		&cli.BoolFlag{Name: "all-functions", Usage: "archive every execution of every durable function in the region (ListFunctions: the functions with a DurableConfig in any version)", EnvVars: env("all-functions")},
		&cli.StringSliceFlag{Name: "function-prefix", Usage: "with --all-functions: only functions whose name starts with `PREFIX`; repeatable", EnvVars: env("function-prefix")},
		&cli.StringSliceFlag{Name: "exclude-function", Usage: "with --all-functions: leave out functions whose name matches `GLOB`; repeatable", EnvVars: env("exclude-function")},
		&cli.StringFlag{Name: "started-after", Usage: "with --function: executions started after `T` (RFC 3339, a date in UTC: 2026-01-31, or a duration back from now: 36h, 7d)", EnvVars: env("started-after")},
		&cli.StringFlag{Name: "started-before", Usage: "with --function: executions started before `T` (RFC 3339, a date in UTC, or a duration back from now)", EnvVars: env("started-before")},
		&cli.StringFlag{Name: "status", Usage: "with --function: only executions in these statuses, `S[,S...]` of RUNNING, PAUSING, PAUSED, SUCCEEDED, FAILED, TIMED_OUT, STOPPED, DELETING", EnvVars: env("status")},
	}
}

// discovery is what --function, --all-functions and their filters ask for.
type discovery struct {
	functions []string
	all       bool
	fnFilter  extract.FunctionFilter
	filter    extract.Filter
	// noRetention: the caller needs no function's history retention (etl
	// discover prints a manifest), so none is looked up.
	noRetention bool
	// workers is how many functions are listed at once: the command's
	// --concurrency where it has one, else discoveryWorkers.
	workers int
}

// enabled reports whether the run discovers its executions.
func (d discovery) enabled() bool { return len(d.functions) > 0 || d.all }

// parseDiscovery reads the discovery flags; every error is a usage error.
func parseDiscovery(c *cli.Context, now time.Time) (discovery, error) {
	d := discovery{functions: c.StringSlice("function"), all: c.Bool("all-functions"), workers: c.Int("concurrency"),
		fnFilter: extract.FunctionFilter{Prefix: c.StringSlice("function-prefix"), Exclude: c.StringSlice("exclude-function")}}
	if err := d.fnFilter.Validate(); err != nil {
		return d, usageError("%v", err)
	}
	if !d.all && (len(d.fnFilter.Prefix) > 0 || len(d.fnFilter.Exclude) > 0) {
		return d, usageError("--function-prefix and --exclude-function narrow --all-functions: give --all-functions too")
	}
	for _, f := range d.functions {
		if f == "" || len(f) > 256 {
			return d, usageError("--function %q: want a function name, partial ARN or ARN (1 to 256 characters)", clipArg(f))
		}
	}
	var err error
	if d.filter.StartedAfter, err = parseWhen(c.String("started-after"), now); err != nil {
		return d, usageError("--started-after: %v", err)
	}
	if d.filter.StartedBefore, err = parseWhen(c.String("started-before"), now); err != nil {
		return d, usageError("--started-before: %v", err)
	}
	if a, b := d.filter.StartedAfter, d.filter.StartedBefore; a != nil && b != nil && !a.Before(*b) {
		return d, usageError("--started-after %s is not before --started-before %s", a.Format(time.RFC3339), b.Format(time.RFC3339))
	}
	if s := c.String("status"); s != "" {
		for _, st := range strings.Split(s, ",") {
			st = strings.ToUpper(strings.TrimSpace(st))
			known := types.ExecutionStatus("").Values()
			if !slices.Contains(known, types.ExecutionStatus(st)) {
				names := make([]string, len(known))
				for i, k := range known {
					names[i] = string(k)
				}
				return d, usageError("--status %q: want one of %s", clipArg(st), strings.Join(names, ", "))
			}
			d.filter.Statuses = append(d.filter.Statuses, types.ExecutionStatus(st))
		}
		if len(d.filter.Statuses) > 10 {
			return d, usageError("--status: at most 10 statuses")
		}
	}
	if !d.enabled() && (d.filter.StartedAfter != nil || d.filter.StartedBefore != nil || d.filter.Statuses != nil) {
		return d, usageError("--started-after, --started-before and --status filter --function and --all-functions: give one")
	}
	return d, nil
}

func clipArg(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// parseWhen reads an RFC 3339 time, a date (2026-01-31: its midnight,
// UTC, as the archive's dt is) or a duration back from now (36h, 90m, 7d);
// "" is nil.
func parseWhen(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return &t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, nil
	}
	d, err := parseDays(s)
	if err != nil {
		return nil, fmt.Errorf("%q: want an RFC 3339 time (2026-01-31T18:00:00Z), a date (2026-01-31, UTC) or a duration such as 36h or 7d", s)
	}
	t := now.Add(-d).UTC()
	return &t, nil
}

// parseDays reads a duration that may be in days (7d) as well as Go's units.
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: want a duration such as 7d or 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration such as 7d or 36h", s)
	}
	return d, nil
}

// discoveryAPI is what discovery needs of the client.
type discoveryAPI interface {
	extract.DiscoverAPI
	extract.FunctionsAPI
}

// functionInfo is one function discovery listed.
type functionInfo struct {
	name          string
	retentionDays int32 // 0: unknown
	found         int
	// named: given by --function (else found by --all-functions), so not
	// finding it is a usage error.
	named    bool
	unlisted string // why its versions and aliases were not listed, if they were not
	// listingFailed: why its executions could not be listed, if they
	// could not (the other functions' are listed and archived all the
	// same: one function's denied listing must not keep the rest from
	// being archived before their history expires).
	listingFailed string
	// retentionUnknown: why its history retention could not be read (the
	// service's default is then assumed), if it could not.
	retentionUnknown string
}

// warnFunctions logs what discovery could not learn of each function.
func warnFunctions(logger *slog.Logger, fns []functionInfo) {
	if len(fns) == 0 {
		logger.Warn(noFunctions)
	}
	for _, f := range fns {
		if f.listingFailed != "" {
			logger.Error("the function's executions could not be listed: this run leaves them out", "function", f.name, "reason", f.listingFailed)
		}
		if f.unlisted != "" {
			logger.Warn(unlistedWarning(f), "function", f.name)
		}
		if f.retentionUnknown != "" {
			logger.Warn("history retention unknown: the retention warning assumes the service's default", "function", f.name,
				"default_days", defaultRetentionDays, "reason", f.retentionUnknown)
		}
	}
}

// noFunctions is what a discovery that found no function says (only
// --all-functions can: --function names at least one): ListFunctions is
// the run's region's.
const noFunctions = "--all-functions found no durable function in the region (ListFunctions: none with a DurableConfig, after --function-prefix and --exclude-function): nothing to archive; is --region right?"

// unlistedWarning says what a function whose versions and aliases could
// not be listed means for the archive.
func unlistedWarning(f functionInfo) string {
	return fmt.Sprintf("function %s: versions and aliases not listed (%s): if the service lists $LATEST only, executions of published versions were missed; allow lambda:ListVersionsByFunction and lambda:ListAliases", f.name, f.unlisted)
}

// discover lists the functions (--all-functions: every durable function the
// filters keep; and each --function), then each function's executions, each
// ARN once, as manifest entries without tokens (archived through history).
// logf must be safe for concurrent use: each function's "discovered" line
// is logged as it is done.
func discover(ctx context.Context, api discoveryAPI, d discovery, logf func(msg string, args ...any)) (*foundList, []functionInfo, error) {
	var fns []functionInfo
	seenFn := map[string]bool{}
	if d.all {
		durable, err := extract.DurableFunctions(ctx, api, d.fnFilter)
		if err != nil {
			return nil, nil, &exitError{code: listingExit(err), err: err}
		}
		for _, f := range durable {
			fns = append(fns, functionInfo{name: f.Name, retentionDays: f.RetentionDays})
			seenFn[f.Name] = true
			logf("durable function", "function", f.Name, "retention_days", f.RetentionDays, "durable_versions", f.Versions)
		}
	}
	for _, fn := range d.functions {
		if !seenFn[fn] {
			seenFn[fn] = true
			fns = append(fns, functionInfo{name: fn, named: true})
		}
	}
	out, err := newFoundList()
	if err != nil {
		return nil, nil, &exitError{code: exitFailed, err: err}
	}
	fail := func(err error) (*foundList, []functionInfo, error) {
		out.close()
		return nil, nil, err
	}
	if err := listFunctions(ctx, api, d, fns, out, logf); err != nil {
		var nf *extract.FunctionNotFoundError
		if errors.As(err, &nf) {
			return fail(usageError("--function: %v", err))
		}
		return fail(&exitError{code: listingExit(err), err: err})
	}
	if err := out.seal(func(fn int) { fns[fn].found-- }); err != nil {
		return fail(&exitError{code: exitFailed, err: err})
	}
	return out, fns, nil
}

// listFunctions lists the executions of fns into out, d.workers functions
// at a time (an account's nightly run, whose executions are mostly
// archived already, spends most of its time here, a call's latency at a
// time), and notes what it learnt of each in fns. Each function's listing
// is its own worker's; out sorts what they add into one order whatever the
// interleaving (start, then function, then listing). A function whose
// listing fails (access denied, retries run out) is noted
// (listingFailed) and the others go on; what it listed before stays.
// Two failures stop them all (stopsDiscovery): a function named by
// --function that does not exist, and credentials that do not work. The
// error returned is ctx's, else that of the first function, in the order
// named, that stopped them for a reason of its own.
func listFunctions(ctx context.Context, api discoveryAPI, d discovery, fns []functionInfo, out *foundList, logf func(msg string, args ...any)) error {
	stats := make([]extract.DiscoverStats, len(fns))
	errs := make([]error, len(fns))
	stopped := make([]bool, len(fns)) // its error came once another's had stopped the rest
	var outMu sync.Mutex
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(cmp.Or(max(d.workers, 0), discoveryWorkers))
	for i := range fns {
		g.Go(func() error {
			fn := &fns[i]
			stats[i], errs[i] = extract.Discover(gctx, api, fn.name, d.filter, func(f extract.Found) error {
				fn.found++
				outMu.Lock()
				defer outMu.Unlock()
				return out.add(f, i)
			})
			if err := errs[i]; err != nil {
				if gctx.Err() == nil && !stopsDiscovery(err, fn.named) {
					errs[i], fn.listingFailed = nil, err.Error()
					return nil
				}
				stopped[i] = gctx.Err() != nil
				cancel()
				return nil
			}
			st := stats[i]
			if fn.retentionDays == 0 && !d.noRetention {
				// A function named by --function: how long the service
				// keeps its executions' history, for the retention
				// warning, from the versions discovery listed, else
				// listed for it.
				days, err := st.RetentionDays, error(nil)
				if !st.VersionsListed {
					days, err = extract.FunctionRetention(gctx, api, fn.name)
				}
				if err != nil {
					fn.retentionUnknown = err.Error()
				}
				fn.retentionDays = days
			}
			fn.unlisted = st.Unlisted
			// As each function is done, for an operator watching a long
			// discovery: in the order they finish.
			logf("discovered", "function", fn.name, "executions", st.Found, "listed", st.Listed, "qualifiers", st.Qualifiers, "qualifiers_refused", st.Refused)
			return nil
		})
	}
	g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstDiscoveryError(errs, stopped)
}

// stopsDiscovery reports a listing failure that stops every listing: a
// function named by --function that does not exist (a usage error), and
// credentials that do not work (every listing would fail alike).
func stopsDiscovery(err error, named bool) bool {
	var nf *extract.FunctionNotFoundError
	_, refused := extract.RefusedCredentials(err)
	return named && errors.As(err, &nf) || refused
}

// listingFailures are why the listings of fns that failed did, in fns'
// order.
func listingFailures(fns []functionInfo) []string {
	var out []string
	for _, f := range fns {
		if f.listingFailed != "" {
			out = append(out, f.listingFailed)
		}
	}
	return out
}

// notListed tells the functions whose listing failed, or "" when none did
// (three of them: a policy without the action denies every function).
func notListed(fns []functionInfo) string {
	failed := listingFailures(fns)
	if len(failed) == 0 {
		return ""
	}
	return fmt.Sprintf("the executions of %d of %d functions could not be listed, and are left out: %s", len(failed), len(fns), someOf(failed, 3, "; "))
}

// someOf joins the first n of items with sep, and counts the rest.
func someOf(items []string, n int, sep string) string {
	if len(items) <= n {
		return strings.Join(items, sep)
	}
	return strings.Join(items[:n], sep) + fmt.Sprintf("%sand %d more (see the log or the report)", sep, len(items)-n)
}

// listingExit is the exit status of a listing that failed: bad
// configuration when the API refused the credentials (or none could be
// had), else a failed run (the service's retries ran out, say).
func listingExit(err error) int {
	if _, refused := extract.RefusedCredentials(err); refused {
		return exitUsage
	}
	return exitFailed
}

// discoveryWorkers is how many functions discovery lists at once where
// the command has no --concurrency (etl discover).
const discoveryWorkers = 8

// firstDiscoveryError is the failure of the first function (in the order
// named) whose listing failed for a reason of its own, rather than
// stopped by another's failure (stopped); nil when none failed.
func firstDiscoveryError(errs []error, stopped []bool) error {
	var other error
	for i, err := range errs {
		switch {
		case err == nil:
		case !stopped[i]:
			return err
		case other == nil:
			other = err
		}
	}
	return other
}

// manifestOf writes found executions as a JSON Lines manifest, ARN and
// start time (StartTimestamp, RFC 3339), in the sealed list's order:
// oldest first (an execution without a start time last, the rest of one
// start in the order listed). A run over it archives executions in start
// order, knows which start date (partition) each is expected in, and
// publishes each date's files once its last execution is done. An error
// is w's or the list's (its file unreadable).
func manifestOf(w io.Writer, found *foundList) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range found.len() {
		line := struct {
			DurableExecutionArn string
			StartTimestamp      string `json:",omitempty"`
		}{DurableExecutionArn: found.arn(i)}
		if t := found.start(i); t != nil {
			line.StartTimestamp = t.Format(time.RFC3339Nano)
		}
		if err := found.Err(); err != nil {
			return err
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

// discoveredManifest is the manifest a run archives for --function, in a
// temporary file (removed by its Close) rather than in memory.
func discoveredManifest(found *foundList, opts []extract.ManifestOption) (*extract.Manifest, error) {
	return extract.SpooledManifest("(discovered by --function)", func(w io.Writer) error {
		return manifestOf(w, found)
	}, opts...)
}

func discoverCommand() *cli.Command {
	flags := append(discoveryFlags(),
		&cli.StringFlag{Name: "endpoint-url", Usage: "the Lambda API endpoint `URL`", EnvVars: env("endpoint-url")},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION`", EnvVars: env("region")},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`", EnvVars: env("profile")},
		&cli.DurationFlag{Name: "request-timeout", Usage: "timeout of one API request attempt", EnvVars: env("request-timeout"), Value: 60 * time.Second},
		&cli.IntFlag{Name: "max-attempts", Usage: "attempts per API call, retries included", EnvVars: env("max-attempts"), Value: 5},
		&cli.StringFlag{Name: "output", Usage: "write the manifest to `FILE` (default: standard output)", EnvVars: env("output")},
	)
	flags = append(flags, logFlags()...)
	return &cli.Command{
		Name:  "discover",
		Usage: "print the executions of functions as a manifest (JSON Lines: ARN and start time, oldest first)",
		Description: `Lists every execution of each --function (every version and alias), or of
every durable function with --all-functions, with the same filters as etl
run, and prints them as a manifest without tokens:
etl run --manifest archives them through history. For split discovery and
sharded runs (--shard).

Example:
  etl discover --function orders --started-after 7d > manifest.jsonl`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			logger, err := loggerFromFlags(c) // first, as run's
			if err != nil {
				return err
			}
			if c.Args().Present() {
				return usageError("discover: unexpected argument %q", c.Args().First())
			}
			d, err := parseDiscovery(c, time.Now())
			if err != nil {
				return err
			}
			if !d.enabled() {
				return usageError("discover: give --function NAME|ARN (repeatable) or --all-functions")
			}
			if err := checkTempDir(); err != nil {
				return err
			}
			d.noRetention = true
			ctx, stop := signalContext(c)
			defer stop()
			client, err := clientFromFlags(ctx, c, logger, nil)
			if err != nil {
				return err
			}
			found, fns, err := discover(ctx, client, d, logger.Debug)
			if err != nil {
				return err
			}
			defer found.close()
			if len(fns) == 0 {
				say(c, slog.LevelWarn, "warning: ", noFunctions)
			}
			for _, f := range fns {
				say(c, slog.LevelInfo, "", fmt.Sprintf("function %s: %d executions", f.name, f.found))
				if f.unlisted != "" {
					say(c, slog.LevelWarn, "warning: ", unlistedWarning(f))
				}
			}
			if out := c.String("output"); out != "" {
				if err := spool.WriteFile(out, func(w io.Writer) error { return manifestOf(w, found) }); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("--output %s: %w", out, err)}
				}
			} else if err := manifestOf(c.App.Writer, found); err != nil {
				return err
			}
			if msg := notListed(fns); msg != "" {
				return &exitError{code: exitFailed, err: errors.New(msg)}
			}
			return nil
		},
	}
}
