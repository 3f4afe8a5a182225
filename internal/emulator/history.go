package emulator

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Info is what GetDurableExecution and ListDurableExecutionsByFunction say
// of an execution.
type Info struct {
	Name          string
	FunctionArn   string
	Status        types.ExecutionStatus
	Start, End    *time.Time
	InputPayload  *string
	Result        *string
	Error         *types.ErrorObject
	Version       *string
	TraceID       *string
	DurableConfig *types.DurableConfig
	// ExpectedTimeout is when a running (or paused) execution times out.
	ExpectedTimeout *time.Time
	// Pause is the pause of a PAUSED execution: its ExecutionPaused event's
	// details.
	Pause *types.ExecutionPausedDetails
}

// History is an execution's event history: Len() events, event i
// (0-based) is Event(i), served as it is (a generated history numbers its
// events from 1).
type History struct {
	size  func() int
	event func(i int) types.Event
}

// Len is the number of events.
func (h *History) Len() int {
	if h == nil {
		return 0
	}
	return h.size()
}

// Event is event i.
func (h *History) Event(i int) types.Event { return h.event(i) }

// HistoryOf serves n events built on demand by event (which must set
// EventIds itself), for histories too large to hold.
func HistoryOf(n int, event func(i int) types.Event) *History {
	return &History{size: func() int { return n }, event: event}
}

// FixedHistory serves the given events.
func FixedHistory(events []types.Event) *History {
	return &History{size: func() int { return len(events) }, event: func(i int) types.Event { return events[i] }}
}

// historyOf derives an execution's history from its operations (the
// generator's), so that the history and the state the emulator serves
// agree: folding the history gives the state back, as far as history can
// tell (see transform.Folder). Event ids run from 1 in the order served:
// the execution's ExecutionStarted, its invocation records (one, and one
// more after each suspension), every other operation's events in turn,
// and the execution's terminal event last. Events are built on demand,
// each invocation record alone; the first use walks the operations once to
// lay them out.
func historyOf(e *Execution, seed uint64) *History {
	var once sync.Once
	var offsets []int // offsets[i]: index of op i's first event (i >= 1); offsets[e.Len]: the terminal events'
	var total, invocations int
	plan := func() {
		if e.Len == 0 {
			return
		}
		offsets = make([]int, e.Len+1)
		invocations = 1
		n := 0 // events of the operations after the first
		for i := 1; i < e.Len; i++ {
			op := e.Op(i)
			offsets[i] = n
			n += len(opEvents(op, seed, i))
			invocations += suspensions(op)
		}
		offsets[e.Len] = n
		for i := 1; i <= e.Len; i++ {
			offsets[i] += 1 + invocations + e.pause.events() // after ExecutionStarted, the invocation records and the pauses
		}
		total = offsets[e.Len] + len(opEvents(e.Op(0), seed, 0)) - 1
	}
	h := &History{size: func() int { once.Do(plan); return total }}
	h.event = func(k int) types.Event {
		once.Do(plan)
		var ev types.Event
		switch {
		case k > 0 && k <= invocations:
			ev = newEventBuilder(e.Op(0)).invocation(seed, k-1)
		case k > invocations && k <= invocations+e.pause.events():
			ev = e.pause.event(k - invocations - 1)
			if seed%4 == 1 {
				notTruncated(&ev)
			}
		case k == 0, k >= offsets[e.Len]: // the execution's own: its start, its end
			j := 0
			if k > 0 {
				j = 1 + k - offsets[e.Len]
			}
			ev = opEvents(e.Op(0), seed, 0)[j]
		default:
			i := upperBound(offsets[1:e.Len], k)
			ev = opEvents(e.Op(i), seed, i)[k-offsets[i]]
		}
		if ev.EventId == nil {
			ev.EventId = aws.Int32(int32(k + 1))
		}
		return ev
	}
	return h
}

