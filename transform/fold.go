package transform

import (
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/schema"
)

// Folder folds a history's events, page by page, into the operations that
// GetDurableExecutionState would report, as far as history can tell
// (docs/ARCHITECTURE.md, "Folding history"). It keeps one operation per
// distinct Id, never the events. It is not safe for concurrent use.
//
// The rules:
//   - Type is the event type's prefix (Execution, Context, Step, Wait,
//     Callback, ChainedInvoke; an unknown prefix in UPPER_SNAKE case), Status
//     its suffix (Started, Succeeded, Failed, TimedOut, Stopped, Cancelled,
//     and an unknown one alike) of the operation's last event; a StepFailed
//     whose RetryDetails has NextAttemptDelaySeconds is a retry: PENDING,
//     with NextAttemptTimestamp = its time + the delay.
//   - Id, ParentId, Name, SubType: the events' own, the latest present.
//   - StartTimestamp: the first event's; EndTimestamp: the terminal event's.
//   - "First", "last" and "latest" go by EventId, not by the order events
//     arrive in: a history served newest first folds the same.
//   - ExecutionDetails.InputPayload from ExecutionStarted; Result and Error of
//     contexts, steps, callbacks and chained invokes from the last event that
//     carries one (a retried step keeps its last attempt's error);
//     StepDetails.Attempt from the last RetryDetails.CurrentAttempt;
//     WaitDetails.ScheduledEndTimestamp from WaitStarted; CallbackId from
//     CallbackStarted.
//   - History cannot tell ContextDetails.ReplayChildren (null), a step's
//     Attempt before any RetryDetails (null), or READY (no event).
//   - InvocationCompleted events and events of a type with no known suffix
//     belong to no operation; they are archived as events only.
//
// Memory: a Folder keeps each operation's fields and, until the history
// ends, its payloads (the execution's input, each operation's latest Result
// and Error). Payloads past a budget (see [WithPayloadBudget]) go to a
// temporary file, read back as the operations are mapped; [Folder.Close]
// releases it. Should the file fail (a full disk), payloads stay in memory:
// nothing is lost, only the bound.
type Folder struct {
	ops   []*folded
	index map[string]int
	n     int64 // events seen, for events without an EventId
	// sorted reports that the operations are in the order of their first
	// event id (false once an event came out of order).
	sorted bool
	splits map[types.EventType]eventSplit // splitEventType's answers, by event type
	pay    payloads
}

// FolderOption configures a [Folder].
type FolderOption func(*Folder)

// WithPayloadBudget sets how many bytes of payloads a Folder keeps in
// memory before it writes them to a temporary file (default 4 MiB: a run
// folds up to --concurrency histories at once).
func WithPayloadBudget(bytes int64) FolderOption {
	return func(f *Folder) { f.pay.budget = bytes }
}

// WithSpillDir sets the folder of that temporary file (default
// [os.TempDir]).
func WithSpillDir(dir string) FolderOption {
	return func(f *Folder) { f.pay.dir = dir }
}

type eventSplit struct {
	typ, status string
	ok          bool
}

type folded struct {
	op           types.Operation
	attemptKnown bool
	// first and last are the lowest and highest event ids folded in: the
	// history's order is its EventIds', whatever order pages come in.
	first, last int64
	// The payloads, kept apart from op until it is mapped: the
	// ExecutionDetails' InputPayload, the details' Result and Error.
	input, result payload[*string]
	err           payload[*types.ErrorObject]
}

// NewFolder starts folding one execution's history.
func NewFolder(opts ...FolderOption) *Folder {
	f := &Folder{index: map[string]int{}, sorted: true, splits: map[types.EventType]eventSplit{}}
	f.pay.budget = 4 << 20
	for _, o := range opts {
		o(f)
	}
	return f
}

// Close releases the temporary file of spilled payloads, if any. A Folder
// that [Folder.Each] went through is closed already.
func (f *Folder) Close() error { return f.pay.close() }

var (
	eventPrefixes = []struct{ prefix, typ string }{
		{"ChainedInvoke", "CHAINED_INVOKE"}, {"Execution", "EXECUTION"}, {"Context", "CONTEXT"},
		{"Callback", "CALLBACK"}, {"Step", "STEP"}, {"Wait", "WAIT"},
	}
	eventSuffixes = []string{"Started", "Succeeded", "Failed", "TimedOut", "Stopped", "Cancelled"}
)

