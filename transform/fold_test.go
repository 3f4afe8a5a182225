package transform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// TestFoldRules folds a hand-written history that exercises each rule.
func TestFoldRules(t *testing.T) {
	at := func(s int) *time.Time { v := time.Date(2026, 1, 5, 10, 0, s, 0, time.UTC); return &v }
	ev := func(id int32, typ, op string, s int) types.Event {
		e := types.Event{EventId: aws.Int32(id), EventType: types.EventType(typ), EventTimestamp: at(s)}
		if op != "" {
			e.Id = aws.String(op)
		}
		return e
	}
	errObj := &types.ErrorObject{ErrorType: aws.String("Boom")}
	h := []types.Event{ev(1, "ExecutionStarted", "e", 0), ev(2, "InvocationCompleted", "", 1), ev(3, "StepStarted", "s1", 2), ev(4, "StepFailed", "s1", 3),
		ev(5, "StepStarted", "s1", 8), ev(6, "StepSucceeded", "s1", 9), ev(7, "WaitStarted", "w", 10), ev(8, "StepStarted", "s2", 11), ev(9, "StepFailed", "s2", 12),
		ev(10, "CallbackStarted", "cb", 13), ev(11, "CallbackTimedOut", "cb", 14), ev(12, "ContextStarted", "c", 15), ev(13, "ContextFailed", "c", 16),
		ev(14, "TeleportStarted", "t", 17), ev(15, "StepPaused", "s2", 18), ev(16, "ExecutionFailed", "e", 19)}
	h[0].ExecutionStartedDetails = &types.ExecutionStartedDetails{Input: &types.EventInput{Payload: aws.String(`{"in":1}`)}}
	h[0].Name = aws.String("handler")
	h[3].StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: errObj}, RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)}}
	h[5].StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String("ok")}, RetryDetails: &types.RetryDetails{CurrentAttempt: 2}}
	h[6].WaitStartedDetails = &types.WaitStartedDetails{Duration: aws.Int32(60), ScheduledEndTimestamp: at(70)}
	h[6].ParentId = aws.String("c")
	h[8].StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: errObj}, RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(30)}}
	h[9].CallbackStartedDetails = &types.CallbackStartedDetails{CallbackId: aws.String("cb-1")}
	h[10].CallbackTimedOutDetails = &types.CallbackTimedOutDetails{Error: &types.EventError{Payload: errObj}}
	h[12].ContextFailedDetails = &types.ContextFailedDetails{Error: &types.EventError{Payload: errObj}}
	h[15].ExecutionFailedDetails = &types.ExecutionFailedDetails{Error: &types.EventError{Payload: errObj}}

	f := transform.NewFolder()
	f.Add(h[:7])
	f.Add(h[7:]) // across pages
	spilled := transform.NewFolder(transform.WithPayloadBudget(0), transform.WithSpillDir(t.TempDir()))
	spilled.Add(h)
	want := []types.Operation{
		{Id: aws.String("e"), Name: aws.String("handler"), Type: "EXECUTION", Status: "FAILED", StartTimestamp: at(0), EndTimestamp: at(19),
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String(`{"in":1}`)}},
		{Id: aws.String("s1"), Type: "STEP", Status: "SUCCEEDED", StartTimestamp: at(2), EndTimestamp: at(9),
			StepDetails: &types.StepDetails{Attempt: 2, Result: aws.String("ok")}},
		{Id: aws.String("w"), ParentId: aws.String("c"), Type: "WAIT", Status: "STARTED", StartTimestamp: at(10),
			WaitDetails: &types.WaitDetails{ScheduledEndTimestamp: at(70)}},
		{Id: aws.String("s2"), Type: "STEP", Status: "PENDING", StartTimestamp: at(11),
			StepDetails: &types.StepDetails{Attempt: 1, NextAttemptTimestamp: at(42), Error: errObj}},
		{Id: aws.String("cb"), Type: "CALLBACK", Status: "TIMED_OUT", StartTimestamp: at(13), EndTimestamp: at(14),
			CallbackDetails: &types.CallbackDetails{CallbackId: aws.String("cb-1"), Error: errObj}},
		{Id: aws.String("c"), Type: "CONTEXT", Status: "FAILED", StartTimestamp: at(15), EndTimestamp: at(16),
			ContextDetails: &types.ContextDetails{Error: errObj}},
		{Id: aws.String("t"), Type: "TELEPORT", Status: "STARTED", StartTimestamp: at(17)},
	}
	if diff := optest.Diff(want, operations(t, f)); diff != "" {
		t.Errorf("folded operations (-want +got):\n%s", diff)
	}
	if diff := optest.Diff(want, operations(t, spilled)); diff != "" {
		t.Errorf("folded operations, payloads spilled (-want +got):\n%s", diff)
	}
	// A history served newest first, or shuffled, folds the same: the order
	// is the EventIds'.
	for name, order := range map[string][]int{"reversed": {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, "shuffled": {3, 0, 15, 7, 1, 9, 12, 2, 5, 14, 4, 6, 11, 8, 13, 10}} {
		g := transform.NewFolder()
		for _, i := range order {
			g.Add(h[i : i+1])
		}
		if diff := optest.Diff(want, operations(t, g)); diff != "" {
			t.Errorf("%s history folds differently (-want +got):\n%s", name, diff)
		}
	}
	// As rows: source history, and a step's attempt is null until history
	// says it.
	snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: "arn", Source: transform.SourceHistory})
	g := transform.NewFolder()
	g.Add([]types.Event{ev(1, "StepStarted", "x", 0)})
	rows, err := g.AddTo(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Attempt != nil || rows[0].Source != "history" || snap.Finish().Source != "history" {
		t.Errorf("rows %+v", rows)
	}
}