// upperBound is the index of the first element of sorted xs greater than k.
func upperBound(xs []int, k int) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := (lo + hi) / 2
		if xs[m] <= k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// suspensions is how many times op suspended its execution, each ended by
// an invocation of its own: a wait, a callback or a chained invoke once, a
// step once for each retry (or wait-for-condition check) it was given.
// AWS's recorded histories have an InvocationCompleted event in every five
// to ten.
func suspensions(op types.Operation) int {
	switch {
	case op.WaitDetails != nil, op.CallbackDetails != nil, op.ChainedInvokeDetails != nil:
		return 1
	case op.StepDetails != nil:
		return int(max(op.StepDetails.Attempt-1, 0))
	}
	return 0
}

// eventPrefix is the event type prefix of an operation type (an unknown
// type in CamelCase: SCHEDULED_TASK gives ScheduledTask).
func eventPrefix(t types.OperationType) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.ToLower(string(t)), "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// opEvents are the events that bring about op, without EventIds (the
// execution's: its start and its end; its invocation records are
// historyOf's).
func opEvents(op types.Operation, seed uint64, i int) []types.Event {
	b := newEventBuilder(op)
	started, result, errObj := b.started(op, i)
	out := []types.Event{started}
	if sd := op.StepDetails; sd != nil {
		out = append(out, b.retries(op)...)
	}
	var e *types.EventError
	if errObj != nil {
		e = &types.EventError{Payload: errObj}
	}
	switch op.Status {
	case types.OperationStatusSucceeded:
		out = append(out, b.succeeded(op, started, result))
	case types.OperationStatusFailed, types.OperationStatusTimedOut, types.OperationStatusStopped, types.OperationStatusCancelled:
		out = append(out, b.ended(op, e))
	case types.OperationStatusPending:
		if sd := op.StepDetails; sd != nil && sd.NextAttemptTimestamp != nil {
			t := b.start.Add(time.Duration(max(sd.Attempt, 1)) * time.Millisecond)
			out = append(out, b.retry(sd.Attempt, &t, max(1, int32(sd.NextAttemptTimestamp.Sub(t)/time.Second)), e, sd.Result)) // a retry's delay is at least 1
		}
	}
	if (seed+uint64(i))%2 == 0 {
		noDelay(&out[len(out)-1])
	}
	if seed%4 == 1 {
		for j := range out {
			notTruncated(&out[j])
		}
	}
	return out
}

// notTruncated marks every payload member of ev (input, result, error,
// a pause's or a resume's reason) Truncated false, as AWS's service writes them (its recorded histories:
// transform/testdata/histories/cloud-java-*.json), where AWS's test
// servers leave Truncated out. One execution in four is served so.
func notTruncated(ev *types.Event) {
	f := false
	mapPayloads(ev, func(p reflect.Value) reflect.Value {
		if !p.Elem().FieldByName("Truncated").IsNil() {
			return p
		}
		c := reflect.New(p.Elem().Type())
		c.Elem().Set(p.Elem())
		c.Elem().FieldByName("Truncated").Set(reflect.ValueOf(&f))
		return c
	})
}

// noDelay gives a step's last StepFailed or its StepSucceeded a next-attempt
// delay of 0, as AWS's Python testing server writes them (a retry's delay is
// at least 1, so 0 is no retry).
func noDelay(ev *types.Event) {
	var rd *types.RetryDetails
	switch {
	case ev.StepFailedDetails != nil:
		rd = ev.StepFailedDetails.RetryDetails
	case ev.StepSucceededDetails != nil:
		rd = ev.StepSucceededDetails.RetryDetails
	}
	if rd != nil && rd.NextAttemptDelaySeconds == nil {
		rd.NextAttemptDelaySeconds = aws.Int32(0)
	}
}

