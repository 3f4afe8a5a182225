package transform

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/schema"
)

// The detail_kind values, in canonical order.
const (
	KindExecution     = "execution"
	KindContext       = "context"
	KindStep          = "step"
	KindWait          = "wait"
	KindCallback      = "callback"
	KindChainedInvoke = "chained_invoke"
)

// UnrepresentableError reports an operation that the row shape cannot hold
// without loss (see the package documentation). The execution it belongs to
// is failed with it; nothing is archived in a lossy form.
type UnrepresentableError struct {
	OperationID string
	Reason      string
}

func (e *UnrepresentableError) Error() string {
	return fmt.Sprintf("operation %q cannot be archived without loss: %s", e.OperationID, e.Reason)
}

// RowMeta is what every row of one execution's snapshot shares.
type RowMeta struct {
	ExecutionArn string
	RunID        string
	ExtractedAt  time.Time
}

// outcome is the Result and Error shared by four details variants.
type outcome struct {
	kind   string
	result *string
	err    *types.ErrorObject
}

// OperationRow maps one operation to its row. seq is its 0-based position in
// the API's order across all pages.
func OperationRow(op *types.Operation, seq int64, meta RowMeta) (schema.Operation, error) {
	if op.Id == nil {
		return schema.Operation{}, &UnrepresentableError{Reason: fmt.Sprintf("the operation at position %d has no Id", seq)}
	}
	row := schema.Operation{
		ExecutionArn: meta.ExecutionArn,
		OperationID:  deref(op.Id),
		Seq:          seq,
		ParentID:     op.ParentId,
		Name:         op.Name,
		Type:         string(op.Type),
		SubType:      op.SubType,
		Status:       string(op.Status),
		StartTime:    millis(op.StartTimestamp),
		EndTime:      millis(op.EndTimestamp),
		RunID:        meta.RunID,
		ExtractedAt:  meta.ExtractedAt.UTC().Truncate(time.Millisecond),
	}
	var kinds []string
	var outcomes []outcome
	if d := op.ExecutionDetails; d != nil {
		kinds = append(kinds, KindExecution)
		row.InputPayload = d.InputPayload
	}
	if d := op.ContextDetails; d != nil {
		kinds = append(kinds, KindContext)
		row.ReplayChildren = d.ReplayChildren
		outcomes = appendOutcome(outcomes, KindContext, d.Result, d.Error)
	}
	if d := op.StepDetails; d != nil {
		kinds = append(kinds, KindStep)
		attempt := d.Attempt
		row.Attempt = &attempt
		row.NextAttemptTime = millis(d.NextAttemptTimestamp)
		outcomes = appendOutcome(outcomes, KindStep, d.Result, d.Error)
	}
	if d := op.WaitDetails; d != nil {
		kinds = append(kinds, KindWait)
		row.ScheduledEndTime = millis(d.ScheduledEndTimestamp)
	}
	if d := op.CallbackDetails; d != nil {
		kinds = append(kinds, KindCallback)
		row.CallbackID = d.CallbackId
		outcomes = appendOutcome(outcomes, KindCallback, d.Result, d.Error)
	}
	if d := op.ChainedInvokeDetails; d != nil {
		kinds = append(kinds, KindChainedInvoke)
		outcomes = appendOutcome(outcomes, KindChainedInvoke, d.Result, d.Error)
	}
	if len(outcomes) > 1 {
		return row, &UnrepresentableError{OperationID: row.OperationID, Reason: fmt.Sprintf(
			"%s and %s details both carry a result or an error, and the row has one set of those columns", outcomes[0].kind, outcomes[1].kind)}
	}
	if len(outcomes) == 1 {
		o := outcomes[0]
		row.Result = o.result
		if e := o.err; e != nil {
			if e.ErrorType == nil && e.ErrorMessage == nil && e.ErrorData == nil && e.StackTrace == nil {
				return row, &UnrepresentableError{OperationID: row.OperationID, Reason: o.kind + " details carry an Error object with no members, which would read back as no error"}
			}
			row.ErrorType, row.ErrorMessage, row.ErrorData = e.ErrorType, e.ErrorMessage, e.ErrorData
			row.ErrorStackTrace = e.StackTrace
		}
		if len(kinds) > 1 {
			kinds = moveFirst(kinds, o.kind)
		}
	}
	if len(kinds) > 0 {
		k := strings.Join(kinds, ",")
		row.DetailKind = &k
	}
	return row, nil
}

func appendOutcome(outs []outcome, kind string, result *string, err *types.ErrorObject) []outcome {
	if result == nil && err == nil {
		return outs
	}
	return append(outs, outcome{kind: kind, result: result, err: err})
}

func moveFirst(kinds []string, first string) []string {
	out := []string{first}
	for _, k := range kinds {
		if k != first {
			out = append(out, k)
		}
	}
	return out
}

// Reconstruct is the inverse of [OperationRow]: the operation a row was made
// from. The tests use it to prove the mapping lossless.
func Reconstruct(row *schema.Operation) types.Operation {
	op := types.Operation{
		Id:             &row.OperationID,
		ParentId:       row.ParentID,
		Name:           row.Name,
		Type:           types.OperationType(row.Type),
		SubType:        row.SubType,
		Status:         types.OperationStatus(row.Status),
		StartTimestamp: row.StartTime,
		EndTimestamp:   row.EndTime,
	}
	if row.DetailKind == nil {
		return op
	}
	var errObj *types.ErrorObject
	if row.ErrorType != nil || row.ErrorMessage != nil || row.ErrorData != nil || row.ErrorStackTrace != nil {
		errObj = &types.ErrorObject{ErrorType: row.ErrorType, ErrorMessage: row.ErrorMessage, ErrorData: row.ErrorData, StackTrace: row.ErrorStackTrace}
	}
	for i, kind := range strings.Split(*row.DetailKind, ",") {
		// Result and Error belong to the first kind listed.
		var result *string
		var e *types.ErrorObject
		if i == 0 {
			result, e = row.Result, errObj
		}
		switch kind {
		case KindExecution:
			op.ExecutionDetails = &types.ExecutionDetails{InputPayload: row.InputPayload}
		case KindContext:
			op.ContextDetails = &types.ContextDetails{ReplayChildren: row.ReplayChildren, Result: result, Error: e}
		case KindStep:
			op.StepDetails = &types.StepDetails{Attempt: deref(row.Attempt), NextAttemptTimestamp: row.NextAttemptTime, Result: result, Error: e}
		case KindWait:
			op.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: row.ScheduledEndTime}
		case KindCallback:
			op.CallbackDetails = &types.CallbackDetails{CallbackId: row.CallbackID, Result: result, Error: e}
		case KindChainedInvoke:
			op.ChainedInvokeDetails = &types.ChainedInvokeDetails{Result: result, Error: e}
		}
	}
	return op
}

// millis is t in UTC at millisecond precision, the archive's precision (the
// SDK parses the wire's epoch seconds to milliseconds, so nothing is lost).
func millis(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
