package load_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// destination opens a loader on one archive of a destination; each call is
// a new run (its own file prefix). The suite uses the archive "main" and, to
// compare twins, "twin-a" and "twin-b".
type destination func(t *testing.T, archive, run string) load.Loader

// exercise is the suite every destination runs: what commits is read back
// exactly (operations and events, odd shapes included); what aborts leaves
// nothing; a later snapshot is the newest; a rerun of the same content
// leaves the newest snapshot equal; a run killed before Close (its loader
// never closed) leaves each execution either as it was or whole in its new
// snapshot, never part of one; twins (two archives fed the same commits
// through Fanout) read back alike and, for files, hold the same bytes. It
// reads back through the destination's own SnapshotReader. With keepsBytes,
// strings hold bytes that are not UTF-8 too, which the destination must
// give back as they were (Parquet does; Postgres text stores U+FFFD in
// their place, as it does U+0000: see TestInvalidUTF8InPostgres).
func exercise(t *testing.T, open destination, keepsBytes bool) {
	ctx := context.Background()
	g := optest.New(99)
	g.NoNUL = true // Postgres stores U+0000 as U+FFFD: one path for all here
	g.NotUTF8 = keepsBytes
	g.LargeEvery = 0
	type exec struct {
		arn    string
		ops    []types.Operation
		events []types.Event
	}
	var execs []exec
	for i := range 6 {
		e := exec{arn: fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:conf:1/durable-execution/e-%d/%d", i, i)}
		ids := map[string]bool{}
		for range 3 + i*7 {
			op := g.Operation()
			id := ""
			if op.Id != nil {
				id = *op.Id
			}
			if !ids[id] {
				ids[id] = true
				e.ops = append(e.ops, op)
			}
		}
		for j := range 2 + i*5 {
			ev := g.Event()
			n := int32(j + 1)
			ev.EventId = &n
			e.events = append(e.events, ev)
		}
		execs = append(execs, e)
	}
	commit := func(l load.Loader, e exec, at time.Time, run string, abort bool) {
		t.Helper()
		meta := transform.RowMeta{ExecutionArn: e.arn, RunID: run, ExtractedAt: at}
		snap := transform.NewSnapshot(meta)
		rows := snap.Add(nil, e.ops)
		var evs []schema.Event
		var keys transform.EventKeys
		for i := range e.events {
			evs = append(evs, transform.EventRow(&e.events[i], keys.Next(&e.events[i]), meta))
		}
		x, err := l.Begin(ctx, e.arn)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			t.Fatal(err)
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Events, evs)); err != nil {
			t.Fatal(err)
		}
		if abort {
			if err := x.Abort(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := x.Commit(ctx, "2026-01-05", snap.Finish()); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	l := open(t, "main", "conf-1")
	for i, e := range execs {
		commit(l, e, t0, "conf-1", i == 2) // the third aborts
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A later run: a newer snapshot of the second execution, with fewer
	// operations (a completed context hides its children), and no events
	// (a run writes only the events the archive lacks).
	l = open(t, "main", "conf-2")
	newer := execs[1]
	newer.ops = newer.ops[:len(newer.ops)-2]
	rerun := newer
	rerun.events = nil
	commit(l, rerun, t0.Add(time.Hour), "conf-2", false)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A rerun of the same content: the newest snapshot stays equal.
	l = open(t, "main", "conf-3")
	commit(l, rerun, t0.Add(2*time.Hour), "conf-3", false)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A run killed before Close: its loader is never closed (until the
	// test ends, after the reads).
	killed := execs[3]
	killed.ops = append([]types.Operation(nil), killed.ops[1:]...)
	killed.events = nil
	l = open(t, "main", "conf-killed")
	t.Cleanup(func() { l.Close(context.Background()) })
	commit(l, killed, t0.Add(3*time.Hour), "conf-killed", false)
	reader, ok := open(t, "main", "conf-read").(load.SnapshotReader)
	if !ok {
		t.Fatal("the destination cannot be read back (no SnapshotReader)")
	}
	latest, err := reader.Latest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if only, err := reader.Latest(ctx, func(arn string) bool { return arn == execs[0].arn }); err != nil || len(only) != 1 || only[execs[0].arn].Arn == "" {
		t.Errorf("Latest keeping one execution: %d states (%v)", len(only), err)
	}
	if len(latest) != len(execs)-1 {
		t.Fatalf("%d executions archived, want %d (one aborted)", len(latest), len(execs)-1)
	}
	if _, ok := latest[execs[2].arn]; ok {
		t.Error("an aborted execution is archived")
	}
	// conf-3 when the destination keeps every snapshot, conf-2 when it
	// leaves an unchanged one alone (Postgres).
	if st := latest[newer.arn]; (st.RunID != "conf-2" && st.RunID != "conf-3") || st.OperationCount != int64(len(newer.ops)) {
		t.Errorf("the newest snapshot of %s: %+v", newer.arn, st)
	}
	for i, e := range execs {
		if i == 2 {
			continue
		}
		if i == 1 {
			e = newer
		}
		st := latest[e.arn]
		if i == 3 && st.RunID == "conf-killed" { // visible, so whole
			e.ops = killed.ops
		}
		rows, err := reader.Rows(ctx, []load.ExecutionState{st})
		if err != nil {
			t.Fatal(err)
		}
		got := rows[e.arn]
		if got == nil || len(got.Operations) < len(e.ops) || len(got.Events) != len(e.events) {
			t.Fatalf("%s: read back %d operations and %d events, wrote %d and %d", e.arn, len(got.Operations), len(got.Events), len(e.ops), len(e.events))
		}
		if x := got.Execution; x == nil || x.ExecutionArn != e.arn || x.RunID != st.RunID || !x.ExtractedAt.Equal(st.ExtractedAt) || x.ContentHash != st.ContentHash {
			t.Errorf("%s: the executions row read back is %+v, want the snapshot %+v", e.arn, x, st)
		}
		byID := map[string]*schema.Operation{}
		for j := range got.Operations {
			byID[got.Operations[j].OperationID] = &got.Operations[j]
		}
		for j, op := range e.ops {
			row := byID[transform.OperationRow(&op, int64(j), transform.RowMeta{}).OperationID]
			if row == nil {
				t.Fatalf("%s: operation %d missing", e.arn, j)
			}
			if diff := optest.DiffRow(op, row); diff != "" {
				t.Fatalf("%s operation %d (-written +read):\n%s", e.arn, j, diff)
			}
		}
		for j, ev := range e.events {
			if diff := optest.DiffEventRow(ev, &got.Events[j]); diff != "" {
				t.Fatalf("%s event %d (-written +read):\n%s", e.arn, j, diff)
			}
		}
	}
	ledgerOfPayloads(t, open, execs[0].arn, execs[0].ops)
	heldEventsOnce(t, open)
	archivedDataOf(t, open, execs[len(execs)-1].arn, execs[len(execs)-1].ops)
	latestByDates(t, open)
	var arns []string
	for i, e := range execs {
		if i != 2 {
			arns = append(arns, e.arn)
		}
	}
	twins(t, open, func(l load.Loader) {
		for i, e := range execs {
			commit(l, e, t0, "twin", i == 2)
		}
	}, arns)
}

// ledgerOfPayloads checks what the destination's ledger (its
// ArchivedReader) says of an execution archived final without its
// payloads (execution_data_included false): not skipped, to be tried again
// (load.RetryPayloads); once a newer snapshot has them, skipped as
// terminal; a newer one without them again, tried again.
func ledgerOfPayloads(t *testing.T, open destination, arn string, ops []types.Operation) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i, step := range []struct {
		included   *bool
		skip       bool
		wantReason string
	}{
		{new(false), false, load.RetryPayloads},
		{new(true), true, load.SkipTerminal},
		{nil, true, load.SkipTerminal}, // written before the column: not a retry
		{new(false), false, load.RetryPayloads},
	} {
		run := fmt.Sprintf("payloads-%d", i)
		l := open(t, "payloads", run)
		meta := transform.RowMeta{ExecutionArn: arn, RunID: run, ExtractedAt: t0.Add(time.Duration(i) * time.Hour)}
		snap := transform.NewSnapshot(meta)
		rows := snap.Add(nil, ops)
		row := snap.Finish()
		row.Status, row.ExecutionDataIncluded = new("SUCCEEDED"), step.included
		commitSnapshot(t, l, "2026-01-05", rows, row)
		ar, ok := open(t, "payloads", "payloads-read").(load.ArchivedReader)
		if !ok {
			t.Fatal("the destination cannot say what it holds (no ArchivedReader)")
		}
		a, err := ar.Archived(ctx, "payloads-read")
		if err != nil {
			t.Fatal(err)
		}
		if reason, skip := a.Skip(arn, false); skip != step.skip || reason != step.wantReason {
			t.Errorf("snapshot %d (execution_data_included %v): Skip says %q, %v; want %q, %v", i, fmtPtr(step.included), reason, skip, step.wantReason, step.skip)
		}
	}
}

// archivedDataOf checks what the destination's DataReader hands over of
// an execution archived with its payloads and then read again without them
// (the snapshot's rows stripped of their data columns): the payloads of the
// first, every operation's and the input; nothing for an execution it does
// not hold, or one with more operations than asked for.
func archivedDataOf(t *testing.T, open destination, arn string, ops []types.Operation) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	var first []schema.Operation
	var firstExec schema.Execution
	for i, included := range []bool{true, false} {
		run := fmt.Sprintf("data-%d", i)
		l := open(t, "data", run)
		snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, RunID: run, ExtractedAt: t0.Add(time.Duration(i) * time.Hour)})
		rows := snap.Add(nil, ops)
		row := snap.Finish()
		row.Status, row.ExecutionDataIncluded = new("RUNNING"), new(included)
		if included {
			first, firstExec = slices.Clone(rows), row
		} else {
			for j := range rows {
				withoutData(schema.Operations, &rows[j])
			}
			withoutData(schema.Executions, &row)
		}
		commitSnapshot(t, l, "2026-01-05", rows, row)
	}
	dr, ok := open(t, "data", "data-read").(load.DataReader)
	if !ok {
		t.Fatal("the destination cannot hand over its data (no DataReader)")
	}
	data, err := dr.ArchivedData(ctx, arn, "2026-01-05", int64(len(first)))
	if err != nil || data == nil {
		t.Fatalf("ArchivedData: %v, %v", data, err)
	}
	if !reflect.DeepEqual(data.Execution.InputPayload, firstExec.InputPayload) {
		t.Errorf("ArchivedData: the input %v, archived %v", fmtPtr(data.Execution.InputPayload), fmtPtr(firstExec.InputPayload))
	}
	skip := make([]bool, len(schema.Operations.Columns))
	for i, c := range schema.Operations.Columns {
		skip[i] = c.Data == schema.NotData
	}
	withPayloads := 0
	for i := range first {
		got := data.Operations[first[i].OperationID]
		if got == nil {
			t.Fatalf("ArchivedData: operation %s missing", first[i].OperationID)
		}
		if c := schema.DiffRow(schema.Operations, &first[i], got, skip); c >= 0 {
			t.Errorf("ArchivedData: operation %s: %s is not the one archived with the payloads", first[i].OperationID, schema.Operations.Columns[c].Name)
		}
		if first[i].Result != nil || first[i].ErrorType != nil || first[i].InputPayload != nil {
			withPayloads++
		}
	}
	if withPayloads == 0 {
		t.Error("no operation has payloads: the check above checked nothing")
	}
	if data, err := dr.ArchivedData(ctx, arn, "2026-01-05", int64(len(first)-1)); data != nil || err != nil {
		t.Errorf("ArchivedData past maxOps: %v, %v; want nothing", data != nil, err)
	}
	if data, err := dr.ArchivedData(ctx, arn+"-unknown", "2026-01-05", 1<<20); data != nil || err != nil {
		t.Errorf("ArchivedData of an execution not archived: %v, %v; want nothing", data != nil, err)
	}
}