// retry is the event that schedules a step's next attempt after a delay: a
// StepFailed with the attempt's error, or, for a wait-for-condition check
// not met yet (a Result and no error), a StepSucceeded with the check's
// state, as AWS's recorded histories show.
func (b *eventBuilder) retry(attempt int32, t *time.Time, delay int32, e *types.EventError, result *string) types.Event {
	rd := &types.RetryDetails{CurrentAttempt: attempt, NextAttemptDelaySeconds: &delay}
	if result != nil && e == nil {
		ev := b.at(t, "StepSucceeded")
		ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: result}, RetryDetails: rd}
		return ev
	}
	ev := b.at(t, "StepFailed")
	ev.StepFailedDetails = &types.StepFailedDetails{Error: e, RetryDetails: rd}
	return ev
}

// eventBuilder makes one operation's events.
type eventBuilder struct {
	prefix     string
	base       types.Event
	start, end *time.Time
}

func newEventBuilder(op types.Operation) *eventBuilder {
	b := &eventBuilder{prefix: eventPrefix(op.Type), base: types.Event{Id: op.Id, ParentId: op.ParentId, Name: op.Name, SubType: op.SubType},
		start: op.StartTimestamp, end: op.EndTimestamp}
	if b.start == nil {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		b.start = &t
	}
	if b.end == nil {
		b.end = b.start
	}
	return b
}

func (b *eventBuilder) at(t *time.Time, typ string) types.Event {
	ev := b.base
	ev.EventType, ev.EventTimestamp = types.EventType(typ), t
	return ev
}

func (b *eventBuilder) term(suffix string) types.Event { return b.at(b.end, b.prefix+suffix) }

// started is op's Started event, with the result and error its end carries.
func (b *eventBuilder) started(op types.Operation, i int) (types.Event, *string, *types.ErrorObject) {
	started := b.at(b.start, b.prefix+"Started")
	var result *string
	var errObj *types.ErrorObject
	switch {
	case op.ExecutionDetails != nil:
		started.ExecutionStartedDetails = &types.ExecutionStartedDetails{ExecutionTimeout: aws.Int32(86400),
			Input: &types.EventInput{Payload: op.ExecutionDetails.InputPayload, Truncated: aws.Bool(false)}}
	case op.ContextDetails != nil:
		started.ContextStartedDetails = &types.ContextStartedDetails{}
		result, errObj = op.ContextDetails.Result, op.ContextDetails.Error
	case op.StepDetails != nil:
		started.StepStartedDetails = &types.StepStartedDetails{}
		result, errObj = op.StepDetails.Result, op.StepDetails.Error
	case op.WaitDetails != nil:
		d := &types.WaitStartedDetails{ScheduledEndTimestamp: op.WaitDetails.ScheduledEndTimestamp}
		if s := op.WaitDetails.ScheduledEndTimestamp; s != nil {
			d.Duration = aws.Int32(int32(s.Sub(*b.start) / time.Second))
		}
		started.WaitStartedDetails = d
	case op.CallbackDetails != nil:
		started.CallbackStartedDetails = &types.CallbackStartedDetails{CallbackId: op.CallbackDetails.CallbackId, Timeout: aws.Int32(3600), HeartbeatTimeout: aws.Int32(300)}
		result, errObj = op.CallbackDetails.Result, op.CallbackDetails.Error
	case op.ChainedInvokeDetails != nil:
		// The service names the execution it started (AWS's conformance
		// requirements expect DurableExecutionArn on every one).
		started.ChainedInvokeStartedDetails = &types.ChainedInvokeStartedDetails{FunctionName: aws.String("billing"),
			Input: &types.EventInput{Payload: aws.String(`{"invoice":true}`)}, ExecutedVersion: aws.String("3"),
			DurableExecutionArn: aws.String(fmt.Sprintf("%s:3/durable-execution/invoice-%d/%s", functionARN("billing"), i, aws.ToString(op.Id)))}
		if i%7 == 0 {
			started.ChainedInvokeStartedDetails.TenantId = aws.String("tenant-ä")
		}
		result, errObj = op.ChainedInvokeDetails.Result, op.ChainedInvokeDetails.Error
	}
	return started, result, errObj
}

