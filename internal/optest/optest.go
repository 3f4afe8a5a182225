package optest

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// Diff is cmp.Diff for operations: it sees through the SDK's unexported
// marker fields and compares times with Equal.
func Diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.IgnoreUnexported(types.Operation{}, types.ExecutionDetails{}, types.ContextDetails{},
		types.StepDetails{}, types.WaitDetails{}, types.CallbackDetails{}, types.ChainedInvokeDetails{}, types.ErrorObject{}))
}

// DiffRow is Diff between want and the operation that row reconstructs
// to; a row that does not reconstruct is a difference too.
func DiffRow(want types.Operation, row *schema.Operation) string {
	got, err := transform.Reconstruct(row)
	if err != nil {
		return "reconstruct: " + err.Error()
	}
	return Diff(want, got)
}

var (
	allTypes    = []types.OperationType{"EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE", "FUTURE_KIND", ""}
	allStatuses = []types.OperationStatus{"STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED", "HIBERNATING", ""}
	alphabet    = []string{"a", "Z", "0", " ", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\"", "\\", "/", "<", ">", "&", "é", "ß", "日本", "🚀", "\u2028", "\u2029", "\ufeff", "{", "}", ",", ":"}
)

// Gen makes random operations from a seeded source.
type Gen struct {
	R *rand.Rand
	// LargeEvery makes one string in that many 256 KiB long (0: never).
	LargeEvery int
	// NoNUL leaves U+0000 out of strings (Postgres text cannot hold it).
	NoNUL bool
	// NotUTF8 puts bytes that are not UTF-8 in strings now and then: the
	// SDK hands a JSON string's bytes over as the body had them.
	NotUTF8 bool
}

// notUTF8 are byte sequences that are not UTF-8: a lone continuation
// byte, a truncated sequence, a byte never in UTF-8, an encoded surrogate.
var notUTF8 = []string{"\x80", "\xe0", "\xc3", "\xff", "\xed\xa0\x80"}

// New is a generator seeded with seed.
func New(seed uint64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), LargeEvery: 400}
}

// Str is a random string: empty now and then, unicode and control
// characters throughout, and 256 KiB long once in LargeEvery.
func (g *Gen) Str() string {
	if g.LargeEvery > 0 && g.R.IntN(g.LargeEvery) == 0 {
		if g.NoNUL {
			return strings.Repeat("x\u00e9\x01{", 256<<10/6)
		}
		return strings.Repeat("x\u00e9\x00{", 256<<10/6)
	}
	n := g.R.IntN(12)
	var b strings.Builder
	for range n {
		if g.NotUTF8 && g.R.IntN(8) == 0 {
			b.WriteString(notUTF8[g.R.IntN(len(notUTF8))])
			continue
		}
		b.WriteString(alphabet[g.R.IntN(len(alphabet))])
	}
	if g.NoNUL {
		return strings.ReplaceAll(b.String(), "\x00", "")
	}
	return b.String()
}

// OptStr is nil, empty or random, each about a third of the time.
func (g *Gen) OptStr() *string {
	switch g.R.IntN(3) {
	case 0:
		return nil
	case 1:
		s := ""
		return &s
	}
	s := g.Str()
	return &s
}

// The SDK parses the wire's epoch seconds as a float64 and truncates the
// product with 1000 to whole milliseconds, which loses one millisecond for
// some times in [2^k, 2^(k+10)/1000) seconds: 1987-01 to 1987-06,
// 2004-01-10 to 2004-11-04, and from 2038-01-19 on. Times between
// ExactFrom and ExactUntil survive it exactly.
var (
	ExactFrom  = time.Date(2004, 11, 5, 0, 0, 0, 0, time.UTC)
	ExactUntil = time.Date(2038, 1, 19, 0, 0, 0, 0, time.UTC)
)