func operations(t *testing.T, f *transform.Folder) []types.Operation {
	t.Helper()
	ops, err := f.Operations()
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestFoldSpillsPayloads: random histories (every event type, payloads
// absent, empty, odd and 256 KiB long, error objects with no members,
// empty and nil stack traces, retries replacing payloads) fold to the same
// operations and rows whether payloads stay in memory, all go to the spill
// file, some do, or the file cannot be made (they stay in memory); the spill file is gone once Each has gone through the
// folder, and after Close.
func TestFoldSpillsPayloads(t *testing.T) {
	g := optest.New(20261201)
	g.LargeEvery = 60
	dir := t.TempDir()
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	spilling := 0 // histories whose payloads went to the file with no budget
	defer func() {
		if spilling < 40 {
			t.Errorf("only %d of 60 histories spilled anything with no budget", spilling)
		}
	}()
	for h := range 60 {
		events := make([]types.Event, 20+g.R.IntN(200))
		for i := range events {
			events[i] = g.Event()
			events[i].Id = &ids[g.R.IntN(len(ids))]
		}
		inMemory := transform.NewFolder(transform.WithSpillDir(dir))
		folders := []*transform.Folder{
			transform.NewFolder(transform.WithSpillDir(dir), transform.WithPayloadBudget(0)),
			transform.NewFolder(transform.WithSpillDir(dir), transform.WithPayloadBudget(300<<10)),
			// A spill file that cannot be made: payloads stay in memory.
			transform.NewFolder(transform.WithSpillDir(filepath.Join(dir, "missing")), transform.WithPayloadBudget(0)),
		}
		inMemory.Add(events)
		want := operations(t, inMemory)
		if h == 0 && (inMemory.SpilledBytes() != 0 || folders[0].SpilledBytes() != 0) {
			t.Fatalf("spilled before folding")
		}
		for i, f := range folders {
			for p := 0; p < len(events); p += 50 {
				f.Add(events[p:min(p+50, len(events))])
			}
			if diff := optest.Diff(want, operations(t, f)); diff != "" {
				t.Fatalf("history %d, folder %d folds differently (-in memory +spilled):\n%s", h, i, diff)
			}
		}
		snap := func() *transform.Snapshot {
			return transform.NewSnapshot(transform.RowMeta{ExecutionArn: "arn", Source: transform.SourceHistory})
		}
		wantSnap := snap()
		wantRows, err := inMemory.AddTo(wantSnap, nil)
		if err != nil {
			t.Fatal(err)
		}
		if folders[0].SpilledBytes() > 0 {
			spilling++
		}
		if folders[2].SpilledBytes() != 0 {
			t.Fatalf("history %d: %d bytes spilled to a folder that does not exist", h, folders[2].SpilledBytes())
		}
		if inMemory.SpilledBytes() != 0 {
			t.Fatalf("history %d: %d bytes spilled within the default budget", h, inMemory.SpilledBytes())
		}
		gotSnap := snap()
		var gotRows []schema.Operation
		err = folders[0].Each(gotSnap, 7, func(rows []schema.Operation) error {
			gotRows = append(gotRows, rows...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(gotRows) != len(wantRows) || gotSnap.Finish().ContentHash != wantSnap.Finish().ContentHash {
			t.Fatalf("history %d: %d rows, hash %s; in memory %d rows, hash %s", h, len(gotRows), gotSnap.Finish().ContentHash, len(wantRows), wantSnap.Finish().ContentHash)
		}
		for _, f := range append(folders[1:], inMemory) {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("history %d: %d files left in the spill folder", h, len(left))
		}
	}
}

// TestFoldMemoryBounded folds the history of 2,000 steps with 64 KiB
// results (128 MiB of payloads), page by page as a run does: the heap the
// folder keeps stays near its payload budget, not the payloads' total.
func TestFoldMemoryBounded(t *testing.T) {
	text := strings.Repeat("r", 64<<10)
	heap := func() uint64 { // two collections: a sync.Pool's buffers outlive one
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	f := transform.NewFolder(transform.WithSpillDir(t.TempDir()))
	defer f.Close()
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for p := range 40 {
		page := make([]types.Event, 0, 100)
		for i := range 50 {
			id := fmt.Sprint("step-", p*50+i)
			result := strings.Clone(text) // each its own, as the SDK decodes them
			page = append(page,
				types.Event{EventId: aws.Int32(int32(len(page) + 1 + p*100)), EventType: "StepStarted", Id: &id, EventTimestamp: &at},
				types.Event{EventId: aws.Int32(int32(len(page) + 2 + p*100)), EventType: "StepSucceeded", Id: &id, EventTimestamp: &at,
					StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: &result}}})
		}
		f.Add(page)
	}
	kept := int64(heap()) - int64(before)
	t.Logf("heap kept: %d KiB", kept>>10)
	if kept > 16<<20 {
		t.Errorf("the folder keeps %d MiB of heap for 125 MiB of payloads (budget 4 MiB)", kept>>20)
	}
	if f.SpilledBytes() < 120<<20 {
		t.Errorf("%d bytes spilled", f.SpilledBytes())
	}
	ops := operations(t, f)
	if len(ops) != 2000 || *ops[1999].StepDetails.Result != text {
		t.Errorf("%d operations; the last one's result is not what it was", len(ops))
	}
}

// TestFoldOperationSize: the fold keeps each operation until the history
// ends, so its record is what a history of many operations costs: 100,000
// steps that start and succeed (results spilled: no payload budget) must
// keep under 180 bytes of heap apiece (a types.Operation with its details and
// timestamps allocated apart took 490).
func TestFoldOperationSize(t *testing.T) {
	heap := func() uint64 { // two collections: a sync.Pool's buffers outlive one
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const n = 100_000
	before := heap()
	f := transform.NewFolder(transform.WithSpillDir(t.TempDir()), transform.WithPayloadBudget(0))
	defer f.Close()
	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for p := range n / 500 {
		page := make([]types.Event, 0, 1000)
		for i := p * 1000; i < (p+1)*1000; i++ {
			id, at := fmt.Sprintf("step-%06d", i/2), base.Add(time.Duration(i)*time.Millisecond)
			ev := types.Event{EventId: aws.Int32(int32(i + 1)), Id: &id, Name: aws.String("charge-card"), EventTimestamp: &at, EventType: "StepStarted"}
			if i%2 == 1 {
				ev.EventType = "StepSucceeded"
				ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`{"ok":true}`)}}
			}
			page = append(page, ev)
		}
		f.Add(page)
	}
	perOp := (int64(heap()) - int64(before)) / n
	t.Logf("%d bytes of heap per folded operation", perOp)
	// 165 bytes: 245 with the index a map[string]int, strings and
	// payload places unpacked (a 184-byte record); 277 when the index kept
	// the event's own id string beside the record's copy, 261 when
	// successive operations did not share their name.
	if perOp > 180 {
		t.Errorf("the fold keeps %d bytes per operation, want under 180", perOp)
	}
	if ops := operations(t, f); len(ops) != n || ops[n-1].Status != "SUCCEEDED" {
		t.Errorf("%d operations folded", len(ops))
	}
}

// TestFoldEachAllocations: mapping the folded operations to rows costs
// the rows' batches, not objects per operation: each details object is
// reused, times come from chunks, strings are shared with the fold's
// table (it cost seven allocations an operation).
func TestFoldEachAllocations(t *testing.T) {
	const n = 20_000
	f := transform.NewFolder()
	defer f.Close()
	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for p := range 2 * n / 1000 {
		page := make([]types.Event, 0, 1000)
		for i := p * 1000; i < (p+1)*1000; i++ {
			id, at := fmt.Sprintf("step-%06d", i/2), base.Add(time.Duration(i)*time.Millisecond)
			ev := types.Event{EventId: aws.Int32(int32(i + 1)), Id: &id, Name: aws.String("charge-card"), SubType: aws.String("Step"), EventTimestamp: &at, EventType: "StepStarted"}
			if i%2 == 1 {
				ev.EventType = "StepSucceeded"
				ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`{"ok":true}`)},
					RetryDetails: &types.RetryDetails{CurrentAttempt: 1}}
			}
			page = append(page, ev)
		}
		f.Add(page)
	}
	snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: "arn", Source: transform.SourceHistory})
	var rows []schema.Operation
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := f.Each(snap, 1000, func(batch []schema.Operation) error { rows = append(rows, batch...); return nil })
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n || rows[n-1].Status != "SUCCEEDED" || *rows[n-1].Name != "charge-card" || rows[n-1].EndTime == nil {
		t.Fatalf("%d rows, the last %+v", len(rows), rows[len(rows)-1])
	}
	// The batches, the rows slice above growing, the time chunks: about
	// 70 allocations in all.
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 0.05 {
		t.Errorf("%.2f allocations an operation, want under 0.05", per)
	}
}

