package transform

import (
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/slab"
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
//     or StepSucceeded whose RetryDetails has NextAttemptDelaySeconds of 1
//     or more is a retry: PENDING, with NextAttemptTimestamp = its time +
//     the delay (a delay of 0 is none: a retry's is at least 1).
//   - Id, ParentId, Name, SubType: the events' own, the latest present.
//   - StartTimestamp: the first event's; EndTimestamp: the terminal event's.
//   - "First", "last" and "latest" go by EventId, not by the order events
//     arrive in: a history served newest first folds the same as oldest
//     first. An event that comes after a newer one of its operation adds
//     only what the newer ones left unsaid (its parent id, name, sub-type,
//     outcome, attempt, *Started members), so a history in some other
//     order may fold to older values of those. (A run hands events over
//     oldest first: see extract.HistoryOrder.)
//   - ExecutionDetails.InputPayload from ExecutionStarted; Result and Error of
//     contexts, steps, callbacks and chained invokes from the last event that
//     carries one (a retried step keeps its last attempt's error);
//     StepDetails.Attempt from the last RetryDetails.CurrentAttempt;
//     WaitDetails.ScheduledEndTimestamp from WaitStarted; CallbackId from
//     CallbackStarted.
//   - History cannot tell ContextDetails.ReplayChildren (null), a step's
//     Attempt before any RetryDetails (null), or READY (no event).
//   - InvocationCompleted events, ExecutionPaused and ExecutionResumed
//     (the execution's, not an operation's) and events of a type with no
//     known suffix belong to no operation; they are archived as events only.
//
// Memory: until the history ends, a Folder keeps each operation as a
// packed record (about 165 bytes with its id, the index included; 235
// when each has a parent id and name of its own: those and sub-types are
// kept once per run of operations sharing them) and its payloads (the
// execution's input, each operation's latest Result and Error).
// Payloads past a budget (see [WithPayloadBudget]) go to a temporary file,
// read back as the operations are mapped; [Folder.Close] releases it.
// Should the file fail (a full disk), payloads stay in memory: nothing is
// lost, only the bound.
type Folder struct {
	ops   []*folded // in slabs: one allocation per 1,024 operations (fewer at first)
	slab  []folded  // what is left of the current slab
	index opIndex
	n     int64 // events seen, for events without an EventId
	// sorted reports that the operations are in the order of their first
	// event id (false once an event came out of order).
	sorted  bool
	splits  map[types.EventType]eventSplit // splitEventType's answers, by event type
	labels  []string                       // operation types, by folded.typ
	labelAt map[string]uint32              // the index of each label
	// statuses are the operations' statuses, by folded.status: the event
	// types' six suffixes and PENDING at most.
	statuses []string
	pay      payloads
	// strs holds the operations' parent ids, names and sub-types; last
	// the index of the value each of these fields last took, shared by
	// the operations that repeat it (see setRef).
	strs strTable
	last struct{ parentID, name, subType uint32 }
	// times holds the folded operations' times once mapped (see
	// operationOf): rows point into it, a chunk at a time.
	times slab.Slab[time.Time]
}

// FolderOption configures a [Folder].
type FolderOption func(*Folder)

// WithPayloadBudget sets how many bytes of payloads a Folder keeps in
// memory before it writes them to a temporary file (default 4 MiB: a run
// folds up to --concurrency histories at once).
func WithPayloadBudget(bytes int64) FolderOption {
	return func(f *Folder) { f.pay.budget = bytes }
}

// WithSharedPayloadBudget makes the Folder keep payloads in memory only
// while b, shared with the run's other Folders, has room too (default: its
// own budget alone).
func WithSharedPayloadBudget(b *PayloadBudget) FolderOption {
	return func(f *Folder) { f.pay.shared = b }
}

// WithSpillDir sets the folder of that temporary file (default
// [os.TempDir]).
func WithSpillDir(dir string) FolderOption {
	return func(f *Folder) { f.pay.dir = dir }
}

// eventSplit is an event type's operation type and status, as indexes
// into Folder.labels and Folder.statuses; ok is false for a type with no
// known suffix.
type eventSplit struct {
	typ    uint32
	status uint8
	kind   detailsKind
	ok     bool
}

// detailsKind is which details object an operation's type carries.
type detailsKind uint8

const (
	noDetails detailsKind = iota
	executionDetails
	contextDetails
	stepDetails
	waitDetails
	callbackDetails
	chainedInvokeDetails
)

var detailsOfType = map[string]detailsKind{
	"EXECUTION": executionDetails, "CONTEXT": contextDetails, "STEP": stepDetails,
	"WAIT": waitDetails, "CALLBACK": callbackDetails, "CHAINED_INVOKE": chainedInvokeDetails,
}

// folded is one operation as folded so far, packed (a history of a
// million events can hold half a million operations until it ends; 16
// histories of 100,000 events folded at once held 68 MB of them at 184
// bytes each, 128 now): the id by value, the parent id, name and sub-type
// as indexes into Folder.strs, times as Unix milliseconds, each optional
// field present as flags say; the details object is made when the
// operation is mapped.
type folded struct {
	id                          string
	start, end, next, scheduled int64
	// first and last are the lowest and highest event ids folded in: the
	// history's order is its EventIds', whatever order pages come in.
	first, last int64
	callbackID  *string
	// value is the execution's InputPayload or the details' Result; err
	// the details' Error.
	value                   payload[*string]
	err                     payload[*types.ErrorObject]
	attempt                 int32
	parentID, name, subType uint32 // indexes into Folder.strs
	typ                     uint32 // index into Folder.labels
	flags                   uint16
	status                  uint8 // index into Folder.statuses
	kind                    detailsKind
}

// folded.flags: which optional fields are present.
const (
	hasID uint16 = 1 << iota
	hasParentID
	hasName
	hasSubType
	hasStart
	hasEnd
	hasNext
	hasScheduled
	attemptKnown
	retryHeld    // value and err are a retry's, counted in payloads.retryMem
	outcomeKnown // an event's Result or Error (or ExecutionStarted's Input) is in value and err
	startedKnown // a *Started event's own members (foldStarted) are in
)

// setID sets fo's id to a copy of *src; a nil src changes nothing. A
// copy: the SDK's strings share blocks of memory with the rest of their
// page (payloads included), and an operation's id kept as it came would
// keep its page's block alive until the history ends (39 MB of 221 at 16
// histories of 100,000 events folded at once, with names and parents).
func (fo *folded) setID(src *string) {
	if src == nil || (fo.flags&hasID != 0 && fo.id == *src) {
		return
	}
	fo.id = strings.Clone(*src)
	fo.flags |= hasID
}

// setRef sets *dst, an index into f.strs, to *src and sets its flag, or
// only when absent so far (ifAbsent); a nil src changes nothing. A value
// equal to *last (the one this field last took in any operation: the
// steps of a loop share a name and a parent) is shared; another is copied
// into f.strs (see setID for why a copy) and becomes *last.
func (f *Folder) setRef(fo *folded, dst *uint32, flag uint16, src *string, ifAbsent bool, last *uint32) {
	if src == nil || (ifAbsent && fo.flags&flag != 0) || (fo.flags&flag != 0 && f.strs.at(*dst) == *src) {
		return
	}
	if f.strs.at(*last) != *src {
		*last = f.strs.add(strings.Clone(*src))
	}
	*dst = *last
	fo.flags |= flag
}

// opIndex finds an operation by its id: an open-addressing table (linear
// probing, at most three quarters full) of positions in Folder.ops, plus
// one (0: empty), whose ids are compared in the records themselves. A
// map[string]int held a copy of each id's header beside its position,
// about 35 bytes an operation; this holds 5 to 11.
type opIndex struct {
	seed  maphash.Seed
	slots []uint32
	n     int
}

func newOpIndex() opIndex { return opIndex{seed: maphash.MakeSeed(), slots: make([]uint32, 64)} }

// find is the position of the operation whose id is id.
func (x *opIndex) find(ops []*folded, id string) (int, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := maphash.String(x.seed, id) & mask; ; i = (i + 1) & mask {
		switch j := x.slots[i]; {
		case j == 0:
			return 0, false
		case ops[j-1].id == id:
			return int(j - 1), true
		}
	}
}

// add records that the operation at position j has id id (not in x yet).
func (x *opIndex) add(ops []*folded, id string, j int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]uint32, 2*len(old))
		for _, k := range old {
			if k != 0 {
				x.put(ops[k-1].id, k)
			}
		}
	}
	x.put(id, uint32(j+1))
	x.n++
}