// Time is nil or a UTC time with millisecond precision between ExactFrom
// and ExactUntil.
func (g *Gen) Time() *time.Time {
	if g.R.IntN(3) == 0 {
		return nil
	}
	t := time.UnixMilli(ExactFrom.UnixMilli() + g.R.Int64N(ExactUntil.Sub(ExactFrom).Milliseconds())).UTC()
	return &t
}

// errObj is nil a third of the time, an Error object with no members one
// time in eight, and otherwise each member absent, empty or random on its
// own (every combination occurs).
func (g *Gen) errObj() *types.ErrorObject {
	switch {
	case g.R.IntN(3) == 0:
		return nil
	case g.R.IntN(8) == 0:
		return &types.ErrorObject{}
	}
	e := &types.ErrorObject{ErrorMessage: g.OptStr(), ErrorType: g.OptStr(), ErrorData: g.OptStr()}
	switch g.R.IntN(3) {
	case 1:
		e.StackTrace = []string{}
	case 2:
		for range 1 + g.R.IntN(5) {
			e.StackTrace = append(e.StackTrace, g.Str())
		}
	}
	return e
}

func (g *Gen) boolp() *bool {
	if g.R.IntN(3) == 0 {
		return nil
	}
	b := g.R.IntN(2) == 0
	return &b
}

// Operation is a random operation, its details chosen independently of its
// Type (so unknown types carry details too): none or exactly one details
// object most of the time, and one time in six several at once, each with
// its own Result and Error. One in fifty has no Id.
func (g *Gen) Operation() types.Operation {
	id := g.Str()
	op := types.Operation{
		Id: &id, ParentId: g.OptStr(), Name: g.OptStr(), SubType: g.OptStr(),
		Type:           allTypes[g.R.IntN(len(allTypes))],
		Status:         allStatuses[g.R.IntN(len(allStatuses))],
		StartTimestamp: g.Time(), EndTimestamp: g.Time(),
	}
	if g.R.IntN(50) == 0 {
		op.Id = nil
	}
	if g.R.IntN(6) == 0 {
		for k := range 6 {
			if g.R.IntN(2) == 0 {
				g.details(&op, k)
			}
		}
		return op
	}
	g.details(&op, g.R.IntN(7))
	return op
}

// details sets details object k (0-5 in the API's order; 6 sets none).
func (g *Gen) details(op *types.Operation, k int) {
	switch k {
	case 0:
		op.ExecutionDetails = &types.ExecutionDetails{InputPayload: g.OptStr()}
	case 1:
		op.ContextDetails = &types.ContextDetails{ReplayChildren: g.boolp(), Result: g.OptStr(), Error: g.errObj()}
	case 2:
		op.StepDetails = &types.StepDetails{Attempt: int32(g.R.IntN(10)) - 1, NextAttemptTimestamp: g.Time(), Result: g.OptStr(), Error: g.errObj()}
	case 3:
		op.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: g.Time()}
	case 4:
		op.CallbackDetails = &types.CallbackDetails{CallbackId: g.OptStr(), Result: g.OptStr(), Error: g.errObj()}
	case 5:
		op.ChainedInvokeDetails = &types.ChainedInvokeDetails{Result: g.OptStr(), Error: g.errObj()}
	}
}

// EventTypes are the event types the generator draws from: every one the
// API documents and two it does not.
var EventTypes = []types.EventType{
	"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionStopped",
	"ContextStarted", "ContextSucceeded", "ContextFailed", "WaitStarted", "WaitSucceeded", "WaitCancelled",
	"StepStarted", "StepSucceeded", "StepFailed", "ChainedInvokeStarted", "ChainedInvokeSucceeded", "ChainedInvokeFailed",
	"ChainedInvokeTimedOut", "ChainedInvokeStopped", "CallbackStarted", "CallbackSucceeded", "CallbackFailed", "CallbackTimedOut",
	"InvocationCompleted", "ExecutionPaused", "ExecutionResumed", "StepPaused", "TeleportStarted", "",
}