// TestFoldRetryOutcomesNotSpilled: with no payload budget, a history of
// steps that each fail, are retried and succeed spills their results only:
// a retry's error, replaced by the next attempt's outcome, is held in
// memory (up to the retry slack) rather than written to the spill file. A
// history whose 300 steps all wait for a retry at once holds 1 MiB of
// their errors and spills the rest. Both fold as they do in memory.
func TestFoldRetryOutcomesNotSpilled(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	payload := strings.Repeat("p", 10<<10)
	step := func(events []types.Event, i int, typ types.EventType) []types.Event {
		id := fmt.Sprint("step-", i)
		ev := types.Event{EventId: aws.Int32(int32(len(events) + 1)), Id: &id, EventType: typ, EventTimestamp: &at}
		switch typ {
		case types.EventTypeStepFailed:
			ev.StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: &types.ErrorObject{ErrorMessage: &payload}},
				RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)}}
		case types.EventTypeStepSucceeded:
			ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: &payload}, RetryDetails: &types.RetryDetails{CurrentAttempt: 2}}
		}
		return append(events, ev)
	}
	var retried, waiting []types.Event
	for i := range 100 {
		for _, typ := range []types.EventType{types.EventTypeStepStarted, types.EventTypeStepFailed, types.EventTypeStepStarted, types.EventTypeStepSucceeded} {
			retried = step(retried, i, typ)
		}
	}
	for i := range 300 {
		waiting = step(step(waiting, i, types.EventTypeStepStarted), i, types.EventTypeStepFailed)
	}
	for _, c := range []struct {
		name       string
		events     []types.Event
		minSpilled int
		maxSpilled int
	}{
		{"retried", retried, 100 * len(payload), 100 * len(payload)},
		{"waiting", waiting, 300*len(payload) - (1 << 20) - 3*len(payload), 300*len(payload) - (1 << 20) + 3*len(payload)},
	} {
		inMemory := transform.NewFolder(transform.WithSpillDir(dir))
		spilling := transform.NewFolder(transform.WithSpillDir(dir), transform.WithPayloadBudget(0))
		inMemory.Add(c.events)
		for p := 0; p < len(c.events); p += 100 {
			spilling.Add(c.events[p:min(p+100, len(c.events))])
		}
		if n := spilling.SpilledBytes(); n < int64(c.minSpilled) || n > int64(c.maxSpilled) {
			t.Errorf("%s: %d bytes spilled, want %d to %d", c.name, n, c.minSpilled, c.maxSpilled)
		}
		if diff := optest.Diff(operations(t, inMemory), operations(t, spilling)); diff != "" {
			t.Errorf("%s: the spilling fold folds differently (-in memory +spilled):\n%s", c.name, diff)
		}
		inMemory.Close()
		spilling.Close()
	}
}

