package transform_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithytime "github.com/aws/smithy-go/time"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// TestEventLossless is the property test for events: random events of every
// type (unknown ones too), with several details objects, empty Input,
// Result and Error objects, and every member absent, empty or set, map to
// rows that give back the same events.
func TestEventLossless(t *testing.T) {
	g := optest.New(20261130)
	g.NotUTF8 = true // the bytes of a body that is not UTF-8, as the SDK hands them over
	n := 20000
	if testing.Short() {
		n = 2000
	}
	overflows := 0
	var keys transform.EventKeys // one history: ids repeat, some are negative
	// Pages of events, their rows appended as a run appends them (the
	// slice grows under the rows made before), and one by one.
	for i := 0; i < n; i += 100 {
		events := make([]types.Event, 100)
		var rows []schema.Event
		for j := range events {
			events[j] = g.Event()
			rows = transform.AppendEventRow(rows, &events[j], keys.Next(&events[j]), meta)
		}
		for j, ev := range events {
			if rows[j].OverflowJSON != nil {
				overflows++
			}
			if diff := optest.DiffEventRow(ev, &rows[j]); diff != "" {
				t.Fatalf("event %d lost something (-want +got):\n%s", i+j, diff)
			}
			if one := transform.EventRow(&ev, transform.EventKey{ID: rows[j].EventID}, meta); !reflect.DeepEqual(one, rows[j]) {
				t.Fatalf("event %d: EventRow and AppendEventRow differ:\n%+v\n%+v", i+j, one, rows[j])
			}
		}
	}
	if overflows < n/20 || overflows > n/2 {
		t.Errorf("%d of %d events needed overflow_json: the generator's odd shapes are off", overflows, n)
	}
}

func TestEventRowColumns(t *testing.T) {
	now := ts("2026-01-05T10:00:00.123Z")
	ev := types.Event{EventId: aws.Int32(7), EventType: "StepFailed", EventTimestamp: now, Id: aws.String("s1"), Name: aws.String("charge"),
		StepFailedDetails: &types.StepFailedDetails{
			Error:        &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("Boom"), StackTrace: []string{}}, Truncated: aws.Bool(false)},
			RetryDetails: &types.RetryDetails{CurrentAttempt: 2, NextAttemptDelaySeconds: aws.Int32(30)},
		}}
	row := transform.EventRow(&ev, transform.EventKey{ID: 7, Pos: 7}, meta)
	if row.EventID != 7 || *row.DetailKind != "step_failed" || *row.ErrorType != "Boom" || row.ErrorStackTrace == nil || *row.PayloadTruncated ||
		*row.Attempt != 2 || *row.NextAttemptDelaySeconds != 30 || row.OverflowJSON != nil || *row.OperationID != "s1" {
		t.Errorf("row %+v", row)
	}
	ic := types.Event{EventId: aws.Int32(2), EventType: "InvocationCompleted", InvocationCompletedDetails: &types.InvocationCompletedDetails{
		RequestId: aws.String("r"), StartTimestamp: now, EndTimestamp: now}}
	row = transform.EventRow(&ic, transform.EventKey{ID: 2, Pos: 2}, meta)
	if *row.DetailKind != "invocation_completed" || *row.RequestID != "r" || !row.InvocationStartTime.Equal(*now) || row.OverflowJSON != nil {
		t.Errorf("row %+v", row)
	}
	cs := types.Event{EventId: aws.Int32(3), EventType: "ChainedInvokeStarted", ChainedInvokeStartedDetails: &types.ChainedInvokeStartedDetails{
		FunctionName: aws.String("billing"), DurableExecutionArn: aws.String("arn:x"), Input: &types.EventInput{Payload: aws.String("{}")}, TenantId: aws.String("t")}}
	row = transform.EventRow(&cs, transform.EventKey{ID: 3, Pos: 3}, meta)
	if *row.InvokedFunctionName != "billing" || *row.InvokedExecutionArn != "arn:x" || *row.InputPayload != "{}" || *row.TenantID != "t" || row.PayloadTruncated != nil {
		t.Errorf("row %+v", row)
	}
	// An empty Result object is kept apart from none.
	empty := types.Event{EventId: aws.Int32(4), EventType: "StepSucceeded", StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{}}}
	row = transform.EventRow(&empty, transform.EventKey{ID: 4, Pos: 4}, meta)
	if row.OverflowJSON == nil || *row.OverflowJSON != `{"Details":{"StepSucceededDetails":{"Result":{}}}}` {
		t.Errorf("overflow_json %v", row.OverflowJSON)
	}
	if diff := optest.DiffEventRow(empty, &row); diff != "" {
		t.Error(diff)
	}
	// A pause and a resume (November 2026) fill columns, not overflow_json;
	// an empty Reason is kept apart from none.
	paused := types.Event{EventId: aws.Int32(5), EventType: "ExecutionPaused", EventTimestamp: now, ExecutionPausedDetails: &types.ExecutionPausedDetails{
		ExecutionTimeoutPaused: aws.Bool(true), PauseRequestTimestamp: now, Reason: &types.EventPauseReason{Payload: aws.String("deploy freeze"), Truncated: aws.Bool(false)}}}
	row = transform.EventRow(&paused, transform.EventKey{ID: 5, Pos: 5}, meta)
	if *row.DetailKind != "execution_paused" || *row.Reason != "deploy freeze" || !row.RequestTime.Equal(*now) || !*row.ExecutionTimeoutPaused ||
		*row.PayloadTruncated || row.OverflowJSON != nil {
		t.Errorf("row %+v", row)
	}
	resumed := types.Event{EventId: aws.Int32(6), EventType: "ExecutionResumed", ExecutionResumedDetails: &types.ExecutionResumedDetails{
		ResumeRequestTimestamp: now, Reason: &types.EventResumeReason{}}}
	row = transform.EventRow(&resumed, transform.EventKey{ID: 6, Pos: 6}, meta)
	if *row.DetailKind != "execution_resumed" || row.Reason != nil || !row.RequestTime.Equal(*now) || row.ExecutionTimeoutPaused != nil ||
		row.OverflowJSON == nil || *row.OverflowJSON != `{"Details":{"ExecutionResumedDetails":{"Reason":{}}}}` {
		t.Errorf("row %+v, overflow_json %v", row, row.OverflowJSON)
	}
	for _, ev := range []types.Event{paused, resumed} {
		row := transform.EventRow(&ev, transform.EventKey{ID: *ev.EventId, Pos: int64(*ev.EventId)}, meta)
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Error(diff)
		}
	}
}