// rebuild indexes ops afresh, after they were reordered.
func (x *opIndex) rebuild(ops []*folded) {
	clear(x.slots)
	for j, fo := range ops {
		x.put(fo.id, uint32(j+1))
	}
}

func (x *opIndex) put(id string, k uint32) {
	mask := uint64(len(x.slots) - 1)
	i := maphash.String(x.seed, id) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = k
}

// strTable is a list of strings in chunks of strChunk (no copying of the
// full ones as it grows: a history's operations can each bring their own
// name), index 0 the empty string. The last chunk starts small and doubles
// as it fills, so that a short history's table is small: its rows point
// into it (see ptr) and may wait in a partition's buffer long after the
// fold, and a thousand histories of three operations must not keep a
// thousand chunks of 1,024 strings.
type strTable struct{ chunks [][]string }

const strChunk = 1024

// timeChunk is how many times a chunk of Folder.times holds (24 KiB).
const timeChunk = 1024

// add appends s and returns its index.
func (t *strTable) add(s string) uint32 {
	if len(t.chunks) == 0 || len(t.chunks[len(t.chunks)-1]) == strChunk {
		t.chunks = append(t.chunks, make([]string, 0, min(16, strChunk)))
	}
	last := &t.chunks[len(t.chunks)-1]
	if len(*last) == cap(*last) {
		// A pointer handed out by ptr stays valid: it points into the
		// array before, whose strings never change.
		*last = append(make([]string, 0, min(2*cap(*last), strChunk)), *last...)
	}
	*last = append(*last, s)
	return uint32((len(t.chunks)-1)*strChunk + len(*last)) // index 0 is ""
}