// splitEventType splits an event type into the operation type and status it
// stands for; ok is false for a type with no known suffix.
func splitEventType(t string) (typ, status string, ok bool) {
	for _, s := range eventSuffixes {
		if p, found := strings.CutSuffix(t, s); found && p != "" {
			typ = upperSnake(p)
			for _, k := range eventPrefixes {
				if p == k.prefix {
					typ = k.typ
				}
			}
			return typ, upperSnake(s), true
		}
	}
	return "", "", false
}

func upperSnake(s string) string {
	return strings.ToUpper(detailKind(s))
}

// Add folds one page of events, in the history's order.
func (f *Folder) Add(events []types.Event) {
	for i := range events {
		f.add(&events[i])
	}
}

func (f *Folder) add(ev *types.Event) {
	sp, seen := f.splits[ev.EventType]
	if !seen {
		sp.typ, sp.status, sp.ok = splitEventType(string(ev.EventType))
		f.splits[ev.EventType] = sp
	}
	if !sp.ok {
		return
	}
	typ, status := sp.typ, sp.status
	f.n++
	id := f.n
	if ev.EventId != nil {
		id = int64(*ev.EventId)
	}
	fo := f.operation(ev, typ, id)
	op := &fo.op
	if id < fo.first { // an earlier event, come late: it starts the operation
		fo.first, op.StartTimestamp = id, millis(ev.EventTimestamp)
		f.sorted = false
	}
	if id <= fo.last { // older than what is folded already: only what it alone says
		for _, p := range []struct {
			dst **string
			src *string
		}{{&op.ParentId, ev.ParentId}, {&op.Name, ev.Name}, {&op.SubType, ev.SubType}} {
			if *p.dst == nil {
				*p.dst = p.src
			}
		}
		f.foldStarted(fo, ev)
		return
	}
	fo.last = id
	for _, p := range []struct {
		dst **string
		src *string
	}{{&op.Id, ev.Id}, {&op.ParentId, ev.ParentId}, {&op.Name, ev.Name}, {&op.SubType, ev.SubType}} {
		if p.src != nil {
			*p.dst = p.src
		}
	}
	at := millis(ev.EventTimestamp)
	op.Status = types.OperationStatus(status)
	if status == "STARTED" {
		op.EndTimestamp = nil
	} else {
		op.EndTimestamp = at
	}
	f.foldStarted(fo, ev)
	foldRetry(fo, ev, at)
	f.foldOutcome(fo, ev)
}

// operation is the folded operation of ev's Id, made on its first event
// with the details object its type carries.
func (f *Folder) operation(ev *types.Event, typ string, id int64) *folded {
	key := deref(ev.Id)
	if j, seen := f.index[key]; seen {
		return f.ops[j]
	}
	j := len(f.ops)
	f.index[key] = j
	fo := &folded{op: types.Operation{Id: ev.Id, Type: types.OperationType(typ), StartTimestamp: millis(ev.EventTimestamp)}, first: id, last: id - 1}
	if j > 0 && id < f.ops[j-1].first {
		f.sorted = false
	}
	switch fo.op.Type {
	case types.OperationTypeExecution:
		fo.op.ExecutionDetails = &types.ExecutionDetails{}
	case types.OperationTypeContext:
		fo.op.ContextDetails = &types.ContextDetails{}
	case types.OperationTypeStep:
		fo.op.StepDetails = &types.StepDetails{}
	case types.OperationTypeWait:
		fo.op.WaitDetails = &types.WaitDetails{}
	case types.OperationTypeCallback:
		fo.op.CallbackDetails = &types.CallbackDetails{}
	case types.OperationTypeChainedInvoke:
		fo.op.ChainedInvokeDetails = &types.ChainedInvokeDetails{}
	}
	f.ops = append(f.ops, fo)
	return fo
}

