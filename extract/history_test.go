package extract_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/transform"
)

func fixedEvents(n int) []types.Event {
	g := optest.New(uint64(n))
	out := make([]types.Event, n)
	for i := range out {
		out[i] = g.Event()
		out[i].EventId = aws.Int32(int32(i + 1))
	}
	return out
}

// TestDrainHistoryPaginationEdges: every event, in order, through the real
// SDK client and the emulator's wire form, at the page-size edges.
func TestDrainHistoryPaginationEdges(t *testing.T) {
	for _, n := range []int{0, 1, 999, 1000, 1001, 2500} {
		for _, ps := range []int32{7, 1000} {
			t.Run(fmt.Sprintf("%d events by %d", n, ps), func(t *testing.T) {
				events := fixedEvents(n)
				srv := emulator.New()
				e := emulator.Fixed(testARN, "", nil)
				e.History = emulator.FixedHistory(events)
				srv.Add(e)
				_, client := emulatortest.Start(t, srv)
				var got []types.Event
				pages := 0
				err := extract.DrainHistory(context.Background(), client, testARN, ps, func(_ context.Context, p extract.HistoryPage) error {
					pages++
					got = append(got, p.Events...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := max(1, (n+int(ps)-1)/int(ps)); pages != want {
					t.Errorf("%d pages, want %d", pages, want)
				}
				if len(got) != n {
					t.Fatalf("%d events, want %d", len(got), n)
				}
				for i := range got {
					if diff := optest.DiffEvent(events[i], got[i]); diff != "" {
						t.Fatalf("event %d differs after the wire (-want +got):\n%s", i, diff)
					}
				}
			})
		}
	}
}

func TestDrainHistoryFaults(t *testing.T) {
	events := fixedEvents(30)
	e := emulator.Fixed(testARN, "", nil)
	e.History = emulator.FixedHistory(events)
	t.Run("retried", func(t *testing.T) {
		faults := []emulator.Fault{emulator.Throttle, emulator.ServerError, emulator.Unavailable, emulator.Reset, emulator.Cut}
		srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault {
			if n%2 == 1 {
				return faults[(n/2)%int64(len(faults))]
			}
			return emulator.NoFault
		}))
		srv.Add(e)
		_, client := emulatortest.Start(t, srv, extract.WithMaxBackoff(time.Millisecond))
		got := 0
		if _, err := extract.Describe(context.Background(), client, testARN); err != nil {
			t.Fatal(err)
		}
		err := extract.DrainHistory(context.Background(), client, testARN, 10, func(_ context.Context, p extract.HistoryPage) error {
			got += len(p.Events)
			return nil
		})
		if err != nil || got != 30 {
			t.Fatalf("%d events, %v", got, err)
		}
	})
	t.Run("repeated marker", func(t *testing.T) {
		srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault { return emulator.RepeatMarker }))
		srv.Add(e)
		_, client := emulatortest.Start(t, srv)
		err := extract.DrainHistory(context.Background(), client, testARN, 10, func(context.Context, extract.HistoryPage) error { return nil })
		var ee *extract.ExecutionError
		if !errors.As(err, &ee) || ee.Code != "RepeatedMarker" {
			t.Fatalf("want RepeatedMarker, got %v", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		srv := emulator.New()
		_, client := emulatortest.Start(t, srv)
		_, err := extract.Describe(context.Background(), client, testARN+"x")
		var ee *extract.ExecutionError
		if !errors.As(err, &ee) || ee.Code != "ResourceNotFoundException" {
			t.Fatalf("want ResourceNotFoundException, got %v", err)
		}
	})
}

// TestHistoryFoldsToState: the emulator's history of a generated execution
// folds back to the state it serves, for every field history can tell.
func TestHistoryFoldsToState(t *testing.T) {
	execs := emulator.Generate(5, 30, emulator.GenerateOptions{MaxOps: 200})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	spill := t.TempDir()
	for i, e := range execs {
		// Every other history folds with no payload budget: each payload
		// goes through the spill file and must come back the same.
		f := transform.NewFolder(transform.WithSpillDir(spill))
		if i%2 == 1 {
			f = transform.NewFolder(transform.WithSpillDir(spill), transform.WithPayloadBudget(0))
		}
		ids := map[int32]bool{}
		err := extract.DrainHistory(context.Background(), client, e.ARN, 1000, func(_ context.Context, p extract.HistoryPage) error {
			for _, ev := range p.Events {
				if ids[*ev.EventId] {
					t.Errorf("%s: event id %d twice", e.ARN, *ev.EventId)
				}
				ids[*ev.EventId] = true
			}
			f.Add(p.Events)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		folded, err := f.Operations()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		byID := map[string]types.Operation{}
		for _, op := range folded {
			byID[*op.Id] = op
		}
		if len(folded) != e.Len {
			t.Fatalf("%s: %d operations folded, state has %d", e.ARN, len(folded), e.Len)
		}
		for i := range e.Len {
			want := e.Op(i)
			got, ok := byID[*want.Id]
			if !ok {
				t.Fatalf("%s: operation %s not in history", e.ARN, *want.Id)
			}
			if *got.Id != *want.Id || aws.ToString(got.ParentId) != aws.ToString(want.ParentId) || aws.ToString(got.Name) != aws.ToString(want.Name) ||
				got.Type != want.Type || !got.StartTimestamp.Equal(*want.StartTimestamp) {
				t.Errorf("%s op %d: folded %+v, state %+v", e.ARN, i, got, want)
			}
			// Statuses that history spells the same way fold exactly.
			exact := want.Status == "SUCCEEDED" || want.Status == "STARTED" ||
				(want.Status == "FAILED" && want.Type != "WAIT" && want.Type != types.OperationTypeExecution) || (want.Status == "PENDING" && want.StepDetails != nil && want.StepDetails.NextAttemptTimestamp != nil)
			if exact && want.Type != types.OperationTypeExecution && got.Status != want.Status {
				t.Errorf("%s op %d: status %s, state %s", e.ARN, i, got.Status, want.Status)
			}
			if exact && want.Status != "STARTED" && want.Status != "PENDING" && !aws.ToTime(got.EndTimestamp).Equal(aws.ToTime(want.EndTimestamp)) {
				t.Errorf("%s op %d: end %v, state %v", e.ARN, i, got.EndTimestamp, want.EndTimestamp)
			}
			if want.CallbackDetails != nil && aws.ToString(got.CallbackDetails.CallbackId) != aws.ToString(want.CallbackDetails.CallbackId) {
				t.Errorf("%s op %d: callback id differs", e.ARN, i)
			}
			// A wait-for-condition check not met yet keeps its state as Result.
			if want.StepDetails != nil && (want.Status == "SUCCEEDED" || want.Status == "PENDING") && (got.StepDetails.Attempt != want.StepDetails.Attempt || aws.ToString(got.StepDetails.Result) != aws.ToString(want.StepDetails.Result)) {
				t.Errorf("%s op %d: step %+v, state %+v", e.ARN, i, got.StepDetails, want.StepDetails)
			}
		}
	}
}

// TestDiscoverSeesChanges: a listing taken after executions start or
// change says so (the emulator keeps a function's sorted listing between
// pages, and must drop it when its executions change).
func TestDiscoverSeesChanges(t *testing.T) {
	execs := emulator.Generate(9, 60, emulator.GenerateOptions{MaxOps: 5, Days: 30})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	list := func() map[string]types.ExecutionStatus {
		got := map[string]types.ExecutionStatus{}
		if _, err := extract.Discover(context.Background(), client, "orders", extract.Filter{}, func(f extract.Found) error {
			got[f.ARN] = f.Status
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := list()
	var e emulator.Execution
	for _, x := range execs {
		if _, ok := before[x.ARN]; ok {
			e = x
			break
		}
	}
	if e.ARN == "" {
		t.Fatal("no execution of orders generated")
	}
	started := e
	started.ARN += "-new"
	changed := e
	info := *emulator.InfoOf(e)
	info.Status = "SOMETHING_NEW"
	changed.Info = &info
	srv.Add(started, changed)
	after := list()
	if len(after) != len(before)+1 || after[started.ARN] == "" || after[e.ARN] != "SOMETHING_NEW" {
		t.Errorf("after the change: %d listed (before %d), the new one %q, the changed one %q", len(after), len(before), after[started.ARN], after[e.ARN])
	}
}

// TestDiscoverEveryVersion: whichever reading of the unqualified listing
// the service follows, discovery finds every execution of every version and
// alias, each once, and honours the filters.
func TestDiscoverEveryVersion(t *testing.T) {
	execs := emulator.Generate(9, 120, emulator.GenerateOptions{MaxOps: 5, Days: 30})
	for _, listing := range []emulator.Listing{emulator.ListAllVersions, emulator.ListLatestOnly} {
		t.Run(fmt.Sprint("listing ", listing), func(t *testing.T) {
			srv := emulator.New(emulator.WithListing(listing), emulator.WithAliases(emulator.DemoAliases))
			srv.Add(execs...)
			_, client := emulatortest.Start(t, srv)
			for _, fn := range emulator.FunctionNames {
				var want []string
				for _, e := range execs {
					if _, rest, _ := cutFunction(e.ARN); rest == fn {
						want = append(want, e.ARN)
					}
				}
				var got []string
				st, err := extract.Discover(context.Background(), client, fn, extract.Filter{}, func(f extract.Found) error {
					got = append(got, f.ARN)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				sort.Strings(got)
				sort.Strings(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: found %d executions, want %d (qualifiers %q)", fn, len(got), len(want), st.Qualifiers)
				}
				if listing == emulator.ListLatestOnly && len(st.Qualifiers) < 3 {
					t.Errorf("%s: only %q listed under the $LATEST-only reading", fn, st.Qualifiers)
				}
			}
			// The same through an ARN, and a qualified name lists that version only.
			fnARN := "arn:aws:lambda:us-east-1:123456789012:function:orders"
			n := 0
			if _, err := extract.Discover(context.Background(), client, fnARN, extract.Filter{}, func(extract.Found) error { n++; return nil }); err != nil || n == 0 {
				t.Errorf("by ARN: %d, %v", n, err)
			}
			_, err := extract.Discover(context.Background(), client, "orders:7", extract.Filter{}, func(f extract.Found) error {
				if _, _, q := cutFunction(f.ARN); q != "7" {
					t.Errorf("orders:7 listed %s", f.ARN)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The filters hold also where the service ignores them (AWS's Python
	// testing server reads StatusFilter, not Statuses): the same executions
	// are found.
	found := map[bool]int{}
	for _, ignored := range []bool{false, true} {
		t.Run(fmt.Sprint("filters, ignored by the service ", ignored), func(t *testing.T) {
			srv := emulator.New(when(ignored, emulator.WithIgnoredListingFilters())...)
			srv.Add(execs...)
			_, client := emulatortest.Start(t, srv)
			found[ignored] = discoverFiltered(t, client)
		})
	}
	if found[true] != found[false] {
		t.Errorf("%d found where the service ignores the filters, %d where it applies them", found[true], found[false])
	}
	t.Run("a qualifier the service refuses is passed over", func(t *testing.T) {
		srv := emulator.New(emulator.WithListing(emulator.ListLatestOnly), emulator.WithRejectedQualifier("$LATEST.PUBLISHED"))
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv)
		n := 0
		st, err := extract.Discover(context.Background(), client, "orders", extract.Filter{}, func(extract.Found) error { n++; return nil })
		if err != nil || n == 0 || len(st.Refused) != 1 || st.Refused[0] != "$LATEST.PUBLISHED" {
			t.Fatalf("%d found, refused %q, %v", n, st.Refused, err)
		}
	})
	t.Run("a qualifier whose listing keeps failing is passed over, and said", func(t *testing.T) {
		srv := emulator.New(emulator.WithListing(emulator.ListLatestOnly), emulator.WithBrokenQualifier("7"))
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(1))
		n, missed := 0, 0
		for _, e := range execs {
			if fn, rest, q := cutFunction(e.ARN); fn != "" && rest == "orders" && q == "7" {
				missed++
			}
		}
		st, err := extract.Discover(context.Background(), client, "orders", extract.Filter{}, func(extract.Found) error { n++; return nil })
		if err != nil || n == 0 || missed == 0 || !strings.Contains(st.Unlisted, "ServiceException") {
			t.Fatalf("%d found (%d of version 7 missed), unlisted %q, %v", n, missed, st.Unlisted, err)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		srv := emulator.New(emulator.WithAliases(emulator.DemoAliases))
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv)
		// A name, version or alias the service does not know, and a
		// function of another region (the client's, us-east-1, is where
		// the executions are), are a 404, as for any Lambda function:
		// "not found", not zero executions.
		for _, fn := range []string{"nope", "orders:nosuchalias", "orders:99", "arn:aws:lambda:us-east-1:123456789012:function:orders:nosuchalias",
			"arn:aws:lambda:us-west-2:123456789012:function:orders", "arn:aws:lambda:us-west-2:123456789012:function:orders:7"} {
			_, err := extract.Discover(context.Background(), client, fn, extract.Filter{}, func(extract.Found) error { return nil })
			var nf *extract.FunctionNotFoundError
			if !errors.As(err, &nf) {
				t.Errorf("%s: want FunctionNotFoundError, got %v", fn, err)
			}
		}
		for _, fn := range []string{"orders:live", "orders:$LATEST", "orders:$LATEST.PUBLISHED", "orders:12"} {
			if _, err := extract.Discover(context.Background(), client, fn, extract.Filter{}, func(extract.Found) error { return nil }); err != nil {
				t.Errorf("%s: %v", fn, err)
			}
		}
	})
	t.Run("throttled listing is retried", func(t *testing.T) {
		srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault {
			if n%2 == 1 {
				return emulator.Throttle
			}
			return emulator.NoFault
		}), emulator.WithListing(emulator.ListLatestOnly))
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv, extract.WithMaxBackoff(time.Millisecond))
		n := 0
		if _, err := extract.Discover(context.Background(), client, "orders", extract.Filter{}, func(extract.Found) error { n++; return nil }); err != nil || n == 0 {
			t.Fatalf("%d found, %v", n, err)
		}
	})
}

// cutFunction splits a durable execution ARN into account, function name
// and qualifier.
func cutFunction(arn string) (account, fn, qualifier string) {
	a, _ := extract.ParseARN(arn)
	return a.AccountID, a.FunctionName, a.FunctionQualifier
}

// TestNewestEventID: the probe names the newest event under either
// reading of ReverseOrder: where it lists the oldest first, the first
// answer teaches it to ask without it, and with the run's order shared,
// the later probes cost one call each.
func TestNewestEventID(t *testing.T) {
	execs := emulator.Generate(37, 8, emulator.GenerateOptions{MaxOps: 30})
	for _, oldestFirst := range []bool{false, true} {
		srv := emulator.New(when(oldestFirst, emulator.WithReverseOldestFirst())...)
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv)
		var order extract.HistoryOrder
		for i, e := range execs {
			before := srv.Stats().Requests
			id, known, err := extract.NewestEventID(context.Background(), client, e.ARN, extract.WithHistoryOrder(&order))
			if err != nil {
				t.Fatal(err)
			}
			if !known || int(id) != e.History.Len() {
				t.Errorf("oldest first %v: %s: id %d known %v, want %d", oldestFirst, e.ARN, id, known, e.History.Len())
			}
			if calls := srv.Stats().Requests - before; calls != 1 && (i > 0 || !oldestFirst) {
				t.Errorf("oldest first %v: probe %d cost %d calls", oldestFirst, i, calls)
			}
		}
	}
	// A service that ignores ReverseOrder cannot name the newest event in
	// one call: the first probe finds that out in two calls, the later ones
	// make none, and the run's drains still read oldest first.
	srv := emulator.New(emulator.WithIgnoredReverseOrder())
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	var order extract.HistoryOrder
	for i, e := range execs {
		before := srv.Stats().Requests
		if _, known, err := extract.NewestEventID(context.Background(), client, e.ARN, extract.WithHistoryOrder(&order)); err != nil || known {
			t.Fatalf("ReverseOrder ignored: probe %d: known %v, %v", i, known, err)
		}
		if calls, want := srv.Stats().Requests-before, map[bool]int64{true: 2, false: 0}[i == 0]; calls != want {
			t.Errorf("ReverseOrder ignored: probe %d cost %d calls, want %d", i, calls, want)
		}
		var first *int32
		err := extract.DrainHistory(context.Background(), client, e.ARN, 1000, func(_ context.Context, p extract.HistoryPage) error {
			if first == nil && len(p.Events) > 0 {
				first = p.Events[0].EventId
			}
			return nil
		}, extract.WithHistoryOrder(&order))
		if err != nil || first == nil || *first != 1 {
			t.Fatalf("ReverseOrder ignored: drain %d starts at event %v (%v), want 1", i, first, err)
		}
	}
}

// TestDrainHistoryOrderWithoutIDs: histories whose events carry no EventId
// are read oldest first under both readings of ReverseOrder, told by where
// ExecutionStarted is, or else by the way the timestamps move; a first
// page whose timestamps go both ways and holds no ExecutionStarted tells
// nothing, and is read in the default order.
func TestDrainHistoryOrderWithoutIDs(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	history := func(started bool, at func(i int) time.Time) []types.Event {
		events := fixedEvents(25)
		for i := range events {
			events[i].EventId = nil
			events[i].EventTimestamp = aws.Time(at(i))
			if events[i].EventType == types.EventTypeExecutionStarted {
				events[i].EventType = types.EventTypeStepStarted
			}
			events[i].Name = aws.String(fmt.Sprint("event ", i))
		}
		if started {
			events[0].EventType = types.EventTypeExecutionStarted
		}
		return events
	}
	cases := []struct {
		name       string
		events     []types.Event
		pageSize   int32
		tellsOrder bool
	}{
		// Listed newest first, the first pages (the newest ten, the next
		// ten) hold neither ExecutionStarted nor timestamps that move; the
		// last ends with ExecutionStarted: the pages held are dropped and
		// the history read again.
		{"ExecutionStarted first, one timestamp, pages", history(true, func(int) time.Time { return t0 }), 10, true},
		{"ExecutionStarted first, one page", history(true, func(int) time.Time { return t0 }), 100, true},
		{"timestamps only", history(false, func(i int) time.Time { return t0.Add(time.Duration(i/3) * time.Second) }), 10, true},
		{"timestamps both ways", history(false, func(i int) time.Time { return t0.Add(time.Duration(i%2) * time.Second) }), 10, false},
		// Pages of one event with no id tell nothing: past maxHeldPages
		// of them the drain gives up waiting and reads as listed.
		{"timestamps both ways, pages of one event", history(false, func(i int) time.Time { return t0.Add(time.Duration(i%2) * time.Second) }), 1, false},
	}
	for _, c := range cases {
		for _, newestFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, newest first by default %v", c.name, newestFirst), func(t *testing.T) {
				srv := emulator.New(when(newestFirst, emulator.WithReverseOldestFirst())...)
				e := emulator.Fixed(testARN, "", nil)
				e.History = emulator.FixedHistory(c.events)
				srv.Add(e)
				_, client := emulatortest.Start(t, srv)
				var got []types.Event
				err := extract.DrainHistory(context.Background(), client, testARN, c.pageSize, func(_ context.Context, p extract.HistoryPage) error {
					got = append(got, p.Events...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(c.events) {
					t.Fatalf("%d events, want %d", len(got), len(c.events))
				}
				oldestFirst := *got[0].Name == "event 0"
				if want := c.tellsOrder || !newestFirst; oldestFirst != want {
					t.Errorf("read oldest first: %v, want %v", oldestFirst, want)
				}
			})
		}
	}
}

// TestDrainHistoryOrderFromPagesOfOneEvent: a service that sends a page
// of one event (as one that caps a page's bytes may, for large payloads)
// and lists the newest first by default is still read oldest first: the
// second page's EventId against the first's tells, and neither reached
// fn.
func TestDrainHistoryOrderFromPagesOfOneEvent(t *testing.T) {
	events := fixedEvents(25)
	for _, newestFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("newest first by default ", newestFirst), func(t *testing.T) {
			srv := emulator.New(when(newestFirst, emulator.WithReverseOldestFirst())...)
			e := emulator.Fixed(testARN, "", nil)
			e.History = emulator.FixedHistory(events)
			srv.Add(e)
			_, client := emulatortest.Start(t, srv)
			var got []int32
			err := extract.DrainHistory(context.Background(), client, testARN, 1, func(_ context.Context, p extract.HistoryPage) error {
				for _, ev := range p.Events {
					got = append(got, *ev.EventId)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(events) {
				t.Fatalf("%d events, want %d", len(got), len(events))
			}
			for i, id := range got {
				if id != int32(i+1) {
					t.Fatalf("event %d has id %d: not oldest first (%v)", i, id, got)
				}
			}
			want := int64(len(events))
			if newestFirst {
				want += 2 // the two pages that told, read again
			}
			if n := srv.Stats().PagesOK; n != want {
				t.Errorf("%d pages read, want %d", n, want)
			}
		})
	}
}

// TestDrainHistoryOldestFirst: under either reading of ReverseOrder the
// events come oldest first; where the service lists the newest first by
// default, a drain that shares what the run learnt reads no page twice,
// and one on its own reads the first page twice.
func TestDrainHistoryOldestFirst(t *testing.T) {
	events := fixedEvents(25)
	for _, newestFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("newest first by default ", newestFirst), func(t *testing.T) {
			srv := emulator.New(when(newestFirst, emulator.WithReverseOldestFirst())...)
			for k := range 3 {
				e := emulator.Fixed(fmt.Sprint(testARN, k), "", nil)
				e.History = emulator.FixedHistory(events)
				srv.Add(e)
			}
			_, client := emulatortest.Start(t, srv)
			var order extract.HistoryOrder
			drain := func(arn string, opts ...extract.HistoryOption) int64 {
				t.Helper()
				before := srv.Stats().PagesOK
				var got []types.Event
				err := extract.DrainHistory(context.Background(), client, arn, 10, func(_ context.Context, p extract.HistoryPage) error {
					got = append(got, p.Events...)
					return nil
				}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(events) {
					t.Fatalf("%d events, want %d", len(got), len(events))
				}
				for i := range got {
					if *got[i].EventId != int32(i+1) {
						t.Fatalf("event %d has id %d: not oldest first", i, *got[i].EventId)
					}
				}
				return srv.Stats().PagesOK - before
			}
			extra := int64(0)
			if newestFirst {
				extra = 1
			}
			if n := drain(testARN+"0", extract.WithHistoryOrder(&order)); n != 3+extra {
				t.Errorf("first drain: %d pages, want %d", n, 3+extra)
			}
			if n := drain(testARN+"1", extract.WithHistoryOrder(&order)); n != 3 {
				t.Errorf("drain after the run learnt the order: %d pages, want 3", n)
			}
			if n := drain(testARN + "2"); n != 3+extra {
				t.Errorf("drain on its own: %d pages, want %d", n, 3+extra)
			}
		})
	}
}

// discoverFiltered discovers every function's executions started from
// 2026-01-10 to 2026-01-20 that are RUNNING or FAILED, checks each is, and
// returns how many.
func discoverFiltered(t *testing.T, client extract.DiscoverAPI) int {
	t.Helper()
	after, before := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	f := extract.Filter{StartedAfter: &after, StartedBefore: &before, Statuses: []types.ExecutionStatus{"RUNNING", "FAILED"}}
	n := 0
	for _, fn := range emulator.FunctionNames {
		_, err := extract.Discover(context.Background(), client, fn, f, func(x extract.Found) error {
			n++
			if x.Start.Before(after) || x.Start.After(before) || (x.Status != "RUNNING" && x.Status != "FAILED") {
				t.Errorf("%s (%s, %v) is outside the filter", x.ARN, x.Status, x.Start)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Error("the filter found nothing: the test data does not exercise it")
	}
	return n
}

// when is opt if cond holds, else no option.
func when(cond bool, opt emulator.Option) []emulator.Option {
	if cond {
		return []emulator.Option{opt}
	}
	return nil
}

// TestDrainHistoryNewestFirstAlways: a service that lists the newest event
// first whatever ReverseOrder says is still read oldest first, at every
// page size: the first drain finds the newest first both ways (its first
// page or two, read twice), then pages through the history for its
// markers and reads the pages again from the last; a drain that shares
// what the run learnt reads each page twice and nothing more; the newest
// event costs one call.
func TestDrainHistoryNewestFirstAlways(t *testing.T) {
	events := fixedEvents(25)
	for _, pageSize := range []int32{1, 7, 10, 25, 1000} {
		t.Run(fmt.Sprint("pages of ", pageSize), func(t *testing.T) {
			srv := emulator.New(emulator.WithNewestFirstAlways())
			for k := range 2 {
				e := emulator.Fixed(fmt.Sprint(testARN, k), "", nil)
				e.History = emulator.FixedHistory(events)
				srv.Add(e)
			}
			_, client := emulatortest.Start(t, srv)
			pages := int64((len(events) + int(pageSize) - 1) / int(pageSize))
			var order extract.HistoryOrder
			for k, learning := range []int64{2, 0} {
				if pageSize == 1 {
					learning *= 2 // one event tells nothing: the second page's id does
				}
				before := srv.Stats().PagesOK
				var got []int32
				err := extract.DrainHistory(context.Background(), client, fmt.Sprint(testARN, k), pageSize, func(_ context.Context, p extract.HistoryPage) error {
					for _, ev := range p.Events {
						got = append(got, *ev.EventId)
					}
					return nil
				}, extract.WithHistoryOrder(&order))
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(events) {
					t.Fatalf("drain %d: %d events, want %d", k, len(got), len(events))
				}
				for i, id := range got {
					if id != int32(i+1) {
						t.Fatalf("drain %d: event %d has id %d: not oldest first (%v)", k, i, id, got)
					}
				}
				if n, want := srv.Stats().PagesOK-before, 2*pages+learning; n != want {
					t.Errorf("drain %d: %d pages read, want %d", k, n, want)
				}
			}
			before := srv.Stats().Requests
			id, known, err := extract.NewestEventID(context.Background(), client, testARN+"0", extract.WithHistoryOrder(&order))
			if err != nil || !known || int(id) != len(events) || srv.Stats().Requests-before != 1 {
				t.Errorf("newest event: %d, known %v (%v), in %d calls; want %d in one", id, known, err, srv.Stats().Requests-before, len(events))
			}
		})
	}
}

// TestDrainHistoryNewestFirstAlwaysChanged: a history read backwards that
// grows between the pass that lists it and the pass that reads it (the
// emulator's markers count events, so every page moves) fails the
// execution with HistoryChanged before any event reaches fn, rather than
// handing on events out of order or twice.
func TestDrainHistoryNewestFirstAlwaysChanged(t *testing.T) {
	events := fixedEvents(25)
	srv := emulator.New(emulator.WithNewestFirstAlways())
	e := emulator.Fixed(testARN, "", nil)
	e.History = emulator.FixedHistory(events)
	srv.Add(e)
	_, client := emulatortest.Start(t, srv)
	var order extract.HistoryOrder
	// Learn the order on a history of its own first.
	other := emulator.Fixed(testARN+"x", "", nil)
	other.History = emulator.FixedHistory(events)
	srv.Add(other)
	if err := extract.DrainHistory(context.Background(), client, testARN+"x", 10, func(context.Context, extract.HistoryPage) error { return nil }, extract.WithHistoryOrder(&order)); err != nil {
		t.Fatal(err)
	}
	// Three calls list the history; the fourth asks for its last page
	// again, and the history has grown by then.
	api := &growingHistory{HistoryAPI: client, at: 4, grow: func() {
		grown := e
		grown.History = emulator.FixedHistory(fixedEvents(30))
		srv.Add(grown)
	}}
	var got int
	err := extract.DrainHistory(context.Background(), api, testARN, 10, func(_ context.Context, p extract.HistoryPage) error {
		got += len(p.Events)
		return nil
	}, extract.WithHistoryOrder(&order))
	var ee *extract.ExecutionError
	if !errors.As(err, &ee) || ee.Code != "HistoryChanged" {
		t.Fatalf("err %v, want HistoryChanged", err)
	}
	if got != 0 {
		t.Errorf("%d events handed on before the change was found", got)
	}
	if api.calls != 4 {
		t.Errorf("%d calls, want 4 (three pages listed, the last asked for again)", api.calls)
	}
}

// growingHistory calls grow before its at'th GetDurableExecutionHistory.
// TestNewestEventIDEmptyMarker: a history of no event or one, whose only
// page ends with an empty NextMarker rather than none (which the SDK's
// paginators read as the end), names its newest event in one call.
func TestNewestEventIDEmptyMarker(t *testing.T) {
	srv := emulator.New()
	for n := range 3 {
		e := emulator.Fixed(fmt.Sprint(testARN, n), "", nil)
		e.History = emulator.FixedHistory(fixedEvents(n))
		srv.Add(e)
	}
	_, client := emulatortest.Start(t, srv)
	api := emptyMarker{client}
	var order extract.HistoryOrder
	for n := range 3 {
		before := srv.Stats().Requests
		id, known, err := extract.NewestEventID(context.Background(), api, fmt.Sprint(testARN, n), extract.WithHistoryOrder(&order))
		if err != nil || !known || int(id) != n || srv.Stats().Requests-before != 1 {
			t.Errorf("%d events: newest %d, known %v (%v), in %d calls", n, id, known, err, srv.Stats().Requests-before)
		}
	}
}

// TestNewestEventIDShortPages: a service whose pages hold fewer events
// than asked for (one at a time, as one that pages by size may; or an
// empty page before the first, as one that filters after paging may)
// still names the newest event, under either reading of ReverseOrder,
// by following its markers, and the drains read every event oldest
// first; one whose pages stay empty leaves it unknown after three calls,
// not a failure.
func TestNewestEventIDShortPages(t *testing.T) {
	readings := map[string][]emulator.Option{
		"newest first by ReverseOrder": nil,
		"oldest first by ReverseOrder": {emulator.WithReverseOldestFirst()},
	}
	pagings := map[string]func(extract.HistoryAPI) extract.HistoryAPI{
		"one event a page":          func(a extract.HistoryAPI) extract.HistoryAPI { return onePerPage{a} },
		"an empty page first":       func(a extract.HistoryAPI) extract.HistoryAPI { return emptyFirst{HistoryAPI: a} },
		"an empty page before each": func(a extract.HistoryAPI) extract.HistoryAPI { return emptyFirst{emptyFirstEach: true, HistoryAPI: a} },
	}
	for reading, opts := range readings {
		for paging, wrap := range pagings {
			for _, n := range []int{0, 1, 2, 25} {
				t.Run(fmt.Sprintf("%s, %s, %d events", reading, paging, n), func(t *testing.T) {
					srv := emulator.New(opts...)
					e := emulator.Fixed(testARN, "", nil)
					e.History = emulator.FixedHistory(fixedEvents(n))
					srv.Add(e)
					_, client := emulatortest.Start(t, srv)
					api := wrap(client)
					var order extract.HistoryOrder
					for probe := range 2 { // the second knows the order the first learnt
						id, known, err := extract.NewestEventID(context.Background(), api, testARN, extract.WithHistoryOrder(&order))
						if err != nil || !known || int(id) != n {
							t.Fatalf("probe %d: newest %d, known %v (%v); want %d", probe, id, known, err, n)
						}
					}
					var got []int32
					err := extract.DrainHistory(context.Background(), api, testARN, 10, func(_ context.Context, p extract.HistoryPage) error {
						for _, ev := range p.Events {
							got = append(got, *ev.EventId)
						}
						return nil
					}, extract.WithHistoryOrder(&order))
					if err != nil || len(got) != n || n > 0 && (got[0] != 1 || got[n-1] != int32(n)) {
						t.Fatalf("drained %v (%v), want 1..%d", got, err, n)
					}
				})
			}
		}
	}
	t.Run("pages that stay empty", func(t *testing.T) {
		srv := emulator.New()
		e := emulator.Fixed(testARN, "", nil)
		e.History = emulator.FixedHistory(fixedEvents(5))
		srv.Add(e)
		_, client := emulatortest.Start(t, srv)
		api := &alwaysEmpty{HistoryAPI: client}
		id, known, err := extract.NewestEventID(context.Background(), api, testARN)
		if err != nil || known || api.calls != 3 {
			t.Errorf("newest %d, known %v (%v) in %d calls; want unknown in 3", id, known, err, api.calls)
		}
	})
}

// onePerPage answers every history call with one event at most, whatever
// MaxItems asks for.
type onePerPage struct{ extract.HistoryAPI }

func (o onePerPage) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	c := *in
	c.MaxItems = 1
	return o.HistoryAPI.GetDurableExecutionHistory(ctx, &c, opts...)
}

// emptyFirst answers a listing's first call with no event and a marker
// that leads to the page asked for (with emptyFirstEach, every page's).
type emptyFirst struct {
	extract.HistoryAPI
	emptyFirstEach bool
}

func (e emptyFirst) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	m := aws.ToString(in.Marker)
	if inner, ok := strings.CutPrefix(m, "empty:"); ok {
		c := *in
		c.Marker = aws.String(inner)
		if inner == "" {
			c.Marker = nil
		}
		out, err := e.HistoryAPI.GetDurableExecutionHistory(ctx, &c, opts...)
		if err == nil && e.emptyFirstEach && aws.ToString(out.NextMarker) != "" {
			out.NextMarker = aws.String("empty:" + *out.NextMarker)
		}
		return out, err
	}
	if m != "" { // a marker of the service's own
		return e.HistoryAPI.GetDurableExecutionHistory(ctx, in, opts...)
	}
	return &lambda.GetDurableExecutionHistoryOutput{NextMarker: aws.String("empty:")}, nil
}

// alwaysEmpty answers every history call with no event and a new marker.
type alwaysEmpty struct {
	extract.HistoryAPI
	calls int
}

func (a *alwaysEmpty) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	a.calls++
	return &lambda.GetDurableExecutionHistoryOutput{NextMarker: aws.String(fmt.Sprint("m", a.calls))}, nil
}

// emptyMarker answers a history's last page with NextMarker "".
type emptyMarker struct{ extract.HistoryAPI }

func (e emptyMarker) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	out, err := e.HistoryAPI.GetDurableExecutionHistory(ctx, in, opts...)
	if err == nil && out.NextMarker == nil {
		out.NextMarker = aws.String("")
	}
	return out, err
}

type growingHistory struct {
	extract.HistoryAPI
	at, calls int
	grow      func()
}

func (g *growingHistory) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	if g.calls++; g.calls == g.at {
		g.grow()
	}
	return g.HistoryAPI.GetDurableExecutionHistory(ctx, in, opts...)
}

// TestDrainHistoryOrderOddFirstID: a history whose first event's id is far
// above the ids that follow (a shape the SDK allows) is read oldest first
// under every order a service may list it in: the ids of a page tell the
// order by the way most of them move, not by the first two alone (which
// here say newest first for a history listed oldest first).
func TestDrainHistoryOrderOddFirstID(t *testing.T) {
	events := fixedEvents(25)
	events[0].EventId = aws.Int32(1 << 30)
	readings := map[string][]emulator.Option{
		"oldest first by default": nil,
		"newest first by default": {emulator.WithReverseOldestFirst()},
		"ReverseOrder ignored":    {emulator.WithIgnoredReverseOrder()},
		"newest first always":     {emulator.WithNewestFirstAlways()},
	}
	for name, opts := range readings {
		for _, pageSize := range []int32{10, 1000} {
			t.Run(fmt.Sprintf("%s, pages of %d", name, pageSize), func(t *testing.T) {
				srv := emulator.New(opts...)
				e := emulator.Fixed(testARN, "", nil)
				e.History = emulator.FixedHistory(events)
				srv.Add(e)
				_, client := emulatortest.Start(t, srv)
				var got []int32
				err := extract.DrainHistory(context.Background(), client, testARN, pageSize, func(_ context.Context, p extract.HistoryPage) error {
					for _, ev := range p.Events {
						got = append(got, *ev.EventId)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for i := range events {
					if i >= len(got) || got[i] != *events[i].EventId {
						t.Fatalf("not oldest first: %v", got)
					}
				}
			})
		}
	}
}