// knownEventTypes is how many of EventTypes, from the first, have a details
// object of their own.
const knownEventTypes = 26

// DiffEvent is Diff for events.
func DiffEvent(want, got types.Event) string {
	return cmp.Diff(want, got, cmpopts.IgnoreUnexported(eventTypes()...))
}

// DiffEventRow is DiffEvent between want and the event row reconstructs to.
func DiffEventRow(want types.Event, row *schema.Event) string {
	got, err := transform.ReconstructEvent(row)
	if err != nil {
		return "reconstruct: " + err.Error()
	}
	return DiffEvent(want, got)
}

// WholeOverflow is row's overflow_json in the form rows were written in
// before December 2026: every details object of the event whole (members
// by their API names, absent ones null), where today's rows may hold only
// an empty member. It reports false for a row with no details in
// overflow_json, and for one whose details encoding/json cannot write (a
// timestamp RFC 3339 cannot: FarTimes, unchanged).
func WholeOverflow(row *schema.Event) (string, bool) {
	if row.OverflowJSON == nil {
		return "", false
	}
	var o map[string]any
	if err := json.Unmarshal([]byte(*row.OverflowJSON), &o); err != nil || o["Details"] == nil {
		return "", false
	}
	ev, err := transform.ReconstructEvent(row)
	if err != nil {
		return "", false
	}
	details := map[string]any{}
	v := reflect.ValueOf(ev)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; strings.HasSuffix(name, "Details") && v.Field(i).Kind() == reflect.Pointer && !v.Field(i).IsNil() {
			details[name] = v.Field(i).Interface()
		}
	}
	o["Details"] = details
	b, err := json.Marshal(o)
	return string(b), err == nil
}

func eventTypes() []any {
	return []any{types.Event{}, types.ErrorObject{}, types.EventInput{}, types.EventResult{}, types.EventError{}, types.RetryDetails{},
		types.ExecutionStartedDetails{}, types.ExecutionSucceededDetails{}, types.ExecutionFailedDetails{}, types.ExecutionTimedOutDetails{}, types.ExecutionStoppedDetails{},
		types.ContextStartedDetails{}, types.ContextSucceededDetails{}, types.ContextFailedDetails{}, types.WaitStartedDetails{}, types.WaitSucceededDetails{}, types.WaitCancelledDetails{},
		types.StepStartedDetails{}, types.StepSucceededDetails{}, types.StepFailedDetails{}, types.ChainedInvokeStartedDetails{}, types.ChainedInvokeSucceededDetails{},
		types.ChainedInvokeFailedDetails{}, types.ChainedInvokeTimedOutDetails{}, types.ChainedInvokeStoppedDetails{}, types.CallbackStartedDetails{},
		types.CallbackSucceededDetails{}, types.CallbackFailedDetails{}, types.CallbackTimedOutDetails{}, types.InvocationCompletedDetails{},
		types.ExecutionPausedDetails{}, types.ExecutionResumedDetails{}, types.EventPauseReason{}, types.EventResumeReason{}}
}

func (g *Gen) int32p() *int32 {
	if g.R.IntN(3) == 0 {
		return nil
	}
	v := int32(g.R.IntN(100000)) - 10
	return &v
}

func (g *Gen) input() *types.EventInput {
	if g.R.IntN(4) == 0 {
		return nil
	}
	return &types.EventInput{Payload: g.OptStr(), Truncated: g.boolp()}
}

func (g *Gen) result() *types.EventResult {
	if g.R.IntN(4) == 0 {
		return nil
	}
	return &types.EventResult{Payload: g.OptStr(), Truncated: g.boolp()}
}

func (g *Gen) eventError() *types.EventError {
	if g.R.IntN(4) == 0 {
		return nil
	}
	return &types.EventError{Payload: g.errObj(), Truncated: g.boolp()}
}

func (g *Gen) pauseReason() *types.EventPauseReason {
	if g.R.IntN(4) == 0 {
		return nil
	}
	return &types.EventPauseReason{Payload: g.OptStr(), Truncated: g.boolp()}
}

