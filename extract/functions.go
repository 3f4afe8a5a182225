package extract

import (
	"context"
	"path"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// FunctionsAPI is what finding durable functions needs of the client.
type FunctionsAPI interface {
	lambda.ListFunctionsAPIClient
}

// DurableFunction is a function some version of which carries a
// DurableConfig.
type DurableFunction struct {
	Name string
	// RetentionDays is the shortest RetentionPeriodInDays among its durable
	// versions (0 when none says): history is deleted that long after an
	// execution ends.
	RetentionDays int32
	// Versions are the versions that are durable.
	Versions []string
}

// FunctionFilter narrows the functions found: Prefix keeps names that start
// with one of its entries (empty: all); Exclude drops names that match one
// of its globs (path.Match syntax).
type FunctionFilter struct {
	Prefix, Exclude []string
}

func (f FunctionFilter) keep(name string) bool {
	if len(f.Prefix) > 0 {
		ok := false
		for _, p := range f.Prefix {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			return false
		}
	}
	for _, g := range f.Exclude {
		if m, _ := path.Match(g, name); m {
			return false
		}
	}
	return true
}

// DurableFunctions pages ListFunctions with FunctionVersion=ALL (so that a
// function whose $LATEST is not durable but a published version is, is not
// missed) and returns the functions with a DurableConfig that f keeps,
// sorted by name. Failures come after the client's retries.
func DurableFunctions(ctx context.Context, api FunctionsAPI, f FunctionFilter) ([]DurableFunction, error) {
	byName := map[string]*DurableFunction{}
	p := lambda.NewListFunctionsPaginator(api, &lambda.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll, MaxItems: aws.Int32(50)})
	var m markers
	for n := 1; p.HasMorePages(); n++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			ee := classify(Entry{ARN: "ListFunctions"}, "ListFunctions", err)
			return nil, &toldError{told: "list functions: " + ee.Reason, err: ee}
		}
		if m.repeated(out.NextMarker) {
			return nil, repeatedError("list functions: ListFunctions", n, "functions")
		}
		for _, fc := range out.Functions {
			name := aws.ToString(fc.FunctionName)
			if fc.DurableConfig == nil || name == "" || !f.keep(name) {
				continue
			}
			d := byName[name]
			if d == nil {
				d = &DurableFunction{Name: name}
				byName[name] = d
			}
			d.Versions = append(d.Versions, aws.ToString(fc.Version))
			if r := aws.ToInt32(fc.DurableConfig.RetentionPeriodInDays); r > 0 && (d.RetentionDays == 0 || r < d.RetentionDays) {
				d.RetentionDays = r
			}
		}
	}
	out := make([]DurableFunction, 0, len(byName))
	for _, d := range byName {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FunctionRetention is the shortest history retention
// (DurableConfig.RetentionPeriodInDays) among fn's versions, as
// ListVersionsByFunction reports them: the service deletes an execution's
// history that long after it ends. fn is a name, a partial ARN or an ARN,
// with or without a qualifier (every version of the function counts: a
// shorter retention warns earlier, never later). 0 when no version says.
// Failures come after the client's retries, in one line.
func FunctionRetention(ctx context.Context, api lambda.ListVersionsByFunctionAPIClient, fn string) (int32, error) {
	var days int32
	p := lambda.NewListVersionsByFunctionPaginator(api, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(unqualifiedFunction(fn))})
	var m markers
	for n := 1; p.HasMorePages(); n++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, briefError("ListVersionsByFunction", err)
		}
		if m.repeated(out.NextMarker) {
			return 0, repeatedError("ListVersionsByFunction", n, "versions")
		}
		for _, v := range out.Versions {
			days = shorterRetention(days, v)
		}
	}
	return days, nil
}

// shorterRetention is the shorter of days (0: none yet) and the history
// retention of version v, when it gives one.
func shorterRetention(days int32, v types.FunctionConfiguration) int32 {
	if v.DurableConfig == nil {
		return days
	}
	if r := aws.ToInt32(v.DurableConfig.RetentionPeriodInDays); r > 0 && (days == 0 || r < days) {
		return r
	}
	return days
}

// unqualifiedFunction is fn without its qualifier (see qualifierOf).
func unqualifiedFunction(fn string) string {
	if q := qualifierOf(fn); q != "" {
		return strings.TrimSuffix(fn, ":"+q)
	}
	return fn
}
