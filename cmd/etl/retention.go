package main

import (
	"sort"
	"sync"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/pipeline"
)

// defaultRetentionDays is the service's default history retention after an
// execution ends (1 to 90 days; the listing does not say an execution's own).
const defaultRetentionDays = 30

// retentionWatch tells, after a run by --function, which discovered
// executions the service forgets soon and are not archived in a terminal
// state.
type retentionWatch struct {
	found    []extract.Found
	mu       sync.Mutex
	archived map[string]bool // archived by this run, or skipped as terminal before it
}

func newRetentionWatch(found []extract.Found) *retentionWatch {
	return &retentionWatch{found: found, archived: map[string]bool{}}
}

func (w *retentionWatch) done(arn string) {
	w.mu.Lock()
	w.archived[arn] = true
	w.mu.Unlock()
}

// skip wraps the archive's skip test, noting the executions it skips.
func (w *retentionWatch) skip(inner func(string) (string, bool)) func(string) (string, bool) {
	return func(arn string) (string, bool) {
		if inner == nil {
			return "", false
		}
		reason, ok := inner(arn)
		if ok && reason == "terminal" {
			w.done(arn)
		}
		return reason, ok
	}
}

// atRisk lists the executions that ended, per the listing, whose history
// expires within warn of now (ends + the default retention), and that this
// run did not archive (failed, abandoned, or left to another shard's run).
func (w *retentionWatch) atRisk(now time.Time, warn time.Duration, failures []pipeline.Failure) []pipeline.AtRisk {
	failed := map[string]string{}
	for _, f := range failures {
		failed[f.ExecutionArn] = f.Code
	}
	var out []pipeline.AtRisk
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.found {
		if f.End == nil || w.archived[f.ARN] {
			continue
		}
		expires := f.End.Add(defaultRetentionDays * 24 * time.Hour)
		if expires.Sub(now) > warn {
			continue
		}
		reason := "not archived by this run"
		if code, ok := failed[f.ARN]; ok {
			reason = "failed: " + code
		}
		out = append(out, pipeline.AtRisk{ExecutionArn: f.ARN, Status: string(f.Status), EndTime: f.End.UTC(), HistoryExpiresAt: expires.UTC(), Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HistoryExpiresAt.Before(out[j].HistoryExpiresAt) })
	return out
}