func (g *Gen) resumeReason() *types.EventResumeReason {
	if g.R.IntN(4) == 0 {
		return nil
	}
	return &types.EventResumeReason{Payload: g.OptStr(), Truncated: g.boolp()}
}

func (g *Gen) retry() *types.RetryDetails {
	if g.R.IntN(3) == 0 {
		return nil
	}
	return &types.RetryDetails{CurrentAttempt: int32(g.R.IntN(10)), NextAttemptDelaySeconds: g.int32p()}
}

// Event is a random history event: any type (unknown ones too), usually the
// details object its type names, now and then another one or several, each
// member absent, empty or random (empty Input, Result and Error objects
// included); one in fifty has no EventId.
func (g *Gen) Event() types.Event {
	id := int32(g.R.IntN(1 << 20))
	ev := types.Event{EventId: &id, EventType: EventTypes[g.R.IntN(len(EventTypes))], EventTimestamp: g.Time(),
		Id: g.OptStr(), ParentId: g.OptStr(), Name: g.OptStr(), SubType: g.OptStr()}
	if g.R.IntN(50) == 0 {
		ev.EventId = nil
	}
	kinds := []int{detailsIndex(string(ev.EventType))}
	switch g.R.IntN(8) {
	case 0:
		kinds = []int{g.R.IntN(knownEventTypes)}
	case 1:
		kinds = append(kinds, g.R.IntN(knownEventTypes), g.R.IntN(knownEventTypes))
	case 2:
		kinds = nil
	}
	for _, k := range kinds {
		g.eventDetails(&ev, k)
	}
	return ev
}

func detailsIndex(t string) int {
	for i, et := range EventTypes[:knownEventTypes] {
		if string(et) == t {
			return i
		}
	}
	return -1
}