// at is the string at index i.
func (t *strTable) at(i uint32) string {
	if i == 0 {
		return ""
	}
	i--
	return t.chunks[i/strChunk][i%strChunk]
}

// ptr points at the string at index i, where it stays (a chunk never
// grows past its capacity): rows share it instead of a copy each.
func (t *strTable) ptr(i uint32) *string {
	if i == 0 {
		return new("")
	}
	i--
	return &t.chunks[i/strChunk][i%strChunk]
}

// setTime sets *dst and its flag from t (truncated to the millisecond, as
// state reports times), or clears the flag for a nil t.
func (fo *folded) setTime(dst *int64, flag uint16, t *time.Time) {
	if t == nil {
		fo.flags &^= flag
		return
	}
	*dst = t.UnixMilli()
	fo.flags |= flag
}

// NewFolder starts folding one execution's history.
func NewFolder(opts ...FolderOption) *Folder {
	f := &Folder{index: newOpIndex(), sorted: true, splits: map[types.EventType]eventSplit{}, labelAt: map[string]uint32{}}
	f.pay.budget = 4 << 20
	for _, o := range opts {
		o(f)
	}
	return f
}

// Close releases the temporary file of spilled payloads, if any. A Folder
// that [Folder.Each] went through is closed already.
func (f *Folder) Close() error { return f.pay.close() }

// status is the index of s in f.statuses, added on first use.
func (f *Folder) status(s string) uint8 {
	if i := slices.Index(f.statuses, s); i >= 0 {
		return uint8(i)
	}
	f.statuses = append(f.statuses, s)
	return uint8(len(f.statuses) - 1)
}

