package emulator

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestHistoryEventsOneByOne: a generated history served event by event
// (each invocation record made alone) is the history built whole: the
// execution's start, its invocation records, each other operation's events
// in turn, the execution's end. And it has one invocation record, and one
// more per suspension the history itself shows: a wait, a callback or a
// chained invoke started, a step started again after a retry.
func TestHistoryEventsOneByOne(t *testing.T) {
	for _, e := range Generate(3, 12, GenerateOptions{MinOps: 1, MaxOps: 120}) {
		h := historyOf(&e, 3)
		served := make([]types.Event, h.Len())
		for k := range served {
			served[k] = h.Event(k)
		}
		exec := opEvents(e.Op(0), 3, 0)
		whole := append([]types.Event(nil), exec[0])
		k := 0
		for ; 1+k < len(served) && served[1+k].EventType == types.EventTypeInvocationCompleted; k++ {
			whole = append(whole, newEventBuilder(e.Op(0)).invocation(3, k))
		}
		for j := range e.pause.events() { // then the pauses
			whole = append(whole, e.pause.event(j))
		}
		for i := 1; i < e.Len; i++ {
			whole = append(whole, opEvents(e.Op(i), 3, i)...)
		}
		whole = append(whole, exec[1:]...)
		if len(served) != len(whole) {
			t.Fatalf("%s: %d events served, %d built whole", e.ARN, len(served), len(whole))
		}
		invocations, suspended, started := 0, 1, map[string]bool{}
		for k := range whole {
			if whole[k].EventId == nil {
				whole[k].EventId = aws.Int32(int32(k + 1))
			}
			if !reflect.DeepEqual(served[k], whole[k]) {
				t.Fatalf("%s: event %d served as %+v, built whole as %+v", e.ARN, k, served[k], whole[k])
			}
			switch served[k].EventType {
			case types.EventTypeInvocationCompleted:
				invocations++
			case types.EventTypeWaitStarted, types.EventTypeCallbackStarted, types.EventTypeChainedInvokeStarted:
				suspended++
			case types.EventTypeStepStarted:
				if started[*served[k].Id] {
					suspended++
				}
				started[*served[k].Id] = true
			}
		}
		if invocations != suspended {
			t.Errorf("%s: %d invocation records, want %d (one, and one per suspension)", e.ARN, invocations, suspended)
		}
	}
}