// foldRetry takes a step's attempt from RetryDetails, and a StepFailed with
// a next-attempt delay as a retry: PENDING, with its next attempt's time.
func foldRetry(fo *folded, ev *types.Event, at *time.Time) {
	sd := fo.op.StepDetails
	if sd == nil {
		return
	}
	var retry *types.RetryDetails
	if ev.StepFailedDetails != nil {
		retry = ev.StepFailedDetails.RetryDetails
	} else if ev.StepSucceededDetails != nil {
		retry = ev.StepSucceededDetails.RetryDetails
	}
	if retry != nil {
		sd.Attempt, fo.attemptKnown = retry.CurrentAttempt, true
	}
	sd.NextAttemptTimestamp = nil
	if ev.StepFailedDetails != nil && retry != nil && retry.NextAttemptDelaySeconds != nil && at != nil {
		fo.op.Status, fo.op.EndTimestamp = types.OperationStatusPending, nil
		next := at.Add(time.Duration(*retry.NextAttemptDelaySeconds) * time.Second)
		sd.NextAttemptTimestamp = &next
	}
}

// foldOutcome takes the Result or Error an event carries into the
// operation's details.
func (f *Folder) foldOutcome(fo *folded, ev *types.Event) {
	op := &fo.op
	var result *string
	var errObj *types.ErrorObject
	var hasOutcome bool
	if r := eventResult(ev); r != nil {
		result, hasOutcome = r.Payload, true
	}
	if e := eventError(ev); e != nil {
		errObj, hasOutcome = e.Payload, true
	}
	if !hasOutcome || (op.ContextDetails == nil && op.StepDetails == nil && op.CallbackDetails == nil && op.ChainedInvokeDetails == nil) {
		return
	}
	if !fo.result.spilled {
		f.pay.drop(stringSize(fo.result.v))
	}
	if !fo.err.spilled {
		f.pay.drop(errorSize(fo.err.v))
	}
	fo.result, fo.err = f.pay.keepString(result), f.pay.keepError(errObj)
}

// foldStarted takes what only a *Started event says, whenever it comes.
func (f *Folder) foldStarted(fo *folded, d *types.Event) {
	op := &fo.op
	switch {
	case d.ExecutionStartedDetails != nil && op.ExecutionDetails != nil:
		if in := d.ExecutionStartedDetails.Input; in != nil {
			if !fo.input.spilled {
				f.pay.drop(stringSize(fo.input.v))
			}
			fo.input = f.pay.keepString(in.Payload)
		}
	case d.WaitStartedDetails != nil && op.WaitDetails != nil:
		op.WaitDetails.ScheduledEndTimestamp = millis(d.WaitStartedDetails.ScheduledEndTimestamp)
	case d.CallbackStartedDetails != nil && op.CallbackDetails != nil:
		op.CallbackDetails.CallbackId = d.CallbackStartedDetails.CallbackId
	}
}

// order puts the operations in the order of their first event id, should
// the history have come out of order.
func (f *Folder) order() {
	if f.sorted {
		return
	}
	sort.SliceStable(f.ops, func(i, j int) bool { return f.ops[i].first < f.ops[j].first })
	f.sorted = true
}

// eventResult is the Result of whichever *Succeeded details the event has.
func eventResult(ev *types.Event) *types.EventResult {
	switch {
	case ev.ExecutionSucceededDetails != nil:
		return ev.ExecutionSucceededDetails.Result
	case ev.ContextSucceededDetails != nil:
		return ev.ContextSucceededDetails.Result
	case ev.StepSucceededDetails != nil:
		return ev.StepSucceededDetails.Result
	case ev.CallbackSucceededDetails != nil:
		return ev.CallbackSucceededDetails.Result
	case ev.ChainedInvokeSucceededDetails != nil:
		return ev.ChainedInvokeSucceededDetails.Result
	}
	return nil
}

// eventError is the Error of whichever terminal details the event has.
func eventError(ev *types.Event) *types.EventError {
	switch {
	case ev.ExecutionFailedDetails != nil:
		return ev.ExecutionFailedDetails.Error
	case ev.ExecutionStoppedDetails != nil:
		return ev.ExecutionStoppedDetails.Error
	case ev.ExecutionTimedOutDetails != nil:
		return ev.ExecutionTimedOutDetails.Error
	case ev.ContextFailedDetails != nil:
		return ev.ContextFailedDetails.Error
	case ev.StepFailedDetails != nil:
		return ev.StepFailedDetails.Error
	case ev.WaitCancelledDetails != nil:
		return ev.WaitCancelledDetails.Error
	case ev.CallbackFailedDetails != nil:
		return ev.CallbackFailedDetails.Error
	case ev.CallbackTimedOutDetails != nil:
		return ev.CallbackTimedOutDetails.Error
	case ev.ChainedInvokeFailedDetails != nil:
		return ev.ChainedInvokeFailedDetails.Error
	case ev.ChainedInvokeTimedOutDetails != nil:
		return ev.ChainedInvokeTimedOutDetails.Error
	case ev.ChainedInvokeStoppedDetails != nil:
		return ev.ChainedInvokeStoppedDetails.Error
	}
	return nil
}

