package transform

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/schema"
)

// Describe fills the executions row's GetDurableExecution columns from d
// (function_arn, version, result, error_*, retention_period_days,
// execution_timeout_seconds, kms_key_arn, trace_id,
// execution_data_included, expected_execution_timeout_time and the
// pause_* columns of PauseDetails). For a row of source history it also
// takes status, start_time, end_time and input_payload from out: there is
// no EXECUTION operation as the state API reports it. overflow_json keeps
// what those columns cannot: an Error or a PauseDetails with no members
// ({"Error":{},"PauseDetails":{}}), which they would read back as none,
// and the answer's members the SDK's model does not know (see
// [WithUnknown]).
func Describe(row *schema.Execution, d *extract.Description) {
	out := d.GetDurableExecutionOutput
	row.FunctionArn, row.Version, row.Result = out.FunctionArn, out.Version, out.Result
	row.ExecutionDataIncluded = out.ExecutionDataIncluded
	row.ExpectedTimeoutTime = millis(out.ExpectedExecutionTimeoutTimestamp)
	if p := out.PauseDetails; p != nil {
		row.PauseRequestTime, row.PauseTimeoutPaused, row.PauseReason = millis(p.PauseRequestTimestamp), p.ExecutionTimeoutPaused, p.Reason
	}
	var errOverflow *string
	row.ErrorType, row.ErrorMessage, row.ErrorData, row.ErrorStackTrace, errOverflow = ExecutionError(out.Error)
	var o Overflow
	if errOverflow != nil { // {"Error":{}}
		o.Error = &ErrorJSON{}
	}
	if p := out.PauseDetails; p != nil && p.PauseRequestTimestamp == nil && p.ExecutionTimeoutPaused == nil && p.Reason == nil {
		o.PauseDetails = &struct{}{}
	}
	row.OverflowJSON = WithUnknown(o.encode(), d.Unknown)
	if c := out.DurableConfig; c != nil {
		row.RetentionPeriodDays, row.ExecutionTimeoutSecs, row.KMSKeyArn = c.RetentionPeriodInDays, c.ExecutionTimeout, c.KMSKeyArn
	}
	if out.TraceHeader != nil {
		row.TraceID = out.TraceHeader.XAmznTraceId
	}
	if row.Source == SourceHistory {
		status := string(out.Status)
		row.Status = &status
		row.StartTime, row.EndTime = millis(out.StartTimestamp), millis(out.EndTimestamp)
		row.InputPayload = out.InputPayload
	}
}

// DescribedPartition is the dt of an execution that GetDurableExecution
// described: the UTC date of its start, or ok false without one.
func DescribedPartition(out *lambda.GetDurableExecutionOutput) (dt string, ok bool) {
	if out == nil || out.StartTimestamp == nil {
		return "", false
	}
	return out.StartTimestamp.UTC().Format(time.DateOnly), true
}
