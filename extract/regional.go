package extract

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Regional is a Lambda client whose calls about an execution or a function
// named by ARN go to the ARN's region when it is not the client's: a
// manifest may hold executions of several regions (or --function an ARN
// of another), and a regional endpoint knows only its own region's (it
// answers ResourceNotFoundException for the others). Calls that name no
// ARN (a function by name, ListFunctions) go to the client's region. It
// has every method of *lambda.Client; the routed ones are below.
type Regional struct{ *lambda.Client }

// in appends to opts the region of arn when it is not the client's.
func (r Regional) in(arn *string, opts []func(*lambda.Options)) []func(*lambda.Options) {
	region := arnRegion(aws.ToString(arn))
	if region == "" || region == r.Client.Options().Region {
		return opts
	}
	return append(opts, func(o *lambda.Options) { o.Region = region })
}

// arnRegion is the region of an ARN (arn:PARTITION:SERVICE:REGION:...),
// "" for what is not one (a function's name or partial ARN).
func arnRegion(s string) string {
	parts := strings.SplitN(s, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// GetDurableExecution calls the execution's region.
func (r Regional) GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error) {
	return r.Client.GetDurableExecution(ctx, in, r.in(in.DurableExecutionArn, opts)...)
}

// GetDurableExecutionHistory calls the execution's region.
func (r Regional) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	return r.Client.GetDurableExecutionHistory(ctx, in, r.in(in.DurableExecutionArn, opts)...)
}

// GetDurableExecutionState calls the execution's region.
func (r Regional) GetDurableExecutionState(ctx context.Context, in *lambda.GetDurableExecutionStateInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionStateOutput, error) {
	return r.Client.GetDurableExecutionState(ctx, in, r.in(in.DurableExecutionArn, opts)...)
}

// ListDurableExecutionsByFunction calls the function's region.
func (r Regional) ListDurableExecutionsByFunction(ctx context.Context, in *lambda.ListDurableExecutionsByFunctionInput, opts ...func(*lambda.Options)) (*lambda.ListDurableExecutionsByFunctionOutput, error) {
	return r.Client.ListDurableExecutionsByFunction(ctx, in, r.in(in.FunctionName, opts)...)
}

// ListVersionsByFunction calls the function's region.
func (r Regional) ListVersionsByFunction(ctx context.Context, in *lambda.ListVersionsByFunctionInput, opts ...func(*lambda.Options)) (*lambda.ListVersionsByFunctionOutput, error) {
	return r.Client.ListVersionsByFunction(ctx, in, r.in(in.FunctionName, opts)...)
}

// ListAliases calls the function's region.
func (r Regional) ListAliases(ctx context.Context, in *lambda.ListAliasesInput, opts ...func(*lambda.Options)) (*lambda.ListAliasesOutput, error) {
	return r.Client.ListAliases(ctx, in, r.in(in.FunctionName, opts)...)
}