// label is the index of s in f.labels, added on first use.
func (f *Folder) label(s string) uint32 {
	if i, ok := f.labelAt[s]; ok {
		return i
	}
	f.labels = append(f.labels, s)
	f.labelAt[s] = uint32(len(f.labels) - 1)
	return uint32(len(f.labels) - 1)
}

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
		typ, status, ok := splitEventType(string(ev.EventType))
		sp = eventSplit{ok: ok}
		if ok {
			sp.typ, sp.status, sp.kind = f.label(typ), f.status(status), detailsOfType[typ]
		}
		f.splits[ev.EventType] = sp
	}
	if !sp.ok {
		return
	}
	f.n++
	id := f.n
	if ev.EventId != nil {
		id = int64(*ev.EventId)
	}
	fo := f.operation(ev, sp, id)
	if id < fo.first { // an earlier event, come late: it starts the operation
		fo.first = id
		fo.setTime(&fo.start, hasStart, ev.EventTimestamp)
		f.sorted = false
	}
	if id <= fo.last { // older than what is folded already: only what the newer ones did not say
		f.setRef(fo, &fo.parentID, hasParentID, ev.ParentId, true, &f.last.parentID)
		f.setRef(fo, &fo.name, hasName, ev.Name, true, &f.last.name)
		f.setRef(fo, &fo.subType, hasSubType, ev.SubType, true, &f.last.subType)
		f.foldStarted(fo, ev, true)
		f.foldAttempt(fo, ev, true)
		f.foldOutcome(fo, ev, true)
		return
	}
	fo.last = id
	fo.setID(ev.Id)
	f.setRef(fo, &fo.parentID, hasParentID, ev.ParentId, false, &f.last.parentID)
	f.setRef(fo, &fo.name, hasName, ev.Name, false, &f.last.name)
	f.setRef(fo, &fo.subType, hasSubType, ev.SubType, false, &f.last.subType)
	fo.status = sp.status
	if f.statuses[sp.status] == "STARTED" {
		fo.flags &^= hasEnd
	} else {
		fo.setTime(&fo.end, hasEnd, ev.EventTimestamp)
	}
	f.foldStarted(fo, ev, false)
	f.foldRetry(fo, ev)
	f.foldOutcome(fo, ev, false)
}

// operation is the folded operation of ev's Id, made on its first event.
func (f *Folder) operation(ev *types.Event, sp eventSplit, id int64) *folded {
	if j, seen := f.index.find(f.ops, deref(ev.Id)); seen {
		return f.ops[j]
	}
	j := len(f.ops)
	if len(f.slab) == 0 {
		// As many as there are so far, 16 to 1,024: most histories are
		// short, and a slab is 128 KiB at its largest.
		f.slab = make([]folded, min(max(len(f.ops), 16), 1024))
	}
	fo := &f.slab[0]
	f.slab = f.slab[1:]
	*fo = folded{typ: sp.typ, kind: sp.kind, first: id, last: id - 1}
	fo.setID(ev.Id)
	f.index.add(f.ops, fo.id, j) // keyed by the record's copy of the id (see setID)
	fo.setTime(&fo.start, hasStart, ev.EventTimestamp)
	if j > 0 && id < f.ops[j-1].first {
		f.sorted = false
	}
	f.ops = append(f.ops, fo)
	return fo
}

// foldRetry takes a step's attempt from RetryDetails, and a StepFailed or
// StepSucceeded with a next-attempt delay of a second or more as a retry:
// PENDING, with its next attempt's time. A retry's delay is at least 1
// (StepOptions.NextAttemptDelaySeconds, 1 to 31,622,400; AWS's SDKs round
// it up to 1), so a delay of 0 is no retry: AWS's Python testing server
// writes one on a step's last StepFailed and on StepSucceeded.
// StepSucceeded with a delay is a RETRY that carries a payload, not an
// error: a wait-for-condition check whose condition is not met yet
// (AWS's recorded histories show one per check).
func (f *Folder) foldRetry(fo *folded, ev *types.Event) {
	if fo.kind != stepDetails {
		return
	}
	retry := f.foldAttempt(fo, ev, false)
	fo.flags &^= hasNext
	if retry != nil && retry.NextAttemptDelaySeconds != nil && *retry.NextAttemptDelaySeconds > 0 && ev.EventTimestamp != nil {
		fo.status = f.status(string(types.OperationStatusPending))
		fo.flags &^= hasEnd
		fo.next = ev.EventTimestamp.UnixMilli() + int64(*retry.NextAttemptDelaySeconds)*1000
		fo.flags |= hasNext
	}
}

