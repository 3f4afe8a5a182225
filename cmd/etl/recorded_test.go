package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/optest"
)

// recordedExecutions serves the histories AWS's durable-execution SDK for
// JavaScript recorded of its examples, those we recorded with its test
// runner, and those AWS's service wrote for its Java SDK
// (transform/testdata/histories: real runs, not our generator's shapes)
// as executions of
// the emulator's first function, each with what GetDurableExecution says
// of it read from its own history: start, end, status, input, result and
// error of its Execution events.
func recordedExecutions(t *testing.T) (execs []emulator.Execution, recorded map[string][]types.Event) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "transform", "testdata", "histories", "*.json"))
	if err != nil || len(files) < 136 {
		t.Fatalf("%d recorded histories (%v): the test expects the whole set", len(files), err)
	}
	recorded = map[string][]types.Event{}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var events []types.Event
		if err := json.Unmarshal(b, &events); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:%s:$LATEST/durable-execution/%s/%08x", emulator.FunctionNames[0], name, i)
		e := emulator.Fixed(arn, "", nil)
		e.History = emulator.FixedHistory(events)
		e.Info = describedByHistory(t, arn, events)
		execs = append(execs, e)
		recorded[arn] = events
	}
	return execs, recorded
}

// describedByHistory is GetDurableExecution's answer for an execution whose
// history is events, as the service derives it from the same record.
func describedByHistory(t *testing.T, arn string, events []types.Event) *emulator.Info {
	t.Helper()
	fn, _, _ := strings.Cut(arn, "/")
	fn = strings.TrimSuffix(fn, ":$LATEST")
	in := &emulator.Info{Name: strings.Split(arn, "/")[2], FunctionArn: fn, Status: types.ExecutionStatusRunning,
		Version: aws.String("$LATEST"), DurableConfig: &types.DurableConfig{ExecutionTimeout: aws.Int32(86400), RetentionPeriodInDays: aws.Int32(30)}}
	for _, ev := range events {
		switch {
		case ev.ExecutionStartedDetails != nil:
			in.Start = ev.EventTimestamp
			if p := ev.ExecutionStartedDetails.Input; p != nil {
				in.InputPayload = p.Payload
			}
		case ev.ExecutionSucceededDetails != nil:
			in.Status, in.End = types.ExecutionStatusSucceeded, ev.EventTimestamp
			if r := ev.ExecutionSucceededDetails.Result; r != nil {
				in.Result = r.Payload
			}
		case ev.ExecutionFailedDetails != nil:
			in.Status, in.End = types.ExecutionStatusFailed, ev.EventTimestamp
			if e := ev.ExecutionFailedDetails.Error; e != nil {
				in.Error = e.Payload
			}
		}
	}
	if in.Start == nil {
		t.Fatalf("%s: no ExecutionStarted in the recording", arn)
	}
	return in
}

// TestRecordedHistories archives every recorded history by discovery, into
// Parquet and Postgres in one run: each event lands once and gives back
// exactly the event the SDK handed over, verify finds both archives equal
// to the API, execution by execution, and a rerun writes nothing.
func TestRecordedHistories(t *testing.T) {
	execs, recorded := recordedExecutions(t)
	url, dir, report, args, pg := archivedToBoth(t, execs)
	sum := readReport(t, report)
	want := 0
	for _, evs := range recorded {
		want += len(evs)
	}
	if sum.ExecutionsOK != len(execs) || sum.ExecutionsFailed != 0 || sum.EventsNew != int64(want) {
		t.Fatalf("run: %d ok, %d failed, %d events written; want %d, 0, %d", sum.ExecutionsOK, sum.ExecutionsFailed, sum.EventsNew, len(execs), want)
	}
	archived := readEvents(t, dir)
	for arn, evs := range recorded {
		if len(archived[arn]) != len(evs) {
			t.Errorf("%s: %d events archived of %d", arn, len(archived[arn]), len(evs))
			continue
		}
		for _, ev := range evs {
			row := archived[arn][*ev.EventId]
			if diff := optest.DiffEventRow(ev, &row); diff != "" {
				t.Errorf("%s event %d does not reconstruct (-want +got):\n%s", arn, *ev.EventId, diff)
			}
		}
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		vreport := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", vreport}, dest...), functionArgs()...)...)
		rep := readVerify(t, vreport)
		if r.code != 0 || rep.Complete != len(execs) || rep.Sampled != len(execs) || rep.Equal != len(execs) {
			t.Errorf("verify %s: exit %d, %d complete, %d compared, %d equal of %d: %+v", dest[1], r.code, rep.Complete, rep.Sampled, rep.Equal, len(execs), rep)
		}
	}
	start := time.Now()
	if r := runCLI(t, append(append([]string{}, args...), pg...)...); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	if again := readReport(t, report); again.EventsNew != 0 || again.RowsWritten != 0 {
		t.Errorf("rerun (%s): %d events, %d rows written; want none", time.Since(start), again.EventsNew, again.RowsWritten)
	}
}
