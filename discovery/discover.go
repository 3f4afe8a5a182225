package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/sync/errgroup"

	"github.com/durable-etl/durable-etl/extract"
)

// Config is what to discover: the functions named (Functions) and, with
// All, every durable function FunctionFilter keeps, then their
// executions that Filter keeps.
type Config struct {
	// Functions are named functions (a name, partial ARN or ARN, with or
	// without a qualifier): one that does not exist stops the discovery
	// (*extract.FunctionNotFoundError).
	Functions []string
	// All lists every durable function of the region (ListFunctions)
	// that FunctionFilter keeps.
	All            bool
	FunctionFilter extract.FunctionFilter
	// Filter keeps the executions of a start window and statuses.
	Filter extract.Filter
	// NoRetention: the caller needs no function's history retention (a
	// manifest printed), so none is looked up.
	NoRetention bool
	// Workers is how many functions are listed at once; 0 is 8.
	Workers int
	// RetryFailedAfter is the least time between a function's listing
	// failing for a passing reason (extract.ExecutionError.Passing:
	// throttled, a 5xx, no answer) and its one more listing, from the
	// start, after every other function's: a function left out is all of
	// its executions left for the night. 0: no second listing.
	RetryFailedAfter time.Duration
}

// Enabled reports whether c discovers anything (a function named, or
// All).
func (c Config) Enabled() bool { return len(c.Functions) > 0 || c.All }

// ConfigError is a Config that cannot be used: Field is the field at
// fault (its path in Config), Value the value at fault when there is one,
// Reason what is wrong. Discover returns it before any call.
type ConfigError struct {
	Field, Value, Reason string
}

func (e *ConfigError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("discovery config: %s %q: %s", e.Field, e.Value, e.Reason)
	}
	return fmt.Sprintf("discovery config: %s: %s", e.Field, e.Reason)
}

// maxStatuses is the most statuses ListDurableExecutionsByFunction takes.
const maxStatuses = 10

// Validate checks c before anything is listed (Discover calls it): each
// named function is 1 to 256 characters, as the API takes; the
// FunctionFilter's globs are well formed and it is set only with All; the
// Filter's window is not empty, its statuses are the API's (at most 10)
// and it is set only when something is discovered; Workers is not
// negative. The error is a *ConfigError.
func (c Config) Validate() error {
	for _, f := range c.Functions {
		if f == "" || len(f) > 256 {
			return &ConfigError{Field: "Functions", Value: f, Reason: "want a function name, partial ARN or ARN (1 to 256 characters)"}
		}
	}
	for _, g := range c.FunctionFilter.Exclude {
		if _, err := path.Match(g, ""); err != nil {
			return &ConfigError{Field: "FunctionFilter.Exclude", Value: g, Reason: err.Error()}
		}
	}
	if !c.All && (len(c.FunctionFilter.Prefix) > 0 || len(c.FunctionFilter.Exclude) > 0) {
		return &ConfigError{Field: "FunctionFilter", Reason: "narrows All: set All too"}
	}
	if a, b := c.Filter.StartedAfter, c.Filter.StartedBefore; a != nil && b != nil && !a.Before(*b) {
		return &ConfigError{Field: "Filter.StartedAfter", Value: a.Format(time.RFC3339Nano), Reason: "is not before Filter.StartedBefore " + b.Format(time.RFC3339Nano)}
	}
	known := types.ExecutionStatus("").Values()
	for _, st := range c.Filter.Statuses {
		if !slices.Contains(known, st) {
			names := make([]string, len(known))
			for i, k := range known {
				names[i] = string(k)
			}
			return &ConfigError{Field: "Filter.Statuses", Value: string(st), Reason: "want one of " + strings.Join(names, ", ")}
		}
	}
	if len(c.Filter.Statuses) > maxStatuses {
		return &ConfigError{Field: "Filter.Statuses", Reason: fmt.Sprintf("at most %d statuses", maxStatuses)}
	}
	if !c.Enabled() && (c.Filter.StartedAfter != nil || c.Filter.StartedBefore != nil || c.Filter.Statuses != nil) {
		return &ConfigError{Field: "Filter", Reason: "filters Functions and All: set one"}
	}
	if c.Workers < 0 {
		return &ConfigError{Field: "Workers", Value: strconv.Itoa(c.Workers), Reason: "want 0 (8) or more"}
	}
	return nil
}

// API is what discovery needs of the client.
type API interface {
	extract.DiscoverAPI
	extract.FunctionsAPI
}