// foldAttempt takes a step's attempt from the event's RetryDetails, which
// it returns; an older event (one that came after a newer) only when no
// newer one gave it.
func (f *Folder) foldAttempt(fo *folded, ev *types.Event, older bool) *types.RetryDetails {
	if fo.kind != stepDetails || older && fo.flags&attemptKnown != 0 {
		return nil
	}
	var retry *types.RetryDetails
	if ev.StepFailedDetails != nil {
		retry = ev.StepFailedDetails.RetryDetails
	} else if ev.StepSucceededDetails != nil {
		retry = ev.StepSucceededDetails.RetryDetails
	}
	if retry != nil {
		fo.attempt = retry.CurrentAttempt
		fo.flags |= attemptKnown
	}
	return retry
}

// foldOutcome takes the Result or Error an event carries into the
// operation's details; an older event's (one that came after a newer)
// only when no newer one carried any.
func (f *Folder) foldOutcome(fo *folded, ev *types.Event, older bool) {
	if older && fo.flags&outcomeKnown != 0 {
		return
	}
	var result *string
	var errObj *types.ErrorObject
	var hasOutcome bool
	if r := eventResult(ev); r != nil {
		result, hasOutcome = r.Payload, true
	}
	if e := eventError(ev); e != nil {
		errObj, hasOutcome = e.Payload, true
	}
	switch fo.kind {
	case contextDetails, stepDetails, callbackDetails, chainedInvokeDetails:
	default:
		return
	}
	if !hasOutcome {
		return
	}
	f.pay.dropOutcome(fo.value, fo.err, fo.flags&retryHeld != 0)
	fo.flags &^= retryHeld
	fo.flags |= outcomeKnown
	// A retry's outcome (foldRetry has just set hasNext) is replaced by the
	// next attempt's, usually a few events on: held in memory past the
	// budgets while the retry slack has room, it is not written to the
	// spill file only to be thrown away.
	if fo.flags&hasNext != 0 {
		if v, e, ok := f.pay.keepRetry(result, errObj); ok {
			fo.value, fo.err = v, e
			fo.flags |= retryHeld
			return
		}
	}
	fo.value, fo.err = f.pay.keepString(result), f.pay.keepError(errObj)
}

