package extract

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/durable-etl/durable-etl/internal/arnkey"
)

// DiscoverAPI is what discovery needs of the Lambda client.
type DiscoverAPI interface {
	lambda.ListDurableExecutionsByFunctionAPIClient
	lambda.ListVersionsByFunctionAPIClient
	lambda.ListAliasesAPIClient
}

// Filter narrows discovery, as ListDurableExecutionsByFunction does: start
// time strictly between StartedAfter and StartedBefore (either may be
// nil), and a status among Statuses (empty: any).
type Filter struct {
	StartedAfter, StartedBefore *time.Time
	Statuses                    []types.ExecutionStatus
}

// keeps reports whether a listed execution passes f: the listing is
// filtered by the service, and again here for a service that ignores a
// filter. Never stricter than the service: the bounds are inclusive,
// statuses compare without case, and what an item does not say (no start
// time, no status) passes.
func (f Filter) keeps(e types.Execution) bool {
	if t := e.StartTimestamp; t != nil && (f.StartedAfter != nil && t.Before(*f.StartedAfter) || f.StartedBefore != nil && t.After(*f.StartedBefore)) {
		return false
	}
	return len(f.Statuses) == 0 || e.Status == "" || slices.ContainsFunc(f.Statuses, func(s types.ExecutionStatus) bool {
		return strings.EqualFold(string(s), string(e.Status))
	})
}

// Found is one execution discovery listed. Its ARN and Status share a
// buffer with the rest of the listing's page (as the SDK decodes it): a
// caller that keeps many copies what it keeps, or keeps every page.
type Found struct {
	ARN        string
	Status     types.ExecutionStatus
	Start, End *time.Time
}

// FunctionNotFoundError reports a --function the API does not know.
type FunctionNotFoundError struct{ Function string }

func (e *FunctionNotFoundError) Error() string {
	return fmt.Sprintf("function %s: not found (ResourceNotFoundException)", e.Function)
}

// DiscoverStats says how discovery went for one function.
type DiscoverStats struct {
	// Qualifiers lists the qualifiers listed one by one ("" is the
	// unqualified listing).
	Qualifiers []string
	Listed     int // items the listings returned, duplicates included
	Found      int // distinct executions
	// Refused lists the qualifiers the service refused (404 or 400): a
	// version deleted meanwhile, or $LATEST.PUBLISHED with none published.
	Refused []string
	// Unlisted, when set, says why the function's versions or aliases
	// could not be listed (ListVersionsByFunction or ListAliases failed:
	// a policy without them, or an endpoint that serves only the durable
	// operations), or the first qualifier whose listing failed otherwise
	// than by a refusal: its executions were listed without them, so if
	// the service lists $LATEST only, those of published versions may
	// have been missed.
	Unlisted string
	// VersionsListed: discovery listed the function's versions
	// (ListVersionsByFunction), and RetentionDays is the shortest
	// history retention they give (0 when none does), as
	// FunctionRetention would say, without its call.
	VersionsListed bool
	RetentionDays  int32
}