// Function is one function discovery listed, and what it learnt of it.
type Function struct {
	Name          string
	RetentionDays int32 // its history retention; 0: unknown
	Found         int   // executions listed (each ARN once)
	// Named: given in Config.Functions (else found by All), so not
	// finding it is the caller's error.
	Named    bool
	Unlisted string // why its versions and aliases were not listed, if they were not
	// ListingFailed: why its executions could not be listed, if they
	// could not (the other functions' are listed all the same: one
	// function's denied listing must not keep the rest from being
	// archived before their history expires).
	ListingFailed string
	// RetentionUnknown: why its history retention could not be read (the
	// service's default is then assumed), if it could not.
	RetentionUnknown string
}

// Discover lists the functions (with All: every durable function the
// filter keeps; and each named one), then each function's executions into
// a sealed List, each ARN once (its first listing). logf must be safe for
// concurrent use: each function's "discovered" line is logged as it is
// done. A function whose listing fails is noted in its Function
// (ListingFailed) and the others are listed all the same; the error
// returned stops them all: a Config that does not validate (*ConfigError,
// before any call), ctx's, a named function that does not exist
// (*extract.FunctionNotFoundError), credentials refused
// (extract.RefusedCredentials), ListFunctions failing, or the list's
// temporary file. On an error no List is returned.
func Discover(ctx context.Context, api API, d Config, logf func(msg string, args ...any)) (*List, []Function, error) {
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	var fns []Function
	seenFn := map[string]bool{}
	if d.All {
		durable, err := extract.DurableFunctions(ctx, api, d.FunctionFilter)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range durable {
			fns = append(fns, Function{Name: f.Name, RetentionDays: f.RetentionDays})
			seenFn[f.Name] = true
			logf("durable function", "function", f.Name, "retention_days", f.RetentionDays, "durable_versions", f.Versions)
		}
	}
	for _, fn := range d.Functions {
		if !seenFn[fn] {
			seenFn[fn] = true
			fns = append(fns, Function{Name: fn, Named: true})
		}
	}
	out, err := NewList()
	if err != nil {
		return nil, nil, err
	}
	if err := listFunctions(ctx, api, d, fns, out, logf); err != nil {
		out.Close()
		return nil, nil, err
	}
	if err := out.Seal(func(fn int) { fns[fn].Found-- }); err != nil {
		out.Close()
		return nil, nil, err
	}
	return out, fns, nil
}

