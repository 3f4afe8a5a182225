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

// The source column's values: how a row was obtained.
const (
	SourceState   = "state"   // GetDurableExecutionState
	SourceHistory = "history" // GetDurableExecution and GetDurableExecutionHistory
)

// RowMeta is what every row of one execution's snapshot shares.
type RowMeta struct {
	ExecutionArn string
	RunID        string
	ExtractedAt  time.Time
	// Source is the source column's value; empty means SourceState.
	Source string
}

func (m RowMeta) source() string {
	if m.Source == "" {
		return SourceState
	}
	return m.Source
}

// outcome is the Result and Error shared by four details variants.
type outcome struct {
	kind   string
	result *string
	err    *types.ErrorObject
}

// OperationRow maps one operation to its row. seq is its 0-based position in
// the API's order across all pages. Every operation the SDK can hand over
// maps to a row that [Reconstruct] turns back into the same operation: what
// the typed columns cannot hold goes to overflow_json (see [Overflow]).
func OperationRow(op *types.Operation, seq int64, meta RowMeta) schema.Operation {
	var row schema.Operation
	fillOperationRow(&row, op, seq, meta)
	return row
}

// appendOperationRow appends [OperationRow]'s row to rows and returns the
// longer slice: the row is made in place, not made and then copied.
func appendOperationRow(rows []schema.Operation, op *types.Operation, seq int64, meta RowMeta) []schema.Operation {
	rows = append(rows, schema.Operation{})
	fillOperationRow(&rows[len(rows)-1], op, seq, meta)
	return rows
}

// fillOperationRow makes OperationRow's row in *row, which is zero.
func fillOperationRow(row *schema.Operation, op *types.Operation, seq int64, meta RowMeta) {
	*row = schema.Operation{
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
		Source:       meta.source(),
		RunID:        meta.RunID,
		ExtractedAt:  meta.ExtractedAt.UTC().Truncate(time.Millisecond),
	}
	var over Overflow
	over.IdAbsent = op.Id == nil
	noteSubMillis(&over.SubMillis, "StartTimestamp", op.StartTimestamp)
	noteSubMillis(&over.SubMillis, "EndTimestamp", op.EndTimestamp)
	var kindBuf [6]string // on the stack, as long as kinds does not grow past it
	var outcomeBuf [4]outcome
	kinds, outcomes := kindBuf[:0], outcomeBuf[:0]
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
		row.Attempt = sharedAttempt(d.Attempt)
		row.NextAttemptTime = millis(d.NextAttemptTimestamp)
		noteSubMillis(&over.SubMillis, "StepDetails.NextAttemptTimestamp", d.NextAttemptTimestamp)
		outcomes = appendOutcome(outcomes, KindStep, d.Result, d.Error)
	}
	if d := op.WaitDetails; d != nil {
		kinds = append(kinds, KindWait)
		row.ScheduledEndTime = millis(d.ScheduledEndTimestamp)
		noteSubMillis(&over.SubMillis, "WaitDetails.ScheduledEndTimestamp", d.ScheduledEndTimestamp)
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
	for i, o := range outcomes {
		if i > 0 {
			// The typed columns hold one outcome; the others overflow whole.
			*over.slot(o.kind) = &OutcomeJSON{Result: o.result, Error: errorJSON(o.err)}
			continue
		}
		row.Result = o.result
		if emptyError(o.err) {
			*over.slot(o.kind) = &OutcomeJSON{Error: &ErrorJSON{}}
		} else if e := o.err; e != nil {
			row.ErrorType, row.ErrorMessage, row.ErrorData = e.ErrorType, e.ErrorMessage, e.ErrorData
			row.ErrorStackTrace = e.StackTrace
		}
		if len(kinds) > 1 {
			kinds = moveFirst(kinds, o.kind)
		}
	}
	switch {
	case len(kinds) == 1:
		row.DetailKind = sharedKind(kinds[0])
	case len(kinds) > 1:
		k := strings.Join(kinds, ",")
		row.DetailKind = &k
	}
	if over != (Overflow{}) { // the copy alone goes to the heap, when there is one
		o := over
		row.OverflowJSON = o.encode()
	}
}

