package discovery

import (
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
)

// DefaultRetentionDays is the service's default history retention after an
// execution ends (1 to 90 days; the listing does not say an execution's own).
const DefaultRetentionDays = 30

// MaxRetentionDays is the longest the service keeps an ended execution's
// history (its DurableConfig's RetentionPeriodInDays: 1 to 90).
const MaxRetentionDays = 90

// Watch follows a run over discovered executions (its pipeline.Config's
// Skip, Archived and Described hooks) and then tells, per function, what
// became of them (Functions), and which the service forgets soon and are
// not archived in a terminal state (AtRisk). What the run tells of each
// execution is kept in the List (item.watchState): a few bytes an
// execution. Its methods are safe for concurrent use.
type Watch struct {
	list      *List
	fns       []Function
	retention map[string]int32 // function: its history retention in days, when known
	mu        sync.Mutex
}

// watchState is what the run told of one discovered execution.
type watchState struct {
	// own: the execution's own history retention in days, as this run's
	// GetDurableExecution gave it (DurableConfig): it wins over its
	// function's.
	own      int32
	archived bool // archived by this run, or skipped as terminal before it
	skipped  bool // skipped as terminal
	// noPayloads: archived without the payloads (the service could not
	// decrypt them, or left them out), which expire with the history.
	noPayloads bool
}

// NewWatch watches the executions of found, which Discover listed from
// fns; the Watch holds found (List closes it).
func NewWatch(found *List, fns []Function) *Watch {
	w := &Watch{list: found, fns: fns, retention: map[string]int32{}}
	for _, f := range fns {
		if f.RetentionDays > 0 {
			w.retention[f.Name] = f.RetentionDays
		}
	}
	return w
}

// List is the list the Watch watches.
func (w *Watch) List() *List { return w.list }

// of is the state of the discovered execution arn (nil for one discovery
// did not list). Called with w.mu held.
func (w *Watch) of(arn string) *watchState {
	i := w.list.Find(arn)
	if i < 0 {
		return nil
	}
	return &w.list.items[i].watchState
}

// Described notes an execution's own history retention (pipeline.Config's
// Described).
func (w *Watch) Described(arn string, days int32) {
	w.mu.Lock()
	if s := w.of(arn); s != nil {
		s.own = days
	}
	w.mu.Unlock()
}

// Done notes an execution archived (pipeline.Config's Archived), with
// its payloads or not.
func (w *Watch) Done(arn string, withPayloads bool) {
	w.mu.Lock()
	if s := w.of(arn); s != nil {
		s.archived, s.noPayloads = true, !withPayloads
	}
	w.mu.Unlock()
}

// Functions is the per-function account of the run, failures being
// the run's.
func (w *Watch) Functions(failures []pipeline.Failure) []pipeline.FunctionReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	failed := map[int]bool{} // by position: an ARN is made from the list's file only for a find
	for _, f := range failures {
		if i := w.list.Find(f.ExecutionArn); i >= 0 {
			failed[i] = true
		}
	}
	out := make([]pipeline.FunctionReport, len(w.fns))
	for i, f := range w.fns {
		out[i] = pipeline.FunctionReport{Function: f.Name, RetentionDays: f.RetentionDays, Found: f.Found, QualifiersUnlisted: f.Unlisted, ListingFailed: f.ListingFailed}
	}
	for i := range w.list.items {
		f := &w.list.items[i]
		r := &out[f.fn]
		switch {
		case f.skipped:
			r.SkippedTerminal++
		case f.archived:
			r.Archived++
		case failed[i]:
			r.Failed++
		}
	}
	return out
}

// Skip wraps the archive's skip test (pipeline.Config's Skip; nil skips
// nothing), noting the executions it skips archived in their final state:
// by an earlier run, or by this one before it was resumed.
func (w *Watch) Skip(inner func(string, bool) (string, bool)) func(string, bool) (string, bool) {
	return func(arn string, history bool) (string, bool) {
		if inner == nil {
			return "", false
		}
		reason, ok := inner(arn, history)
		if ok && (reason == load.SkipTerminal || reason == load.SkipResumedFinal) {
			w.mu.Lock()
			if s := w.of(arn); s != nil {
				// Archived final: by an earlier run (skipped), or by this
				// one before it was resumed (archived by this run).
				s.archived, s.skipped = true, reason == load.SkipTerminal
			}
			w.mu.Unlock()
		}
		return reason, ok
	}
}

// AtRisk lists the executions that ended, per the listing, whose history
// expires within warn of now (ends + its own RetentionPeriodInDays when
// this run read it, else its function's, or the service's default of 30
// days when unknown; now for one being deleted), and that this run did
// not archive (failed, abandoned, or left to another shard's run), or
// archived without their payloads (which go with the history).
func (w *Watch) AtRisk(now time.Time, warn time.Duration, failures []pipeline.Failure) []pipeline.AtRisk {
	failed := map[string]string{}
	for _, f := range failures {
		failed[f.ExecutionArn] = f.Code
	}
	out := []pipeline.AtRisk{} // the report says [] when none, as for failures
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.list.items {
		st := &w.list.items[i]
		if st.end == noTime || st.archived && !st.noPayloads {
			continue
		}
		end := time.UnixMilli(st.end).UTC()
		deleting := w.list.Status(i) == types.ExecutionStatusDeleting
		expires := HistoryExpires(end, st.own, w.retention[w.fns[st.fn].Name], deleting, now)
		if expires.Sub(now) > warn {
			continue
		}
		arn := w.list.ARN(i)
		reason := "not archived by this run"
		if code, ok := failed[arn]; ok {
			reason = "failed: " + code
		} else if st.noPayloads {
			reason = "archived without its payloads (the service could not decrypt them): they go with the history"
		}
		if deleting {
			reason = "being deleted (DeleteDurableExecution), " + reason
		}
		out = append(out, pipeline.AtRisk{ExecutionArn: arn, Status: string(w.list.Status(i)), EndTime: end, HistoryExpiresAt: expires.UTC(), Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HistoryExpiresAt.Before(out[j].HistoryExpiresAt) })
	return out
}

// HistoryExpires is when the service deletes the history of an execution
// that ended at end: its own retention in days when known (own > 0), else
// its function's (fn > 0), else the service's default; now for one being
// deleted (DeleteDurableExecution, which takes ended executions only:
// status DELETING), whatever its retention.
func HistoryExpires(end time.Time, own, fn int32, deleting bool, now time.Time) time.Time {
	if deleting {
		return now
	}
	days := int32(DefaultRetentionDays)
	if fn > 0 {
		days = fn
	}
	if own > 0 {
		days = own
	}
	return end.Add(time.Duration(days) * 24 * time.Hour)
}
