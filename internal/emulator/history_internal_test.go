package emulator

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestHistoryEventsOneByOne: a generated history served event by event
// (each invocation record made alone) is the history built whole, each
// operation's events in turn and the execution's last; it has one
// invocation record per invocation.
func TestHistoryEventsOneByOne(t *testing.T) {
	for _, e := range Generate(3, 12, GenerateOptions{MinOps: 1, MaxOps: 120}) {
		var whole []types.Event
		first := opEvents(e.Op(0), 3, 0, invocationsOf(&e))
		whole = append(whole, first[:startEvents(first)]...)
		for i := 1; i < e.Len; i++ {
			whole = append(whole, opEvents(e.Op(i), 3, i, 0)...)
		}
		whole = append(whole, first[startEvents(first):]...)
		h := historyOf(&e, 3)
		if h.Len() != len(whole) {
			t.Fatalf("%s: %d events served, %d built whole", e.ARN, h.Len(), len(whole))
		}
		invocations := 0
		for k := range whole {
			if whole[k].EventId == nil {
				whole[k].EventId = aws.Int32(int32(k + 1))
			}
			got := h.Event(k)
			if !reflect.DeepEqual(got, whole[k]) {
				t.Fatalf("%s: event %d served as %+v, built whole as %+v", e.ARN, k, got, whole[k])
			}
			if got.EventType == types.EventTypeInvocationCompleted {
				invocations++
			}
		}
		if want := invocationsOf(&e); invocations != want {
			t.Errorf("%s: %d invocation records, want %d", e.ARN, invocations, want)
		}
	}
}