// TestEventKeys: an event keeps its EventId as event_id when it is
// positive and new to the history; otherwise (absent, not positive, an
// earlier event's, near or far) it is keyed by minus its position, every
// key is unique, and the row gives the event back with its own EventId.
func TestEventKeys(t *testing.T) {
	ids := []*int32{aws.Int32(1), aws.Int32(2), aws.Int32(2), nil, aws.Int32(-5), aws.Int32(0), aws.Int32(1 << 30), aws.Int32(1 << 30), aws.Int32(3), aws.Int32(-9)}
	want := []int32{1, 2, -3, -4, -5, -6, 1 << 30, -8, 3, -10}
	var keys transform.EventKeys
	for i, id := range ids {
		ev := types.Event{EventId: id, EventType: "StepStarted", StepStartedDetails: &types.StepStartedDetails{}}
		key := keys.Next(&ev)
		if key.ID != want[i] || key.Pos != int64(i+1) {
			t.Errorf("event %d (EventId %v): key %+v, want %d at %d", i, aws.ToInt32(id), key, want[i], i+1)
		}
		row := transform.EventRow(&ev, key, meta)
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Errorf("event %d lost its EventId (-want +got):\n%s", i, diff)
		}
	}
}

// TestEventFarTimestamps: timestamps RFC 3339 cannot write, in details
// objects that overflow and in ones the columns hold: each event maps to a
// row that gives it back, where encoding/json's refusal panicked. Today's
// SDK cannot hand one over (it wraps epoch seconds into int64 nanoseconds,
// years 1677-2262), but a Go caller of EventRow can, and an SDK that
// parsed epoch seconds exactly would (milliseconds sent as seconds: a year
// past 50,000).
func TestEventFarTimestamps(t *testing.T) {
	ms := time.Unix(1767571200123, 0).UTC() // milliseconds as seconds: year 57,980
	bc := time.Date(-44, 3, 15, 12, 0, 0, 500e6, time.UTC)
	near := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	events := []types.Event{
		{EventId: aws.Int32(1), EventType: "InvocationCompleted", EventTimestamp: &near, InvocationCompletedDetails: &types.InvocationCompletedDetails{
			RequestId: aws.String("r"), StartTimestamp: &bc, EndTimestamp: &ms, Error: &types.EventError{}}}, // empty Error: overflows
		{EventId: aws.Int32(2), EventType: "WaitStarted", EventTimestamp: &ms, Id: aws.String("w"),
			WaitStartedDetails: &types.WaitStartedDetails{Duration: aws.Int32(5), ScheduledEndTimestamp: &ms},
			StepStartedDetails: &types.StepStartedDetails{}}, // two details objects: overflow
		{EventId: aws.Int32(3), EventType: "WaitStarted", Id: aws.String("w2"),
			WaitStartedDetails: &types.WaitStartedDetails{ScheduledEndTimestamp: &bc}}, // the columns hold it
	}
	for _, ev := range events {
		row := transform.EventRow(&ev, transform.EventKey{ID: *ev.EventId, Pos: int64(*ev.EventId)}, meta)
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Errorf("event %d lost something (-want +got):\n%s", *ev.EventId, diff)
		}
	}
}

