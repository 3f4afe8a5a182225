package extract

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// HistoryAPI is what the history source needs of the Lambda client: the two
// operations that read an execution without a checkpoint token.
type HistoryAPI interface {
	GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error)
	lambda.GetDurableExecutionHistoryAPIClient
}

// HistoryPage is one page of an execution's history.
type HistoryPage struct {
	Number int // from 1
	Events []types.Event
}

// Describe reads GetDurableExecution (with its execution data) for one
// execution; a failure is an *ExecutionError.
func Describe(ctx context.Context, api HistoryAPI, arn string) (*lambda.GetDurableExecutionOutput, error) {
	out, err := api.GetDurableExecution(ctx, &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(true)})
	if err != nil {
		return nil, classify(Entry{ARN: arn}, 0, err)
	}
	return out, nil
}

// DrainHistory reads every page of one execution's history, oldest event
// first, calling fn for each, exactly as [Drain] does for state: pageSize is
// MaxItems (1..1000); a repeated NextMarker fails the execution
// ("RepeatedMarker") instead of archiving a truncated history; a failed
// call or an error from fn stops it with an *ExecutionError.
func DrainHistory(ctx context.Context, api HistoryAPI, arn string, pageSize int32, fn func(context.Context, HistoryPage) error) error {
	p := lambda.NewGetDurableExecutionHistoryPaginator(api, &lambda.GetDurableExecutionHistoryInput{
		DurableExecutionArn:  aws.String(arn),
		IncludeExecutionData: aws.Bool(true),
		MaxItems:             pageSize,
	}, func(o *lambda.GetDurableExecutionHistoryPaginatorOptions) { o.StopOnDuplicateToken = true })
	return drainPages(ctx, Entry{ARN: arn}, "history", p, func(out *lambda.GetDurableExecutionHistoryOutput) *string { return out.NextMarker },
		func(n int, out *lambda.GetDurableExecutionHistoryOutput) error {
			return fn(ctx, HistoryPage{Number: n, Events: out.Events})
		})
}

// NewestEventID asks for the newest event of one execution's history in
// one small call (ReverseOrder, two events, no payloads), so that a rerun
// can tell that nothing happened since it last archived the execution.
// The sources disagree on what ReverseOrder lists first, so known is true
// only when the answer proves which event is the newest: two events in
// descending id order, or a history of at most one event. A failure is an
// *ExecutionError.
func NewestEventID(ctx context.Context, api HistoryAPI, arn string) (id int32, known bool, err error) {
	out, err := api.GetDurableExecutionHistory(ctx, &lambda.GetDurableExecutionHistoryInput{
		DurableExecutionArn: aws.String(arn), ReverseOrder: aws.Bool(true), MaxItems: 2, IncludeExecutionData: aws.Bool(false),
	})
	if err != nil {
		return 0, false, classify(Entry{ARN: arn}, 0, err)
	}
	ev := out.Events
	for _, e := range ev {
		if e.EventId == nil {
			return 0, false, nil
		}
	}
	switch {
	case len(ev) == 0 && out.NextMarker == nil:
		return 0, true, nil
	case len(ev) == 1 && out.NextMarker == nil:
		return *ev[0].EventId, true, nil
	case len(ev) >= 2 && *ev[0].EventId > *ev[1].EventId:
		return *ev[0].EventId, true, nil
	}
	return 0, false, nil
}