// heldEventsOnce checks that an execution's events written again, all of
// them (etl run --force --rewrite-events), where the destination lacks
// them (load.LostEventsWriter, where it can tell), are each held once,
// the new ones with them: the events of two runs (1-4, then 5-7), then
// 1-9 written again.
func heldEventsOnce(t *testing.T, open destination) {
	commitWithEvents(t, open(t, "held", "held-1"), heldDT, nil, heldEvents("held-1", 1, 4), heldRow("held-1", 4))
	commitWithEvents(t, open(t, "held", "held-2"), heldDT, nil, heldEvents("held-2", 5, 7), heldRow("held-2", 7))
	written, tells := rewriteHeldEvents(t, open(t, "held", "held-3"), "held-3")
	if ids := heldEventIDs(t, open(t, "held", "held-read")); !slices.Equal(ids, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("events held after all were written again: %v, want each of 1-9 once", ids)
	}
	if want := map[bool]int{true: 2, false: 9}[tells]; written != want {
		t.Errorf("%d events written, want %d (a destination that can tell which it holds: %v)", written, want, tells)
	}
}

// The execution heldEventsOnce archives, in partition heldDT.
const (
	heldARN = "arn:aws:lambda:us-east-1:123456789012:function:held:1/durable-execution/held/1"
	heldDT  = "2026-04-02"
)