// eventDetails sets the details object of EventTypes[k] (k < knownEventTypes).
func (g *Gen) eventDetails(ev *types.Event, k int) {
	if k < 0 {
		return
	}
	switch EventTypes[k] {
	case "ExecutionStarted":
		ev.ExecutionStartedDetails = &types.ExecutionStartedDetails{ExecutionTimeout: g.int32p(), Input: g.input()}
	case "ExecutionSucceeded":
		ev.ExecutionSucceededDetails = &types.ExecutionSucceededDetails{Result: g.result()}
	case "ExecutionFailed":
		ev.ExecutionFailedDetails = &types.ExecutionFailedDetails{Error: g.eventError()}
	case "ExecutionTimedOut":
		ev.ExecutionTimedOutDetails = &types.ExecutionTimedOutDetails{Error: g.eventError()}
	case "ExecutionStopped":
		ev.ExecutionStoppedDetails = &types.ExecutionStoppedDetails{Error: g.eventError()}
	case "ContextStarted":
		ev.ContextStartedDetails = &types.ContextStartedDetails{}
	case "ContextSucceeded":
		ev.ContextSucceededDetails = &types.ContextSucceededDetails{Result: g.result()}
	case "ContextFailed":
		ev.ContextFailedDetails = &types.ContextFailedDetails{Error: g.eventError()}
	case "WaitStarted":
		ev.WaitStartedDetails = &types.WaitStartedDetails{Duration: g.int32p(), ScheduledEndTimestamp: g.Time()}
	case "WaitSucceeded":
		ev.WaitSucceededDetails = &types.WaitSucceededDetails{Duration: g.int32p()}
	case "WaitCancelled":
		ev.WaitCancelledDetails = &types.WaitCancelledDetails{Error: g.eventError()}
	case "StepStarted":
		ev.StepStartedDetails = &types.StepStartedDetails{}
	case "StepSucceeded":
		ev.StepSucceededDetails = &types.StepSucceededDetails{Result: g.result(), RetryDetails: g.retry()}
	case "StepFailed":
		ev.StepFailedDetails = &types.StepFailedDetails{Error: g.eventError(), RetryDetails: g.retry()}
	case "ChainedInvokeStarted":
		ev.ChainedInvokeStartedDetails = &types.ChainedInvokeStartedDetails{FunctionName: g.OptStr(), DurableExecutionArn: g.OptStr(),
			ExecutedVersion: g.OptStr(), Input: g.input(), TenantId: g.OptStr()}
	case "ChainedInvokeSucceeded":
		ev.ChainedInvokeSucceededDetails = &types.ChainedInvokeSucceededDetails{Result: g.result()}
	case "ChainedInvokeFailed":
		ev.ChainedInvokeFailedDetails = &types.ChainedInvokeFailedDetails{Error: g.eventError()}
	case "ChainedInvokeTimedOut":
		ev.ChainedInvokeTimedOutDetails = &types.ChainedInvokeTimedOutDetails{Error: g.eventError()}
	case "ChainedInvokeStopped":
		ev.ChainedInvokeStoppedDetails = &types.ChainedInvokeStoppedDetails{Error: g.eventError()}
	case "CallbackStarted":
		ev.CallbackStartedDetails = &types.CallbackStartedDetails{CallbackId: g.OptStr(), Timeout: g.int32p(), HeartbeatTimeout: g.int32p()}
	case "CallbackSucceeded":
		ev.CallbackSucceededDetails = &types.CallbackSucceededDetails{Result: g.result()}
	case "CallbackFailed":
		ev.CallbackFailedDetails = &types.CallbackFailedDetails{Error: g.eventError()}
	case "CallbackTimedOut":
		ev.CallbackTimedOutDetails = &types.CallbackTimedOutDetails{Error: g.eventError()}
	case "InvocationCompleted":
		ev.InvocationCompletedDetails = &types.InvocationCompletedDetails{RequestId: g.OptStr(), StartTimestamp: g.Time(), EndTimestamp: g.Time(), Error: g.eventError()}
	case "ExecutionPaused":
		ev.ExecutionPausedDetails = &types.ExecutionPausedDetails{ExecutionTimeoutPaused: g.boolp(), PauseRequestTimestamp: g.Time(), Reason: g.pauseReason()}
	case "ExecutionResumed":
		ev.ExecutionResumedDetails = &types.ExecutionResumedDetails{ResumeRequestTimestamp: g.Time(), Reason: g.resumeReason()}
	}
}

// OpenParquet opens a Parquet file for the test's length; a failure fails
// the test.
func OpenParquet(t testing.TB, path string) *parquet.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// RowOrder checks the row order of one operations or events file
// (docs/ARCHITECTURE.md, "Row order in a file"), fed its rows in turn
// with Row: the rows one run wrote of one execution are contiguous, and
// with Ordered in the API's order (n: seq). The same rows may come again
// whole, from their first (a killed compaction's duplicates). Events are
// not Ordered: an event_id is the service's number, or minus the event's
// position when it had none, so ids need not ascend in the API's order.
type RowOrder struct {
	T       testing.TB
	File    string
	Ordered bool
	first   map[string]int64
	last    string
	at      int64
}

// Row takes the file's next row: its execution, run, extracted_at and
// seq or event_id n.
func (o *RowOrder) Row(arn, run string, extractedAt time.Time, n int64) {
	o.T.Helper()
	k := arn + "\x00" + run + "\x00" + extractedAt.String()
	if o.first == nil {
		o.first = map[string]int64{}
	}
	first, seen := o.first[k]
	switch {
	case o.Ordered && k == o.last && n <= o.at:
		o.T.Errorf("%s: %s's rows of run %s out of order (%d after %d)", o.File, arn, run, n, o.at)
	case k != o.last && seen && n != first:
		o.T.Errorf("%s: %s's rows of run %s are not together", o.File, arn, run)
	case !seen:
		o.first[k] = n
	}
	o.last, o.at = k, n
}