// invocation is the record of the execution's invocation k (0-based): the
// second failed; a successful one carries an Error with no Payload in every
// other execution (AWS's JavaScript test server writes one; its Python one
// leaves Error out).
func (b *eventBuilder) invocation(seed uint64, k int) types.Event {
	t0 := b.start.Add(time.Duration(k) * time.Second)
	t1 := t0.Add(800 * time.Millisecond)
	ic := b.at(&t1, "InvocationCompleted")
	ic.Id, ic.ParentId, ic.Name, ic.SubType = nil, nil, nil, nil
	ic.InvocationCompletedDetails = &types.InvocationCompletedDetails{RequestId: aws.String(fmt.Sprintf("req-%x-%d", seed, k)), StartTimestamp: &t0, EndTimestamp: &t1}
	if k == 1 {
		ic.InvocationCompletedDetails.Error = &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("Sandbox.Timedout"), ErrorMessage: aws.String("invocation timed out")}}
	} else if seed%2 == 0 {
		ic.InvocationCompletedDetails.Error = &types.EventError{}
	}
	if seed%4 == 1 {
		notTruncated(&ic)
	}
	return ic
}

// retries are a step's earlier attempts, each failed and retried (a
// wait-for-condition's earlier checks, each not met).
func (b *eventBuilder) retries(op types.Operation) []types.Event {
	var out []types.Event
	for a := int32(1); a < op.StepDetails.Attempt; a++ {
		t := b.start.Add(time.Duration(a) * time.Millisecond)
		var f types.Event
		if aws.ToString(op.SubType) == "WaitForCondition" {
			f = b.retry(a, &t, a, nil, aws.String(fmt.Sprintf(`{"checks":%d}`, a)))
		} else {
			f = b.retry(a, &t, a, &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("Retryable"), ErrorMessage: aws.String(fmt.Sprintf("attempt %d failed", a))}}, nil)
		}
		s := b.at(&t, "StepStarted")
		s.StepStartedDetails = &types.StepStartedDetails{}
		out = append(out, f, s)
	}
	return out
}

// succeeded is a succeeded operation's last event.
func (b *eventBuilder) succeeded(op types.Operation, started types.Event, result *string) types.Event {
	ev := b.term("Succeeded")
	res := &types.EventResult{Payload: result}
	switch op.Type {
	case types.OperationTypeExecution:
		ev.ExecutionSucceededDetails = &types.ExecutionSucceededDetails{Result: &types.EventResult{Payload: aws.String(`{"done":true}`)}}
	case types.OperationTypeContext:
		ev.ContextSucceededDetails = &types.ContextSucceededDetails{Result: res}
	case types.OperationTypeStep:
		ev.StepSucceededDetails = &types.StepSucceededDetails{Result: res, RetryDetails: &types.RetryDetails{CurrentAttempt: op.StepDetails.Attempt}}
	case types.OperationTypeWait:
		ev.WaitSucceededDetails = &types.WaitSucceededDetails{Duration: started.WaitStartedDetails.Duration}
	case types.OperationTypeCallback:
		ev.CallbackSucceededDetails = &types.CallbackSucceededDetails{Result: res}
	case types.OperationTypeChainedInvoke:
		ev.ChainedInvokeSucceededDetails = &types.ChainedInvokeSucceededDetails{Result: res}
	}
	return ev
}