// TestEventOverflowWholeForm: rows written before December 2026 hold every
// details object of an overflowing event whole in overflow_json, also where
// today's rows hold only the empty member (`{"Error":{}}`); those rows
// still give their events back.
func TestEventOverflowWholeForm(t *testing.T) {
	g := optest.New(20261201)
	var keys transform.EventKeys
	whole, partial := 0, 0
	for i := 0; i < 5000; i++ {
		ev := g.Event()
		row := transform.EventRow(&ev, keys.Next(&ev), meta)
		old, ok := optest.WholeOverflow(&row)
		if !ok {
			continue
		}
		if !strings.Contains(*row.OverflowJSON, "null") {
			partial++ // today's form: no member absent, so none null
		}
		row.OverflowJSON = &old
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Fatalf("event %d in the whole form lost something (-want +got):\n%s\n%s", i, diff, old)
		}
		whole++
	}
	if whole < 200 || partial < 50 {
		t.Errorf("%d events checked in the whole form, %d of them partial today: the generator's odd shapes are off", whole, partial)
	}
}

// TestReconstructEventRefuses: a row this version cannot read back (written
// by a later one, or damaged) is an error naming what it cannot read, never
// an event with a member silently dropped.
func TestReconstructEventRefuses(t *testing.T) {
	kind := "step_started"
	for _, c := range []struct {
		kind     *string
		overflow string
		want     string
	}{
		{&kind, `{"Details":{"NopeDetails":{}}}`, `overflow_json names "NopeDetails"`},
		{&kind, `{"Details":{"StepStartedDetails":{}},"FarTimes":{"StepStartedDetails.Nope":{"Sec":1,"Nsec":0}}}`, "timestamp for StepStartedDetails.Nope"},
		{&kind, `{"Details":{"StepStartedDetails":{}},"FarTimes":{"WaitStartedDetails.Duration":{"Sec":1,"Nsec":0}}}`, "timestamp for WaitStartedDetails.Duration"},
		{&kind, `{"Details":{"StepStartedDetails":[]}}`, "overflow_json StepStartedDetails"},
		{&kind, `{"Details":`, "parse overflow_json"},
		{aws.String("nope"), "", `detail_kind "nope"`},
		// Names of members that are not details objects, and a timestamp
		// for a member that is not one: errors, not panics.
		{aws.String("event_id"), "", `detail_kind "event_id"`},
		{&kind, `{"Details":{"EventTimestamp":"2026-01-01T00:00:00Z"}}`, `overflow_json names "EventTimestamp"`},
		{&kind, `{"Details":{"WaitStartedDetails":{"Duration":5}},"FarTimes":{"WaitStartedDetails.Duration":{"Sec":1,"Nsec":0}}}`, "timestamp for WaitStartedDetails.Duration"},
		// Bytes for what is not a string, or not there, or not base64.
		{&kind, `{"NotUTF8":{"StepStartedDetails":"gA=="}}`, "NotUTF8 StepStartedDetails: not a string"},
		{&kind, `{"NotUTF8":{"WaitStartedDetails.Duration":"gA=="}}`, "NotUTF8 WaitStartedDetails.Duration: WaitStartedDetails is absent"},
		{&kind, `{"NotUTF8":{"Name.x":"gA=="}}`, "NotUTF8 Name.x"},
		{&kind, `{"NotUTF8":{"Nope":"gA=="}}`, "NotUTF8 Nope: no member Nope"},
		{&kind, `{"NotUTF8":{"Name":"%"}}`, "NotUTF8 Name: illegal base64"},
		{&kind, `{"Details":{"StepFailedDetails":{"Error":{"Payload":{"StackTrace":["a"]}}}},"NotUTF8":{"StepFailedDetails.Error.Payload.StackTrace.1":"gA=="}}`, "no element 1"},
	} {
		row := schema.Event{EventID: 3, EventType: "StepStarted", DetailKind: c.kind}
		if c.overflow != "" {
			row.OverflowJSON = &c.overflow
		}
		if _, err := transform.ReconstructEvent(&row); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.overflow, err, c.want)
		}
	}
}

