package schema_test

import (
	"slices"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/schema"
)

// TestKeepData: a row read without the execution's data gets the archived
// input whatever else changed, and the archived outcome (result, error,
// overflow) only while every column that is neither data nor says how the
// row was read is as archived.
func TestKeepData(t *testing.T) {
	at := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	archived := schema.Operation{ExecutionArn: "a", OperationID: "op", Seq: 3, Type: "STEP", Status: "SUCCEEDED", EndTime: &at,
		InputPayload: new("in"), Result: new("out"), ErrorType: new("E"), ErrorStackTrace: []string{"at x"}, OverflowJSON: new("{}"),
		Source: "state", RunID: "old", ExtractedAt: at}
	read := func(edit func(*schema.Operation)) schema.Operation {
		r := schema.Operation{ExecutionArn: "a", OperationID: "op", Seq: 7, Type: "STEP", Status: "SUCCEEDED", EndTime: &at,
			Source: "history", RunID: "new", ExtractedAt: at.Add(time.Hour)}
		if edit != nil {
			edit(&r)
		}
		return r
	}

	same := read(nil) // only how it was read differs: source, seq, run, time
	schema.KeepData(schema.Operations, &same, &archived)
	if same.InputPayload == nil || same.Result == nil || *same.Result != "out" || same.ErrorType == nil || len(same.ErrorStackTrace) != 1 || same.OverflowJSON == nil {
		t.Errorf("unchanged: %+v; want the archived input and outcome", same)
	}
	if same.Seq != 7 || same.Source != "history" || same.RunID != "new" {
		t.Errorf("unchanged: how it was read changed: seq %d, source %s, run %s", same.Seq, same.Source, same.RunID)
	}

	later := at.Add(time.Minute)
	moved := read(func(r *schema.Operation) { r.Status, r.EndTime = "FAILED", &later })
	schema.KeepData(schema.Operations, &moved, &archived)
	if moved.InputPayload == nil || *moved.InputPayload != "in" {
		t.Error("moved on: the input is not kept")
	}
	if moved.Result != nil || moved.ErrorType != nil || moved.ErrorStackTrace != nil || moved.OverflowJSON != nil {
		t.Errorf("moved on: an outcome kept: %+v", moved)
	}

	own := read(func(r *schema.Operation) { r.InputPayload = new("mine") })
	schema.KeepData(schema.Operations, &own, &archived)
	if *own.InputPayload != "mine" {
		t.Error("an input the read has is replaced")
	}
}

// TestSince: the columns added since the first contract are known by
// name, and a row holding a value in them tells apart from one archived
// before them (null there), and from one that differs otherwise.
func TestSince(t *testing.T) {
	var names []string
	for _, c := range schema.Executions.Columns {
		if c.Since != "" {
			names = append(names, c.Name)
		}
	}
	if want := []string{"execution_data_included", "expected_execution_timeout_time", "pause_request_time", "pause_execution_timeout_paused", "pause_reason"}; !slices.Equal(names, want) {
		t.Errorf("executions columns added since: %v, want %v", names, want)
	}
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	want := schema.Event{ExecutionArn: "a", EventID: 4, EventType: "ExecutionPaused", Reason: new("maintenance"), RequestTime: &at}
	if !schema.HasSinceValue(schema.Events, &want) {
		t.Fatal("a paused event has no value in a column added since")
	}
	older := want
	schema.ClearSince(schema.Events, &older)
	if schema.HasSinceValue(schema.Events, &older) || older.Reason != nil || older.RequestTime != nil || older.EventType != want.EventType || want.Reason == nil {
		t.Fatalf("cleared: %+v (from %+v)", older, want)
	}
	if lacking, col := schema.LackingSince(schema.Events, &older, &want, nil); col >= 0 || !slices.Equal(lacking, []string{"reason", "request_time"}) {
		t.Errorf("a row archived before the columns: lacking %v, other column %d", lacking, col)
	}
	otherwise := older
	otherwise.EventType = "ExecutionResumed"
	if _, col := schema.LackingSince(schema.Events, &otherwise, &want, nil); col != schema.Events.Column("event_type") {
		t.Errorf("a row that differs in another column too: column %d, want event_type's", col)
	}
	if lacking, col := schema.LackingSince(schema.Events, &otherwise, &older, nil); len(lacking) != 0 || col < 0 {
		t.Errorf("a row is taken as lacking columns its API row has no value in: %v, %d", lacking, col)
	}
	var list schema.Execution // ClearSince leaves the other columns, an empty list too
	list.ErrorStackTrace, list.PauseReason = []string{}, new("why")
	if !schema.HasSinceValue(schema.Executions, &list) {
		t.Error("pause_reason set, no value seen")
	}
	schema.ClearSince(schema.Executions, &list)
	if list.PauseReason != nil || list.ErrorStackTrace == nil || schema.HasSinceValue(schema.Executions, &list) {
		t.Errorf("cleared: %+v", list)
	}
}
