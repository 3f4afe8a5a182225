package extract

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestFilterKeeps: the client-side filter is never stricter than the
// service's: inclusive bounds, statuses without case, and what an item
// does not say passes.
func TestFilterKeeps(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	after, before := t0, t0.Add(time.Hour)
	f := Filter{StartedAfter: &after, StartedBefore: &before, Statuses: []types.ExecutionStatus{"RUNNING", "FAILED"}}
	for _, c := range []struct {
		start  *time.Time
		status types.ExecutionStatus
		keep   bool
	}{
		{aws.Time(t0), "RUNNING", true},                         // on the lower bound
		{aws.Time(t0.Add(time.Hour)), "FAILED", true},           // on the upper bound
		{aws.Time(t0.Add(-time.Millisecond)), "RUNNING", false}, // before
		{aws.Time(t0.Add(time.Hour + time.Millisecond)), "RUNNING", false},
		{aws.Time(t0.Add(time.Minute)), "SUCCEEDED", false},
		{aws.Time(t0.Add(time.Minute)), "running", true},
		{nil, "RUNNING", true},
		{aws.Time(t0.Add(time.Minute)), "", true},
	} {
		if got := f.keeps(types.Execution{StartTimestamp: c.start, Status: c.status}); got != c.keep {
			t.Errorf("start %v status %q: kept %v, want %v", c.start, c.status, got, c.keep)
		}
	}
	if !(Filter{}).keeps(types.Execution{Status: "STOPPED"}) {
		t.Error("no filter dropped an execution")
	}
}