// Discover lists every execution of function fn (a name, a partial ARN
// ACCOUNT:function:NAME or an ARN, optionally with a :QUALIFIER) that
// matches f, calling yield once per distinct ARN.
//
// The documentation disagrees on what an unqualified name lists: every
// version (the Go SDK) or $LATEST only (botocore, the API reference).
// Discovery does not depend on either reading: it lists unqualified, and
// unless that listing already returned an execution of a version other
// than $LATEST (which proves the first reading), it also lists
// $LATEST.PUBLISHED, each published version (ListVersionsByFunction) and
// each alias (ListAliases), keeping each ARN once. A qualified fn lists that
// qualifier only. A function the API does not know is a
// *FunctionNotFoundError; other failures are *ExecutionError-shaped
// API errors after the client's retries.
func Discover(ctx context.Context, api DiscoverAPI, fn string, f Filter, yield func(Found) error) (DiscoverStats, error) {
	var st DiscoverStats
	seen := map[arnkey.Key]struct{}{} // by the ARN's hash: 16 bytes an ARN, not the ARN
	otherVersion := false
	list := func(qualifier string) error {
		st.Qualifiers = append(st.Qualifiers, qualifier)
		in := &lambda.ListDurableExecutionsByFunctionInput{FunctionName: aws.String(fn), MaxItems: 1000,
			StartedAfter: f.StartedAfter, StartedBefore: f.StartedBefore, Statuses: f.Statuses}
		if qualifier != "" {
			in.Qualifier = aws.String(qualifier)
		}
		p := lambda.NewListDurableExecutionsByFunctionPaginator(api, in, func(o *lambda.ListDurableExecutionsByFunctionPaginatorOptions) {
			o.StopOnDuplicateToken = true
		})
		var m markers
		for n := 1; p.HasMorePages(); n++ {
			out, err := p.NextPage(ctx)
			if err != nil {
				return discoverError(fn, err)
			}
			if m.repeated(out.NextMarker) {
				return listingError(fn, &ExecutionError{ARN: fn, Code: "RepeatedMarker", Reason: repeatedMarkerReason(n, "listing")})
			}
			for _, e := range out.DurableExecutions {
				st.Listed++
				arn := aws.ToString(e.DurableExecutionArn)
				if q := arnQualifier(arn); q != "" && q != "$LATEST" {
					otherVersion = true
				}
				key := arnkey.Of(arn)
				if _, dup := seen[key]; arn == "" || dup || !f.keeps(e) {
					continue
				}
				seen[key] = struct{}{}
				st.Found++
				if err := yield(Found{ARN: arn, Status: e.Status, Start: e.StartTimestamp, End: e.EndTimestamp}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if qualifierOf(fn) != "" {
		return st, list("")
	}
	if err := list(""); err != nil {
		return st, err
	}
	if otherVersion {
		return st, nil
	}
	// The versions and aliases only widen the listing: when they cannot
	// be listed, what the unqualified listing found is still archived,
	// and the caller is told (Unlisted).
	quals, err := publishedQualifiers(ctx, api, fn, &st)
	if err != nil {
		if ctx.Err() != nil {
			return st, err
		}
		st.Unlisted = err.Error()
	}
	for _, q := range quals {
		if err := list(q); err != nil {
			// A qualifier that no longer exists (a version deleted since it
			// was listed) or that the service does not take for this
			// function ($LATEST.PUBLISHED before anything was published) has
			// nothing to list.
			var nf *FunctionNotFoundError
			var api smithy.APIError
			if errors.As(err, &nf) || errors.As(err, &api) && api.ErrorCode() == codeRejected {
				st.Refused = append(st.Refused, q)
				continue
			}
			if ctx.Err() != nil {
				return st, err
			}
			// Any other failure, after the client's retries, loses only
			// what this qualifier alone would have listed: say so.
			st.Unlisted = cmp.Or(st.Unlisted, briefError("ListDurableExecutionsByFunction "+q, err).Error())
		}
	}
	return st, nil
}

// publishedQualifiers is what to list besides the unqualified name:
// $LATEST.PUBLISHED, every published version, every alias; once the
// versions are all listed, it notes their retention in st. On an error it
// also returns those it listed before.
func publishedQualifiers(ctx context.Context, api DiscoverAPI, fn string, st *DiscoverStats) ([]string, error) {
	quals := []string{"$LATEST.PUBLISHED"}
	var days int32
	vp := lambda.NewListVersionsByFunctionPaginator(api, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(fn)})
	var vm markers
	for n := 1; vp.HasMorePages(); n++ {
		out, err := vp.NextPage(ctx)
		if err != nil {
			return quals, briefError("ListVersionsByFunction", err)
		}
		if vm.repeated(out.NextMarker) {
			return quals, repeatedError("ListVersionsByFunction", n, "versions")
		}
		for _, v := range out.Versions {
			if q := aws.ToString(v.Version); q != "" && q != "$LATEST" {
				quals = append(quals, q)
			}
			days = shorterRetention(days, v)
		}
	}
	st.VersionsListed, st.RetentionDays = true, days
	ap := lambda.NewListAliasesPaginator(api, &lambda.ListAliasesInput{FunctionName: aws.String(fn)})
	var am markers
	for n := 1; ap.HasMorePages(); n++ {
		out, err := ap.NextPage(ctx)
		if err != nil {
			return quals, briefError("ListAliases", err)
		}
		if am.repeated(out.NextMarker) {
			return quals, repeatedError("ListAliases", n, "aliases")
		}
		for _, a := range out.Aliases {
			if q := aws.ToString(a.Name); q != "" {
				quals = append(quals, q)
			}
		}
	}
	return quals, nil
}

// arnQualifier is the QUALIFIER of a durable execution ARN, or "".
func arnQualifier(arn string) string {
	parts := strings.SplitN(arn, ":", 8)
	if len(parts) != 8 {
		return ""
	}
	q, _, _ := strings.Cut(parts[7], "/")
	return q
}

// qualifierOf is the qualifier a --function value carries, or "".
func qualifierOf(fn string) string {
	parts := strings.Split(fn, ":")
	switch {
	case len(parts) == 8 && parts[0] == "arn":
		return parts[7]
	case len(parts) == 4 && parts[1] == "function":
		return parts[3]
	case len(parts) == 2:
		return parts[1]
	}
	return ""
}

// briefError is op's failure in one line, as an execution's is told
// (an *ExecutionError behind it, for errors.As).
func briefError(op string, err error) error {
	ee := classify(Entry{}, op, err)
	return &toldError{told: ee.Reason, err: ee}
}

// repeatedError is briefError's for a repeated marker on page n of op's
// listing of what.
func repeatedError(op string, n int, what string) error {
	ee := &ExecutionError{Code: "RepeatedMarker", Reason: op + ": " + repeatedMarkerReason(n, "list of "+what)}
	return &toldError{told: ee.Reason, err: ee}
}

func discoverError(fn string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == codeNotFound {
		return &FunctionNotFoundError{Function: fn}
	}
	return listingError(fn, classify(Entry{ARN: fn}, "ListDurableExecutionsByFunction", err))
}

// listingError is the failure of fn's listing, told in one line.
func listingError(fn string, ee *ExecutionError) error {
	return &toldError{told: fmt.Sprintf("discover function %s: %s", fn, ee.Reason), err: ee}
}

// toldError is err told in one line: the SDK's own text, which repeats
// the reason at length, stays behind Unwrap for errors.As.
type toldError struct {
	told string
	err  error
}

func (e *toldError) Error() string { return e.told }
func (e *toldError) Unwrap() error { return e.err }