// TestEventRowAllocations: an event's row allocates nothing beyond the
// page's slice when its members all have columns: a step's outcome with
// its RetryDetails, an invocation record with its times.
func TestEventRowAllocations(t *testing.T) {
	ts := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	evs := []types.Event{
		{EventId: aws.Int32(4), EventType: "StepSucceeded", EventTimestamp: &ts, Id: aws.String("op"), Name: aws.String("n"), SubType: aws.String("Step"),
			StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`{"ok":1}`)}, RetryDetails: &types.RetryDetails{CurrentAttempt: 1}}},
		{EventId: aws.Int32(5), EventType: "InvocationCompleted", EventTimestamp: &ts,
			InvocationCompletedDetails: &types.InvocationCompletedDetails{RequestId: aws.String("r"), StartTimestamp: &ts, EndTimestamp: &ts}},
	}
	rows := make([]schema.Event, 0, len(evs))
	n := testing.AllocsPerRun(100, func() {
		rows = rows[:0]
		for i := range evs {
			rows = transform.AppendEventRow(rows, &evs[i], transform.EventKey{ID: *evs[i].EventId, Pos: int64(i)}, meta)
		}
	})
	if n > 0 {
		t.Errorf("%v allocations for %d rows, want none", n, len(evs))
	}
	for i := range evs {
		if diff := optest.DiffEventRow(evs[i], &rows[i]); diff != "" {
			t.Errorf("event %d (-want +got):\n%s", i, diff)
		}
	}
}

// TestEventCarriesData: an event carries data when any details object it
// has holds an Input, a Result, an Error or a pause's or resume's Reason (empty or only Truncated
// included), which a read without the execution's data leaves out; told
// here from the event's JSON, over random events of every type and shape.
func TestEventCarriesData(t *testing.T) {
	g := optest.New(20261202)
	carrying := 0
	for i := range 5000 {
		ev := g.Event()
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		want := false
		for _, m := range []string{`"Input":{`, `"Result":{`, `"Error":{`, `"Reason":{`} {
			want = want || strings.Contains(string(b), m)
		}
		if got := transform.EventCarriesData(&ev); got != want {
			t.Fatalf("event %d: EventCarriesData %v, want %v:\n%s", i, got, want, b)
		}
		if want {
			carrying++
		}
	}
	if carrying < 500 || carrying > 4500 {
		t.Errorf("%d of 5000 events carry data: the generator's shapes are off", carrying)
	}
	if transform.EventCarriesData(&types.Event{StepSucceededDetails: &types.StepSucceededDetails{}}) ||
		!transform.EventCarriesData(&types.Event{InvocationCompletedDetails: &types.InvocationCompletedDetails{Error: &types.EventError{}}}) {
		t.Error("a details object without its Result carries data, or an empty Error does not")
	}
}