// ended is the last event of an operation that failed, timed out, was
// stopped or cancelled, in the event type its operation type has for it.
func (b *eventBuilder) ended(op types.Operation, e *types.EventError) types.Event {
	suffix := map[types.OperationStatus]string{"FAILED": "Failed", "TIMED_OUT": "TimedOut", "STOPPED": "Stopped", "CANCELLED": "Cancelled"}[op.Status]
	ev := b.term(suffix)
	switch op.Type {
	case types.OperationTypeExecution:
		e = &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("ExecutionError"), ErrorMessage: aws.String("the handler failed")}}
		switch suffix {
		case "TimedOut":
			ev.ExecutionTimedOutDetails = &types.ExecutionTimedOutDetails{Error: e}
		case "Stopped":
			ev.ExecutionStoppedDetails = &types.ExecutionStoppedDetails{Error: e}
		default:
			ev = b.term("Failed")
			ev.ExecutionFailedDetails = &types.ExecutionFailedDetails{Error: e}
		}
	case types.OperationTypeContext:
		ev = b.term("Failed") // a context has only ContextFailed
		ev.ContextFailedDetails = &types.ContextFailedDetails{Error: e}
	case types.OperationTypeStep:
		ev = b.term("Failed")
		ev.StepFailedDetails = &types.StepFailedDetails{Error: e, RetryDetails: &types.RetryDetails{CurrentAttempt: op.StepDetails.Attempt}}
	case types.OperationTypeWait:
		ev = b.term("Cancelled")
		ev.WaitCancelledDetails = &types.WaitCancelledDetails{Error: e}
	case types.OperationTypeCallback:
		if suffix == "TimedOut" {
			ev.CallbackTimedOutDetails = &types.CallbackTimedOutDetails{Error: e}
		} else {
			ev = b.term("Failed")
			ev.CallbackFailedDetails = &types.CallbackFailedDetails{Error: e}
		}
	case types.OperationTypeChainedInvoke:
		switch suffix {
		case "TimedOut":
			ev.ChainedInvokeTimedOutDetails = &types.ChainedInvokeTimedOutDetails{Error: e}
		case "Stopped":
			ev.ChainedInvokeStoppedDetails = &types.ChainedInvokeStoppedDetails{Error: e}
		default:
			ev = b.term("Failed")
			ev.ChainedInvokeFailedDetails = &types.ChainedInvokeFailedDetails{Error: e}
		}
	}
	return ev
}

func infoOf(arn string, exec types.Operation, version string) *Info {
	name, fnArn := arn, arn
	if a := strings.SplitN(arn, ":", 8); len(a) == 8 {
		rest := strings.Split(a[7], "/")
		fnArn = strings.Join(a[:7], ":") + ":" + rest[0]
		if len(rest) > 2 {
			name = rest[2]
		}
	}
	start := exec.StartTimestamp
	if start == nil { // the API always has one
		t := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
		start = &t
	}
	info := &Info{Name: name, FunctionArn: fnArn, Start: start, End: exec.EndTimestamp,
		Version: aws.String(version), TraceID: aws.String(fmt.Sprintf("Root=1-5f84c7a5-%024x", len(arn)*7919)),
		DurableConfig: &types.DurableConfig{ExecutionTimeout: aws.Int32(86400), RetentionPeriodInDays: aws.Int32(30)}}
	if exec.ExecutionDetails != nil {
		info.InputPayload = exec.ExecutionDetails.InputPayload
	}
	switch exec.Status {
	case types.OperationStatusSucceeded:
		info.Status, info.Result = types.ExecutionStatusSucceeded, aws.String(`{"done":true}`)
	case types.OperationStatusFailed, types.OperationStatusCancelled:
		info.Status = types.ExecutionStatusFailed
	case types.OperationStatusTimedOut:
		info.Status = types.ExecutionStatusTimedOut
	case types.OperationStatusStopped:
		info.Status = types.ExecutionStatusStopped
	default:
		info.Status, info.End = types.ExecutionStatusRunning, nil
	}
	if info.Status != types.ExecutionStatusSucceeded && info.Status != types.ExecutionStatusRunning {
		info.Error = &types.ErrorObject{ErrorType: aws.String("ExecutionError"), ErrorMessage: aws.String("the handler failed")}
	}
	return info
}