// listFunctions lists the executions of fns into out, d.Workers functions
// at a time (an account's nightly run, whose executions are mostly
// archived already, spends most of its time here, a call's latency at a
// time), and notes what it learnt of each in fns. Each function's listing
// is its own worker's; out sorts what they add into one order whatever the
// interleaving (start, then function, then listing). A function whose
// listing fails (access denied, retries run out) is noted
// (listingFailed) and the others go on; what it listed before stays. One
// that failed for a passing reason is listed again once, from the start,
// after the others, no sooner than d.RetryFailedAfter after it failed
// (what both listings found is kept once, by out's Seal).
// Once twice Workers listings in a row (at least 8) had no answer (the
// API out of reach, or answering nothing), none answered between, the
// functions left are not asked, each noted as not listed, and why.
// Two failures stop them all (stopsDiscovery): a function named by
// --function that does not exist, and credentials that do not work. The
// error returned is ctx's, else that of the first function, in the order
// named, that stopped them for a reason of its own.
func listFunctions(ctx context.Context, api API, d Config, fns []Function, out *List, logf func(msg string, args ...any)) error {
	stats := make([]extract.DiscoverStats, len(fns))
	errs := make([]error, len(fns))
	stopped := make([]bool, len(fns)) // its error came once another's had stopped the rest
	var outMu sync.Mutex
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := cmp.Or(max(d.Workers, 0), defaultWorkers)
	// The listings left are given up (listCtx's cause) once as many in a
	// row as noAnswerAfter had no answer (extract.NoAnswer: the API could
	// not be reached, or took the calls and answered none), none answered
	// between: every one left would fail alike, each after its retries
	// (minutes, when the calls go unanswered). The functions listed stay
	// listed, and the run archives their executions.
	listCtx, giveUp := context.WithCancelCause(gctx)
	defer giveUp(nil)
	row := extract.NewNoAnswerRow(max(2*workers, 8))
	var g errgroup.Group
	g.SetLimit(workers)
	var againMu sync.Mutex
	var again []int // the functions whose listing failed for a passing reason, in that order
	failedAt := map[int]time.Time{}
	list := func(i int) func() error {
		return func() error {
			fn := &fns[i]
			if listCtx.Err() != nil && gctx.Err() == nil {
				fn.ListingFailed = context.Cause(listCtx).Error()
				return nil
			}
			stats[i], errs[i] = extract.Discover(listCtx, api, fn.Name, d.Filter, func(f extract.Found) error {
				fn.Found++
				outMu.Lock()
				defer outMu.Unlock()
				return out.Add(f, i)
			})
			if err := errs[i]; err != nil {
				switch {
				case gctx.Err() == nil && listCtx.Err() != nil:
					errs[i], fn.ListingFailed = nil, context.Cause(listCtx).Error()
				case gctx.Err() == nil && !stopsDiscovery(err, fn.Named):
					errs[i], fn.ListingFailed = nil, err.Error()
					if ee := (*extract.ExecutionError)(nil); errors.As(err, &ee) && ee.Passing() {
						againMu.Lock()
						again, failedAt[i] = append(again, i), time.Now()
						againMu.Unlock()
					}
					if n, told, reached, ok := row.Note(err); ok {
						giveUp(notListed(n, told, reached))
					}
				default:
					stopped[i] = gctx.Err() != nil
					cancel()
				}
				return nil
			}
			row.Note(nil)
			st := stats[i]
			if fn.RetentionDays == 0 && !d.NoRetention {
				// A function named by --function: how long the service
				// keeps its executions' history, for the retention
				// warning, from the versions discovery listed, else
				// listed for it.
				days, err := st.RetentionDays, error(nil)
				if !st.VersionsListed {
					days, err = extract.FunctionRetention(gctx, api, fn.Name)
				}
				if err != nil {
					fn.RetentionUnknown = err.Error()
				}
				fn.RetentionDays = days
			}
			fn.Unlisted = st.Unlisted
			// As each function is done, for an operator watching a long
			// discovery: in the order they finish.
			logf("discovered", "function", fn.Name, "executions", st.Found, "listed", st.Listed, "qualifiers", st.Qualifiers, "qualifiers_refused", st.Refused)
			return nil
		}
	}
	for i := range fns {
		g.Go(list(i))
	}
	g.Wait()
	if first := again; len(first) > 0 && d.RetryFailedAfter > 0 && listCtx.Err() == nil {
		again = nil
		logf("listing again the functions whose listing failed for a passing reason", "functions", len(first), "after", d.RetryFailedAfter)
	relist:
		for _, i := range first {
			select {
			case <-listCtx.Done():
				break relist
			case <-time.After(time.Until(failedAt[i].Add(d.RetryFailedAfter))):
			}
			fns[i].ListingFailed = ""
			g.Go(list(i))
		}
		g.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstDiscoveryError(errs, stopped)
}

// notListed is why the listings left are given up once n in a row had no
// answer, the last told (reached: the API took them and answered none).
func notListed(n int, told string, reached bool) error {
	if reached {
		return fmt.Errorf("not listed: the Lambda API answered none of %d listings in a row (last: %s)", n, told)
	}
	return fmt.Errorf("not listed: the Lambda API could not be reached for %d listings in a row (last: %s)", n, told)
}

// stopsDiscovery reports a listing failure that stops every listing: a
// named function that does not exist (the caller's error), and
// credentials that do not work (every listing would fail alike).
func stopsDiscovery(err error, named bool) bool {
	var nf *extract.FunctionNotFoundError
	_, refused := extract.RefusedCredentials(err)
	return named && errors.As(err, &nf) || refused
}

// ListingFailures are why the listings of fns that failed did, in fns'
// order.
func ListingFailures(fns []Function) []string {
	var out []string
	for _, f := range fns {
		if f.ListingFailed != "" {
			out = append(out, f.ListingFailed)
		}
	}
	return out
}

// defaultWorkers is how many functions discovery lists at once when
// Config.Workers is 0.
const defaultWorkers = 8

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

// WriteManifest writes found executions as a JSON Lines manifest, ARN and
// start time (StartTimestamp, RFC 3339), in the sealed list's order:
// oldest first (an execution without a start time last, the rest of one
// start in the order listed). A run over it archives executions in start
// order, knows which start date (partition) each is expected in, and
// publishes each date's files once its last execution is done. An error
// is w's or the list's (its file unreadable).
func WriteManifest(w io.Writer, found *List) error {
	mw := extract.NewManifestWriter(w)
	for i := range found.Len() {
		arn, start := found.ARN(i), found.Start(i)
		if err := found.Err(); err != nil {
			return err
		}
		if err := mw.Write(arn, start); err != nil {
			return err
		}
	}
	return nil
}

// Manifest is found as the manifest a run archives (WriteManifest's), in
// a temporary file (removed by its Close) rather than in memory.
func Manifest(found *List, opts []extract.ManifestOption) (*extract.Manifest, error) {
	return extract.SpooledManifest("(discovered by --function)", func(w io.Writer) error {
		return WriteManifest(w, found)
	}, opts...)
}