// TestSubMillisecondTimes: the SDK reads epoch seconds into int64
// nanoseconds, so a time before 1677 or after 2262 on the wire
// (milliseconds sent as seconds, say) reaches us wrapped around, with
// nanoseconds of its own. The columns hold milliseconds; the rows still
// give back exactly what the SDK handed over, for an event's own time, a
// details object's and an operation's four, and a time that is a whole
// millisecond adds nothing to overflow_json.
func TestSubMillisecondTimes(t *testing.T) {
	wrapped := smithytime.ParseEpochSeconds(1767571200123) // year 57,980 as the SDK hands it over
	if wrapped.Nanosecond()%1e6 == 0 {
		t.Fatalf("%v: the SDK no longer wraps such times around; this test needs another", wrapped)
	}
	whole := time.Date(2026, 1, 5, 10, 0, 0, 123e6, time.UTC)
	for i, ev := range []types.Event{
		{EventId: aws.Int32(1), EventType: "StepStarted", EventTimestamp: &wrapped, Id: aws.String("s"), StepStartedDetails: &types.StepStartedDetails{}},
		{EventId: aws.Int32(2), EventType: "WaitStarted", EventTimestamp: &whole, Id: aws.String("w"),
			WaitStartedDetails: &types.WaitStartedDetails{Duration: aws.Int32(5), ScheduledEndTimestamp: &wrapped}},
		{EventId: aws.Int32(3), EventType: "InvocationCompleted", EventTimestamp: &wrapped,
			InvocationCompletedDetails: &types.InvocationCompletedDetails{RequestId: aws.String("r"), StartTimestamp: &whole, EndTimestamp: &wrapped, Error: &types.EventError{}}},
	} {
		row := transform.EventRow(&ev, transform.EventKey{ID: *ev.EventId, Pos: int64(i + 1)}, meta)
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Errorf("event %d lost something (-want +got):\n%s", i+1, diff)
		}
		if row.EventTime == nil || row.EventTime.Nanosecond()%1e6 != 0 {
			t.Errorf("event %d: event_time %v is not whole milliseconds", i+1, row.EventTime)
		}
	}
	op := types.Operation{Id: aws.String("s"), Type: types.OperationTypeStep, Status: types.OperationStatusPending, StartTimestamp: &wrapped, EndTimestamp: &whole,
		StepDetails: &types.StepDetails{Attempt: 2, NextAttemptTimestamp: &wrapped}, WaitDetails: &types.WaitDetails{ScheduledEndTimestamp: &wrapped}}
	row := transform.OperationRow(&op, 0, meta)
	if diff := optest.DiffRow(op, &row); diff != "" {
		t.Errorf("operation lost something (-want +got):\n%s", diff)
	}
	op.StartTimestamp, op.StepDetails.NextAttemptTimestamp, op.WaitDetails = &whole, &whole, nil
	if row := transform.OperationRow(&op, 0, meta); row.OverflowJSON != nil {
		t.Errorf("whole milliseconds: overflow_json %s, want none", *row.OverflowJSON)
	}
}

// FuzzReconstructArchivedRow: a row read back from an archive (damaged,
// edited by hand, or written by a later version) either gives an event
// or operation back or an error naming what it cannot read; it never
// panics, which would stop verify or compaction for the whole archive.
func FuzzReconstructArchivedRow(f *testing.F) {
	for _, s := range []string{
		`{"Details":{"WaitStartedDetails":{"Duration":5}},"FarTimes":{"WaitStartedDetails.Duration":{"Sec":1,"Nsec":0}}}`,
		`{"Details":{"StepFailedDetails":{"Error":{"Payload":{"StackTrace":[]}}}},"SubMillis":{"EventTimestamp":5}}`,
		`{"EventIdAbsent":true,"Details":{"InvocationCompletedDetails":{"Error":{}}}}`,
		`{"StepDetails":{"Error":{}},"SubMillis":{"StepDetails.NextAttemptTimestamp":7}}`,
		`{"IdAbsent":true,"CallbackDetails":{"Result":"x"}}`,
		// Bytes that are not UTF-8 (see transform.NotUTF8).
		`{"Details":{"StepFailedDetails":{"Error":{"Payload":{"StackTrace":["a"]}}}},"NotUTF8":{"StepFailedDetails.Error.Payload.StackTrace.0":"gA=="}}`,
		`{"CallbackDetails":{"Result":"x","Error":{"StackTrace":["y"]}},"NotUTF8":{"CallbackDetails.Result":"gA==","CallbackDetails.Error.StackTrace.0":"/w=="}}`,
	} {
		for _, kind := range []string{"wait_started", "step_failed,wait_started", "step", "callback,step", ""} {
			f.Add(s, kind)
		}
	}
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, overflow, kind string) {
		var k *string
		if kind != "" {
			k = &kind
		}
		ev := schema.Event{EventID: 3, EventType: "WaitStarted", EventTime: &t0, DetailKind: k, OverflowJSON: &overflow}
		transform.ReconstructEvent(&ev)
		transform.NormalizeEventOverflow(&ev)
		op := schema.Operation{OperationID: "o", Type: "STEP", Status: "STARTED", StartTime: &t0, NextAttemptTime: &t0, DetailKind: k, OverflowJSON: &overflow}
		transform.Reconstruct(&op)
	})
}
