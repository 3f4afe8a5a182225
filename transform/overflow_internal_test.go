package transform

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestEventOverflowEncode: the hand-written encoding of an event's
// overflow_json is encoding/json's (marshal), byte for byte, for every
// combination of its members: archives written before it and verify's
// comparisons depend on the exact bytes.
func TestEventOverflowEncode(t *testing.T) {
	at := time.Date(2026, 1, 5, 10, 0, 0, 123e6, time.UTC)
	details := map[string]json.RawMessage{
		"InvocationCompletedDetails": marshal(&types.InvocationCompletedDetails{RequestId: aws.String(`r<&>"\u2028`), StartTimestamp: &at, EndTimestamp: &at, Error: &types.EventError{}}),
		"StepFailedDetails":          marshal(&types.StepFailedDetails{Error: &types.EventError{Payload: &types.ErrorObject{StackTrace: []string{}}}, RetryDetails: &types.RetryDetails{}}),
		"ContextStartedDetails":      marshal(&types.ContextStartedDetails{}),
		"ExecutionStartedDetails":    marshal(&types.ExecutionStartedDetails{Input: &types.EventInput{Payload: aws.String("é\x00\n")}}),
	}
	names := []string{"InvocationCompletedDetails", "StepFailedDetails", "ContextStartedDetails", "ExecutionStartedDetails"}
	ids := []int32{0, 1, -1, 7, math.MaxInt32, math.MinInt32}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		o := eventOverflow{EventIdAbsent: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			o.EventId = &ids[r.IntN(len(ids))]
		}
		switch r.IntN(3) {
		case 0: // no Details
		case 1:
			o.Details = map[string]json.RawMessage{} // present, empty: omitted too
		default:
			o.Details = map[string]json.RawMessage{}
			for _, i := range r.Perm(len(names))[:1+r.IntN(len(names))] {
				o.Details[names[i]] = details[names[i]]
			}
		}
		if got, want := o.encode(), string(marshal(o)); got != want {
			t.Fatalf("%+v:\n got %s\nwant %s", o, got, want)
		}
	}
}

// TestEventOverflowEmptyMember: the overflow_json AppendEventRow writes for
// an empty member without building an eventOverflow is the one encoding/json
// writes for it, as every other overflow_json is.
func TestEventOverflowEmptyMember(t *testing.T) {
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for _, ev := range []types.Event{
		{EventType: "InvocationCompleted", InvocationCompletedDetails: &types.InvocationCompletedDetails{RequestId: aws.String("r"), StartTimestamp: &now, Error: &types.EventError{}}},
		{EventType: "StepFailed", StepFailedDetails: &types.StepFailedDetails{Error: &types.EventError{Payload: &types.ErrorObject{}}}},
		{EventType: "StepFailed", StepFailedDetails: &types.StepFailedDetails{Error: &types.EventError{Payload: &types.ErrorObject{}, Truncated: aws.Bool(true)}}},
		{EventType: "ExecutionStarted", ExecutionStartedDetails: &types.ExecutionStartedDetails{Input: &types.EventInput{}}},
		{EventType: "ContextSucceeded", ContextSucceededDetails: &types.ContextSucceededDetails{Result: &types.EventResult{}}},
	} {
		ev.EventId = aws.Int32(3)
		row := EventRow(&ev, EventKey{ID: 3, Pos: 3}, RowMeta{})
		if row.OverflowJSON == nil {
			t.Fatalf("%s: no overflow_json", ev.EventType)
		}
		var o eventOverflow
		if err := json.Unmarshal([]byte(*row.OverflowJSON), &o); err != nil {
			t.Fatal(err)
		}
		if want := string(marshal(o)); *row.OverflowJSON != want || len(o.Details) != 1 {
			t.Errorf("%s:\n got %s\nwant %s", ev.EventType, *row.OverflowJSON, want)
		}
	}
}