var heldAt = time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)

// heldEvents are heldARN's events from to to (their EventIds), as run
// writes them.
func heldEvents(run string, from, to int32) []schema.Event {
	var out []schema.Event
	for id := from; id <= to; id++ {
		ev := types.Event{EventId: aws.Int32(id), EventType: types.EventTypeStepStarted, Id: aws.String(fmt.Sprint("step-", id)), EventTimestamp: aws.Time(heldAt.Add(time.Duration(id) * time.Second))}
		out = append(out, transform.EventRow(&ev, transform.EventKey{ID: id, Pos: int64(id)}, transform.RowMeta{ExecutionArn: heldARN, RunID: run, ExtractedAt: heldAt}))
	}
	return out
}

// fillerEvents are n events of arn in partition heldDT, each with a
// result of size bytes that does not compress (a backfill's large
// payloads): a partition whose files are large.
func fillerEvents(t *testing.T, arn string, n, size int) []schema.Event {
	raw := make([]byte, size*3/4)
	var out []schema.Event
	for id := range int32(n) {
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		payload := base64.StdEncoding.EncodeToString(raw)
		ev := types.Event{EventId: aws.Int32(id + 1), EventType: types.EventTypeStepSucceeded, Id: aws.String(fmt.Sprint("step-", id)), EventTimestamp: aws.Time(heldAt),
			StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: &payload}}}
		out = append(out, transform.EventRow(&ev, transform.EventKey{ID: id + 1, Pos: int64(id + 1)}, transform.RowMeta{ExecutionArn: arn, RunID: "filler", ExtractedAt: heldAt}))
	}
	return out
}

