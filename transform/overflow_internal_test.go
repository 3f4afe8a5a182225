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