// kindValues are the detail_kind values of one details object, which rows
// share (rows are never changed in place): a value of its own cost each
// row an allocation.
var kindValues = [...]string{KindExecution, KindContext, KindStep, KindWait, KindCallback, KindChainedInvoke}

// attemptValues are the attempt numbers rows share, as kindValues.
var attemptValues = func() (a [64]int32) {
	for i := range a {
		a[i] = int32(i)
	}
	return a
}()

// sharedAttempt is n's shared value, or one of its own past the table.
func sharedAttempt(n int32) *int32 {
	if n >= 0 && int(n) < len(attemptValues) {
		return &attemptValues[n]
	}
	own := n
	return &own
}

// sharedKind is kind's shared value.
func sharedKind(kind string) *string {
	for i := range kindValues {
		if kindValues[i] == kind {
			return &kindValues[i]
		}
	}
	own := kind // never: every kind is in kindValues
	return &own
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
// from. The tests use it to prove the mapping lossless; it fails only on an
// overflow_json that is not valid JSON.
func Reconstruct(row *schema.Operation) (types.Operation, error) {
	over, err := ParseOverflow(row.OverflowJSON)
	if err != nil {
		return types.Operation{}, fmt.Errorf("operation %q: %w", row.OperationID, err)
	}
	op := types.Operation{
		Id:             &row.OperationID,
		ParentId:       row.ParentID,
		Name:           row.Name,
		Type:           types.OperationType(row.Type),
		SubType:        row.SubType,
		Status:         types.OperationStatus(row.Status),
		StartTimestamp: over.SubMillis.apply("StartTimestamp", row.StartTime),
		EndTimestamp:   over.SubMillis.apply("EndTimestamp", row.EndTime),
	}
	if over.IdAbsent {
		op.Id = nil
	}
	if row.DetailKind == nil {
		return op, nil
	}
	var errObj *types.ErrorObject
	if row.ErrorType != nil || row.ErrorMessage != nil || row.ErrorData != nil || row.ErrorStackTrace != nil {
		errObj = &types.ErrorObject{ErrorType: row.ErrorType, ErrorMessage: row.ErrorMessage, ErrorData: row.ErrorData, StackTrace: row.ErrorStackTrace}
	}
	for i, kind := range strings.Split(*row.DetailKind, ",") {
		// The typed Result and Error belong to the first kind listed; the
		// overflow adds or replaces what it holds for any kind.
		var result *string
		var e *types.ErrorObject
		if i == 0 {
			result, e = row.Result, errObj
		}
		if slot := over.slot(kind); slot != nil && *slot != nil {
			if (*slot).Result != nil {
				result = (*slot).Result
			}
			if (*slot).Error != nil {
				e = (*slot).Error.object()
			}
		}
		switch kind {
		case KindExecution:
			op.ExecutionDetails = &types.ExecutionDetails{InputPayload: row.InputPayload}
		case KindContext:
			op.ContextDetails = &types.ContextDetails{ReplayChildren: row.ReplayChildren, Result: result, Error: e}
		case KindStep:
			op.StepDetails = &types.StepDetails{Attempt: deref(row.Attempt), NextAttemptTimestamp: over.SubMillis.apply("StepDetails.NextAttemptTimestamp", row.NextAttemptTime), Result: result, Error: e}
		case KindWait:
			op.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: over.SubMillis.apply("WaitDetails.ScheduledEndTimestamp", row.ScheduledEndTime)}
		case KindCallback:
			op.CallbackDetails = &types.CallbackDetails{CallbackId: row.CallbackID, Result: result, Error: e}
		case KindChainedInvoke:
			op.ChainedInvokeDetails = &types.ChainedInvokeDetails{Result: result, Error: e}
		}
	}
	return op, nil
}

// millis is t in UTC at millisecond precision, the archive's precision (the
// SDK parses the wire's epoch seconds to milliseconds; where it wraps them
// around, overflow_json keeps the rest: see [SubMillis]). A t that is so
// already is returned as it is (the row shares the SDK's value, which
// nothing changes), else a new value.
func millis(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	if u := t.UTC().Truncate(time.Millisecond); u != *t {
		return new(u)
	}
	return t
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