// operationOf is fo's operation with its payloads in place (read back from
// the spill file if they were written there). The only error is the spill
// file's.
func (f *Folder) operationOf(fo *folded) (types.Operation, error) {
	op := fo.op
	input, err := f.pay.stringOf(fo.input)
	if err != nil {
		return op, err
	}
	result, err := f.pay.stringOf(fo.result)
	if err != nil {
		return op, err
	}
	errObj, err := f.pay.errorOf(fo.err)
	if err != nil {
		return op, err
	}
	// Copies of the details, so that the folded operation stays as it is.
	switch {
	case op.ExecutionDetails != nil:
		op.ExecutionDetails = &types.ExecutionDetails{InputPayload: input}
	case op.ContextDetails != nil:
		op.ContextDetails = withCopy(op.ContextDetails, func(d *types.ContextDetails) { d.Result, d.Error = result, errObj })
	case op.StepDetails != nil:
		op.StepDetails = withCopy(op.StepDetails, func(d *types.StepDetails) { d.Result, d.Error = result, errObj })
	case op.CallbackDetails != nil:
		op.CallbackDetails = withCopy(op.CallbackDetails, func(d *types.CallbackDetails) { d.Result, d.Error = result, errObj })
	case op.ChainedInvokeDetails != nil:
		op.ChainedInvokeDetails = withCopy(op.ChainedInvokeDetails, func(d *types.ChainedInvokeDetails) { d.Result, d.Error = result, errObj })
	}
	return op, nil
}

// withCopy is a copy of *d that set changed.
func withCopy[D any](d *D, set func(*D)) *D {
	c := *d
	set(&c)
	return &c
}

// Operations are the folded operations, in the order of their first event.
// The only error is the payload file's (see [Folder]).
func (f *Folder) Operations() ([]types.Operation, error) {
	f.order()
	out := make([]types.Operation, len(f.ops))
	for i, fo := range f.ops {
		op, err := f.operationOf(fo)
		if err != nil {
			return nil, err
		}
		out[i] = op
	}
	return out, nil
}

// AddTo maps the folded operations to rows through snap (whose RowMeta
// says source history), appending to dst: what history cannot tell stays
// null (a step's attempt before any RetryDetails). The only error is the
// payload file's (see [Folder]); dst then holds the rows mapped before it.
func (f *Folder) AddTo(snap *Snapshot, dst []schema.Operation) ([]schema.Operation, error) {
	f.order()
	for _, fo := range f.ops {
		op, err := f.operationOf(fo)
		if err != nil {
			return dst, err
		}
		dst = snap.add(dst, &op, !fo.attemptKnown)
	}
	return dst, nil
}

// Each maps the folded operations to rows through snap, as AddTo does, and
// hands them to fn at most n at a time; it stops at fn's first error, or
// the payload file's. The folder is spent, and closed: each operation is
// released once mapped.
func (f *Folder) Each(snap *Snapshot, n int, fn func([]schema.Operation) error) error {
	f.order()
	var buf []schema.Operation
	for i, fo := range f.ops {
		if buf == nil {
			// A batch of its own each time (the loader may keep the
			// rows), sized for what is left.
			buf = make([]schema.Operation, 0, min(n, len(f.ops)-i))
		}
		op, err := f.operationOf(fo)
		if err != nil {
			return err
		}
		buf = snap.add(buf, &op, !fo.attemptKnown)
		f.ops[i] = nil
		if len(buf) == n || i == len(f.ops)-1 {
			if err := fn(buf); err != nil {
				return err
			}
			buf = nil
		}
	}
	f.ops, f.index = nil, nil
	return f.Close()
}
