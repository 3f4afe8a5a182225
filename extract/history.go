package extract

import (
	"context"
	"errors"
	"fmt"

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
	e := Entry{ARN: arn}
	p := lambda.NewGetDurableExecutionHistoryPaginator(api, &lambda.GetDurableExecutionHistoryInput{
		DurableExecutionArn:  aws.String(arn),
		IncludeExecutionData: aws.Bool(true),
		MaxItems:             pageSize,
	}, func(o *lambda.GetDurableExecutionHistoryPaginatorOptions) { o.StopOnDuplicateToken = true })
	var marker *string
	for n := 1; p.HasMorePages(); n++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return classify(e, n, err)
		}
		if marker != nil && out.NextMarker != nil && *out.NextMarker == *marker {
			return &ExecutionError{ARN: arn, Code: "RepeatedMarker", Reason: fmt.Sprintf("history page %d: the API handed back the marker it was given; the history would be incomplete", n)}
		}
		marker = out.NextMarker
		if err := fn(ctx, HistoryPage{Number: n, Events: out.Events}); err != nil {
			var ee *ExecutionError
			if errors.As(err, &ee) {
				return ee
			}
			return &ExecutionError{ARN: arn, Code: "load", Reason: redact(err.Error(), ""), Err: err}
		}
	}
	return nil
}
