package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// TestTimesTheSDKWrapsAround: a producer that sends milliseconds where the
// API has epoch seconds (year 57,980): the SDK reads them into int64
// nanoseconds, wrapped around into times with nanoseconds of their own.
// An execution so timed, read through state and history, is archived
// into Parquet and Postgres; its operations and events rows give back
// exactly what the SDK hands over, and verify finds the archive equal to
// the API in both.
func TestTimesTheSDKWrapsAround(t *testing.T) {
	ms := func(sec int64) time.Time { return time.Unix(sec*1000+123, 0).UTC() } // milliseconds sent as seconds
	start, end := ms(1767607200), ms(1767607260)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:" + emulator.FunctionNames[0] + ":$LATEST/durable-execution/wrapped/1"
	e := emulator.Fixed(arn, "tok", []types.Operation{
		{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded, StartTimestamp: &start, EndTimestamp: &end,
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String("{}")}},
		{Id: aws.String("s1"), ParentId: aws.String("exec"), Name: aws.String("charge"), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded,
			StartTimestamp: &start, EndTimestamp: &end, StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String(`"ok"`)}},
	})
	e.History = emulator.FixedHistory([]types.Event{
		{EventId: aws.Int32(1), EventType: types.EventTypeExecutionStarted, Id: aws.String("exec"), EventTimestamp: &start,
			ExecutionStartedDetails: &types.ExecutionStartedDetails{Input: &types.EventInput{Payload: aws.String("{}")}}},
		{EventId: aws.Int32(2), EventType: types.EventTypeStepStarted, Id: aws.String("s1"), ParentId: aws.String("exec"), Name: aws.String("charge"),
			EventTimestamp: &start, StepStartedDetails: &types.StepStartedDetails{}},
		{EventId: aws.Int32(3), EventType: types.EventTypeStepSucceeded, Id: aws.String("s1"), ParentId: aws.String("exec"), Name: aws.String("charge"),
			EventTimestamp: &end, StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`"ok"`)}}},
		{EventId: aws.Int32(4), EventType: types.EventTypeInvocationCompleted, EventTimestamp: &end,
			InvocationCompletedDetails: &types.InvocationCompletedDetails{RequestId: aws.String("r1"), StartTimestamp: &start, EndTimestamp: &end}},
		{EventId: aws.Int32(5), EventType: types.EventTypeExecutionSucceeded, Id: aws.String("exec"), EventTimestamp: &end,
			ExecutionSucceededDetails: &types.ExecutionSucceededDetails{Result: &types.EventResult{Payload: aws.String(`"done"`)}}},
	})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(e)
	url, client := emulatortest.Start(t, srv)
	ctx := context.Background()

	// What the SDK hands over.
	var ops []types.Operation
	if err := extract.Drain(ctx, client, extract.Entry{ARN: arn, Token: "tok"}, 1000, func(_ context.Context, p extract.Page) error {
		ops = append(ops, p.Operations...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var events []types.Event
	if err := extract.DrainHistory(ctx, client, arn, 1000, func(_ context.Context, p extract.HistoryPage) error {
		events = append(events, p.Events...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || len(events) != 5 || ops[0].StartTimestamp.Nanosecond()%1e6 == 0 {
		t.Fatalf("%d operations, %d events, a start of %v: the SDK no longer wraps such times around; this test needs another", len(ops), len(events), ops[0].StartTimestamp)
	}

	dir := t.TempDir()
	dbURL, pgSchema := pgtest.Schema(t)
	manifest := manifestFile(t, []emulator.Execution{e})
	if r := runCLI(t, "run", "--manifest", manifest, "--history", "--dest", dir, "--dest", dbURL, "--pg-schema", pgSchema, "--migrate", "--endpoint-url", url); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	rows := tableRows[schema.Operation](t, dir, "operations")
	byID := map[string]*schema.Operation{}
	for i := range rows {
		if rows[i].Source == transform.SourceState {
			byID[rows[i].OperationID] = &rows[i]
		}
	}
	for _, op := range ops {
		row := byID[*op.Id]
		if row == nil {
			t.Fatalf("operation %s not archived through state", *op.Id)
		}
		if diff := optest.DiffRow(op, row); diff != "" {
			t.Errorf("operation %s does not give back what the SDK handed over (-want +got):\n%s", *op.Id, diff)
		}
	}
	evRows := readEvents(t, dir)[arn]
	for _, ev := range events {
		row, ok := evRows[*ev.EventId]
		if !ok {
			t.Fatalf("event %d not archived", *ev.EventId)
		}
		if diff := optest.DiffEventRow(ev, &row); diff != "" {
			t.Errorf("event %d does not give back what the SDK handed over (-want +got):\n%s", *ev.EventId, diff)
		}
	}
	if dts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*")); len(dts) != 1 || !strings.HasSuffix(dts[0], "dt="+ops[0].StartTimestamp.Format(time.DateOnly)) {
		t.Errorf("executions partitions %v, want the wrapped start's date", dts)
	}
	for _, dest := range [][]string{{"--dest", dir}, {"--dest", dbURL, "--pg-schema", pgSchema}} {
		report := filepath.Join(t.TempDir(), "verify.json")
		args := append([]string{"verify", "--manifest", manifest, "--all", "--endpoint-url", url, "--report", report}, dest...)
		r := runCLI(t, args...)
		v := readVerify(t, report)
		if r.code != 0 || v.Equal != 1 {
			t.Errorf("verify %s: exit %d, %d equal, differing %v, errors %v", dest[1], r.code, v.Equal, v.ContentDiffer, v.Errors)
		}
	}
}
