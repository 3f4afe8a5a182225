package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// RunScope is what a run archives, as its lease records it. Two runs of a
// destination whose scopes overlap would both read the archive, then both
// write the events that are new since (a running execution's), each of them
// twice in the archive: a destination that can tell ([Leaser]) admits one.
type RunScope struct {
	RunID string `json:"run_id"`
	// The run archives shard Shard of Shards (by ARN hash); Shards 0 or 1:
	// every execution it is given.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// Functions are the functions whose executions the run archives, as
	// unqualified function ARNs (the same name in another region or
	// account is another function); nil: any (an execution ARN that does
	// not parse).
	Functions []string `json:"functions"`
	// StartSpans holds, for functions of Functions whose executions' starts
	// the run knows (a discovery's, or a manifest's that gives every
	// one), the earliest and latest of them: two runs of one function
	// whose spans do not meet cannot archive one execution (a
	// --started-before backfill beside a --started-after nightly).
	StartSpans map[string][2]time.Time `json:"start_spans,omitempty"`
	// Compaction marks an etl compact's lease (RunID: its own ID), of the
	// partitions DTs names (from, to, inclusive; "" open): two
	// compactions whose ranges meet would both merge a partition's files,
	// and its rows would then be there twice. A compaction and a run never
	// overlap (a compaction leaves alone the files younger than its
	// --min-age, a run's).
	Compaction bool      `json:"compaction,omitempty"`
	DTs        [2]string `json:"dts,omitempty"`
}

// overlaps tells whether runs of a and b could archive one execution. The
// shards of one run, and a run and its own killed attempt (the same run
// ID: how a run is resumed), never do.
func (a RunScope) overlaps(b RunScope) bool {
	switch {
	case a.RunID == b.RunID:
		return false
	case a.Compaction || b.Compaction:
		return a.Compaction && b.Compaction && datesMeet(a.DTs, b.DTs)
	case a.Shards > 1 && a.Shards == b.Shards && a.Shard != b.Shard:
		return false
	case a.Functions == nil || b.Functions == nil:
		return true
	}
	return slices.ContainsFunc(a.Functions, func(f string) bool { return slices.Contains(b.Functions, f) && a.meets(b, f) })
}

// datesMeet tells whether two ranges of dates (from, to, inclusive; ""
// open) share one.
func datesMeet(a, b [2]string) bool {
	apart := func(x, y [2]string) bool { return x[1] != "" && y[0] != "" && x[1] < y[0] }
	return !apart(a, b) && !apart(b, a)
}

// meets tells whether a and b, which both archive function f, could
// archive one execution of it: unless both know the starts of their
// executions of f and those spans are apart.
func (a RunScope) meets(b RunScope, f string) bool {
	sa, oka := a.StartSpans[f]
	sb, okb := b.StartSpans[f]
	return !oka || !okb || !(sa[1].Before(sb[0]) || sb[1].Before(sa[0]))
}

// Leaser is a destination that admits one run at a time over what their
// scopes share (Parquet: its files are its ledger, read once at a run's
// start), and one compaction at a time over a partition
// (RunScope.Compaction). Optional: a caller asks for it and does without.
type Leaser interface {
	// Lease records the run at the destination and keeps the record fresh
	// until release, which removes it. When a live run whose scope
	// overlaps holds a lease there, it fails with a *RunningError and
	// leaves no record; so it does on any other error (the record could
	// not be written, or the others not read). A record a run killed
	// outright left behind counts for nothing once LeaseExpiry has passed
	// since it was last renewed (at once on the same host, when its
	// process is gone). A renewal that fails is logged; the run goes on.
	// release ends a renewal under way at once, and gives up removing
	// the record after LeaseRenewal (it is left then, and says so).
	Lease(ctx context.Context, scope RunScope) (release func(context.Context) error, err error)
}

// RunsDir is where a destination keeps the records of its live runs (no
// table's: Athena's tables are the table folders), and CompactionsDir
// those of its live compactions (apart, so that a run, of this etl or an
// older one, never reads them).
const (
	RunsDir        = "_runs"
	CompactionsDir = "_compactions"
)

// LeaseRenewal is how often a held lease's record is written again, and
// LeaseExpiry how long after its last renewal a record no longer counts.
const (
	LeaseRenewal = 30 * time.Second
	LeaseExpiry  = 4 * LeaseRenewal
)

