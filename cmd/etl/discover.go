package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/discovery"
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
		&cli.DurationFlag{Name: "retry-failed-after", Usage: "with --function or --all-functions, a function's listing that ran out of --max-attempts for a passing reason (throttled, a 5xx answer, no answer in time, a connection that failed) is listed again after the others, and an execution whose archiving (etl run) or check (etl verify) failed so is tried once more after the others, each at least this long after it failed; 0 for never", EnvVars: env("retry-failed-after"), Value: time.Minute},
		&cli.StringFlag{Name: "status", Usage: "with --function: only executions in these statuses, `S[,S...]` of RUNNING, PAUSING, PAUSED, SUCCEEDED, FAILED, TIMED_OUT, STOPPED, DELETING", EnvVars: env("status")},
	}
}

// parseDiscovery reads the discovery flags; every error is a usage error
// naming the flag (discovery.Config.Validate checks what they make).
func parseDiscovery(c *cli.Context, now time.Time) (discovery.Config, error) {
	d := discovery.Config{Functions: c.StringSlice("function"), All: c.Bool("all-functions"), Workers: c.Int("concurrency"), RetryFailedAfter: c.Duration("retry-failed-after"),
		FunctionFilter: extract.FunctionFilter{Prefix: c.StringSlice("function-prefix"), Exclude: c.StringSlice("exclude-function")}}
	if d.RetryFailedAfter < 0 {
		return d, usageError("--retry-failed-after %v: must not be negative", d.RetryFailedAfter)
	}
	var err error
	if d.Filter.StartedAfter, err = parseWhen(c.String("started-after"), now); err != nil {
		return d, usageError("--started-after: %v", err)
	}
	if d.Filter.StartedBefore, err = parseWhen(c.String("started-before"), now); err != nil {
		return d, usageError("--started-before: %v", err)
	}
	if s := c.String("status"); s != "" {
		for _, st := range strings.Split(s, ",") {
			d.Filter.Statuses = append(d.Filter.Statuses, types.ExecutionStatus(strings.ToUpper(strings.TrimSpace(st))))
		}
	}
	var ce *discovery.ConfigError
	if err := d.Validate(); errors.As(err, &ce) {
		return d, usageError("%s", discoveryFlagError(ce, d))
	} else if err != nil {
		return d, usageError("%v", err)
	}
	return d, nil
}

// discoveryFlagError tells a discovery.Config's fault (ce, of d) by the
// flags that made it.
func discoveryFlagError(ce *discovery.ConfigError, d discovery.Config) string {
	switch ce.Field {
	case "Functions":
		return fmt.Sprintf("--function %q: %s", clipArg(ce.Value), ce.Reason)
	case "FunctionFilter.Exclude":
		return fmt.Sprintf("--exclude-function %q: %s", clipArg(ce.Value), ce.Reason)
	case "FunctionFilter":
		return "--function-prefix and --exclude-function narrow --all-functions: give --all-functions too"
	case "Filter.StartedAfter":
		return fmt.Sprintf("--started-after %s is not before --started-before %s", d.Filter.StartedAfter.Format(time.RFC3339), d.Filter.StartedBefore.Format(time.RFC3339))
	case "Filter.Statuses":
		if ce.Value != "" {
			return fmt.Sprintf("--status %q: %s", clipArg(ce.Value), ce.Reason)
		}
		return "--status: " + ce.Reason
	case "Filter":
		return "--started-after, --started-before and --status filter --function and --all-functions: give one"
	case "Workers":
		return fmt.Sprintf("--concurrency %s: want at least 1", ce.Value)
	}
	return ce.Error()
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
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
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

// warnFunctions logs what discovery could not learn of each function.
func warnFunctions(logger *slog.Logger, fns []discovery.Function) {
	if len(fns) == 0 {
		logger.Warn(noFunctions)
	}
	for _, f := range fns {
		if f.ListingFailed != "" {
			logger.Error("the function's executions could not be listed: this run leaves them out", "function", f.Name, "reason", f.ListingFailed)
		}
		if f.Unlisted != "" {
			logger.Warn(unlistedWarning(f), "function", f.Name)
		}
		if f.RetentionUnknown != "" {
			logger.Warn("history retention unknown: the retention warning assumes the service's default", "function", f.Name,
				"default_days", discovery.DefaultRetentionDays, "reason", f.RetentionUnknown)
		}
	}
}

// noFunctions is what a discovery that found no function says (only
// --all-functions can: --function names at least one): ListFunctions is
// the run's region's.
const noFunctions = "--all-functions found no durable function in the region (ListFunctions: none with a DurableConfig, after --function-prefix and --exclude-function): nothing to archive; is --region right?"

// unlistedWarning says what a function whose versions and aliases could
// not be listed means for the archive.
func unlistedWarning(f discovery.Function) string {
	return fmt.Sprintf("function %s: versions and aliases not listed (%s): if the service lists $LATEST only, executions of published versions were missed; allow lambda:ListVersionsByFunction and lambda:ListAliases", f.Name, f.Unlisted)
}

// notListed tells the functions whose listing failed, or "" when none did
// (three of them: a policy without the action denies every function).
func notListed(fns []discovery.Function) string {
	failed := discovery.ListingFailures(fns)
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

// discover is discovery.Discover with its errors as the command's: a
// function named by --function that does not exist is a usage error,
// credentials refused bad configuration (listingExit), the rest a failed
// run.
func discover(ctx context.Context, api discovery.API, d discovery.Config, logf func(msg string, args ...any)) (*discovery.List, []discovery.Function, error) {
	found, fns, err := discovery.Discover(ctx, api, d, logf)
	if err != nil {
		var nf *extract.FunctionNotFoundError
		if errors.As(err, &nf) {
			return nil, nil, usageError("--function: %v", err)
		}
		return nil, nil, &exitError{code: listingExit(err), err: err}
	}
	return found, fns, nil
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
			if !d.Enabled() {
				return usageError("discover: give --function NAME|ARN (repeatable) or --all-functions")
			}
			if err := checkTempDir(); err != nil {
				return err
			}
			d.NoRetention = true
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
			defer found.Close()
			if len(fns) == 0 {
				say(c, slog.LevelWarn, "warning: ", noFunctions)
			}
			for _, f := range fns {
				say(c, slog.LevelInfo, "", fmt.Sprintf("function %s: %d executions", f.Name, f.Found))
				if f.Unlisted != "" {
					say(c, slog.LevelWarn, "warning: ", unlistedWarning(f))
				}
			}
			if out := c.String("output"); out != "" {
				if err := spool.WriteFile(out, func(w io.Writer) error { return discovery.WriteManifest(w, found) }); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("--output %s: %w", out, err)}
				}
			} else if err := discovery.WriteManifest(c.App.Writer, found); err != nil {
				return outputError(err)
			}
			if msg := notListed(fns); msg != "" {
				return &exitError{code: exitFailed, err: errors.New(msg)}
			}
			return nil
		},
	}
}
