package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
)

// history reads every event of arn's history through the SDK.
func history(t *testing.T, client *lambda.Client, arn string, withData bool) []types.Event {
	t.Helper()
	p := lambda.NewGetDurableExecutionHistoryPaginator(client, &lambda.GetDurableExecutionHistoryInput{
		DurableExecutionArn: aws.String(arn), MaxItems: 1000, IncludeExecutionData: aws.Bool(withData)})
	var events []types.Event
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, out.Events...)
	}
	return events
}

// TestPausedExecutionsThroughSDK: generated executions are paused and
// resumed now and then (Lambda's pause, November 2026), and the API says
// so consistently through the real SDK: an execution whose history ends
// with an ExecutionPaused event is PAUSED, with that event's details as
// its PauseDetails (its Reason only with the execution's data) and a
// timeout 366 days after its start when the pause holds the timeout; a
// resumed one runs on, its timeout later by the pause when the pause held
// it; only running and paused executions have an expected timeout; the
// listing filters on PAUSED; and the state is the same as without pauses.
func TestPausedExecutionsThroughSDK(t *testing.T) {
	execs := emulator.Generate(5, 300, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	ctx := context.Background()
	var paused, resumed int
	pausedARNs := map[string]bool{}
	for _, e := range execs {
		out, err := client.GetDurableExecution(ctx, &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(e.ARN)})
		if err != nil {
			t.Fatal(err)
		}
		events := history(t, client, e.ARN, true)
		var last *types.Event
		sawResume := false
		var heldTimeout time.Duration // time paused with the timeout paused too
		for i := range events {
			switch events[i].EventType {
			case types.EventTypeExecutionPaused:
				last = &events[i]
			case types.EventTypeExecutionResumed:
				if last == nil || events[i].ExecutionResumedDetails == nil || events[i].ExecutionResumedDetails.ResumeRequestTimestamp == nil {
					t.Fatalf("%s: a resume without its pause or its details: %+v", e.ARN, events[i])
				}
				if p := last.ExecutionPausedDetails; *p.ExecutionTimeoutPaused {
					heldTimeout += events[i].ExecutionResumedDetails.ResumeRequestTimestamp.Sub(*p.PauseRequestTimestamp)
				}
				last, sawResume = nil, true
			}
		}
		if out.Status == types.ExecutionStatusRunning {
			timeout := time.Duration(*out.DurableConfig.ExecutionTimeout) * time.Second
			if want := out.StartTimestamp.Add(timeout + heldTimeout); !out.ExpectedExecutionTimeoutTimestamp.Equal(want) {
				t.Errorf("%s: running, expected timeout %v, want %v (its timeout after its start, plus %v paused)", e.ARN, out.ExpectedExecutionTimeoutTimestamp, want, heldTimeout)
			}
		}
		running := out.Status == types.ExecutionStatusRunning || out.Status == types.ExecutionStatusPaused
		if running != (out.ExpectedExecutionTimeoutTimestamp != nil) {
			t.Errorf("%s: status %s with expected timeout %v", e.ARN, out.Status, out.ExpectedExecutionTimeoutTimestamp)
		}
		switch {
		case last != nil:
			paused++
			pausedARNs[e.ARN] = true
			d, p := last.ExecutionPausedDetails, out.PauseDetails
			if out.Status != types.ExecutionStatusPaused || p == nil || d == nil || !p.PauseRequestTimestamp.Equal(*d.PauseRequestTimestamp) ||
				*p.ExecutionTimeoutPaused != *d.ExecutionTimeoutPaused || (d.Reason == nil) != (p.Reason == nil) || d.Reason != nil && *d.Reason.Payload != *p.Reason {
				t.Fatalf("%s: history ends paused (%+v), GetDurableExecution says %s %+v", e.ARN, d, out.Status, p)
			}
			if *d.ExecutionTimeoutPaused && !out.ExpectedExecutionTimeoutTimestamp.Equal(out.StartTimestamp.AddDate(0, 0, 366)) {
				t.Errorf("%s: paused with its timeout, expected timeout %v", e.ARN, out.ExpectedExecutionTimeoutTimestamp)
			}
			bare, err := client.GetDurableExecution(ctx, &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(e.ARN), IncludeExecutionData: aws.Bool(false)})
			if err != nil {
				t.Fatal(err)
			}
			if bare.PauseDetails == nil || bare.PauseDetails.Reason != nil {
				t.Errorf("%s: without its data, PauseDetails %+v", e.ARN, bare.PauseDetails)
			}
			for _, ev := range history(t, client, e.ARN, false) {
				if r := ev.ExecutionPausedDetails; r != nil && r.Reason != nil && (r.Reason.Payload != nil || !*r.Reason.Truncated) {
					t.Errorf("%s: without its data, a pause's Reason %+v", e.ARN, r.Reason)
				}
			}
		case out.Status == types.ExecutionStatusPaused || out.PauseDetails != nil:
			t.Fatalf("%s: PAUSED (%+v) but its history does not end paused", e.ARN, out.PauseDetails)
		case sawResume:
			resumed++
		}
		// The state is the operations as without pauses.
		if e.Token != "" {
			got := getAll(t, client, e.ARN, e.Token, 1000)
			for i := range got {
				if diff := optest.Diff(e.Op(i), got[i]); diff != "" {
					t.Fatalf("%s op %d:\n%s", e.ARN, i, diff)
				}
			}
		}
	}
	if paused < 5 || resumed < 5 {
		t.Fatalf("300 executions: %d paused, %d resumed: too few to test", paused, resumed)
	}
	listed := map[string]bool{}
	for _, fn := range emulator.FunctionNames {
		p := lambda.NewListDurableExecutionsByFunctionPaginator(client, &lambda.ListDurableExecutionsByFunctionInput{
			FunctionName: aws.String(fn), Statuses: []types.ExecutionStatus{types.ExecutionStatusPaused}})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range out.DurableExecutions {
				if x.Status != types.ExecutionStatusPaused {
					t.Errorf("listed for PAUSED: %s %s", aws.ToString(x.DurableExecutionArn), x.Status)
				}
				listed[aws.ToString(x.DurableExecutionArn)] = true
			}
		}
	}
	if len(listed) != len(pausedARNs) {
		t.Errorf("the listing for PAUSED has %d executions, %d are paused", len(listed), len(pausedARNs))
	}
}