// leaseRecord is a lease's content: the scope, and where the run is.
type leaseRecord struct {
	RunScope
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// RunningError: another live run whose scope overlaps holds a lease on the
// destination.
type RunningError struct {
	Dest   string
	Record string // the other run's record under Dest
	Other  RunScope
	Host   string
	PID    int
	// Started is when the other run took its lease, Renewed when it last
	// wrote it.
	Started, Renewed time.Time
}

func (e *RunningError) Error() string {
	if e.Other.Compaction {
		dts := "every partition"
		if from, to := e.Other.DTs[0], e.Other.DTs[1]; from != "" || to != "" {
			dts = "the partitions " + from + ".." + to
		}
		return fmt.Sprintf("destination %s: compaction %s (on %s, pid %d, started %s) is merging %s there: two compactions at once would merge a partition's files twice, its rows then there twice; wait for it to end (a killed compaction's record %s counts for nothing %s after its last renewal, %s)",
			e.Dest, e.Other.RunID, e.Host, e.PID, e.Started.UTC().Format(time.RFC3339), dts, e.Record, LeaseExpiry, e.Renewed.UTC().Format(time.RFC3339))
	}
	what := "any function"
	if fns := e.Other.Functions; len(fns) > 3 {
		what = fmt.Sprintf("functions %s and %d more", strings.Join(fns[:3], ", "), len(fns)-3)
	} else if fns != nil {
		what = "function " + strings.Join(fns, ", ")
		if sp, ok := e.Other.StartSpans[fns[0]]; ok && len(fns) == 1 {
			what += fmt.Sprintf(" (its executions started %s to %s)", sp[0].UTC().Format(time.RFC3339), sp[1].UTC().Format(time.RFC3339))
		}
	}
	return fmt.Sprintf("destination %s: run %s (on %s, pid %d, started %s) is archiving %s there: two runs at once would write the same new events twice; wait for it to end (a killed run's record %s counts for nothing %s after its last renewal, %s)",
		e.Dest, e.Other.RunID, e.Host, e.PID, e.Started.UTC().Format(time.RFC3339), what, e.Record, LeaseExpiry, e.Renewed.UTC().Format(time.RFC3339))
}

// Lease records the run under DEST/_runs/ (see [Leaser]). The record's
// times are the store's (file times, S3's LastModified), read against the
// time of the record just written, so that hosts' clocks need not agree.
// Two runs that lease at the same moment may both be refused, never both
// admitted.
func (d *Parquet) Lease(ctx context.Context, scope RunScope) (func(context.Context) error, error) {
	host, _ := os.Hostname()
	rec := leaseRecord{RunScope: scope, Host: host, PID: os.Getpid(), Started: time.Now().UTC()}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	dir := RunsDir
	if scope.Compaction {
		dir = CompactionsDir
	}
	name := path.Join(dir, leaseName(scope))
	if err := d.sink.putRecord(ctx, name, body); err != nil {
		return nil, fmt.Errorf("destination %s: record the run in %s: %w", d.dir, dir, err)
	}
	if err := d.admitted(ctx, dir, name, rec); err != nil {
		d.sink.remove(context.WithoutCancel(ctx), name)
		return nil, err
	}
	// Each renewal is given up when the next is due (a store that stalls,
	// or whose calls the SDK retries for minutes through an outage): the
	// next one tries again, so that the record is written again within a
	// period of the store's return. release ends the one under way.
	renewing, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d.cfg.leaseRenewal)
		defer t.Stop()
		for {
			select {
			case <-renewing.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(renewing, d.cfg.leaseRenewal)
			err := d.sink.putRecord(ctx, name, body)
			cancel()
			if renewing.Err() != nil {
				return // released meanwhile: the record goes
			}
			if err != nil {
				d.cfg.logger.Warn("could not renew the run's record at the destination", "dest", d.dir, "record", name, "err", err)
			}
			if d.cfg.renewed != nil {
				d.cfg.renewed(err)
			}
		}
	}()
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			stop()
			<-stopped
			// Given up after a renewal period: a record left behind
			// counts for nothing LeaseExpiry after its last renewal, and
			// a run that has done its work should end, not wait minutes
			// on a store that does not answer.
			ctx, cancel := context.WithTimeout(ctx, d.cfg.leaseRenewal)
			defer cancel()
			if err = d.sink.remove(ctx, name); err != nil {
				err = fmt.Errorf("destination %s: remove the run's record %s: %w", d.dir, name, err)
			}
		})
		return err
	}, nil
}

// leaseName is a run's record's name: its run ID, and its shard.
func leaseName(s RunScope) string {
	if s.Shards > 1 {
		return fmt.Sprintf("%s-s%dof%d.json", s.RunID, s.Shard, s.Shards)
	}
	return s.RunID + ".json"
}

// admitted reads the records beside ours (name, in dir) and fails when
// one is of a live run whose scope overlaps ours. It removes the records
// that count for nothing any more.
func (d *Parquet) admitted(ctx context.Context, dir, name string, ours leaseRecord) error {
	recs, err := d.sink.records(ctx, dir+"/")
	if err != nil {
		return fmt.Errorf("destination %s: read the runs in %s: %w", d.dir, dir, err)
	}
	now := time.Now()
	for _, r := range recs {
		if r.name == name {
			now = r.modified // the store's clock
		}
	}
	for _, r := range recs {
		var other leaseRecord
		if r.name == name || json.Unmarshal(r.body, &other) != nil || other.RunID == "" {
			continue // ours, or not a run's record
		}
		if now.Sub(r.modified) > LeaseExpiry || other.Host == ours.Host && !processAlive(other.PID) {
			what := "run"
			if other.Compaction {
				what = "compaction"
			}
			d.cfg.logger.Info("removing the record of a "+what+" that is gone", "dest", d.dir, "record", r.name, "run_id", other.RunID, "renewed", r.modified)
			if err := d.sink.remove(ctx, r.name); err != nil && !errors.Is(err, os.ErrNotExist) {
				d.cfg.logger.Warn("could not remove a gone run's record", "record", r.name, "err", err)
			}
			continue
		}
		if ours.overlaps(other.RunScope) {
			return &RunningError{Dest: d.dir, Record: r.name, Other: other.RunScope, Host: other.Host, PID: other.PID, Started: other.Started, Renewed: r.modified}
		}
	}
	return nil
}

// Lease leases every destination that can be (see [Leaser]); should one
// refuse, those already leased are released.
func (f *fanout) Lease(ctx context.Context, scope RunScope) (func(context.Context) error, error) {
	var releases []func(context.Context) error
	release := func(ctx context.Context) error {
		var errs []error
		for _, r := range releases {
			errs = append(errs, r(ctx))
		}
		return errors.Join(errs...)
	}
	for _, l := range f.loaders {
		if ls, ok := l.(Leaser); ok {
			r, err := ls.Lease(ctx, scope)
			if err != nil {
				release(context.WithoutCancel(ctx))
				return nil, err
			}
			releases = append(releases, r)
		}
	}
	return release, nil
}
