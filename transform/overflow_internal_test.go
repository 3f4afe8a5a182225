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

// TestInvocationJSON: the hand-written encoding of an InvocationCompleted
// details object is encoding/json's, byte for byte, for request ids of
// every kind of byte and rune (control characters, quotes, backslashes,
// HTML characters, DEL, invalid and cut UTF-8, U+2028, U+2029, U+FFFD),
// times in any zone and precision or absent, and Error absent or empty;
// it declines an Error with members and a time RFC 3339 cannot write.
func TestInvocationJSON(t *testing.T) {
	if !invocationShape {
		t.Fatal("the SDK's InvocationCompletedDetails is no longer the shape the encoder writes: update encodeInvocation")
	}
	pieces := []string{"a", "Z", " ", "~", "\x7f", "\x00", "\x01", "\x1f", "\b", "\f", "\n", "\r", "\t", `"`, `\`, "/", "<", ">", "&",
		"é", "€", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\u00a0"}
	zones := []*time.Location{time.UTC, time.FixedZone("x", -9*3600-30*60), time.FixedZone("y", 14*3600)}
	r := rand.New(rand.NewPCG(3, 4))
	randTime := func() *time.Time {
		if r.IntN(4) == 0 {
			return nil
		}
		v := time.Unix(r.Int64N(1<<34)-1<<33, r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
		return &v
	}
	for range 20000 {
		d := &types.InvocationCompletedDetails{StartTimestamp: randTime(), EndTimestamp: randTime()}
		if r.IntN(5) > 0 {
			var s []byte
			for range r.IntN(12) {
				s = append(s, pieces[r.IntN(len(pieces))]...)
			}
			id := string(s)
			d.RequestId = &id
		}
		if r.IntN(2) == 0 {
			d.Error = &types.EventError{}
		}
		got, ok := invocationJSON(d)
		if !ok {
			t.Fatalf("declined %+v", d)
		}
		if want := marshal(d); string(got) != string(want) {
			t.Fatalf("request id %q:\n got %s\nwant %s", aws.ToString(d.RequestId), got, want)
		}
	}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []*types.InvocationCompletedDetails{
		{Error: &types.EventError{Truncated: aws.Bool(false)}},
		{Error: &types.EventError{Payload: &types.ErrorObject{}}},
		{StartTimestamp: &far},
	} {
		if _, ok := invocationJSON(d); ok {
			t.Errorf("took %+v, which it cannot write", d)
		}
	}
}