// TestFoldsShareAPayloadBudget: Folders sharing a budget keep payloads in
// memory only while it has room, whatever their own budgets: the second
// spills what the first holds; once the first is closed, its share is
// free again; the folds are the same either way.
func TestFoldsShareAPayloadBudget(t *testing.T) {
	dir := t.TempDir()
	result := strings.Repeat("r", 10<<10)
	history := func(n int) []types.Event {
		events := make([]types.Event, n)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range events {
			id := fmt.Sprint("step-", i)
			events[i] = types.Event{EventId: aws.Int32(int32(i + 1)), Id: &id, EventType: types.EventTypeStepSucceeded, EventTimestamp: &at,
				StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: &result}}}
		}
		return events
	}
	shared := transform.NewPayloadBudget(200 << 10) // 20 results
	fold := func() *transform.Folder {
		return transform.NewFolder(transform.WithSpillDir(dir), transform.WithSharedPayloadBudget(shared))
	}
	first, second := fold(), fold()
	first.Add(history(20))
	second.Add(history(20))
	if first.SpilledBytes() != 0 || second.SpilledBytes() != 20*int64(len(result)) {
		t.Fatalf("spilled %d and %d bytes; want none, then all %d", first.SpilledBytes(), second.SpilledBytes(), 20*len(result))
	}
	inMemory := transform.NewFolder(transform.WithSpillDir(dir))
	inMemory.Add(history(20))
	if diff := optest.Diff(operations(t, inMemory), operations(t, second)); diff != "" {
		t.Fatalf("the spilling fold folds differently (-in memory +spilled):\n%s", diff)
	}
	for _, f := range []*transform.Folder{first, second, inMemory} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	third := fold()
	defer third.Close()
	third.Add(history(20))
	if third.SpilledBytes() != 0 {
		t.Fatalf("%d bytes spilled after the others closed", third.SpilledBytes())
	}
}

