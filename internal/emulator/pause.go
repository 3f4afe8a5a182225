package emulator

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// pauseKind is how a generated execution was paused (Lambda's
// PauseDurableExecution and ResumeDurableExecution, November 2026).
type pauseKind int

const (
	notPaused     pauseKind = iota
	pausedResumed           // an ExecutionPaused event, then an ExecutionResumed one
	pausedNow               // an ExecutionPaused event: the execution is PAUSED
)

// pausePlan is a generated execution's pause: the events its history holds
// after the invocation records, and what GetDurableExecution says of it.
// The operations (and so GetDurableExecutionState) are the same either
// way: a pause is the execution's, not an operation's.
type pausePlan struct {
	kind         pauseKind
	at, resumed  time.Time // the requests' times
	timeout      bool      // the pause paused the execution timeout too
	reason       *string   // the pause's Reason payload (nil: none given)
	resumeReason *string
}

// drawPause draws an execution's pause: one in eight paused and resumed;
// one in four of those still running paused now.
func (g *execGen) drawPause() pausePlan {
	r := g.rng(0x9a05e)
	p := pausePlan{at: g.start.Add(time.Duration(200+r.IntN(5000)) * time.Millisecond), timeout: r.IntN(2) == 0}
	p.resumed = p.at.Add(time.Duration(1+r.IntN(3600)) * time.Second)
	if r.IntN(5) > 0 {
		p.reason = aws.String(fmt.Sprintf(`{"by":"ops-%d","reason":"deploy freeze","ticket":"CHG-%d"}`, r.IntN(100), r.IntN(100000)))
	}
	if r.IntN(2) == 0 {
		p.resumeReason = aws.String("freeze lifted")
	}
	switch running := infoOf("", types.Operation{Status: g.status}, "").Status == types.ExecutionStatusRunning; {
	case running && r.IntN(4) == 0:
		p.kind = pausedNow
	case r.IntN(8) == 0:
		p.kind = pausedResumed
	}
	return p
}

// events is how many events the pause adds to the history.
func (p pausePlan) events() int {
	switch p.kind {
	case pausedResumed:
		return 2
	case pausedNow:
		return 1
	}
	return 0
}

func (p pausePlan) paused() *types.ExecutionPausedDetails {
	d := &types.ExecutionPausedDetails{ExecutionTimeoutPaused: aws.Bool(p.timeout), PauseRequestTimestamp: aws.Time(p.at)}
	if p.reason != nil {
		d.Reason = &types.EventPauseReason{Payload: p.reason}
	}
	return d
}

// event is the pause's event j (0: the pause, 1: the resume).
func (p pausePlan) event(j int) types.Event {
	if j == 0 {
		return types.Event{EventType: types.EventTypeExecutionPaused, EventTimestamp: aws.Time(p.at), ExecutionPausedDetails: p.paused()}
	}
	d := &types.ExecutionResumedDetails{ResumeRequestTimestamp: aws.Time(p.resumed)}
	if p.resumeReason != nil {
		d.Reason = &types.EventResumeReason{Payload: p.resumeReason}
	}
	return types.Event{EventType: types.EventTypeExecutionResumed, EventTimestamp: aws.Time(p.resumed), ExecutionResumedDetails: d}
}

// describe adds the pause to what GetDurableExecution says of a running
// execution: PAUSED with its PauseDetails when paused now, and when it
// times out (ExpectedExecutionTimeoutTimestamp: its execution timeout
// after its start, plus the time a pause of the timeout held it, or 366
// days after its start while such a pause lasts).
func (p pausePlan) describe(info *Info) {
	if info.Status != types.ExecutionStatusRunning || info.Start == nil {
		return
	}
	timeout := 86400 * time.Second
	if c := info.DurableConfig; c != nil && c.ExecutionTimeout != nil {
		timeout = time.Duration(*c.ExecutionTimeout) * time.Second
	}
	expected := info.Start.Add(timeout)
	switch {
	case p.kind == pausedNow:
		info.Status, info.Pause = types.ExecutionStatusPaused, p.paused()
		if p.timeout {
			expected = info.Start.AddDate(0, 0, 366)
		}
	case p.kind == pausedResumed && p.timeout:
		expected = expected.Add(p.resumed.Sub(p.at))
	}
	info.ExpectedTimeout = &expected
}
