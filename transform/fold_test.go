package transform_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/transform"
)

// TestFoldRules folds a hand-written history that exercises each rule.
func TestFoldRules(t *testing.T) {
	at := func(s int) *time.Time { v := time.Date(2026, 1, 5, 10, 0, s, 0, time.UTC); return &v }
	ev := func(id int32, typ, op string, s int) types.Event {
		e := types.Event{EventId: aws.Int32(id), EventType: types.EventType(typ), EventTimestamp: at(s)}
		if op != "" {
			e.Id = aws.String(op)
		}
		return e
	}
	errObj := &types.ErrorObject{ErrorType: aws.String("Boom")}
	h := []types.Event{ev(1, "ExecutionStarted", "e", 0), ev(2, "InvocationCompleted", "", 1), ev(3, "StepStarted", "s1", 2), ev(4, "StepFailed", "s1", 3),
		ev(5, "StepStarted", "s1", 8), ev(6, "StepSucceeded", "s1", 9), ev(7, "WaitStarted", "w", 10), ev(8, "StepStarted", "s2", 11), ev(9, "StepFailed", "s2", 12),
		ev(10, "CallbackStarted", "cb", 13), ev(11, "CallbackTimedOut", "cb", 14), ev(12, "ContextStarted", "c", 15), ev(13, "ContextFailed", "c", 16),
		ev(14, "TeleportStarted", "t", 17), ev(15, "StepPaused", "s2", 18), ev(16, "ExecutionFailed", "e", 19)}
	h[0].ExecutionStartedDetails = &types.ExecutionStartedDetails{Input: &types.EventInput{Payload: aws.String(`{"in":1}`)}}
	h[0].Name = aws.String("handler")
	h[3].StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: errObj}, RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)}}
	h[5].StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String("ok")}, RetryDetails: &types.RetryDetails{CurrentAttempt: 2}}
	h[6].WaitStartedDetails = &types.WaitStartedDetails{Duration: aws.Int32(60), ScheduledEndTimestamp: at(70)}
	h[6].ParentId = aws.String("c")
	h[8].StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: errObj}, RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(30)}}
	h[9].CallbackStartedDetails = &types.CallbackStartedDetails{CallbackId: aws.String("cb-1")}
	h[10].CallbackTimedOutDetails = &types.CallbackTimedOutDetails{Error: &types.EventError{Payload: errObj}}
	h[12].ContextFailedDetails = &types.ContextFailedDetails{Error: &types.EventError{Payload: errObj}}
	h[15].ExecutionFailedDetails = &types.ExecutionFailedDetails{Error: &types.EventError{Payload: errObj}}

	f := transform.NewFolder()
	f.Add(h[:7])
	f.Add(h[7:]) // across pages
	want := []types.Operation{
		{Id: aws.String("e"), Name: aws.String("handler"), Type: "EXECUTION", Status: "FAILED", StartTimestamp: at(0), EndTimestamp: at(19),
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String(`{"in":1}`)}},
		{Id: aws.String("s1"), Type: "STEP", Status: "SUCCEEDED", StartTimestamp: at(2), EndTimestamp: at(9),
			StepDetails: &types.StepDetails{Attempt: 2, Result: aws.String("ok")}},
		{Id: aws.String("w"), ParentId: aws.String("c"), Type: "WAIT", Status: "STARTED", StartTimestamp: at(10),
			WaitDetails: &types.WaitDetails{ScheduledEndTimestamp: at(70)}},
		{Id: aws.String("s2"), Type: "STEP", Status: "PENDING", StartTimestamp: at(11),
			StepDetails: &types.StepDetails{Attempt: 1, NextAttemptTimestamp: at(42), Error: errObj}},
		{Id: aws.String("cb"), Type: "CALLBACK", Status: "TIMED_OUT", StartTimestamp: at(13), EndTimestamp: at(14),
			CallbackDetails: &types.CallbackDetails{CallbackId: aws.String("cb-1"), Error: errObj}},
		{Id: aws.String("c"), Type: "CONTEXT", Status: "FAILED", StartTimestamp: at(15), EndTimestamp: at(16),
			ContextDetails: &types.ContextDetails{Error: errObj}},
		{Id: aws.String("t"), Type: "TELEPORT", Status: "STARTED", StartTimestamp: at(17)},
	}
	if diff := optest.Diff(want, f.Operations()); diff != "" {
		t.Errorf("folded operations (-want +got):\n%s", diff)
	}
	// A history served newest first, or shuffled, folds the same: the order
	// is the EventIds'.
	for name, order := range map[string][]int{"reversed": {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, "shuffled": {3, 0, 15, 7, 1, 9, 12, 2, 5, 14, 4, 6, 11, 8, 13, 10}} {
		g := transform.NewFolder()
		for _, i := range order {
			g.Add(h[i : i+1])
		}
		if diff := optest.Diff(want, g.Operations()); diff != "" {
			t.Errorf("%s history folds differently (-want +got):\n%s", name, diff)
		}
	}
	// As rows: source history, and a step's attempt is null until history
	// says it.
	snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: "arn", Source: transform.SourceHistory})
	g := transform.NewFolder()
	g.Add([]types.Event{ev(1, "StepStarted", "x", 0)})
	rows := g.AddTo(snap, nil)
	if len(rows) != 1 || rows[0].Attempt != nil || rows[0].Source != "history" || snap.Finish().Source != "history" {
		t.Errorf("rows %+v", rows)
	}
}