// foldStarted takes what only a *Started event says, whenever it comes:
// the latest such event's (an older one, come after a newer, only when
// no newer one said it).
func (f *Folder) foldStarted(fo *folded, d *types.Event, older bool) {
	switch {
	case d.ExecutionStartedDetails != nil && fo.kind == executionDetails:
		if in := d.ExecutionStartedDetails.Input; in != nil && !(older && fo.flags&outcomeKnown != 0) {
			f.pay.dropOutcome(fo.value, payload[*types.ErrorObject]{}, false)
			fo.value = f.pay.keepString(in.Payload)
			fo.flags |= outcomeKnown
		}
	case older && fo.flags&startedKnown != 0:
	case d.WaitStartedDetails != nil && fo.kind == waitDetails:
		fo.setTime(&fo.scheduled, hasScheduled, d.WaitStartedDetails.ScheduledEndTimestamp)
		fo.flags |= startedKnown
	case d.CallbackStartedDetails != nil && fo.kind == callbackDetails:
		fo.callbackID = cloneString(d.CallbackStartedDetails.CallbackId) // see setID
		fo.flags |= startedKnown
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
	f.index.rebuild(f.ops) // positions moved: more events may come
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

// operationOf is fo's operation, its details object made (in scratch when
// given, which the next call reuses: see detailsScratch) and its payloads
// in place (read back from the spill file if they were written there). Its
// strings point into the fold's table, its times into the fold's chunks
// and its id into fo. The only error is the spill file's.
func (f *Folder) operationOf(fo *folded, scratch *detailsScratch) (types.Operation, error) {
	str := func(i uint32, flag uint16) *string {
		if fo.flags&flag == 0 {
			return nil
		}
		return f.strs.ptr(i)
	}
	timeOf := func(v int64, flag uint16) *time.Time {
		if fo.flags&flag == 0 {
			return nil
		}
		return f.times.Put(time.UnixMilli(v).UTC(), timeChunk)
	}
	op := types.Operation{
		ParentId: str(fo.parentID, hasParentID), Name: str(fo.name, hasName), SubType: str(fo.subType, hasSubType),
		Type: types.OperationType(f.labels[fo.typ]), Status: types.OperationStatus(f.statuses[fo.status]),
		StartTimestamp: timeOf(fo.start, hasStart), EndTimestamp: timeOf(fo.end, hasEnd),
	}
	if fo.flags&hasID != 0 {
		op.Id = &fo.id
	}
	value, err := f.pay.stringOf(fo.value)
	if err != nil {
		return op, err
	}
	errObj, err := f.pay.errorOf(fo.err)
	if err != nil {
		return op, err
	}
	if scratch == nil {
		scratch = new(detailsScratch) // the caller keeps the operation
	}
	switch fo.kind {
	case executionDetails:
		scratch.execution = types.ExecutionDetails{InputPayload: value}
		op.ExecutionDetails = &scratch.execution
	case contextDetails:
		scratch.context = types.ContextDetails{Result: value, Error: errObj}
		op.ContextDetails = &scratch.context
	case stepDetails:
		scratch.step = types.StepDetails{Attempt: fo.attempt, NextAttemptTimestamp: timeOf(fo.next, hasNext), Result: value, Error: errObj}
		op.StepDetails = &scratch.step
	case waitDetails:
		scratch.wait = types.WaitDetails{ScheduledEndTimestamp: timeOf(fo.scheduled, hasScheduled)}
		op.WaitDetails = &scratch.wait
	case callbackDetails:
		scratch.callback = types.CallbackDetails{CallbackId: fo.callbackID, Result: value, Error: errObj}
		op.CallbackDetails = &scratch.callback
	case chainedInvokeDetails:
		scratch.chainedInvoke = types.ChainedInvokeDetails{Result: value, Error: errObj}
		op.ChainedInvokeDetails = &scratch.chainedInvoke
	}
	return op, nil
}

// detailsScratch holds the details object of the operation operationOf
// makes last, for callers that map it to a row at once (a row keeps the
// details' members, never the object): reused, it costs no allocation an
// operation. Given none, operationOf makes one for the operation to keep.
type detailsScratch struct {
	execution     types.ExecutionDetails
	context       types.ContextDetails
	step          types.StepDetails
	wait          types.WaitDetails
	callback      types.CallbackDetails
	chainedInvoke types.ChainedInvokeDetails
}

// Operations are the folded operations, in the order of their first event.
// The only error is the payload file's (see [Folder]).
func (f *Folder) Operations() ([]types.Operation, error) {
	f.order()
	out := make([]types.Operation, len(f.ops))
	for i, fo := range f.ops {
		op, err := f.operationOf(fo, nil)
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
	var scratch detailsScratch
	for _, fo := range f.ops {
		op, err := f.operationOf(fo, &scratch)
		if err != nil {
			return dst, err
		}
		dst = snap.add(dst, &op, fo.flags&attemptKnown == 0, nil)
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
	var scratch detailsScratch
	for i, fo := range f.ops {
		if buf == nil {
			// A batch of its own each time (the loader may keep the
			// rows), sized for what is left.
			buf = make([]schema.Operation, 0, min(n, len(f.ops)-i))
		}
		op, err := f.operationOf(fo, &scratch)
		if err != nil {
			return err
		}
		buf = snap.add(buf, &op, fo.flags&attemptKnown == 0, nil)
		f.ops[i] = nil
		if len(buf) == n || i == len(f.ops)-1 {
			if err := fn(buf); err != nil {
				return err
			}
			buf = nil
		}
	}
	f.ops, f.index = nil, opIndex{}
	return f.Close()
}