// TestFoldManyNames: operations that each bring their own parent, name and
// sub-type (thousands: the fold keeps them in chunks of 1,024), others in
// runs that share them, and some with none, fold to exactly those values;
// a history that came out of order, folded, then given more events, folds
// as if given them all at once (the index follows the reordering).
func TestFoldManyNames(t *testing.T) {
	const n = 5000
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	var events []types.Event
	want := make([]types.Operation, n)
	for i := range n {
		op := types.Operation{Id: str(fmt.Sprint("op-", i)), Type: "STEP", Status: "STARTED", StartTimestamp: &at, StepDetails: &types.StepDetails{}}
		switch i % 4 {
		case 0: // its own
			op.ParentId, op.Name, op.SubType = str(fmt.Sprint("parent-", i)), str(fmt.Sprint("name-", i)), str(fmt.Sprint("sub-", i))
		case 1, 2: // shared with the operation before or after
			op.ParentId, op.Name, op.SubType = str(fmt.Sprint("parent-run-", i/8)), str("step"), str("Step")
		case 3: // none, or empty
			op.Name = str("")
		}
		want[i] = op
		events = append(events, types.Event{EventId: aws.Int32(int32(i + 1)), EventType: "StepStarted", Id: op.Id, ParentId: op.ParentId, Name: op.Name, SubType: op.SubType, EventTimestamp: &at})
	}
	f := transform.NewFolder()
	defer f.Close()
	for p := 0; p < n; p += 1000 {
		f.Add(events[p : p+1000])
	}
	if diff := optest.Diff(want, operations(t, f)); diff != "" {
		t.Fatalf("folded (-want +got):\n%s", diff)
	}

	// Out of order: the second half first, then the first; then each
	// operation's success.
	done := make([]types.Event, n)
	for i := range done {
		done[i] = types.Event{EventId: aws.Int32(int32(n + i + 1)), EventType: "StepSucceeded", Id: want[i].Id, EventTimestamp: &at}
	}
	all := transform.NewFolder()
	defer all.Close()
	all.Add(events[n/2:])
	all.Add(events[:n/2])
	all.Add(done)
	parts := transform.NewFolder()
	defer parts.Close()
	parts.Add(events[n/2:])
	parts.Add(events[:n/2])
	operations(t, parts) // puts the operations in order
	parts.Add(done)
	got := operations(t, parts)
	if diff := optest.Diff(operations(t, all), got); diff != "" {
		t.Fatalf("events after the operations were put in order fold differently (-at once +in parts):\n%s", diff)
	}
	if len(got) != n || got[0].Status != "SUCCEEDED" || got[n-1].Status != "SUCCEEDED" {
		t.Fatalf("%d operations, first %s, last %s", len(got), got[0].Status, got[len(got)-1].Status)
	}
}