// heldRow is heldARN's executions row of run, which read n events.
func heldRow(run string, n int64) schema.Execution {
	return schema.Execution{ExecutionArn: heldARN, Status: aws.String("RUNNING"), RunID: run, ExtractedAt: heldAt.Add(time.Duration(n) * time.Minute), EventCount: &n, Source: "history"}
}

// rewriteHeldEvents writes heldARN's events 1-9 through l, run, where it
// lacks them (load.LostEventsWriter, where it can tell), and those of
// again with Write, as a run writes the events it has reasons of their
// own to write again (payloads they were archived without); it closes l
// and returns how many of 1-9 it says it wrote (without WriteLost, 9),
// and whether it could tell which it held.
func rewriteHeldEvents(t *testing.T, l load.Loader, run string, again ...int32) (written int, tells bool) {
	t.Helper()
	ctx := context.Background()
	x, err := l.Begin(ctx, heldARN)
	if err != nil {
		t.Fatal(err)
	}
	lost := func(ctx context.Context, rows schema.Rows) (int, error) { return rows.Len(), x.Write(ctx, rows) }
	lw, tells := x.(load.LostEventsWriter)
	if tells {
		if err := lw.ReadHeldEvents(ctx, heldDT); err != nil {
			t.Fatal(err)
		}
		lost = lw.WriteLost
	}
	for _, id := range again {
		if err := x.Write(ctx, schema.RowsOf(schema.Events, heldEvents(run, id, id))); err != nil {
			t.Fatal(err)
		}
	}
	for _, part := range [][2]int32{{1, 3}, {4, 9}} { // in two writes, as pages come
		n, err := lost(ctx, schema.RowsOf(schema.Events, heldEvents(run, part[0], part[1])))
		if err != nil {
			t.Fatal(err)
		}
		written += n
	}
	if err := x.Commit(ctx, heldDT, heldRow(run, 9)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return written, tells
}

// heldEventIDs is, sorted, the event_id of every events row l holds of
// heldARN (an event held twice is there twice).
func heldEventIDs(t *testing.T, l load.Loader) []int32 {
	t.Helper()
	var mu sync.Mutex
	var ids []int32
	err := l.(load.RowStreamer).EachRow(context.Background(), load.ExecutionState{Arn: heldARN, DT: heldDT}, nil, nil, func(ev *schema.Event) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, ev.EventID)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// commitSnapshot archives one snapshot of an execution (its operations rows
// and executions row) through l, in partition dt, and closes l.
func commitSnapshot(t *testing.T, l load.Loader, dt string, ops []schema.Operation, row schema.Execution) {
	t.Helper()
	commitWithEvents(t, l, dt, ops, nil, row)
}

// commitWithEvents is commitSnapshot with the execution's new events.
func commitWithEvents(t *testing.T, l load.Loader, dt string, ops []schema.Operation, events []schema.Event, row schema.Execution) {
	t.Helper()
	ctx := context.Background()
	x, err := l.Begin(ctx, row.ExecutionArn)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Write(ctx, schema.RowsOf(schema.Operations, ops)); err != nil {
		t.Fatal(err)
	}
	if len(events) > 0 {
		if err := x.Write(ctx, schema.RowsOf(schema.Events, events)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Commit(ctx, dt, row); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// latestByDates checks that the destination can read some start dates
// only (load.PartitionedReader, which every one here is), and that LatestIn returns the executions
// archived under those dates (UTC days, both ends included) that keep
// accepts, and no other: not one a millisecond before the first day or
// on the day after the last.
func latestByDates(t *testing.T, open destination) {
	ctx := context.Background()
	starts := []string{"2026-01-31T23:59:59.999Z", "2026-02-01T00:00:00Z", "2026-02-02T23:59:59.999Z", "2026-02-03T00:00:00Z", "2026-02-02T12:00:00Z"}
	for i, at := range starts {
		start, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatal(err)
		}
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:dates:1/durable-execution/d-%d/%d", i, i)
		run := fmt.Sprint("dates-", i)
		snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, RunID: run, ExtractedAt: start.Add(time.Hour)})
		rows := snap.Add(nil, []types.Operation{{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded, StartTimestamp: &start}})
		commitSnapshot(t, open(t, "dates", run), start.UTC().Format(time.DateOnly), rows, snap.Finish())
	}
	pr, ok := open(t, "dates", "dates-read").(load.PartitionedReader)
	if !ok {
		t.Fatal("the destination cannot read by start dates (no PartitionedReader)")
	}
	arn := func(i int) string {
		return fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:dates:1/durable-execution/d-%d/%d", i, i)
	}
	for _, c := range []struct {
		from, to string
		keep     func(string) bool
		want     []int
	}{
		{"2026-02-01", "2026-02-02", nil, []int{1, 2, 4}},
		{"2026-01-31", "2026-01-31", nil, []int{0}},
		{"2026-02-03", "2026-02-09", nil, []int{3}},
		{"2026-02-01", "2026-02-02", func(a string) bool { return a != arn(2) }, []int{1, 4}},
		{"2025-01-01", "2025-12-31", nil, nil},
	} {
		got, err := pr.LatestIn(ctx, c.from, c.to, c.keep)
		if err != nil {
			t.Fatal(err)
		}
		var arns []string
		for a := range got {
			arns = append(arns, a)
		}
		var want []string
		for _, i := range c.want {
			want = append(want, arn(i))
		}
		slices.Sort(arns)
		if !slices.Equal(arns, want) {
			t.Errorf("LatestIn(%s, %s): %v, want %v", c.from, c.to, arns, want)
		}
	}
	// The executions listed by start date (load.DatedLister, which every
	// one here is): each once, under its date, a snapshot archived again
	// under it still once.
	dl, ok := pr.(load.DatedLister)
	if !ok {
		t.Fatal("the destination cannot list its executions by date (no DatedLister)")
	}
	again := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn(1), RunID: "dates-again", ExtractedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	rows := again.Add(nil, []types.Operation{{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusStarted, StartTimestamp: &start}})
	commitSnapshot(t, open(t, "dates", "dates-again"), "2026-02-01", rows, again.Finish())
	var got []string
	if err := dl.ListDated(ctx, func(arn, dt string) { got = append(got, dt+" "+arn) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	var want []string
	for i, at := range starts {
		want = append(want, at[:10]+" "+arn(i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListDated: %q, want %q", got, want)
	}
}

// withoutData clears row's data columns, as a read without the
// execution's data leaves them.
func withoutData[T any](t *schema.Table, row *T) {
	v := reflect.ValueOf(row).Elem()
	for i, c := range t.Columns {
		if c.Data != schema.NotData {
			v.Field(i).SetZero()
		}
	}
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// twins commits execs through Fanout into two fresh archives of the
// destination and checks that they read back alike, and that a file
// destination's files are byte-identical.
func twins(t *testing.T, open destination, commit func(load.Loader), execArns []string) {
	ctx := context.Background()
	f := load.Fanout(open(t, "twin-a", "twin"), open(t, "twin-b", "twin"))
	commit(f)
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var read [2]struct {
		latest map[string]load.ExecutionState
		rows   map[string]*load.ExecutionRows
		files  map[string][]byte
	}
	for i, archive := range []string{"twin-a", "twin-b"} {
		l := open(t, archive, "twin-read")
		reader := l.(load.SnapshotReader)
		latest, err := reader.Latest(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		read[i].latest, read[i].rows = latest, map[string]*load.ExecutionRows{}
		for _, arn := range execArns {
			st, ok := latest[arn]
			if !ok {
				t.Fatalf("%s: %s not archived", archive, arn)
			}
			rows, err := reader.Rows(ctx, []load.ExecutionState{st})
			if err != nil {
				t.Fatal(err)
			}
			read[i].rows[arn] = rows[arn]
		}
		if read[i].files, err = load.PublishedBytesForTest(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(read[0].latest, read[1].latest) || !reflect.DeepEqual(read[0].rows, read[1].rows) {
		t.Error("twins read back differently")
	}
	if read[0].files != nil && len(read[0].files) == 0 {
		t.Fatal("a file destination lists no files")
	}
	if len(read[0].files) != len(read[1].files) {
		t.Fatalf("twins hold %d and %d files", len(read[0].files), len(read[1].files))
	}
	for name, b := range read[0].files {
		if !bytes.Equal(b, read[1].files[name]) {
			t.Errorf("twins differ in %s", name)
		}
	}
}

// TestConformance runs the suite on every destination.
func TestConformance(t *testing.T) {
	t.Run("local Parquet", func(t *testing.T) {
		root := t.TempDir()
		open := func(t *testing.T, archive, run string) load.Loader {
			pd, err := load.NewParquetDir(filepath.Join(root, archive), load.WithFilePrefix("part-"+run))
			if err != nil {
				t.Fatal(err)
			}
			return pd
		}
		exercise(t, open, true)
		orphansFound(t, open, func(t *testing.T, archive, run string) {
			files, _ := filepath.Glob(filepath.Join(root, archive, "executions", "dt=*", "part-"+run+"*"))
			for _, f := range files {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
	t.Run("S3 Parquet", func(t *testing.T) {
		srv3, bucket := s3test.Bucket(t)
		open := func(t *testing.T, archive, run string) load.Loader {
			pq, err := load.NewParquetS3(context.Background(), srv3.Client(), bucket, archive, t.TempDir(), load.S3Options{}, load.WithFilePrefix("part-"+run))
			if err != nil {
				t.Fatal(err)
			}
			return pq
		}
		exercise(t, open, true)
		orphansFound(t, open, func(t *testing.T, archive, run string) {
			ctx := context.Background()
			out, err := srv3.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(archive + "/executions/")})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				if strings.Contains(*o.Key, "/part-"+run) {
					if _, err := srv3.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		schemas := map[string]string{}
		url := ""
		var conn *pgx.Conn
		open := func(t *testing.T, archive, run string) load.Loader {
			s, ok := schemas[archive]
			if !ok {
				url, s, conn = pgtest.Migrated(t)
				schemas[archive] = s
			}
			pg, err := load.NewPostgres(context.Background(), url, load.WithPGSchema(s))
			if err != nil {
				t.Fatal(err)
			}
			return pg
		}
		exercise(t, open, false)
		orphansFound(t, open, func(t *testing.T, archive, run string) {
			if _, err := conn.Exec(context.Background(), "DELETE FROM "+pgx.Identifier{schemas[archive], "executions"}.Sanitize()+" WHERE run_id = $1", run); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// orphansFound checks that the destination names the executions whose
// operations or events it holds without an executions row
// (load.OrphanFinder, which every one here is): forget removes the
// executions rows a run wrote (for files, its executions files), as a
// file deleted by hand does. One whose executions rows are under another
// start date is not named, nor one archived whole.
func orphansFound(t *testing.T, open destination, forget func(t *testing.T, archive, run string)) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	arn := func(name string) string {
		return "arn:aws:lambda:us-east-1:123456789012:function:orphans:1/durable-execution/" + name + "/1"
	}
	commit := func(run, name, dt string, ops, events int) {
		t.Helper()
		meta := transform.RowMeta{ExecutionArn: arn(name), RunID: run, ExtractedAt: at}
		snap := transform.NewSnapshot(meta)
		var in []types.Operation
		for i := range ops {
			in = append(in, types.Operation{Id: aws.String(fmt.Sprint("op-", i)), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded, StartTimestamp: &at})
		}
		rows := snap.Add(nil, in)
		var evs []schema.Event
		var keys transform.EventKeys
		for i := range events {
			ev := types.Event{EventId: aws.Int32(int32(i + 1)), EventType: types.EventTypeStepStarted, Id: aws.String("op-0"), EventTimestamp: &at}
			evs = append(evs, transform.EventRow(&ev, keys.Next(&ev), meta))
		}
		commitWithEvents(t, open(t, "orphans", run), dt, rows, evs, snap.Finish())
	}
	commit("orphans-kept", "kept", "2026-03-01", 3, 2)
	commit("orphans-lost", "lost", "2026-03-01", 3, 2)
	commit("orphans-events", "events-only", "2026-03-02", 0, 4)
	commit("orphans-moved1", "moved", "2026-03-01", 2, 3)
	commit("orphans-moved2", "moved", "2026-03-03", 3, 0) // changed, so Postgres takes it
	of, ok := open(t, "orphans", "orphans-read").(load.OrphanFinder)
	if !ok {
		t.Fatal("the destination cannot look for orphaned rows (no OrphanFinder)")
	}
	if got, err := of.Orphans(ctx); err != nil || len(got) != 0 {
		t.Fatalf("intact: orphans %v (%v)", got, err)
	}
	for _, run := range []string{"orphans-lost", "orphans-events", "orphans-moved1"} {
		forget(t, "orphans", run)
	}
	got, err := of.Orphans(ctx)
	if want := []string{arn("events-only"), arn("lost")}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("orphans %v (%v), want %v", got, err, want)
	}
}