// TestFoldRetryDelays: what AWS's producers write around retries. A delay
// of 0 is no retry (AWS's Python testing server writes one on a step's last
// StepFailed and on StepSucceeded; a retry's delay is at least 1); a
// StepSucceeded with a delay is a wait-for-condition check not met yet
// (AWS's recorded histories), PENDING with its state as Result until the
// check that ends it.
func TestFoldRetryDelays(t *testing.T) {
	at := func(s int) *time.Time { v := time.Date(2026, 1, 5, 10, 0, s, 0, time.UTC); return &v }
	ev := func(id int32, typ, op string, s int) types.Event {
		return types.Event{EventId: aws.Int32(id), EventType: types.EventType(typ), EventTimestamp: at(s), Id: aws.String(op)}
	}
	errObj := &types.ErrorObject{ErrorType: aws.String("RuntimeError")}
	failed := func(e types.Event, attempt int32, delay *int32) types.Event {
		e.StepFailedDetails = &types.StepFailedDetails{Error: &types.EventError{Payload: errObj}, RetryDetails: &types.RetryDetails{CurrentAttempt: attempt, NextAttemptDelaySeconds: delay}}
		return e
	}
	succeeded := func(e types.Event, result string, retry *types.RetryDetails) types.Event {
		e.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(result)}, RetryDetails: retry}
		return e
	}
	for _, tc := range []struct {
		name   string
		events []types.Event
		want   types.Operation
	}{
		{"last failure with delay 0", []types.Event{ev(1, "StepStarted", "s", 0), failed(ev(2, "StepFailed", "s", 1), 1, aws.Int32(2)),
			ev(3, "StepStarted", "s", 3), failed(ev(4, "StepFailed", "s", 4), 2, aws.Int32(0))},
			types.Operation{Status: "FAILED", EndTimestamp: at(4), StepDetails: &types.StepDetails{Attempt: 2, Error: errObj}}},
		{"last failure without a delay", []types.Event{ev(1, "StepStarted", "s", 0), failed(ev(2, "StepFailed", "s", 1), 3, nil)},
			types.Operation{Status: "FAILED", EndTimestamp: at(1), StepDetails: &types.StepDetails{Attempt: 3, Error: errObj}}},
		{"retry pending", []types.Event{ev(1, "StepStarted", "s", 0), failed(ev(2, "StepFailed", "s", 1), 1, aws.Int32(2))},
			types.Operation{Status: "PENDING", StepDetails: &types.StepDetails{Attempt: 1, Error: errObj, NextAttemptTimestamp: at(3)}}},
		{"success with delay 0", []types.Event{ev(1, "StepStarted", "s", 0), succeeded(ev(2, "StepSucceeded", "s", 1), "ok", &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(0)})},
			types.Operation{Status: "SUCCEEDED", EndTimestamp: at(1), StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String("ok")}}},
		{"condition not met yet", []types.Event{ev(1, "StepStarted", "s", 0), succeeded(ev(2, "StepSucceeded", "s", 1), "1", &types.RetryDetails{NextAttemptDelaySeconds: aws.Int32(1)}),
			ev(3, "StepStarted", "s", 2), succeeded(ev(4, "StepSucceeded", "s", 3), "2", &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)})},
			types.Operation{Status: "PENDING", StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String("2"), NextAttemptTimestamp: at(8)}}},
		{"condition met", []types.Event{ev(1, "StepStarted", "s", 0), succeeded(ev(2, "StepSucceeded", "s", 1), "1", &types.RetryDetails{NextAttemptDelaySeconds: aws.Int32(1)}),
			ev(3, "StepStarted", "s", 2), succeeded(ev(4, "StepSucceeded", "s", 3), "3", &types.RetryDetails{CurrentAttempt: 2})},
			types.Operation{Status: "SUCCEEDED", EndTimestamp: at(3), StepDetails: &types.StepDetails{Attempt: 2, Result: aws.String("3")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := transform.NewFolder()
			f.Add(tc.events)
			want := tc.want
			want.Id, want.Type, want.StartTimestamp = aws.String("s"), "STEP", at(0)
			if diff := optest.Diff([]types.Operation{want}, operations(t, f)); diff != "" {
				t.Errorf("folded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFoldEitherOrder: random histories (every event type, odd shapes) whose
// events have distinct EventIds, and each operation's events one type
// (as every producer writes them), fold to the same operations whatever
// order they come in, a page at a time, oldest first or newest first
// (ReverseOrder). (In any other order, an event that comes after a newer
// one adds only what the newer ones left unsaid: see Folder.)
func TestFoldEitherOrder(t *testing.T) {
	g := optest.New(20261206)
	for h := range 300 {
		events := make([]types.Event, 1+g.R.IntN(60))
		for i := range events {
			events[i] = g.Event()
			typ, _, _ := transform.SplitEventType(string(events[i].EventType))
			id := typ + "-" + []string{"a", "b"}[g.R.IntN(2)] // an operation's events are of its type
			events[i].Id = &id
			n := int32(i + 1)
			events[i].EventId = &n
		}
		in := transform.NewFolder()
		in.Add(events)
		want := operations(t, in)
		oldest, newest := make([]int, len(events)), make([]int, len(events))
		for i := range events {
			oldest[i], newest[i] = i, len(events)-1-i
		}
		for name, order := range map[string][]int{"oldest first": oldest, "newest first": newest} {
			f := transform.NewFolder()
			for p := 0; p < len(order); p += 7 {
				page := make([]types.Event, 0, 7)
				for _, i := range order[p:min(p+7, len(order))] {
					page = append(page, events[i])
				}
				f.Add(page)
			}
			if diff := optest.Diff(want, operations(t, f)); diff != "" {
				t.Fatalf("history %d %s folds differently (-in order +%s):\n%s", h, name, name, diff)
			}
		}
	}
}
