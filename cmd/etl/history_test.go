package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
	"github.com/durable-etl/durable-etl/verify"
)

func functionArgs() []string {
	var out []string
	for _, fn := range emulator.FunctionNames {
		out = append(out, "--function", fn)
	}
	return out
}

// readEvents reads every events row under dir, by execution and event id.
func readEvents(t *testing.T, dir string) map[string]map[int32]schema.Event {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	out := map[string]map[int32]schema.Event{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Event](f)
		if err != nil {
			t.Fatal(err)
		}
		order := optest.RowOrder{T: t, File: f}
		for _, r := range rows {
			order.Row(r.ExecutionArn, r.RunID, r.ExtractedAt, int64(r.EventID))
			if out[r.ExecutionArn] == nil {
				out[r.ExecutionArn] = map[int32]schema.Event{}
			}
			if _, dup := out[r.ExecutionArn][r.EventID]; dup {
				t.Errorf("%s event %d archived twice", r.ExecutionArn, r.EventID)
			}
			out[r.ExecutionArn][r.EventID] = r
		}
	}
	return out
}

// readOperationRows reads every operations row under dir, by execution
// and operation id (each once).
func readOperationRows(t *testing.T, dir string) map[string]schema.Operation {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	out := map[string]schema.Operation{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Operation](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			k := r.ExecutionArn + " " + r.OperationID
			if _, dup := out[k]; dup {
				t.Errorf("%s archived twice", k)
			}
			out[k] = r
		}
	}
	return out
}

// sameOperations fails unless got holds want's operations rows, equal but
// for the run that wrote them.
func sameOperations(t *testing.T, want, got map[string]schema.Operation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d operations archived, want %d", len(got), len(want))
	}
	skip := make([]bool, len(schema.Operations.Columns))
	skip[schema.Operations.Column("run_id")], skip[schema.Operations.Column("extracted_at")] = true, true
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("%s not archived", k)
		}
		if i := schema.DiffRow(schema.Operations, &w, &g, skip); i >= 0 {
			t.Fatalf("%s: column %s differs", k, schema.Operations.Columns[i].Name)
		}
	}
}

// TestRunByFunction: with no manifest and no token, --function discovers
// every execution of every version and alias (under both readings of the
// unqualified listing) and archives GetDurableExecution, every event and
// the folded operations; the events read back equal to what was served; a
// rerun writes no event twice.
func TestRunByFunction(t *testing.T) {
	execs := emulator.Generate(33, 40, emulator.GenerateOptions{MaxOps: 150, Days: 20})
	for _, listing := range []emulator.Listing{emulator.ListAllVersions, emulator.ListLatestOnly} {
		t.Run(fmt.Sprint("listing ", listing), func(t *testing.T) {
			srv := emulator.New(emulator.WithListing(listing), emulator.WithAliases(emulator.DemoAliases))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
			args := append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report, "--page-size", "100"}, functionArgs()...)
			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			s := readReport(t, report)
			if s.ExecutionsOK != len(execs) || s.APICallsByOperation["GetDurableExecutionState"] != 0 || s.APICallsByOperation["GetDurableExecution"] != int64(len(execs)) {
				t.Fatalf("report %+v", s)
			}
			events := readEvents(t, dir)
			rows := executionsIn(t, dir)
			var total int64
			for _, e := range execs {
				n := e.History.Len()
				total += int64(n)
				got := events[e.ARN]
				if len(got) != n {
					t.Fatalf("%s: %d events archived, %d served", e.ARN, len(got), n)
				}
				for i := range n {
					want := e.History.Event(i)
					row := got[*want.EventId]
					if diff := optest.DiffEventRow(want, &row); diff != "" {
						t.Fatalf("%s event %d (-served +archived):\n%s", e.ARN, i, diff)
					}
				}
				if rows[e.ARN] == "" {
					t.Errorf("%s: no executions row", e.ARN)
				}
			}
			if s.Events != total || s.EventsNew != total {
				t.Errorf("report: %d events, %d new; served %d", s.Events, s.EventsNew, total)
			}
			// A rerun with nothing new: terminal executions cost nothing, the
			// running ones one small history call each, and no event lands twice.
			if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
				t.Fatalf("rerun: exit %d", r.code)
			}
			s = readReport(t, report)
			if s.EventsNew != 0 || s.SkippedTerminal == 0 || s.SkippedUnchanged != len(execs)-s.SkippedTerminal || s.ExecutionsOK != 0 ||
				s.APICallsByOperation["GetDurableExecution"] != 0 || s.APICallsByOperation["GetDurableExecutionHistory"] != int64(s.SkippedUnchanged) {
				t.Errorf("rerun: %d new events, %d terminal and %d unchanged skipped, %d archived, calls %v",
					s.EventsNew, s.SkippedTerminal, s.SkippedUnchanged, s.ExecutionsOK, s.APICallsByOperation)
			}
			// --force reads every execution again, still no event twice:
			// those with values in columns added since the first
			// contract, which an older archive lacks (the pause events:
			// see TestColumnsArchivedBeforeKept), are handed to the
			// destination again, which holds them as they are and
			// leaves them out (events_new: none written).
			since := 0
			for _, evs := range readEvents(t, dir) { // fails on a duplicate
				for _, ev := range evs {
					if schema.HasSinceValue(schema.Events, &ev) {
						since++
					}
				}
			}
			if r := runCLI(t, append(args, "--run-id", "forced", "--force")...); r.code != 0 {
				t.Fatalf("forced rerun: exit %d", r.code)
			}
			if s = readReport(t, report); s.ExecutionsOK != len(execs) || s.SkippedUnchanged != 0 || s.EventsNew != 0 {
				t.Errorf("forced rerun: %d archived, %d unchanged skipped, %d new events (want 0)", s.ExecutionsOK, s.SkippedUnchanged, s.EventsNew)
			}
			if since == 0 {
				t.Error("no event has a value in a column added since: the forced rerun proves nothing")
			}
			readEvents(t, dir) // fails on a duplicate
		})
	}
}

// TestRerunProgressed: a running execution whose history grew since the
// last run is read again and only its new events land, the others cost
// one small call each; the same under the other reading of ReverseOrder
// (it lists the oldest first: the rerun learns it from the first answer
// and asks the other way), and from a service that lists the newest first
// whatever ReverseOrder says (read backwards), whose first run archives
// the same operations as the others. From a service that ignores
// ReverseOrder (oldest first always: no small call can name the newest
// event), the rerun reads each running history whole and still leaves
// the unchanged ones as archived, writing no row of them again.
func TestRerunProgressed(t *testing.T) {
	execs := emulator.Generate(36, 30, emulator.GenerateOptions{MaxOps: 40})
	var reference map[string]schema.Operation // the first mode's first run
	for _, order := range []string{"default", "oldest first", "newest first always", "ReverseOrder ignored"} {
		t.Run(order, func(t *testing.T) {
			var opts []emulator.Option
			switch order {
			case "oldest first":
				opts = append(opts, emulator.WithReverseOldestFirst())
			case "newest first always":
				opts = append(opts, emulator.WithNewestFirstAlways())
			case "ReverseOrder ignored":
				opts = append(opts, emulator.WithIgnoredReverseOrder())
			}
			srv, _, dir, report, args := byFunction(t, execs, opts...)
			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			ops := readOperationRows(t, dir)
			if reference == nil {
				reference = ops
			} else {
				sameOperations(t, reference, ops)
			}
			grown, evs := growRunning(t, srv, execs)
			if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
				t.Fatalf("rerun: exit %d", r.code)
			}
			s := readReport(t, report)
			running := len(execs) - s.SkippedTerminal
			wantOK, wantUnchanged := 1, running-1
			if s.EventsNew != 2 || s.ExecutionsOK != wantOK || s.SkippedUnchanged != wantUnchanged {
				t.Errorf("rerun: %d new events (want 2), %d archived (want %d), %d unchanged (want %d)", s.EventsNew, s.ExecutionsOK, wantOK, s.SkippedUnchanged, wantUnchanged)
			}
			if got := readEvents(t, dir)[grown.ARN]; len(got) != len(evs) {
				t.Errorf("%s: %d events archived, %d served", grown.ARN, len(got), len(evs))
			}
			// Only the execution that went on has a snapshot of the rerun's.
			for _, r := range executionRows(t, dir) {
				if r.RunID == "again" && r.ExecutionArn != grown.ARN {
					t.Errorf("%s: archived again by the rerun, unchanged", r.ExecutionArn)
				}
			}
		})
	}
}

// TestShortPages: from a service whose pages hold one item whatever
// MaxItems asks (as one that pages by size does when its items are
// large), discovery, the history drains and the state drains archive
// exactly what they do from one that fills its pages; verify finds the
// archive equal; and a rerun leaves every running execution as archived
// after a small probe of at most two calls, reading no page of its
// history.
func TestShortPages(t *testing.T) {
	execs := emulator.Generate(41, 24, emulator.GenerateOptions{MaxOps: 12})
	type archived struct {
		ops, state       map[string]schema.Operation // by discovery (history), by manifest (state)
		events           map[string]map[int32]schema.Event
		url, dir, report string
		args             []string
	}
	archive := func(opts ...emulator.Option) archived {
		var a archived
		_, a.url, a.dir, a.report, a.args = byFunction(t, execs, opts...)
		if r := runCLI(t, a.args...); r.code != 0 {
			t.Fatalf("by function: exit %d", r.code)
		}
		state := t.TempDir()
		if r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", state, "--endpoint-url", a.url, "--page-size", "5"); r.code != 0 {
			t.Fatalf("by manifest: exit %d", r.code)
		}
		a.ops, a.events, a.state = readOperationRows(t, a.dir), readEvents(t, a.dir), readOperationRows(t, state)
		return a
	}
	full, short := archive(), archive(emulator.WithPageItems(1))
	sameOperations(t, full.ops, short.ops)
	sameOperations(t, full.state, short.state)
	for arn, evs := range full.events {
		if len(short.events[arn]) != len(evs) {
			t.Errorf("%s: %d events archived from short pages, %d from full ones", arn, len(short.events[arn]), len(evs))
		}
		for id, want := range evs {
			got := short.events[arn][id]
			got.RunID, got.ExtractedAt = want.RunID, want.ExtractedAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s event %d: from short pages %+v, from full ones %+v", arn, id, got, want)
			}
		}
	}
	url, dir, report, args := short.url, short.dir, short.report, short.args
	vreport := filepath.Join(t.TempDir(), "v.json")
	if r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...); r.code != 0 {
		t.Errorf("verify: exit %d", r.code)
	}
	if rep := readVerify(t, vreport); rep.Equal != rep.Sampled || rep.Complete != len(execs) {
		t.Errorf("verify: %d complete of %d, %d equal of %d compared", rep.Complete, len(execs), rep.Equal, rep.Sampled)
	}
	if first := readReport(t, report); first.Pages < 3*int64(len(execs)) { // its histories' events a page each
		t.Fatalf("the pages were not short: %d pages for %d executions", first.Pages, len(execs))
	}
	if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	s := readReport(t, report)
	running := len(execs) - s.SkippedTerminal
	calls := s.APICallsByOperation["GetDurableExecutionHistory"]
	if running == 0 || s.SkippedUnchanged != running || s.ExecutionsOK != 0 || calls < int64(running) || calls > 2*int64(running) {
		t.Errorf("rerun: %d running, %d skipped unchanged, %d archived, %d history calls", running, s.SkippedUnchanged, s.ExecutionsOK, calls)
	}
}

// TestRerunFullReadSeesAHistoryRewritten: from a service that ignores
// ReverseOrder (each running history read whole), a history that lost an
// event since the last run though its newest is the same (a service that
// rewrites history, as AWS's Python testing server does while a step is
// pending) is not taken for unchanged: it is archived again, the others
// are left as archived.
func TestRerunFullReadSeesAHistoryRewritten(t *testing.T) {
	execs := emulator.Generate(36, 30, emulator.GenerateOptions{MaxOps: 40})
	srv, _, _, report, args := byFunction(t, execs, emulator.WithIgnoredReverseOrder())
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	rewritten, evs := firstRunning(t, execs, func(e emulator.Execution) bool { return e.History.Len() >= 3 })
	rewritten.History = emulator.FixedHistory(slices.Delete(evs, 1, 2))
	srv.Add(rewritten)
	if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	s := readReport(t, report)
	if running := len(execs) - s.SkippedTerminal; s.ExecutionsOK != 1 || s.SkippedUnchanged != running-1 || s.EventsNew != 0 {
		t.Errorf("rerun: %d archived (want 1), %d unchanged (want %d), %d new events (want 0)", s.ExecutionsOK, s.SkippedUnchanged, running-1, s.EventsNew)
	}
}

// growRunning makes the first running execution of execs go on: two more
// events, served by srv from now on. It returns the execution and its
// whole history.
func growRunning(t *testing.T, srv *emulator.Server, execs []emulator.Execution) (emulator.Execution, []types.Event) {
	t.Helper()
	grown, evs := firstRunning(t, execs, func(emulator.Execution) bool { return true })
	for k := range 2 {
		ev := evs[len(evs)-1]
		id := int32(len(evs) + 1)
		ev.EventId = &id
		ev.EventType = types.EventTypeStepStarted
		ev.Id = aws.String(fmt.Sprintf("grown-%d", k))
		evs = append(evs, ev)
	}
	grown.History = emulator.FixedHistory(evs)
	srv.Add(grown)
	return grown, evs
}

// stateGoesOn makes the first running execution of execs go on in its
// state (one operation more, served by srv from now on; its history as
// it was) and returns it.
func stateGoesOn(t *testing.T, srv *emulator.Server, execs []emulator.Execution) emulator.Execution {
	t.Helper()
	e, _ := firstRunning(t, execs, func(emulator.Execution) bool { return true })
	op, n, last := e.Op, e.Len, e.Op(e.Len-1)
	last.Id, last.Status = aws.String("went-on"), types.OperationStatusStarted
	e.Len++
	e.Op = func(i int) types.Operation {
		if i == n {
			return last
		}
		return op(i)
	}
	srv.Add(e)
	return e
}

// firstRunning is the first execution of execs still running for which
// also is true, and its history's events.
func firstRunning(t *testing.T, execs []emulator.Execution, also func(emulator.Execution) bool) (emulator.Execution, []types.Event) {
	t.Helper()
	for _, e := range execs {
		if s := e.Op(0).Status; (s == "STARTED" || s == "PENDING") && also(e) {
			evs := make([]types.Event, e.History.Len())
			for i := range evs {
				evs[i] = e.History.Event(i)
			}
			return e, evs
		}
	}
	t.Fatal("no such running execution generated")
	return emulator.Execution{}, nil
}

// TestRerunAfterKillBetweenRenames: a run killed between publishing a
// date's events file and its executions file, and never resumed, leaves
// events the archive shows but its ledger does not count. The next run,
// with a run id of its own (a nightly job's), writes none of them again:
// every event once, every execution's row there. Both kinds: a first
// archive of a date's executions, and the new events of a running one.
func TestRerunAfterKillBetweenRenames(t *testing.T) {
	execs := emulator.Generate(43, 40, emulator.GenerateOptions{MaxOps: 30, Days: 6})
	srv, url, dir, report, args := byFunction(t, execs)
	if r := runCLI(t, append(args, "--run-id", "first")...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	grown, evs := growRunning(t, srv, execs)
	if r := runCLI(t, append(args, "--run-id", "second")...); r.code != 0 {
		t.Fatalf("second run: exit %d", r.code)
	}
	// The kills: the second run's executions file (the grown execution's
	// two new events stay), and the first run's of another date.
	killed, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "part-second-*.parquet"))
	if len(killed) != 1 {
		t.Fatalf("the second run published %d executions files, want 1", len(killed))
	}
	firsts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "part-first-*.parquet"))
	for _, f := range firsts {
		if filepath.Dir(f) != filepath.Dir(killed[0]) {
			killed = append(killed, f)
			break
		}
	}
	if len(killed) != 2 {
		t.Fatal("every execution started on one date: no other date's file to lose")
	}
	lost := 0
	for _, f := range killed {
		lost += len(readFileRows[schema.Execution](t, f))
		os.Remove(f)
	}

	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("nightly run: exit %d", r.code)
	}
	got := readEvents(t, dir) // fails on an event archived twice
	for _, e := range execs {
		want := e.History.Len()
		if e.ARN == grown.ARN {
			want = len(evs)
		}
		if len(got[e.ARN]) != want {
			t.Errorf("%s: %d events archived, %d served", e.ARN, len(got[e.ARN]), want)
		}
	}
	archived := map[string]bool{} // a running one has a row per run
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		archived[r.ExecutionArn] = true
	}
	if len(archived) != len(execs) {
		t.Errorf("%d executions archived, want %d", len(archived), len(execs))
	}
	if s := readReport(t, report); s.EventsNew != 0 || s.ExecutionsOK < lost {
		t.Errorf("nightly run: %d new events (want 0), %d executions archived (want at least the %d whose row was lost)", s.EventsNew, s.ExecutionsOK, lost)
	}
	// Verification reads an execution's events across the files that hold
	// them, the killed run's included.
	vreport := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...)
	if v := readVerify(t, vreport); r.code != 0 || v.Complete != len(execs) || v.Sampled == 0 || v.Equal != v.Sampled {
		t.Errorf("verify: exit %d, %d of %d complete, %d of %d sampled equal, differing content %v", r.code, v.Complete, len(execs), v.Equal, v.Sampled, v.ContentDiffer)
	}
}

// TestStateArchiveThenHistory: executions archived through state alone
// (a manifest with tokens) that have ended are not skipped by a later run
// by discovery, which reads history: their events are archived once, and
// only then does the next run skip them as terminal.
func TestStateArchiveThenHistory(t *testing.T) {
	execs := emulator.Generate(42, 30, emulator.GenerateOptions{MaxOps: 30})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", dir, "--endpoint-url", url); r.code != 0 {
		t.Fatalf("state run: exit %d", r.code)
	}
	if n := len(readEvents(t, dir)); n != 0 {
		t.Fatalf("the state run archived events of %d executions", n)
	}
	args := append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report}, functionArgs()...)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("history run: exit %d", r.code)
	}
	if s := readReport(t, report); s.SkippedTerminal != 0 || s.ExecutionsOK != len(execs) {
		t.Errorf("history run: %d skipped as terminal, %d archived of %d", s.SkippedTerminal, s.ExecutionsOK, len(execs))
	}
	if n := len(readEvents(t, dir)); n != len(execs) {
		t.Errorf("events of %d executions archived, want %d", n, len(execs))
	}
	if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	terminal := 0
	for _, e := range execs {
		switch e.Op(0).Status {
		case "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED":
			terminal++
		}
	}
	if s := readReport(t, report); s.SkippedTerminal != terminal || terminal == 0 {
		t.Errorf("rerun: %d skipped as terminal, want %d", s.SkippedTerminal, terminal)
	}
}

// TestRefusedTokens: entries whose checkpoint token the API refuses (stale,
// as every checkpoint makes the one before) fail by default, with a reason
// that names the way out and not the token; with --on-refused-token
// history they are read through their history instead (source history,
// events archived), counted in the report, and the run exits 0.
func TestRefusedTokens(t *testing.T) {
	execs := emulator.Generate(43, 12, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New()
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	listed := slices.Clone(execs)
	for i := range 4 {
		listed[i].Token = "stale-token-value"
	}
	manifest := manifestFile(t, listed)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--report", report}
	r := runCLI(t, args...)
	if r.code != exitFailed {
		t.Fatalf("stale tokens: exit %d, want %d", r.code, exitFailed)
	}
	s := readReport(t, report)
	if s.ExecutionsFailed != 4 || len(s.Failures) != 4 {
		t.Fatalf("stale tokens: %d failed, failures %v", s.ExecutionsFailed, s.Failures)
	}
	for _, f := range s.Failures {
		if !strings.Contains(f.Reason, "--on-refused-token history") || strings.Contains(f.Reason, "stale-token-value") {
			t.Errorf("reason %q", f.Reason)
		}
	}
	if strings.Contains(r.stderr, "stale-token-value") {
		t.Error("the token reached the log")
	}
	dir = t.TempDir()
	args[4] = dir
	if r := runCLI(t, append(args, "--on-refused-token", "history")...); r.code != 0 {
		t.Fatalf("--on-refused-token history: exit %d: %s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(execs) || s.TokensRefused != 4 {
		t.Errorf("--on-refused-token history: %d archived, %d tokens refused", s.ExecutionsOK, s.TokensRefused)
	}
	events := readEvents(t, dir)
	for i, e := range listed {
		if _, ok := events[e.ARN]; ok != (i < 4) {
			t.Errorf("%s: events archived %v, want %v (read through history only when its token was refused)", e.ARN, ok, i < 4)
		}
	}
	if r := runCLI(t, "run", "--manifest", manifest, "--on-refused-token", "maybe"); r.code != exitUsage {
		t.Errorf("--on-refused-token maybe: exit %d", r.code)
	}
}

func TestHistoryRowsInParquet(t *testing.T) {
	execs := emulator.Generate(34, 6, emulator.GenerateOptions{MaxOps: 40})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	if r := runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url}, functionArgs()...)...); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	n := 0
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Execution](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			n++
			if r.Source != "history" || r.FunctionArn == nil || r.Status == nil || r.StartTime == nil || r.EventCount == nil || r.LastEventID == nil ||
				*r.EventCount == 0 || r.RetentionPeriodDays == nil || r.OperationCount == 0 {
				t.Errorf("executions row %+v", r)
			}
			if d := "dt=" + r.StartTime.UTC().Format(time.DateOnly); filepath.Base(filepath.Dir(f)) != d {
				t.Errorf("%s in %s, started %s", r.ExecutionArn, f, d)
			}
		}
	}
	ops, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	for _, f := range ops {
		rows, _ := parquet.ReadFile[schema.Operation](f)
		for _, r := range rows {
			if r.Source != "history" || r.ReplayChildren != nil {
				t.Fatalf("operations row %+v", r)
			}
		}
	}
	if n != len(execs) {
		t.Errorf("%d executions rows, want %d", n, len(execs))
	}
}

// TestHistoryInPostgres: events land once in Postgres, and a rerun changes
// no row; a manifest entry without a token is archived through history,
// and --history adds the events of an entry with one.
func TestHistoryInPostgres(t *testing.T) {
	execs := emulator.Generate(35, 12, emulator.GenerateOptions{MaxOps: 60})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dbURL, s := pgtest.Schema(t)
	// Half the manifest with tokens, half without.
	var b strings.Builder
	for i, e := range execs {
		if i%2 == 0 {
			fmt.Fprintf(&b, "{\"DurableExecutionArn\":%q,\"CheckpointToken\":%q}\n", e.ARN, e.Token)
		} else {
			fmt.Fprintf(&b, "{\"DurableExecutionArn\":%q}\n", e.ARN)
		}
	}
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	os.WriteFile(manifest, []byte(b.String()), 0o644)
	args := []string{"run", "--manifest", manifest, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url, "--history", "--force"}
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	conn := pgtest.Conn(t, dbURL)
	q := func(sql string) int64 {
		var n int64
		if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	tbl := func(name string) string { return pgx.Identifier{s, name}.Sanitize() }
	var total int64
	for _, e := range execs {
		total += int64(e.History.Len())
	}
	if n := q("SELECT count(*) FROM " + tbl("events")); n != total {
		t.Errorf("%d events in Postgres, %d served", n, total)
	}
	if n := q("SELECT count(*) FROM " + tbl("executions") + " WHERE source = 'state' AND function_arn IS NOT NULL"); n != int64((len(execs)+1)/2) {
		t.Errorf("%d state executions rows with GetDurableExecution columns", n)
	}
	if n := q("SELECT count(*) FROM " + tbl("operations") + " WHERE source = 'history'"); n == 0 {
		t.Error("no operations folded from history")
	}
	if n := q("SELECT count(*) FROM " + tbl("invocations")); n == 0 {
		t.Error("the invocations view is empty")
	}
	xmins := "SELECT coalesce(sum(xmin::text::bigint), 0) FROM " + tbl("events")
	before := q(xmins)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	if after := q(xmins); after != before || q("SELECT count(*) FROM "+tbl("events")) != total {
		t.Error("a rerun rewrote events")
	}
}

// TestKill9ResumeHistory: a run by --function killed at random points and
// resumed leaves the same archive, every event once, as one uninterrupted.
func TestKill9ResumeHistory(t *testing.T) {
	execs := emulator.Generate(92, 24, emulator.GenerateOptions{MaxOps: 100})
	emu := emulator.New(emulator.WithLatency(3*time.Millisecond), emulator.WithFunctions(emulator.FunctionNames...))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	common := append([]string{"--endpoint-url", url, "--page-size", "50", "--concurrency", "3", "--target-file-size", "48KiB", "--log-level", "warn"}, functionArgs()...)
	ref := t.TempDir()
	if r := runCLI(t, append([]string{"run", "--dest", ref}, common...)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d", r.code)
	}
	wantEvents := readEvents(t, ref)
	totalPages := emu.Stats().PagesOK
	rng := rand.New(rand.NewPCG(2026, 12))
	for i := range 4 {
		killAt := 1 + rng.Int64N(totalPages-1)
		t.Run(fmt.Sprintf("kill after %d of %d pages", killAt, totalPages), func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"run", "--dest", dir, "--run-id", fmt.Sprintf("hresume-%d", i)}, common...)
			killAfterPages(t, emu, args, killAt)
			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("resumed run: exit %d", r.code)
			}
			got := readEvents(t, dir) // fails on a duplicate
			if len(got) != len(wantEvents) {
				t.Fatalf("%d executions with events, want %d", len(got), len(wantEvents))
			}
			for arn, evs := range wantEvents {
				if len(got[arn]) != len(evs) {
					t.Errorf("%s: %d events, want %d", arn, len(got[arn]), len(evs))
				}
			}
		})
	}
}

// TestRetentionWarning: executions that ended long enough ago that their
// history expires within --retention-warning, and that the run could not
// archive, are named in the report and the metrics; archived ones are not.
func TestRetentionWarning(t *testing.T) {
	now := time.Now().UTC()
	execs := emulator.Generate(36, 30, emulator.GenerateOptions{MaxOps: 20, Start: now.AddDate(0, 0, -27), Days: 2})
	failing := map[string]bool{}
	for i, e := range execs {
		if i%3 == 0 {
			failing[e.ARN] = true
		}
	}
	url := failingServer(t, execs, failing)
	dir, report, metrics := t.TempDir(), filepath.Join(t.TempDir(), "r.json"), filepath.Join(t.TempDir(), "m.prom")
	r := runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report, "--metrics-file", metrics, "--max-attempts", "1", "--retry-failed-after", "0"}, functionArgs()...)...)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1", r.code)
	}
	s := readReport(t, report)
	want := 0
	for _, e := range execs {
		if info := e.Op(0); failing[e.ARN] && info.EndTimestamp != nil && info.Status != "STARTED" && info.Status != "PENDING" && info.Status != "READY" {
			want++
		}
	}
	if want == 0 {
		t.Fatal("the test data has no ended execution that fails")
	}
	if len(s.RetentionAtRisk) != want {
		t.Fatalf("%d at risk, want %d: %+v", len(s.RetentionAtRisk), want, s.RetentionAtRisk)
	}
	for _, a := range s.RetentionAtRisk {
		if !failing[a.ExecutionArn] || !strings.HasPrefix(a.Reason, "failed") || a.HistoryExpiresAt.Sub(now) > 7*24*time.Hour {
			t.Errorf("at risk %+v", a)
		}
	}
	checkAtRiskLogged(t, r.stderr, s.RetentionAtRisk, now)
	b, _ := os.ReadFile(metrics)
	if !strings.Contains(string(b), fmt.Sprintf("durable_etl_last_run_retention_at_risk %d", want)) {
		t.Errorf("metrics:\n%s", b)
	}
	// With a window that ends before any expiry, none is at risk.
	runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report, "--max-attempts", "1", "--retry-failed-after", "0", "--retention-warning", "0d"}, functionArgs()...)...)
	if s := readReport(t, report); len(s.RetentionAtRisk) != 0 {
		t.Errorf("%d at risk with a zero window", len(s.RetentionAtRisk))
	}
	// ... and the report says so with a list, as for failures: a script's
	// `.retention_at_risk[]` must not meet null.
	var raw map[string]json.RawMessage
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &raw) != nil {
		t.Fatalf("report: %v", err)
	}
	if got := string(raw["retention_at_risk"]); got != "[]" {
		t.Errorf("retention_at_risk with none at risk: %s, want []", got)
	}
}

// TestRetentionWarningOfAResumedRun: a run resumed (the same --run-id)
// skips what its first attempt archived; an execution that attempt
// archived in its final state is not at risk, in the resumed run's report
// as in the first's. The generated executions that ended did so about 27
// days ago: within the warning window of the service's default 30 days.
func TestRetentionWarningOfAResumedRun(t *testing.T) {
	now := time.Now().UTC()
	execs := emulator.Generate(39, 20, emulator.GenerateOptions{MaxOps: 20, Start: now.AddDate(0, 0, -27), Days: 2, Settled: true})
	url := failingServer(t, execs, nil)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	args := append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report, "--run-id", "resumed-run"}, functionArgs()...)
	for attempt := range 2 {
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("attempt %d: exit %d: %s", attempt, r.code, r.stderr)
		}
		s := readReport(t, report)
		if attempt == 1 && s.SkippedResumed != len(execs) {
			t.Fatalf("the resumed run skipped %d as archived by it, want %d", s.SkippedResumed, len(execs))
		}
		if len(s.RetentionAtRisk) != 0 {
			t.Errorf("attempt %d: %d at risk, want none: %+v", attempt, len(s.RetentionAtRisk), s.RetentionAtRisk[0])
		}
		archived := 0
		for _, f := range s.Functions {
			archived += f.Archived
		}
		if archived != len(execs) {
			t.Errorf("attempt %d: the functions' reports say %d archived by the run, want %d: %+v", attempt, archived, len(execs), s.Functions)
		}
	}
}

// failingServer serves execs, by function, answering every call on the
// executions in failing with a 500; it returns its URL.
func failingServer(t *testing.T, execs []emulator.Execution, failing map[string]bool) string {
	t.Helper()
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		if failing[arn] {
			return emulator.ServerError
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	return url
}

// checkAtRiskLogged: the run logs each execution at risk, saying whether
// the date its history goes is still ahead or past; it returns how many of
// each.
func checkAtRiskLogged(t *testing.T, stderr string, atRisk []pipeline.AtRisk, now time.Time) (ahead, past int) {
	t.Helper()
	for _, a := range atRisk {
		say := "history expires soon, and the execution is not archived whole"
		if a.HistoryExpiresAt.Before(now) {
			say = "history was due to expire (the service may delete it any time), and the execution is not archived whole"
			past++
		} else {
			ahead++
		}
		logged := false
		for _, line := range strings.Split(stderr, "\n") {
			logged = logged || strings.Contains(line, fmt.Sprintf("msg=%q", say)) && strings.Contains(line, "execution_arn="+a.ExecutionArn+" ")
		}
		if !logged {
			t.Errorf("no log line %q for %s", say, a.ExecutionArn)
		}
	}
	return ahead, past
}

// TestRetentionOfNamedFunctions: a function named by --function is warned
// of by its own history retention (its versions' shortest, from
// ListVersionsByFunction), not the service's default of 30 days: with
// executions that ended about 12 days ago and that the run could not
// archive, those of a 7- or 14-day function are at risk, those of a 30-
// or 90-day one not (with the default, none would be). The report gives
// each function's retention.
func TestRetentionOfNamedFunctions(t *testing.T) {
	now := time.Now().UTC()
	execs := emulator.Generate(38, 40, emulator.GenerateOptions{MaxOps: 20, Start: now.AddDate(0, 0, -13), Days: 1})
	retention := map[string]int32{}
	for _, f := range emulator.DemoFunctions() {
		if f.Durable != nil && (retention[f.Name] == 0 || *f.Durable.RetentionPeriodInDays < retention[f.Name]) {
			retention[f.Name] = *f.Durable.RetentionPeriodInDays
		}
	}
	want := map[string]bool{}
	for _, e := range execs {
		info := emulator.InfoOf(e)
		if info.End == nil || info.Status == types.ExecutionStatusRunning {
			continue
		}
		days := retention[strings.Split(e.ARN, ":")[6]]
		if info.End.Add(time.Duration(days)*24*time.Hour).Sub(now) <= 7*24*time.Hour {
			want[e.ARN] = true
		}
	}
	if len(want) == 0 || len(want) == len(execs) {
		t.Fatalf("%d of %d executions expected at risk: want some, not all", len(want), len(execs))
	}
	// Whichever the service's reading of an unqualified listing: with
	// $LATEST only, discovery lists the versions and the retention comes
	// from that listing.
	for _, listing := range []emulator.Listing{emulator.ListAllVersions, emulator.ListLatestOnly} {
		t.Run(fmt.Sprint("listing ", listing), func(t *testing.T) {
			srv := emulator.New(emulator.WithListing(listing), emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithFaults(func(_ int64, label string) emulator.Fault {
				if strings.Contains(label, "/durable-execution/") {
					return emulator.ServerError // no execution is archived
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			report := filepath.Join(t.TempDir(), "r.json")
			r := runCLI(t, append([]string{"run", "--dest", t.TempDir(), "--endpoint-url", url, "--report", report, "--max-attempts", "1", "--retry-failed-after", "0"}, functionArgs()...)...)
			if r.code != exitFailed {
				t.Fatalf("exit %d, want 1", r.code)
			}
			s := readReport(t, report)
			for _, f := range s.Functions {
				if f.RetentionDays != retention[f.Function] {
					t.Errorf("function %s: retention_days %d, want %d", f.Function, f.RetentionDays, retention[f.Function])
				}
				if n := srv.Requests("versions", f.Function); listing == emulator.ListLatestOnly && n != 1 {
					t.Errorf("function %s: %d ListVersionsByFunction calls, want 1 (discovery's, for the retention too)", f.Function, n)
				}
			}
			got := map[string]bool{}
			for _, a := range s.RetentionAtRisk {
				got[a.ExecutionArn] = true
			}
			if !maps.Equal(got, want) {
				t.Errorf("%d at risk, want %d: %v", len(got), len(want), s.RetentionAtRisk)
			}
			// A 7-day history is gone, a 14-day one not yet: the log
			// tells them apart.
			if ahead, past := checkAtRiskLogged(t, r.stderr, s.RetentionAtRisk, now); ahead == 0 || past == 0 {
				t.Errorf("%d at risk with their date ahead, %d past: want some of each", ahead, past)
			}
		})
	}
}

// TestRetentionOfAnExecution: an execution's own history retention, as
// GetDurableExecution gives it (DurableConfig), wins over its function's:
// executions of 30- and 90-day functions that keep their history 3 days
// and whose history cannot be read are at risk; the others not.
func TestRetentionOfAnExecution(t *testing.T) {
	now := time.Now().UTC()
	var execs []emulator.Execution
	short := map[string]bool{}
	for i, e := range emulator.Generate(39, 160, emulator.GenerateOptions{MaxOps: 10, Start: now.AddDate(0, 0, -10), Days: 1}) {
		if fn := strings.Split(e.ARN, ":")[6]; fn != "orders" && fn != "payments" {
			continue
		}
		info := *emulator.InfoOf(e)
		if i%2 == 0 {
			info.DurableConfig = &types.DurableConfig{ExecutionTimeout: aws.Int32(3600), RetentionPeriodInDays: aws.Int32(3)}
			short[e.ARN] = true
		} else {
			info.DurableConfig = nil // its function's retention counts
		}
		e.Info = &info
		execs = append(execs, e)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithFaults(func(_ int64, label string) emulator.Fault {
		if !strings.Contains(label, "/durable-execution/") {
			return emulator.NoFault
		}
		mu.Lock()
		defer mu.Unlock()
		if calls[label]++; calls[label] > 1 {
			return emulator.ServerError // GetDurableExecution answers, the history does not
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	report := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, "run", "--dest", t.TempDir(), "--endpoint-url", url, "--report", report, "--max-attempts", "1", "--retry-failed-after", "0", "--function", "orders", "--function", "payments")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1", r.code)
	}
	want := map[string]bool{}
	for _, e := range execs {
		if info := emulator.InfoOf(e); short[e.ARN] && info.End != nil && info.Status != types.ExecutionStatusRunning {
			want[e.ARN] = true
		}
	}
	if len(want) == 0 || len(want) == len(execs) {
		t.Fatalf("%d of %d executions expected at risk: want some, not all", len(want), len(execs))
	}
	got := map[string]bool{}
	for _, a := range readReport(t, report).RetentionAtRisk {
		got[a.ExecutionArn] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("%d at risk, want %d", len(got), len(want))
	}
	if len(want) < 3 {
		t.Errorf("only %d executions of a short retention ended: too few to tell", len(want))
	}
}

// TestAllFunctions: --all-functions archives every execution of every
// durable function (one durable only in its published versions), requests
// nothing of a function that is not durable, picks up a function added
// between two runs, and retries a throttled ListFunctions.
func TestAllFunctions(t *testing.T) {
	execs := emulator.Generate(37, 40, emulator.GenerateOptions{MaxOps: 30})
	throttled := 0
	var srv *emulator.Server
	srv = emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithFaults(func(_ int64, label string) emulator.Fault {
		if label == "" && srv.Requests("functions", "") <= 2 {
			throttled++
			return emulator.Throttle
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--all-functions", "--dest", dir, "--endpoint-url", url, "--report", report}
	r := runCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if throttled != 2 {
		t.Errorf("%d throttled ListFunctions calls, want 2 (then retried)", throttled)
	}
	s := readReport(t, report)
	if s.APIRetries != 2 || !strings.Contains(r.stdout, fmt.Sprintf("  2 API retries over %d calls (throttled", s.APICalls)) {
		t.Errorf("%d retries reported; the summary:\n%s", s.APIRetries, r.stdout)
	}
	if s.ExecutionsOK != len(execs) || len(s.Functions) != len(emulator.FunctionNames) {
		t.Fatalf("report: %d archived, functions %+v", s.ExecutionsOK, s.Functions)
	}
	for _, f := range s.Functions {
		if f.RetentionDays == 0 || f.Archived != f.Found {
			t.Errorf("function %+v", f)
		}
	}
	for _, fn := range []string{"thumbnailer", "legacy-cron"} {
		for _, op := range []string{"list", "versions", "aliases"} {
			if n := srv.Requests(op, fn); n != 0 {
				t.Errorf("%d %s requests for %s, which is not durable", n, op, fn)
			}
		}
	}
	// A durable function deployed before the next run is archived by it.
	var added []emulator.Execution
	for _, e := range execs[:5] {
		e.ARN = strings.Replace(e.ARN, ":function:"+strings.Split(strings.SplitN(e.ARN, ":function:", 2)[1], ":")[0]+":", ":function:refunds:", 1)
		added = append(added, e)
	}
	srv.AddFunctions(emulator.FunctionVersion{Name: "refunds", Version: "$LATEST", Durable: &types.DurableConfig{RetentionPeriodInDays: aws.Int32(3)}})
	srv.Add(added...)
	if r := runCLI(t, append(args, "--run-id", "second")...); r.code != 0 {
		t.Fatalf("second run: exit %d", r.code)
	}
	rows := map[string]bool{} // running executions have two snapshots now
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		ex, _ := parquet.ReadFile[schema.Execution](f)
		for _, r := range ex {
			rows[r.ExecutionArn] = true
		}
	}
	for _, e := range added {
		if !rows[e.ARN] {
			t.Errorf("%s of the new function was not archived", e.ARN)
		}
	}
	s = readReport(t, report)
	var refunds *pipeline.FunctionReport
	for i := range s.Functions {
		if s.Functions[i].Function == "refunds" {
			refunds = &s.Functions[i]
		}
	}
	if refunds == nil || refunds.Found != len(added) || refunds.RetentionDays != 3 {
		t.Errorf("refunds in the report: %+v", refunds)
	}
	// The filters narrow the functions found.
	out := filepath.Join(t.TempDir(), "m.jsonl")
	if r := runCLI(t, "discover", "--all-functions", "--exclude-function", "o*", "--function-prefix", "o", "--function-prefix", "p", "--endpoint-url", url, "--output", out); r.code != 0 {
		t.Fatalf("discover: exit %d", r.code)
	}
	b, _ := os.ReadFile(out)
	if strings.Contains(string(b), ":function:orders:") || !strings.Contains(string(b), ":function:payments:") || strings.Contains(string(b), ":function:shipping:") {
		t.Errorf("filtered manifest:\n%.2000s", b)
	}
}

// TestSDKLinesJoinTheLog: the SDK's own warnings under faults (a body cut
// short, which the retryer then handles) are records of the run's log, in
// its format and at debug level, not raw lines on stderr in the middle of
// a JSON log.
func TestSDKLinesJoinTheLog(t *testing.T) {
	execs := emulator.Generate(41, 12, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithFaults(func(n int64, _ string) emulator.Fault {
		if n%4 == 0 {
			return emulator.Cut
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	for _, level := range []string{"debug", "info"} {
		r := runCLI(t, append([]string{"run", "--dest", t.TempDir(), "--endpoint-url", url, "--log-format", "json", "--log-level", level}, functionArgs()...)...)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		sdk := 0
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("--log-format json wrote a non-JSON line: %q", line)
			}
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "aws sdk: ") {
				sdk++
				if m["level"] != "DEBUG" || m["run_id"] == nil {
					t.Errorf("SDK line %q", line)
				}
			}
		}
		if want := level == "debug"; (sdk > 0) != want {
			t.Errorf("--log-level %s: %d SDK lines", level, sdk)
		}
	}
}

// TestEventsWithoutIDs: events the API hands over without an EventId, or
// with an earlier event's (shapes the SDK allows), each keep a row of their
// own, keyed by minus their position in the history, in Parquet and in
// Postgres alike; a rerun of the grown execution writes only the events it
// had not archived; verify finds the archive equal to the API. The same
// under the reading of ReverseOrder whereby the history is listed newest
// first by default, and from a service that lists it newest first
// whatever ReverseOrder says (read backwards).
func TestEventsWithoutIDs(t *testing.T) {
	for name, opts := range map[string][]emulator.Option{
		"oldest first by default": nil,
		"newest first by default": {emulator.WithReverseOldestFirst()},
		"newest first always":     {emulator.WithNewestFirstAlways()},
	} {
		t.Run(name, func(t *testing.T) { testEventsWithoutIDs(t, opts) })
	}
}

func testEventsWithoutIDs(t *testing.T, opts []emulator.Option) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/no-ids/0002"
	var events []types.Event
	add := func(n int, ids bool) {
		for range n {
			pos := len(events) + 1
			at := start.Add(time.Duration(pos) * time.Second)
			ev := types.Event{Id: aws.String(fmt.Sprint("step-", pos/2)), EventType: types.EventTypeStepStarted, EventTimestamp: &at, StepStartedDetails: &types.StepStartedDetails{}}
			if pos%2 == 0 {
				ev.EventType, ev.StepStartedDetails = types.EventTypeStepSucceeded, nil
				ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(fmt.Sprint(pos))}}
			}
			switch {
			case ids && pos%3 == 0:
				ev.EventId = aws.Int32(int32(pos)) // some events carry their id, most do not
			case ids && pos%7 == 0:
				ev.EventId = aws.Int32(int32(pos - 1)) // an earlier event's id, or one out of order
			case ids && pos == 4:
				ev.EventId = aws.Int32(1 << 30) // far above the ids that follow
			}
			events = append(events, ev)
		}
	}
	serve := func(srv *emulator.Server, status types.OperationStatus) emulator.Execution {
		exec := types.Operation{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: status, StartTimestamp: &start}
		if status == types.OperationStatusSucceeded {
			exec.EndTimestamp = aws.Time(start.Add(time.Hour))
		}
		e := emulator.Fixed(arn, "", []types.Operation{exec})
		e.History = emulator.FixedHistory(slices.Clone(events))
		srv.Add(e)
		return e
	}
	add(30, true)
	srv := emulator.New(opts...)
	e := serve(srv, types.OperationStatusStarted)
	url, _ := emulatortest.Start(t, srv)
	dbURL, s := pgtest.Schema(t)
	conn := pgtest.Conn(t, dbURL)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	manifest := manifestFile(t, []emulator.Execution{e})
	args := []string{"run", "--manifest", manifest, "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url, "--report", report}
	check := func(what string) {
		t.Helper()
		got := readEvents(t, dir)[arn]
		if len(got) != len(events) {
			t.Fatalf("%s: %d events in Parquet, %d served", what, len(got), len(events))
		}
		var keys transform.EventKeys
		for i, want := range events {
			id := keys.Next(&want).ID
			if want.EventId == nil || i%7 == 6 && i%3 != 2 && *want.EventId%3 == 0 {
				if id != transform.AbsentEventID(int64(i)+1) {
					t.Fatalf("event at position %d: event_id %d, want minus its position", i+1, id)
				}
			}
			row, ok := got[id]
			if !ok {
				t.Fatalf("%s: event %d (position %d) not archived", what, id, i+1)
			}
			if diff := optest.DiffEventRow(want, &row); diff != "" {
				t.Fatalf("%s: event at position %d (-served +archived):\n%s", what, i+1, diff)
			}
		}
		var n int
		if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s.events WHERE execution_arn = $1", s), arn).Scan(&n); err != nil || n != len(events) {
			t.Fatalf("%s: %d events in Postgres (%v), %d served", what, n, err, len(events))
		}
	}
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	check("first run")
	// The execution goes on and ends: seven more events, two of them with ids.
	add(7, true)
	end := start.Add(time.Hour)
	events = append(events, types.Event{EventType: types.EventTypeExecutionSucceeded, EventTimestamp: &end,
		ExecutionSucceededDetails: &types.ExecutionSucceededDetails{Result: &types.EventResult{Payload: aws.String("done")}}})
	serve(srv, types.OperationStatusSucceeded)
	if r := runCLI(t, append(args, "--run-id", "again")...); r.code != 0 {
		t.Fatalf("rerun: exit %d: %s", r.code, r.stderr)
	}
	if rep := readReport(t, report); rep.EventsNew != 8 || rep.Events != int64(len(events)) {
		t.Errorf("rerun: %d new events of %d read, want 8 of %d", rep.EventsNew, rep.Events, len(events))
	}
	check("rerun")
	for _, dest := range []string{dir, dbURL} {
		r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--pg-schema", s, "--endpoint-url", url, "--all")
		if r.code != 0 || !strings.Contains(r.stdout, "1 equal") {
			t.Errorf("verify %s: exit %d\n%s%s", dest, r.code, r.stdout, r.stderr)
		}
	}
}

// TestRunByFunctionPublishesAsItGoes: a run by discovery archives the
// executions oldest first and publishes each start date's files once its
// last execution is archived, not all at the end: over 150 start dates,
// files are published before the last execution is archived, and each
// partition still has one file per table.
func TestRunByFunctionPublishesAsItGoes(t *testing.T) {
	execs := emulator.Generate(35, 300, emulator.GenerateOptions{MaxOps: 10, Days: 150, LargePayloadEvery: -1})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	r := runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--log-level", "debug", "--log-format", "json", "--concurrency", "4"}, functionArgs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var published, archived, publishedEarly int
	for _, line := range strings.Split(r.stderr, "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "published parquet file":
			published++
			if archived < len(execs) {
				publishedEarly++
			}
		case "archived":
			archived++
		}
	}
	if archived != len(execs) || publishedEarly < published/2 {
		t.Errorf("%d executions archived; %d of %d files published before the last was", archived, publishedEarly, published)
	}
	for _, table := range []string{"operations", "events", "executions"} {
		files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
		perDT := map[string]int{}
		for _, f := range files {
			perDT[filepath.Dir(f)]++
		}
		for p, n := range perDT {
			if n != 1 {
				t.Errorf("%s: %d files", p, n)
			}
		}
		if len(perDT) < 100 {
			t.Errorf("%s: %d partitions, want the generator's spread", table, len(perDT))
		}
	}
}

// TestUndecryptablePayloads: executions whose data the service cannot
// decrypt (502 KMSAccessDeniedException: the function's key disabled) are
// archived without their payloads, not lost: one call refused, none
// retried, then read again without IncludeExecutionData; their executions
// rows say execution_data_included = false and their events are all there,
// marked payload_truncated. A manifest entry with a token is read the
// same way: state always carries the payloads.
func TestUndecryptablePayloads(t *testing.T) {
	execs := emulator.Generate(44, 30, emulator.GenerateOptions{MaxOps: 30})
	denied := everyNth(execs, 6)
	_, url, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] }))
	metrics := filepath.Join(t.TempDir(), "etl.prom")
	if r := runCLI(t, append(args, "--metrics-file", metrics)...); r.code != 0 {
		t.Fatalf("exit %d, want 0: every execution can be archived", r.code)
	}
	if b, _ := os.ReadFile(metrics); !strings.Contains(string(b), fmt.Sprintf("durable_etl_last_run_executions_without_payloads %d\n", len(denied))) {
		t.Errorf("the metrics do not count the executions without payloads:\n%s", b)
	}
	s := readReport(t, report)
	if s.ExecutionsOK != len(execs) || s.WithoutPayloads != len(denied) || s.APIRetries != 0 {
		t.Errorf("%d archived (want %d), %d without payloads (want %d), %d retries (want 0: a KMS error is final)", s.ExecutionsOK, len(execs), s.WithoutPayloads, len(denied), s.APIRetries)
	}
	rows := tableRows[schema.Execution](t, dir, "executions")
	for _, r := range rows {
		if included := r.ExecutionDataIncluded; included == nil || *included == denied[r.ExecutionArn] {
			t.Errorf("%s: execution_data_included %s, its data undecryptable: %v", r.ExecutionArn, fmtBool(included), denied[r.ExecutionArn])
		}
		if denied[r.ExecutionArn] && (r.InputPayload != nil || r.Result != nil) {
			t.Errorf("%s: a payload archived that the service could not decrypt", r.ExecutionArn)
		}
	}
	if len(rows) != len(execs) {
		t.Errorf("%d executions rows, want %d", len(rows), len(execs))
	}
	events := readEvents(t, dir)
	for _, e := range execs {
		evs := events[e.ARN]
		if len(evs) != e.History.Len() {
			t.Errorf("%s: %d events archived, %d served", e.ARN, len(evs), e.History.Len())
		}
		truncated := 0
		for _, ev := range evs {
			if ev.PayloadTruncated != nil && *ev.PayloadTruncated {
				truncated++
				if ev.InputPayload != nil || ev.Result != nil || ev.ErrorMessage != nil {
					t.Errorf("%s event %d: truncated, yet a payload", e.ARN, ev.EventID)
				}
			}
		}
		if denied[e.ARN] != (truncated > 0) {
			t.Errorf("%s: %d events truncated, its data undecryptable: %v", e.ARN, truncated, denied[e.ARN])
		}
	}

	// Verification reads them as they were archived: without payloads;
	// the ended ones it names at risk (the emulator's dates put their
	// histories past retention), and only them.
	vreport := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...)
	v := readVerify(t, vreport)
	if r.code != 0 || v.Complete != len(execs) || len(v.Errors) != 0 || v.Sampled == 0 || v.Equal != v.Sampled || len(v.WithoutPayloads) != len(denied) {
		t.Errorf("verify: exit %d, %d of %d complete, %d of %d sampled equal, %d named without payloads (want %d), errors %v, differing content %v",
			r.code, v.Complete, len(execs), v.Equal, v.Sampled, len(v.WithoutPayloads), len(denied), v.Errors, v.ContentDiffer)
	}
	ended := 0
	for _, row := range rows {
		if denied[row.ExecutionArn] && row.EndTime != nil {
			ended++
		}
	}
	for _, a := range v.AtRisk {
		if !denied[a.ExecutionArn] {
			t.Errorf("verify: %s at risk, archived whole", a.ExecutionArn)
		}
	}
	if ended == 0 || len(v.AtRisk) != ended {
		t.Errorf("verify: %d at risk, want the %d ended executions without payloads", len(v.AtRisk), ended)
	}

	var one []emulator.Execution
	for _, e := range execs {
		if denied[e.ARN] {
			one = append(one, e)
			break
		}
	}
	stateDir, stateReport := t.TempDir(), filepath.Join(t.TempDir(), "s.json")
	if r := runCLI(t, "run", "--manifest", manifestFile(t, one), "--dest", stateDir, "--endpoint-url", url, "--report", stateReport); r.code != 0 {
		t.Fatalf("with a token: exit %d, want 0", r.code)
	}
	if s := readReport(t, stateReport); s.ExecutionsOK != 1 || s.WithoutPayloads != 1 {
		t.Errorf("with a token: %d archived, %d without payloads; want 1 and 1", s.ExecutionsOK, s.WithoutPayloads)
	}
	if n := len(readEvents(t, stateDir)[one[0].ARN]); n != one[0].History.Len() {
		t.Errorf("with a token: %d events archived, %d served", n, one[0].History.Len())
	}
}

// everyNth is the set of the ARNs of execs[0], execs[n], execs[2n], ...
func everyNth(execs []emulator.Execution, n int) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < len(execs); i += n {
		out[execs[i].ARN] = true
	}
	return out
}

func fmtBool(b *bool) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprint(*b)
}

// tableRows reads every row of table under dir (a local archive).
func tableRows[T any](t *testing.T, dir, table string) []T {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
	var out []T
	for _, f := range files {
		out = append(out, readFileRows[T](t, f)...)
	}
	return out
}

// readFileRows reads a Parquet file's rows.
func readFileRows[T any](t *testing.T, path string) []T {
	t.Helper()
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// withEndpoint is args (byFunction's) with url for --endpoint-url: the
// same executions served by another emulator.
func withEndpoint(args []string, url string) []string {
	out := append([]string{}, args...)
	for i := range out {
		if out[i] == "--endpoint-url" {
			out[i+1] = url
		}
	}
	return out
}

// byFunction serves execs from an emulator of the five functions (with
// opts) and returns it, its URL, a destination, a report path and the
// arguments of a run by discovery into them.
func byFunction(t *testing.T, execs []emulator.Execution, opts ...emulator.Option) (srv *emulator.Server, url, dir, report string, args []string) {
	t.Helper()
	srv = emulator.New(append([]emulator.Option{emulator.WithFunctions(emulator.FunctionNames...)}, opts...)...)
	srv.Add(execs...)
	url, _ = emulatortest.Start(t, srv)
	dir, report = t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	return srv, url, dir, report, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report}, functionArgs()...)
}

// archivedToBoth is byFunction's run of execs, archived into its
// directory and into a Postgres schema of the test's (pg: the run's
// arguments for it).
func archivedToBoth(t *testing.T, execs []emulator.Execution) (url, dir, report string, args, pg []string) {
	t.Helper()
	_, url, dir, report, args = byFunction(t, execs)
	dbURL, pgSchema := pgtest.Schema(t)
	pg = []string{"--dest", dbURL, "--pg-schema", pgSchema}
	if r := runCLI(t, append(append([]string{}, args...), append(pg, "--migrate")...)...); r.code != 0 || !strings.Contains(r.stderr, "applying a postgres migration") {
		t.Fatalf("run --migrate into a new schema: exit %d, want 0 and the migrations told\n%s", r.code, r.stderr)
	}
	return url, dir, report, args, pg
}

// TestVerifyAtRiskByOwnRetention: verify reckons an execution's history
// by its own retention as archived (retention_period_days, from
// GetDurableExecution), not its function's: executions archived without
// their payloads, ended ten days ago, are at risk with a 3-day retention of
// their own, and not with the 30 days of their functions.
func TestVerifyAtRiskByOwnRetention(t *testing.T) {
	now := time.Now().UTC()
	var execs []emulator.Execution
	short := map[string]bool{}
	for i, e := range emulator.Generate(47, 80, emulator.GenerateOptions{MaxOps: 10, Start: now.AddDate(0, 0, -10), Days: 1}) {
		info := *emulator.InfoOf(e)
		if i%2 == 0 {
			info.DurableConfig = &types.DurableConfig{ExecutionTimeout: aws.Int32(3600), RetentionPeriodInDays: aws.Int32(3)}
			short[e.ARN] = true
		}
		e.Info = &info
		execs = append(execs, e)
	}
	denied := everyNth(execs, 3)
	_, url, dir, _, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] }))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	want := map[string]bool{}
	for _, e := range execs {
		if info := emulator.InfoOf(e); denied[e.ARN] && short[e.ARN] && info.End != nil && info.Status != types.ExecutionStatusRunning {
			want[e.ARN] = true
		}
	}
	if len(want) < 2 {
		t.Fatalf("%d executions of a short retention without payloads ended: too few to tell", len(want))
	}
	vreport := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--sample", "0", "--report", vreport}, functionArgs()...)...)
	if r.code != 0 {
		t.Fatalf("verify: exit %d", r.code)
	}
	got := map[string]bool{}
	for _, a := range readVerify(t, vreport).AtRisk {
		got[a.ExecutionArn] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("verify: %d at risk, want %d", len(got), len(want))
	}
}

// TestPayloadsRetriedUntilDecrypted: an execution archived without its
// payloads (the service could not decrypt them) is not left so for good.
// Each later run tries once more to read it with them: while the key stays
// unusable it writes nothing for one that did not change, final or still
// running (the report counts them still without payloads, and the run
// succeeds); once the key works, each is archived again with its payloads,
// in Parquet and Postgres alike, and left alone after that. Of their
// events, those with a payload are archived again with it (the newer row
// is the event); the others land once. verify finds the archive equal to
// the API, and compaction keeping the latest leaves each event once. So
// too when the run that finds the key working again is also a mend of
// lost events (--force --rewrite-events), which writes the events the
// archive holds again only where they gain their payloads.
func TestPayloadsRetriedUntilDecrypted(t *testing.T) {
	for _, mend := range []bool{false, true} {
		t.Run(fmt.Sprint("rewrite-events=", mend), func(t *testing.T) { payloadsRetriedUntilDecrypted(t, mend) })
	}
}

// TestDestinationAddedBesideUndecryptable: a Parquet destination added
// beside an archive that holds executions without their payloads (the
// service cannot decrypt them) gets every execution, and the archive no
// second snapshot of those, the service giving them without payloads
// still; once the key works, each of them goes to both with its payloads.
func TestDestinationAddedBesideUndecryptable(t *testing.T) {
	execs := emulator.Generate(47, 24, emulator.GenerateOptions{MaxOps: 30})
	denied := everyNth(execs, 4)
	var keyFixed atomic.Bool
	_, _, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] && !keyFixed.Load() }))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	twin := t.TempDir()
	both := append(slices.Clone(args), "--dest", twin)
	rows := func(d string) (n int, newest map[string]schema.Execution) {
		newest = map[string]schema.Execution{}
		all := tableRows[schema.Execution](t, d, "executions")
		for _, r := range all {
			if cur, ok := newest[r.ExecutionArn]; !ok || r.ExtractedAt.After(cur.ExtractedAt) {
				newest[r.ExecutionArn] = r
			}
		}
		return len(all), newest
	}
	if r := runCLI(t, both...); r.code != 0 {
		t.Fatalf("run with the destination added: exit %d", r.code)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(execs) || s.WithoutPayloads != len(denied) {
		t.Errorf("destination added: %d archived, %d without payloads; want %d and %d", s.ExecutionsOK, s.WithoutPayloads, len(execs), len(denied))
	}
	for _, d := range []string{dir, twin} {
		if n, _ := rows(d); n != len(execs) {
			t.Errorf("destination added: %s holds %d executions rows, want one an execution (%d)", d, n, len(execs))
		}
	}
	keyFixed.Store(true)
	if r := runCLI(t, both...); r.code != 0 {
		t.Fatalf("run with the key usable: exit %d", r.code)
	}
	if s := readReport(t, report); s.PayloadsRecovered != len(denied) {
		t.Errorf("key usable: %d recovered, want %d", s.PayloadsRecovered, len(denied))
	}
	for _, d := range []string{dir, twin} {
		n, newest := rows(d)
		if n != len(execs)+len(denied) {
			t.Errorf("key usable: %s holds %d executions rows, want %d (a snapshot more of each recovered)", d, n, len(execs)+len(denied))
		}
		for arn := range denied {
			if r := newest[arn]; r.ExecutionDataIncluded == nil || !*r.ExecutionDataIncluded {
				t.Errorf("key usable: %s: %s newest snapshot without its payloads", d, arn)
			}
		}
	}
}

func payloadsRetriedUntilDecrypted(t *testing.T, mend bool) {
	execs := emulator.Generate(45, 30, emulator.GenerateOptions{MaxOps: 30})
	denied := everyNth(execs, 4)
	var keyFixed atomic.Bool
	_, url, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] && !keyFixed.Load() }))
	dbURL, pgSchema := pgtest.Schema(t)
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", pgSchema); r.code != 0 {
		t.Fatalf("migrate: exit %d", r.code)
	}
	metrics := filepath.Join(t.TempDir(), "etl.prom")
	args = append(args, "--dest", dbURL, "--pg-schema", pgSchema, "--metrics-file", metrics)
	metric := func(name string, want int) {
		t.Helper()
		if b, _ := os.ReadFile(metrics); !strings.Contains(string(b), fmt.Sprintf("durable_etl_last_run_%s %d\n", name, want)) {
			t.Errorf("the metrics do not say %s %d:\n%s", name, want, b)
		}
	}
	run := func(what string, more ...string) pipeline.Summary {
		t.Helper()
		if r := runCLI(t, append(slices.Clone(args), more...)...); r.code != 0 {
			t.Fatalf("%s: exit %d, want 0\n%s", what, r.code, r.stderr)
		}
		return readReport(t, report)
	}
	newest := func() map[string]schema.Execution {
		out := map[string]schema.Execution{}
		for _, r := range tableRows[schema.Execution](t, dir, "executions") {
			if cur, ok := out[r.ExecutionArn]; !ok || r.ExtractedAt.After(cur.ExtractedAt) {
				out[r.ExecutionArn] = r
			}
		}
		return out
	}

	if s := run("first run"); s.WithoutPayloads != len(denied) {
		t.Fatalf("first run: %d without payloads, want %d", s.WithoutPayloads, len(denied))
	}
	final := 0
	for arn, row := range newest() {
		if denied[arn] && load.Terminal(aws.ToString(row.Status)) {
			final++
		}
	}
	if final == 0 || final == len(denied) {
		t.Fatalf("%d of %d undecryptable executions final: want some of each", final, len(denied))
	}
	rowsBefore := len(tableRows[schema.Execution](t, dir, "executions"))
	s := run("key still unusable")
	if s.StillWithoutPayloads != len(denied) || s.PayloadsRecovered != 0 || s.ExecutionsFailed != 0 || s.ExecutionsOK != 0 {
		t.Errorf("key still unusable: %d still without payloads (want %d), %d recovered, %d failed, %d archived (want 0)",
			s.StillWithoutPayloads, len(denied), s.PayloadsRecovered, s.ExecutionsFailed, s.ExecutionsOK)
	}
	metric("executions_still_without_payloads", len(denied))
	// Their payloads go with their histories, which the emulator's dates
	// put past retention: every final one is named at risk, and only they.
	atRisk := map[string]bool{}
	for _, r := range s.RetentionAtRisk {
		atRisk[r.ExecutionArn] = true
		if !strings.Contains(r.Reason, "without its payloads") {
			t.Errorf("%s at risk: %q", r.ExecutionArn, r.Reason)
		}
	}
	if len(atRisk) != final {
		t.Errorf("key still unusable: %d executions at risk, want the %d final ones without payloads", len(atRisk), final)
	}
	if n := len(tableRows[schema.Execution](t, dir, "executions")); n != rowsBefore {
		t.Errorf("key still unusable: %d executions rows written", n-rowsBefore)
	}

	keyFixed.Store(true)
	// A run id that sorts first: its files are read before the older ones,
	// so that verify meets an event's newer row before its older one.
	healRun := "0-recovering"
	heal := []string{"--run-id", healRun}
	if mend {
		heal = append(heal, "--force", "--rewrite-events")
	}
	s = run("key usable again", heal...)
	if s.PayloadsRecovered != len(denied) || s.StillWithoutPayloads != 0 || s.WithoutPayloads != 0 {
		t.Errorf("key usable again: %d recovered (want %d), %d still without, %d archived without", s.PayloadsRecovered, len(denied), s.StillWithoutPayloads, s.WithoutPayloads)
	}
	metric("executions_payloads_recovered", len(denied))
	if len(s.RetentionAtRisk) != 0 {
		t.Errorf("key usable again: %d executions at risk, want none: %v", len(s.RetentionAtRisk), s.RetentionAtRisk)
	}
	now, inputs := newest(), 0
	for _, e := range execs {
		row := now[e.ARN]
		if row.ExecutionDataIncluded == nil || !*row.ExecutionDataIncluded {
			t.Errorf("%s: newest snapshot execution_data_included %s", e.ARN, fmtBool(row.ExecutionDataIncluded))
		}
		if in := e.Op(0).ExecutionDetails; denied[e.ARN] && in != nil && in.InputPayload != nil {
			inputs++
			if row.InputPayload == nil || *row.InputPayload != *in.InputPayload {
				t.Errorf("%s: the input payload was not archived once readable", e.ARN)
			}
		}
	}
	if inputs == 0 {
		t.Error("no undecryptable execution has an input payload to recover: the check above checked nothing")
	}
	// Every event of theirs with an Input, a Result or an Error is
	// archived again, with its payload: once more in Parquet (the newer
	// row is the event), in place in Postgres. The others stay archived
	// once, as the contract has every event.
	served, copies := 0, map[string]int{}
	for _, e := range execs {
		served += e.History.Len()
	}
	// With --rewrite-events too (a mend), Parquet is given every event
	// and leaves out those it holds as they are: the same rows.
	for _, r := range tableRows[schema.Event](t, dir, "events") {
		copies[fmt.Sprint(r.ExecutionArn, r.EventID)]++
		if r.RunID == healRun && (!denied[r.ExecutionArn] || r.PayloadTruncated != nil && *r.PayloadTruncated) {
			t.Errorf("%s event %d: written again by the recovering run (undecryptable before: %v), truncated %s", r.ExecutionArn, r.EventID, denied[r.ExecutionArn], fmtBool(r.PayloadTruncated))
		}
	}
	twice, once := 0, 0
	for _, e := range execs {
		for id := range int32(e.History.Len()) {
			ev := e.History.Event(int(id))
			want := 1
			if denied[e.ARN] && carriesData(t, ev) {
				want = 2
				twice++
			} else if denied[e.ARN] {
				once++
			}
			if n := copies[fmt.Sprint(e.ARN, id+1)]; n != want {
				t.Fatalf("%s event %d: %d rows in Parquet, want %d", e.ARN, id+1, n, want)
			}
		}
	}
	if twice == 0 || once == 0 {
		t.Errorf("of the undecryptable executions' events, %d carry data and %d none: want some of each", twice, once)
	}
	conn := pgtest.Conn(t, dbURL)
	var without, truncated, events int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{pgSchema, "executions"}.Sanitize()+" WHERE NOT execution_data_included").Scan(&without); err != nil || without != 0 {
		t.Errorf("Postgres: %d executions rows without payloads after the key came back (%v)", without, err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(*) FILTER (WHERE payload_truncated) FROM "+pgx.Identifier{pgSchema, "events"}.Sanitize()).Scan(&events, &truncated); err != nil || events != served || truncated != 0 {
		t.Errorf("Postgres: %d events (want %d), %d without payloads after the key came back (%v)", events, served, truncated, err)
	}

	if s = run("after recovery"); s.PayloadsRecovered != 0 || s.StillWithoutPayloads != 0 || s.ExecutionsOK != 0 {
		t.Errorf("after recovery: %d recovered, %d still without, %d archived (want 0, 0, 0)", s.PayloadsRecovered, s.StillWithoutPayloads, s.ExecutionsOK)
	}
	vreport := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...)
	if v := readVerify(t, vreport); r.code != 0 || v.Complete != len(execs) || v.Sampled == 0 || v.Equal != v.Sampled || len(v.WithoutPayloads) != 0 || len(v.AtRisk) != 0 {
		t.Errorf("verify: exit %d, %d of %d complete, %d of %d sampled equal, %d without payloads, %d at risk, differing content %v, errors %v",
			r.code, v.Complete, len(execs), v.Equal, v.Sampled, len(v.WithoutPayloads), len(v.AtRisk), v.ContentDiffer, v.Errors)
	}
	checkVerifyTakesNewerEventRow(t, dir, url, execs, denied, healRun)

	// Compaction keeping the latest leaves each event once, with its
	// payloads.
	if r := runCLI(t, "compact", "--dest", dir, "--min-age", "0s", "--keep", "latest"); r.code != 0 {
		t.Fatalf("compact: exit %d", r.code)
	}
	rows := tableRows[schema.Event](t, dir, "events")
	for _, r := range rows {
		if r.PayloadTruncated != nil && *r.PayloadTruncated {
			t.Errorf("%s event %d: compacted, still without its payloads", r.ExecutionArn, r.EventID)
		}
	}
	if len(rows) != served {
		t.Errorf("compacted: %d events rows, %d events served", len(rows), served)
	}
}

// carriesData tells from its JSON whether ev has an Input, a Result or an
// Error: what a read without the execution's data leaves out, and so what
// a run that can read the payloads again archives again.
func carriesData(t *testing.T, ev types.Event) bool {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`"Input":{`, `"Result":{`, `"Error":{`, `"Reason":{`} {
		if strings.Contains(string(b), m) {
			return true
		}
	}
	return false
}

// checkVerifyTakesNewerEventRow: of an event archived twice (without its
// payloads, then with them by run newer), verify compares the newer row,
// whole and streamed alike: the older one altered changes nothing, the
// newer one altered is named.
func checkVerifyTakesNewerEventRow(t *testing.T, dir, url string, execs []emulator.Execution, denied map[string]bool, newer string) {
	check := verifyInProcess(t, dir, url, execs)
	var target string
	for _, e := range execs {
		if denied[e.ARN] && carriesData(t, e.History.Event(0)) {
			target = e.ARN
			break
		}
	}
	if target == "" {
		t.Fatal("no undecryptable execution whose first event has an input: nothing to check")
	}
	alter := func(newerRow bool) {
		files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
		altered := 0
		for _, f := range files {
			rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
				for i := range rows {
					r := &rows[i]
					if r.ExecutionArn == target && r.EventID == 1 && (r.RunID == newer) == newerRow {
						r.ExecutionTimeoutSeconds = new(int32(7))
						altered++
					}
				}
				return rows
			})
		}
		if altered != 1 {
			t.Fatalf("%d rows altered, want 1", altered)
		}
	}
	alter(false)
	for _, streamRows := range []int64{0, 1} {
		if rep := check(streamRows); rep.Sampled == 0 || rep.Equal != rep.Sampled || len(rep.Errors) != 0 {
			t.Errorf("the older row of %s altered, streamRows %d: %d of %d equal, differing %v, errors %v", target, streamRows, rep.Equal, rep.Sampled, rep.ContentDiffer, rep.Errors)
		}
	}
	alter(true)
	for _, streamRows := range []int64{0, 1} {
		rep := check(streamRows)
		if len(rep.ContentDiffer) != 1 || rep.ContentDiffer[0].ExecutionArn != target || !strings.Contains(rep.ContentDiffer[0].What, "event 1: column execution_timeout_seconds") {
			t.Errorf("the newer row of %s altered, streamRows %d: differing %v, errors %v", target, streamRows, rep.ContentDiffer, rep.Errors)
		}
	}
}

// TestPayloadsLeftOutAgain: a service that answers an execution without
// its payloads though asked for them (ExecutionDataIncluded false, no
// error) gets one call a run for it, final or still running and
// unchanged: its history is not archived again every night, events and
// all, for payloads that do not come.
func TestPayloadsLeftOutAgain(t *testing.T) {
	execs := emulator.Generate(46, 16, emulator.GenerateOptions{MaxOps: 20})
	leftOut := everyNth(execs, 3)
	_, _, dir, report, args := byFunction(t, execs, emulator.WithDataLeftOut(func(arn string) bool { return leftOut[arn] }))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	if s := readReport(t, report); s.WithoutPayloads != len(leftOut) {
		t.Errorf("first run: %d without payloads, want %d", s.WithoutPayloads, len(leftOut))
	}
	final, running := 0, map[string]bool{}
	for _, row := range tableRows[schema.Execution](t, dir, "executions") {
		if leftOut[row.ExecutionArn] {
			if load.Terminal(aws.ToString(row.Status)) {
				final++
			} else {
				running[row.ExecutionArn] = true
			}
		}
	}
	if final == 0 || len(running) == 0 {
		t.Fatalf("%d final and %d running executions left without payloads: want some of each", final, len(running))
	}
	events := len(tableRows[schema.Event](t, dir, "events"))
	for i := range 2 {
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("rerun %d: exit %d", i, r.code)
		}
		s := readReport(t, report)
		if s.ExecutionsOK != 0 || s.StillWithoutPayloads != len(leftOut) || s.PayloadsRecovered != 0 || s.EventsNew != 0 {
			t.Errorf("rerun %d: %d archived (want 0), %d still without payloads (want %d), %d recovered, %d events written", i, s.ExecutionsOK, s.StillWithoutPayloads, len(leftOut), s.PayloadsRecovered, s.EventsNew)
		}
		if n := len(tableRows[schema.Event](t, dir, "events")); n != events {
			t.Errorf("rerun %d: %d events rows, %d before", i, n, events)
		}
	}
	// So too through state, with a token and --history: the state's rows
	// carry the payloads, the events are read as the service gives them.
	var live []emulator.Execution
	for _, e := range execs {
		if running[e.ARN] {
			live = append(live, e)
		}
	}
	args = append(slices.Clone(args[:len(args)-2*len(emulator.FunctionNames)]), "--manifest", manifestFile(t, live), "--history")
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("through state: exit %d", r.code)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(live) || s.EventsNew != 0 || s.PayloadsRecovered != 0 {
		t.Errorf("through state: %d archived (want %d), %d events written (want 0), %d recovered", s.ExecutionsOK, len(live), s.EventsNew, s.PayloadsRecovered)
	}
}

// TestPayloadsKeptWhenKeyBreaks: a running execution archived with its
// payloads, read again once the service can no longer decrypt them (its
// KMS key disabled, or deleted for good), loses none of them in Postgres,
// where the newer snapshot replaces the rows: the execution's input stays,
// and so does the result of every operation the newer read finds as it was;
// an operation that moved on since (a retried step that then succeeded)
// takes the newer read's state, without the older attempt's error. Parquet
// keeps every snapshot, the older with its payloads. Once the key works
// again the execution is read with its payloads and both stores hold them.
func TestPayloadsKeptWhenKeyBreaks(t *testing.T) {
	skipRunColumns := make([]bool, len(schema.Operations.Columns))
	skipRunColumns[schema.Operations.Column("run_id")] = true
	skipRunColumns[schema.Operations.Column("extracted_at")] = true
	execs := emulator.Generate(47, 20, emulator.GenerateOptions{MinOps: 12, MaxOps: 30})
	var broken atomic.Bool
	var target atomic.Pointer[string] // the execution whose key breaks
	srv, url, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool {
		return broken.Load() && target.Load() != nil && arn == *target.Load()
	}))
	dbURL, pgSchema := pgtest.Schema(t)
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", pgSchema); r.code != 0 {
		t.Fatalf("migrate: exit %d", r.code)
	}
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	s3dest := "s3://" + bucket + "/archive"
	args = append(args, "--dest", dbURL, "--pg-schema", pgSchema, "--dest", s3dest)
	run := func(what string) pipeline.Summary {
		t.Helper()
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
		}
		return readReport(t, report)
	}
	pg, err := load.NewPostgres(context.Background(), dbURL, load.WithPGSchema(pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	pgState := func(arn string) (map[string]schema.Operation, schema.Execution) {
		t.Helper()
		rows, err := pg.Rows(context.Background(), []load.ExecutionState{{Arn: arn}})
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]schema.Operation{}
		for _, o := range rows[arn].Operations {
			ops[o.OperationID] = o
		}
		var row schema.Execution
		q := "SELECT input_payload, execution_data_included FROM " + pgx.Identifier{pgSchema, "executions"}.Sanitize() + " WHERE execution_arn = $1"
		if err := pgtest.Conn(t, dbURL).QueryRow(context.Background(), q, arn).Scan(&row.InputPayload, &row.ExecutionDataIncluded); err != nil {
			t.Fatal(err)
		}
		return ops, row
	}

	// A running execution with a step that failed once and will be retried.
	exec, evs := firstRunning(t, execs, func(e emulator.Execution) bool { return e.Op(0).ExecutionDetails.InputPayload != nil })
	target.Store(new(exec.ARN))
	last := evs[len(evs)-1]
	step := func(typ types.EventType, edit func(*types.Event)) {
		ev := types.Event{EventId: aws.Int32(int32(len(evs) + 1)), EventType: typ, Id: aws.String("retried"), Name: aws.String("charge"),
			SubType: aws.String("Step"), EventTimestamp: aws.Time(last.EventTimestamp.Add(time.Duration(len(evs)) * time.Second))}
		edit(&ev)
		evs = append(evs, ev)
	}
	step(types.EventTypeStepStarted, func(ev *types.Event) { ev.StepStartedDetails = &types.StepStartedDetails{} })
	step(types.EventTypeStepFailed, func(ev *types.Event) {
		ev.StepFailedDetails = &types.StepFailedDetails{
			Error:        &types.EventError{Payload: &types.ErrorObject{ErrorType: aws.String("Timeout"), ErrorMessage: aws.String("card network slow")}, Truncated: aws.Bool(false)},
			RetryDetails: &types.RetryDetails{CurrentAttempt: 1, NextAttemptDelaySeconds: aws.Int32(5)}}
	})
	exec.History = emulator.FixedHistory(slices.Clone(evs))
	srv.Add(exec)
	run("first run")
	before, _ := pgState(exec.ARN)
	results := 0
	for id, o := range before {
		if id != "retried" && o.Result != nil {
			results++
		}
	}
	if results == 0 || before["retried"].ErrorMessage == nil || before[*exec.Op(0).Id].InputPayload == nil {
		t.Fatalf("first run: %d results, the retried step's error %v, an input %v: nothing to keep", results, before["retried"].ErrorMessage, before[*exec.Op(0).Id].InputPayload)
	}

	// The key breaks; the step is retried and succeeds, and the execution
	// goes on.
	broken.Store(true)
	step(types.EventTypeStepStarted, func(ev *types.Event) { ev.StepStartedDetails = &types.StepStartedDetails{} })
	step(types.EventTypeStepSucceeded, func(ev *types.Event) {
		ev.StepSucceededDetails = &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`"charged"`), Truncated: aws.Bool(false)},
			RetryDetails: &types.RetryDetails{CurrentAttempt: 2}}
	})
	exec.History = emulator.FixedHistory(slices.Clone(evs))
	srv.Add(exec)
	if s := run("key broken"); s.ExecutionsOK != 1 || s.WithoutPayloads != 1 {
		t.Fatalf("key broken: %d archived, %d without payloads, want 1 and 1", s.ExecutionsOK, s.WithoutPayloads)
	}
	after, row := pgState(exec.ARN)
	if row.ExecutionDataIncluded == nil || *row.ExecutionDataIncluded {
		t.Errorf("key broken: execution_data_included %s, want false", fmtBool(row.ExecutionDataIncluded))
	}
	if row.InputPayload == nil || *row.InputPayload != *exec.Op(0).ExecutionDetails.InputPayload {
		t.Errorf("key broken: the executions row lost its input")
	}
	// checkKept: of the operations archived with their payloads (before),
	// a snapshot read without them (after) keeps each whole, but the
	// retried step, which succeeded since (its old error gone, its result
	// left out), and, once ended, the execution (its input kept, its
	// result left out).
	checkKept := func(where string, before, after map[string]schema.Operation, ended bool) {
		t.Helper()
		for id, o := range before {
			now, ok := after[id]
			switch {
			case !ok:
				t.Errorf("%s: operation %s gone", where, id)
			case id == "retried":
				if now.Status != "SUCCEEDED" || now.ErrorMessage != nil || now.ErrorType != nil || now.Result != nil {
					t.Errorf("%s: the retried step: status %s, error %v %v, result %v; want SUCCEEDED, no error, no result (left out)", where, now.Status, now.ErrorType, now.ErrorMessage, now.Result)
				}
			case ended && id == *exec.Op(0).Id:
				if now.Status != "SUCCEEDED" || now.InputPayload == nil || *now.InputPayload != *o.InputPayload || now.Result != nil {
					t.Errorf("%s: the execution: status %s, input %v, result %v; want SUCCEEDED, the input kept, no result (left out)", where, now.Status, now.InputPayload, now.Result)
				}
			default:
				if i := schema.DiffRow(schema.Operations, &o, &now, skipRunColumns); i >= 0 {
					t.Errorf("%s: operation %s: %s changed though only its payloads were left out", where, id, schema.Operations.Columns[i].Name)
				}
			}
		}
	}
	checkKept("Postgres, key broken", before, after, false)
	// It ends while the key stays broken; verify compares what the API
	// can say without the data, and the payloads Postgres kept are not
	// taken for differences.
	evs = append(evs, types.Event{EventId: aws.Int32(int32(len(evs) + 1)), EventType: types.EventTypeExecutionSucceeded, Id: exec.Op(0).Id,
		EventTimestamp:            aws.Time(last.EventTimestamp.Add(time.Hour)),
		ExecutionSucceededDetails: &types.ExecutionSucceededDetails{Result: &types.EventResult{Payload: aws.String(`"done"`), Truncated: aws.Bool(false)}}})
	exec.History = emulator.FixedHistory(slices.Clone(evs))
	ended := *emulator.InfoOf(exec)
	ended.Status, ended.End, ended.Result = types.ExecutionStatusSucceeded, evs[len(evs)-1].EventTimestamp, aws.String(`"done"`)
	exec.Info = &ended
	srv.Add(exec)
	if s := run("ended, key broken"); s.ExecutionsOK != 1 || s.WithoutPayloads != 1 {
		t.Fatalf("ended, key broken: %d archived, %d without payloads, want 1 and 1", s.ExecutionsOK, s.WithoutPayloads)
	}
	if _, row := pgState(exec.ARN); row.InputPayload == nil {
		t.Error("ended, key broken: the executions row lost its input")
	}
	vreport := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--dest", dbURL, "--pg-schema", pgSchema, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...)
	v := readVerify(t, vreport)
	if r.code != 0 || v.Sampled != len(execs)-v.NotSampleable || v.Equal != v.Sampled || len(v.WithoutPayloads) != 1 {
		t.Errorf("verify Postgres, key broken: exit %d, %d of %d sampled equal, %d without payloads (want 1), differing %v, errors %v",
			r.code, v.Equal, v.Sampled, len(v.WithoutPayloads), v.ContentDiffer, v.Errors)
	}
	// Parquet holds the events the first run read with their payloads:
	// compared without them too, whole and streamed.
	check := verifyInProcess(t, dir, url, execs)
	for _, stream := range []int64{0, 1} {
		if v := check(stream); v.Sampled != len(execs)-v.NotSampleable || v.Equal != v.Sampled {
			t.Errorf("verify Parquet (streamed past %d rows), key broken: %d of %d sampled equal, differing %v, errors %v", stream, v.Equal, v.Sampled, v.ContentDiffer, v.Errors)
		}
	}
	// Parquet: the newer snapshot as read, the older one as it was; so
	// after a compaction that keeps the latest, which keeps the older one
	// for its payloads.
	snapshots := func(what string, want int) map[string][]schema.Operation {
		t.Helper()
		for _, dest := range []string{dir, s3dest} {
			if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--keep", "latest"); r.code != 0 {
				t.Fatalf("compact %s: exit %d", dest, r.code)
			}
		}
		onS3 := 0
		for _, k := range s3test.Keys(t, srv3, bucket, "archive/executions/") {
			for _, r := range s3Rows[schema.Execution](t, srv3, bucket, k) {
				if r.ExecutionArn == exec.ARN {
					onS3++
				}
			}
		}
		if onS3 != want {
			t.Errorf("%s: S3 holds %d executions rows of the execution, want %d", what, onS3, want)
		}
		snaps, execRows := map[string][]schema.Operation{}, 0
		for _, o := range tableRows[schema.Operation](t, dir, "operations") {
			if o.ExecutionArn == exec.ARN {
				snaps[o.RunID] = append(snaps[o.RunID], o)
			}
		}
		for _, r := range tableRows[schema.Execution](t, dir, "executions") {
			if r.ExecutionArn == exec.ARN {
				execRows++
			}
		}
		if len(snaps) != want || execRows != want {
			t.Fatalf("%s: Parquet holds operations of %d snapshots of the execution and %d executions rows, want %d", what, len(snaps), execRows, want)
		}
		return snaps
	}
	// Parquet's newest snapshot keeps the payloads by the same rule, from
	// the older one, which compaction keeps too.
	byID := func(ops []schema.Operation) map[string]schema.Operation {
		m := map[string]schema.Operation{}
		for _, o := range ops {
			m[o.OperationID] = o
		}
		return m
	}
	var older, newer []schema.Operation
	for _, ops := range snapshots("key broken, compacted", 2) {
		if newer == nil || ops[0].ExtractedAt.After(newer[0].ExtractedAt) {
			older, newer = newer, ops
		} else {
			older = ops
		}
	}
	checkKept("Parquet's newest snapshot, ended", byID(older), byID(newer), true)
	// Once the service has forgotten it, checked against its own rows:
	// its newest snapshot, hashed without the payloads it was written
	// with, is consistent all the same.
	reader, err := load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]archive{"parquet": reader, "postgres": pg} {
		listed, err := archivedListing(context.Background(), a, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(url))
		if err != nil {
			t.Fatal(err)
		}
		v, err := verify.InRounds(context.Background(), client, a, listed, verify.Options{All: true,
			PastRetention: func(st load.ExecutionState) bool { return st.Arn == exec.ARN }})
		listed.close()
		// (The others, running, drawn and not comparable, are checked
		// against their own rows as well.)
		if err != nil || v.SelfChecked-v.NotComparedSelfChecked != 1 || len(v.Inconsistent) != 0 {
			t.Errorf("%s, key broken, the service forgetting it: %v, %d checked against its own rows, inconsistent %v", name, err, v.SelfChecked-v.NotComparedSelfChecked, v.Inconsistent)
		}
	}

	// The key works again: the payloads the newer read left out come.
	broken.Store(false)
	if s := run("key fixed"); s.PayloadsRecovered != 1 {
		t.Errorf("key fixed: %d recovered, want 1", s.PayloadsRecovered)
	}
	healed, row := pgState(exec.ARN)
	if row.ExecutionDataIncluded == nil || !*row.ExecutionDataIncluded {
		t.Errorf("key fixed: execution_data_included %s, want true", fmtBool(row.ExecutionDataIncluded))
	}
	if r := healed["retried"].Result; r == nil || *r != `"charged"` {
		t.Errorf("key fixed: the retried step's result %v", r)
	}
	for _, ops := range snapshots("key fixed, compacted", 1) {
		for _, o := range ops {
			if o.OperationID == "retried" && (o.Result == nil || *o.Result != `"charged"`) {
				t.Errorf("key fixed, compacted: the retried step's result %v", o.Result)
			}
		}
	}
}

// TestPayloadsKeptFromStateWhenKeyBreaks: running executions archived
// through state (a manifest with tokens), then read through history
// without their payloads once the key breaks (state always carries them,
// so it answers the KMS error). History tells some operations otherwise
// than state did (a context's ReplayChildren, a timed-out step's status),
// so the rule is held row by row in Postgres: an input stays; an outcome
// stays where every column but the payloads and those that say how the
// row was read (source, seq, run_id, extracted_at) is as archived, and is
// left out where the row moved on.
func TestPayloadsKeptFromStateWhenKeyBreaks(t *testing.T) {
	execs := emulator.Generate(47, 20, emulator.GenerateOptions{MinOps: 12, MaxOps: 30})
	var broken atomic.Bool
	_, _, _, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(string) bool { return broken.Load() }))
	dbURL, pgSchema := pgtest.Schema(t)
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", pgSchema); r.code != 0 {
		t.Fatalf("migrate: exit %d", r.code)
	}
	var live []emulator.Execution
	for _, e := range execs {
		if s := e.Op(0).Status; s == "STARTED" || s == "PENDING" {
			live = append(live, e)
		}
	}
	args = append(slices.Clone(args[:len(args)-2*len(emulator.FunctionNames)]), "--manifest", manifestFile(t, live), "--dest", dbURL, "--pg-schema", pgSchema)
	pg, err := load.NewPostgres(context.Background(), dbURL, load.WithPGSchema(pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	rows := func() map[string]schema.Operation {
		out := map[string]schema.Operation{}
		for _, e := range live {
			rows, err := pg.Rows(context.Background(), []load.ExecutionState{{Arn: e.ARN}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range rows[e.ARN].Operations {
				out[e.ARN+" "+o.OperationID] = o
			}
		}
		return out
	}
	if r := runCLI(t, args...); r.code != 0 || readReport(t, report).ExecutionsOK != len(live) {
		t.Fatalf("through state: exit %d", r.code)
	}
	before := rows()
	broken.Store(true)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("key broken: exit %d", r.code)
	}
	if s := readReport(t, report); s.WithoutPayloads != len(live) {
		t.Fatalf("key broken: %d archived without payloads, want %d", s.WithoutPayloads, len(live))
	}
	after := rows()
	cols := schema.Operations.Columns
	only := func(pick func(schema.Column) bool) []bool { // a DiffRow mask: skip all but the picked
		skip := make([]bool, len(cols))
		for i, c := range cols {
			skip[i] = !pick(c)
		}
		return skip
	}
	state := only(schema.Operations.StateColumn)
	var kept, movedOn int
	for k, b := range before {
		a := after[k]
		if a.Source != "history" {
			t.Fatalf("%s: source %s after the key broke", k, a.Source)
		}
		same := schema.DiffRow(schema.Operations, &b, &a, state) < 0
		for i, c := range cols {
			one := only(func(x schema.Column) bool { return x.Name == c.Name })
			switch {
			case c.Data == schema.DataInput || c.Data == schema.DataOutcome && same:
				if schema.DiffRow(schema.Operations, &b, &a, one) >= 0 {
					t.Errorf("%s (%s %s): %s not kept", k, b.Type, b.Status, cols[i].Name)
				}
			case c.Data == schema.DataOutcome:
				var zero schema.Operation
				if schema.DiffRow(schema.Operations, &zero, &a, one) >= 0 {
					t.Errorf("%s (%s %s, now %s): %s kept though the operation moved on", k, b.Type, b.Status, a.Status, c.Name)
				}
			}
		}
		switch {
		case b.Result == nil && b.ErrorType == nil:
		case same:
			kept++
		default:
			movedOn++
		}
	}
	if kept == 0 || movedOn == 0 {
		t.Errorf("%d outcomes kept, %d left out for operations that moved on: want some of each", kept, movedOn)
	}
}

// TestKeptPayloadsUnreadable: when the payloads archived before cannot be
// read back for a snapshot read without them (here the archived
// operations file is damaged), the execution is still archived, as read,
// and the run says why.
func TestKeptPayloadsUnreadable(t *testing.T) {
	execs := emulator.Generate(47, 20, emulator.GenerateOptions{MinOps: 12, MaxOps: 30})
	var broken atomic.Bool
	var target atomic.Pointer[string]
	srv, _, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool {
		return broken.Load() && target.Load() != nil && arn == *target.Load()
	}))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	grown, _ := growRunning(t, srv, execs)
	target.Store(new(grown.ARN))
	broken.Store(true)
	var dt string
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		if r.ExecutionArn == grown.ARN {
			dt = r.StartTime.UTC().Format(time.DateOnly)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt="+dt, "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("no operations file in dt=%s", dt)
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, args...)
	s := readReport(t, report)
	if r.code != 0 || s.ExecutionsOK != 1 || s.WithoutPayloads != 1 || !strings.Contains(r.stderr, "could not read the payloads archived before") {
		t.Errorf("exit %d, %d archived (want 1), %d without payloads (want 1); the run does not say why it kept none:\n%s", r.code, s.ExecutionsOK, s.WithoutPayloads, r.stderr)
	}
}

// TestPausedExecutionsArchived: executions paused and resumed (Lambda's
// pause, November 2026) are archived whole into Parquet and Postgres: the
// ExecutionPaused and ExecutionResumed events with their reason, request
// time and whether the timeout was paused in columns of their own; a
// PAUSED execution's PauseDetails and expected timeout in its executions
// row; and a paused execution is not final: the next run reads it again.
func TestPausedExecutionsArchived(t *testing.T) {
	execs := emulator.Generate(51, 200, emulator.GenerateOptions{MaxOps: 12})
	_, url, dir, report, args := byFunction(t, execs)
	dbURL, pgSchema := pgtest.Schema(t)
	args = append(args, "--dest", dbURL, "--pg-schema", pgSchema, "--migrate")
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	client := emulatortest.Client(t, url)
	ctx := context.Background()
	conn := pgtest.Conn(t, dbURL)
	rows := map[string]schema.Execution{}
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		rows[r.ExecutionArn] = r
	}
	paused := []string{}
	for _, e := range execs {
		out, err := extract.Describe(ctx, client, e.ARN)
		if err != nil {
			t.Fatal(err)
		}
		row := rows[e.ARN]
		if !timeEqual(row.ExpectedTimeoutTime, out.ExpectedExecutionTimeoutTimestamp) {
			t.Errorf("%s: expected_execution_timeout_time %v, API %v", e.ARN, row.ExpectedTimeoutTime, out.ExpectedExecutionTimeoutTimestamp)
		}
		p := out.PauseDetails
		if p == nil {
			if row.PauseRequestTime != nil || row.PauseTimeoutPaused != nil || row.PauseReason != nil {
				t.Errorf("%s: not paused, pause columns %v %v %v", e.ARN, row.PauseRequestTime, row.PauseTimeoutPaused, row.PauseReason)
			}
			continue
		}
		paused = append(paused, e.ARN)
		if aws.ToString(row.Status) != "PAUSED" || !timeEqual(row.PauseRequestTime, p.PauseRequestTimestamp) ||
			fmtBool(row.PauseTimeoutPaused) != fmtBool(p.ExecutionTimeoutPaused) || aws.ToString(row.PauseReason) != aws.ToString(p.Reason) {
			t.Errorf("%s: paused %+v, row status %s, pause %v %s %q", e.ARN, p, aws.ToString(row.Status), row.PauseRequestTime, fmtBool(row.PauseTimeoutPaused), aws.ToString(row.PauseReason))
		}
		var pgStatus string
		var pgTime time.Time
		var pgPaused bool
		var pgReason *string
		err = conn.QueryRow(ctx, "SELECT status, pause_request_time, pause_execution_timeout_paused, pause_reason FROM "+pgx.Identifier{pgSchema, "executions"}.Sanitize()+
			" WHERE execution_arn = $1", e.ARN).Scan(&pgStatus, &pgTime, &pgPaused, &pgReason)
		if err != nil || pgStatus != "PAUSED" || !pgTime.Equal(*p.PauseRequestTimestamp) || pgPaused != *p.ExecutionTimeoutPaused || aws.ToString(pgReason) != aws.ToString(p.Reason) {
			t.Errorf("%s: Postgres %s %v %v %q (%v), API %+v", e.ARN, pgStatus, pgTime, pgPaused, aws.ToString(pgReason), err, p)
		}
	}
	// The pause events, from the API, against their rows.
	events := map[string]schema.Event{}
	for _, r := range tableRows[schema.Event](t, dir, "events") {
		events[fmt.Sprint(r.ExecutionArn, "/", r.EventID)] = r
	}
	pauses, resumes := 0, 0
	for _, e := range execs {
		for k := range e.History.Len() {
			ev := e.History.Event(k)
			row, ok := events[fmt.Sprint(e.ARN, "/", *ev.EventId)]
			switch {
			case ev.ExecutionPausedDetails != nil:
				pauses++
				d := ev.ExecutionPausedDetails
				if !ok || !timeEqual(row.RequestTime, d.PauseRequestTimestamp) || fmtBool(row.ExecutionTimeoutPaused) != fmtBool(d.ExecutionTimeoutPaused) ||
					d.Reason != nil && aws.ToString(row.Reason) != aws.ToString(d.Reason.Payload) || row.OverflowJSON != nil {
					t.Errorf("%s: pause %+v archived as %+v", e.ARN, d, row)
				}
			case ev.ExecutionResumedDetails != nil:
				resumes++
				d := ev.ExecutionResumedDetails
				if !ok || !timeEqual(row.RequestTime, d.ResumeRequestTimestamp) || d.Reason != nil && aws.ToString(row.Reason) != aws.ToString(d.Reason.Payload) {
					t.Errorf("%s: resume %+v archived as %+v", e.ARN, d, row)
				}
			}
		}
	}
	var pgPauses int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{pgSchema, "events"}.Sanitize()+
		" WHERE event_type = 'ExecutionPaused' AND request_time IS NOT NULL AND execution_timeout_paused IS NOT NULL").Scan(&pgPauses); err != nil || pgPauses != pauses {
		t.Errorf("Postgres: %d pause events with their columns (%v), want %d", pgPauses, err, pauses)
	}
	if len(paused) < 3 || resumes < 3 {
		t.Fatalf("%d paused executions, %d resumes: too few to test", len(paused), resumes)
	}
	// A paused execution is not final: read again by the next run.
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	s := readReport(t, report)
	final := 0
	for _, r := range rows {
		if load.Terminal(aws.ToString(r.Status)) {
			final++
		}
	}
	if s.SkippedTerminal != final {
		t.Errorf("second run: %d skipped as terminal, want %d (paused ones are not)", s.SkippedTerminal, final)
	}
}

// timeEqual compares two optional times.
func timeEqual(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

// TestRetentionOfDeletedExecutions: an execution being deleted
// (DeleteDurableExecution: status DELETING) loses its history now,
// whatever its retention: one the run could not archive is at risk at
// once, though it ended yesterday; one it archived is not.
func TestRetentionOfDeletedExecutions(t *testing.T) {
	now := time.Now().UTC()
	var execs []emulator.Execution
	deleting, failing := map[string]bool{}, map[string]bool{}
	for i, e := range emulator.Generate(53, 24, emulator.GenerateOptions{MaxOps: 8, Start: now.AddDate(0, 0, -2), Days: 1}) {
		info := *emulator.InfoOf(e)
		if info.Status != types.ExecutionStatusRunning && info.End != nil && i%2 == 0 { // ended: the only ones DeleteDurableExecution takes
			info.Status = types.ExecutionStatusDeleting
			deleting[e.ARN] = true
			if len(deleting)%2 == 0 {
				failing[e.ARN] = true
			}
		}
		e.Info = &info
		execs = append(execs, e)
	}
	if len(failing) == 0 || len(failing) == len(deleting) {
		t.Fatalf("%d executions being deleted, %d of them failing: want some of each", len(deleting), len(failing))
	}
	url := failingServer(t, execs, failing)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--report", report, "--max-attempts", "1", "--retry-failed-after", "0", "--status", "DELETING"}, functionArgs()...)...)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	s := readReport(t, report)
	if s.ExecutionsOK+s.ExecutionsFailed != len(deleting) {
		t.Errorf("--status DELETING: %d archived and %d failed, want %d in all", s.ExecutionsOK, s.ExecutionsFailed, len(deleting))
	}
	if len(s.RetentionAtRisk) != len(failing) {
		t.Fatalf("%d at risk, want the %d that failed: %+v", len(s.RetentionAtRisk), len(failing), s.RetentionAtRisk)
	}
	for _, a := range s.RetentionAtRisk {
		if !failing[a.ExecutionArn] || a.Status != "DELETING" || !strings.HasPrefix(a.Reason, "being deleted (DeleteDurableExecution), failed") ||
			a.HistoryExpiresAt.Before(now) || a.HistoryExpiresAt.After(time.Now()) {
			t.Errorf("at risk %+v", a)
		}
	}
	// Verify says the same of those it finds missing.
	vreport := filepath.Join(t.TempDir(), "v.json")
	before := time.Now()
	runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--report", vreport, "--max-attempts", "1", "--status", "DELETING"}, functionArgs()...)...)
	v := readVerify(t, vreport)
	if len(v.AtRisk) != len(failing) {
		t.Fatalf("verify: %d at risk, want the %d not archived: %+v", len(v.AtRisk), len(failing), v.AtRisk)
	}
	for _, a := range v.AtRisk {
		if !failing[a.ExecutionArn] || a.HistoryExpiresAt.Before(before) || a.HistoryExpiresAt.After(time.Now()) {
			t.Errorf("verify: at risk %+v", a)
		}
	}
}

// TestPausingBecomesPaused: an execution archived PAUSING may become
// PAUSED with no new event (the pause takes effect at the running
// invocation's next checkpoint): the next run reads it again rather than
// leave it as archived on the one-call "unchanged" check, which still
// spares executions archived RUNNING whose history has not moved.
func TestPausingBecomesPaused(t *testing.T) {
	execs := emulator.Generate(55, 40, emulator.GenerateOptions{MaxOps: 8})
	var pausing []emulator.Execution
	running, unchanged := 0, 0 // unchanged: running or paused, and left so
	for i, e := range execs {
		info := *emulator.InfoOf(e)
		if info.Status == types.ExecutionStatusPaused {
			unchanged++
		}
		if info.Status != types.ExecutionStatusRunning {
			continue
		}
		if running++; running%2 == 0 {
			unchanged++
			continue // stays running, unchanged
		}
		info.Status = types.ExecutionStatusPausing
		info.Pause = &types.ExecutionPausedDetails{ExecutionTimeoutPaused: aws.Bool(false), PauseRequestTimestamp: info.Start}
		execs[i].Info = &info
		pausing = append(pausing, execs[i])
	}
	if len(pausing) == 0 || running-len(pausing) == 0 {
		t.Fatalf("%d running, %d of them pausing: want some of each", running, len(pausing))
	}
	srv, _, dir, report, args := byFunction(t, execs)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	for _, e := range pausing {
		info := *e.Info
		info.Status = types.ExecutionStatusPaused
		e.Info = &info
		srv.Add(e) // the same history: no event says it
	}
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.SkippedUnchanged != unchanged {
		t.Errorf("second run: %d skipped as unchanged, want the %d still running or paused", s.SkippedUnchanged, unchanged)
	}
	newest := map[string]schema.Execution{}
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		if cur, ok := newest[r.ExecutionArn]; !ok || r.ExtractedAt.After(cur.ExtractedAt) {
			newest[r.ExecutionArn] = r
		}
	}
	for _, e := range pausing {
		if st := aws.ToString(newest[e.ARN].Status); st != "PAUSED" {
			t.Errorf("%s: archived %s, the API says PAUSED", e.ARN, st)
		}
	}
}

// TestForceKeepsFinalSnapshotWhenKeyBreaks: `etl run --force` over
// executions archived final with their payloads, whose key the service can
// no longer use, leaves them as archived (counted skipped as terminal, with
// a warning) instead of archiving a snapshot without their payloads: a
// final execution cannot change, so such a read could only say less, and
// would mark the archive as lacking payloads it has. Those still running
// are read without their payloads, as always.
func TestForceKeepsFinalSnapshotWhenKeyBreaks(t *testing.T) {
	execs := emulator.Generate(57, 40, emulator.GenerateOptions{MaxOps: 10})
	final := 0
	for _, e := range execs {
		if load.Terminal(string(emulator.InfoOf(e).Status)) {
			final++
		}
	}
	if final == 0 || final == len(execs) {
		t.Fatalf("%d of %d executions final: nothing to tell apart", final, len(execs))
	}
	_, _, dir, report, args := byFunction(t, execs)
	dbURL, pgSchema := pgtest.Schema(t)
	args = append(args, "--dest", dbURL, "--pg-schema", pgSchema, "--migrate")
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	executionsRows := len(tableRows[schema.Execution](t, dir, "executions"))
	// The key breaks for every execution.
	broken := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithUndecryptable(func(string) bool { return true }))
	broken.Add(execs...)
	url, _ := emulatortest.Start(t, broken)
	r := runCLI(t, append(withEndpoint(args, url), "--force")...)
	if r.code != 0 {
		t.Fatalf("run --force: exit %d\n%s", r.code, r.stderr)
	}
	s := readReport(t, report)
	if s.SkippedTerminal != final || s.WithoutPayloads != len(execs)-final || s.ExecutionsFailed != 0 {
		t.Errorf("run --force: %d skipped as terminal (want %d), %d without payloads (want %d), %d failed",
			s.SkippedTerminal, final, s.WithoutPayloads, len(execs)-final, s.ExecutionsFailed)
	}
	if n := strings.Count(r.stderr, "its final snapshot, archived with them, stays as it is"); n != final {
		t.Errorf("%d warnings that a final snapshot stays, want %d", n, final)
	}
	// Only the running ones got a new snapshot; every final one still
	// says it has its payloads, in both destinations.
	if n := len(tableRows[schema.Execution](t, dir, "executions")); n != executionsRows+len(execs)-final {
		t.Errorf("%d executions rows, want %d", n, executionsRows+len(execs)-final)
	}
	var withoutPG int
	q := "SELECT count(*) FROM " + pgx.Identifier{pgSchema, "executions"}.Sanitize() + " WHERE NOT execution_data_included"
	if err := pgtest.Conn(t, dbURL).QueryRow(context.Background(), q).Scan(&withoutPG); err != nil {
		t.Fatal(err)
	}
	if withoutPG != len(execs)-final {
		t.Errorf("Postgres: %d executions without payloads, want %d", withoutPG, len(execs)-final)
	}
}

// TestVerifyStateWhenKeyBreaks: an execution archived through state (with
// its token) whose key broke since cannot be read again that way,
// GetDurableExecutionState having no read without the payloads: verify
// counts it not compared and names it among payloads_not_compared, not as
// an error (exit 0: the archive holds it whole); the rest compare equal,
// whole and streamed.
func TestVerifyStateWhenKeyBreaks(t *testing.T) {
	execs := emulator.Generate(61, 24, emulator.GenerateOptions{MaxOps: 10, Settled: true})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir, manifest := t.TempDir(), manifestFile(t, execs)
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	denied := everyNth(execs, 3)
	broken := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithUndecryptable(func(arn string) bool { return denied[arn] }))
	broken.Add(execs...)
	brokenURL, _ := emulatortest.Start(t, broken)
	want := finalAmong(t, execs, denied, "has a broken key") // compared, were the key whole
	check := func(what string, v verify.Report) {
		t.Helper()
		if len(v.Errors) != 0 || len(v.ContentDiffer) != 0 || v.Sampled == 0 || v.Equal != v.Sampled || len(v.PayloadsUnchecked) != want || v.NotSampleable < want {
			t.Errorf("%s: %d of %d equal, %d not compared, %d named without payloads (want %d), differing %v, errors %v",
				what, v.Equal, v.Sampled, v.NotSampleable, len(v.PayloadsUnchecked), want, v.ContentDiffer, v.Errors)
		}
		for _, arn := range v.PayloadsUnchecked {
			if !denied[arn] {
				t.Errorf("%s: %s named without its payloads, which the service can decrypt", what, arn)
			}
		}
	}
	report := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, "verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", brokenURL, "--all", "--report", report)
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
	check("CLI", readVerify(t, report))
	byStream := verifyInProcess(t, dir, brokenURL, execs)
	for _, streamRows := range []int64{0, 1} {
		check(fmt.Sprint("streamRows ", streamRows), *byStream(streamRows))
	}
}

// TestVerifyWhenKeyBreaksAfterArchiving: executions archived with their
// payloads whose key the service can no longer use are compared without
// them (the archive holds them whole: a nightly verify must not fail for
// it), named in payloads_not_compared, in both destinations and both ways
// of comparing; a difference elsewhere in them is still one.
func TestVerifyWhenKeyBreaksAfterArchiving(t *testing.T) {
	execs := emulator.Generate(58, 40, emulator.GenerateOptions{MaxOps: 10})
	_, dir, _, _, pg := archivedToBoth(t, execs)
	denied := everyNth(execs, 3)
	broken := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithUndecryptable(func(arn string) bool { return denied[arn] }))
	broken.Add(execs...)
	url, _ := emulatortest.Start(t, broken)
	unchecked := func(what string, v verify.Report) {
		t.Helper()
		if len(v.Errors) != 0 || len(v.ContentDiffer) != 0 || v.Sampled == 0 || v.Equal != v.Sampled || len(v.PayloadsUnchecked) == 0 {
			t.Fatalf("%s: %d of %d equal, %d compared without payloads, differing %v, errors %v", what, v.Equal, v.Sampled, len(v.PayloadsUnchecked), v.ContentDiffer, v.Errors)
		}
		for _, arn := range v.PayloadsUnchecked {
			if !denied[arn] {
				t.Fatalf("%s: %s compared without its payloads, which the service can decrypt", what, arn)
			}
		}
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", report}, dest...), functionArgs()...)...)
		v := readVerify(t, report)
		if r.code != 0 {
			t.Errorf("%s: exit %d", dest[1], r.code)
		}
		unchecked(dest[1], v)
		if want := fmt.Sprintf("; %d compared without their payloads", len(v.PayloadsUnchecked)); !strings.Contains(r.stdout, want) {
			t.Errorf("%s: the summary does not say %q:\n%s", dest[1], want, r.stdout)
		}
	}
	check := verifyInProcess(t, dir, url, execs)
	for _, streamRows := range []int64{0, 1} {
		unchecked(fmt.Sprint("streamRows ", streamRows), *check(streamRows))
	}
	// So too, compared as archived without its payloads (its newest
	// snapshot says so), an execution whose events were archived with
	// them before its key broke: what its events' overflow_json keeps of
	// odd payloads (an empty Error object) is left out like the payloads.
	// (The snapshot is made so by its flag alone: its content hash still
	// covers the payloads, the one difference left.)
	leftOut := filepath.Join(t.TempDir(), "left-out")
	if err := os.CopyFS(leftOut, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(leftOut, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		rewriteFile(t, f, func(rows []schema.Execution) []schema.Execution {
			for i := range rows {
				if denied[rows[i].ExecutionArn] {
					rows[i].ExecutionDataIncluded = new(false)
				}
			}
			return rows
		})
	}
	odd := 0
	for _, ev := range tableRows[schema.Event](t, leftOut, "events") {
		if denied[ev.ExecutionArn] && ev.OverflowJSON != nil && strings.Contains(*ev.OverflowJSON, `"Error":{}`) {
			odd++
		}
	}
	if odd == 0 {
		t.Fatal("no event of an undecryptable execution with an empty Error: nothing to check")
	}
	for _, streamRows := range []int64{0, 1} {
		v := verifyInProcess(t, leftOut, url, execs)(streamRows)
		if len(v.Errors) != 0 || len(v.ContentDiffer) == 0 || len(v.PayloadsUnchecked) != 0 || len(v.WithoutPayloads) == 0 {
			t.Errorf("archived without payloads, streamRows %d: %d of %d equal, %d without payloads, %d unchecked, differing %v, errors %v",
				streamRows, v.Equal, v.Sampled, len(v.WithoutPayloads), len(v.PayloadsUnchecked), v.ContentDiffer, v.Errors)
		}
		for _, d := range v.ContentDiffer {
			if !denied[d.ExecutionArn] || d.What != verify.ContentHashDiffers {
				t.Errorf("archived without payloads, streamRows %d: %s: %s", streamRows, d.ExecutionArn, d.What)
			}
		}
	}
	// A difference outside the payloads is still one.
	checkAlteredEventFound(t, dir, url, execs, check(0).PayloadsUnchecked[0])
}

// TestStateWithoutStartDatedByTheService: a state whose EXECUTION
// operation gives no start time, read with --history, is archived under
// the start GetDurableExecution gives, not the run's date (which would
// move its rows, events written once, to another date every run); its
// events are then where verify reads them.
func TestStateWithoutStartDatedByTheService(t *testing.T) {
	start := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/no-start/1"
	e := emulator.Fixed(arn, "tok", []types.Operation{
		{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusStarted, ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String("{}")}},
		{Id: aws.String("step"), ParentId: aws.String("exec"), Name: aws.String("charge"), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded,
			StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String(`"ok"`)}},
	})
	e.History = emulator.FixedHistory([]types.Event{
		{EventId: aws.Int32(1), EventType: types.EventTypeExecutionStarted, Id: aws.String("exec"), EventTimestamp: aws.Time(start),
			ExecutionStartedDetails: &types.ExecutionStartedDetails{Input: &types.EventInput{Payload: aws.String("{}"), Truncated: aws.Bool(false)}}},
		{EventId: aws.Int32(2), EventType: types.EventTypeStepStarted, Id: aws.String("step"), ParentId: aws.String("exec"), Name: aws.String("charge"), SubType: aws.String("Step"),
			EventTimestamp: aws.Time(start.Add(time.Second)), StepStartedDetails: &types.StepStartedDetails{}},
		{EventId: aws.Int32(3), EventType: types.EventTypeStepSucceeded, Id: aws.String("step"), ParentId: aws.String("exec"), Name: aws.String("charge"), SubType: aws.String("Step"),
			EventTimestamp: aws.Time(start.Add(2 * time.Second)), StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(`"ok"`), Truncated: aws.Bool(false)}}},
	})
	e.Info = &emulator.Info{Name: "no-start", Status: types.ExecutionStatusRunning, Start: aws.Time(start), InputPayload: aws.String("{}")}
	srv := emulator.New()
	srv.Add(e)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	if r := runCLI(t, "run", "--manifest", manifestFile(t, []emulator.Execution{e}), "--dest", dir, "--endpoint-url", url, "--history"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	for _, table := range []string{"executions", "operations", "events"} {
		files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
		if len(files) != 1 || filepath.Base(filepath.Dir(files[0])) != "dt=2026-01-10" {
			t.Errorf("%s: %v, want one file under dt=2026-01-10 (GetDurableExecution's start)", table, files)
		}
	}
}

// TestStateWithHistoryRerunFullRead: with --history, from a service that
// ignores ReverseOrder (so each running history is read whole), a rerun
// leaves the executions whose state and history are as archived so, and
// archives the one whose state went on and the one whose history grew;
// no event lands twice.
func TestStateWithHistoryRerunFullRead(t *testing.T) {
	execs := emulator.Generate(21, 30, emulator.GenerateOptions{MaxOps: 120})
	srv := emulator.New(emulator.WithIgnoredReverseOrder())
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--manifest", manifestFile(t, execs), "--dest", dir, "--endpoint-url", url, "--report", report, "--history"}
	if r := runCLI(t, append(args, "--run-id", "first")...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	wentOn := stateGoesOn(t, srv, execs)
	i := slices.IndexFunc(execs, func(e emulator.Execution) bool { return e.ARN == wentOn.ARN })
	grown, _ := growRunning(t, srv, execs[i+1:])
	if r := runCLI(t, append(args, "--run-id", "second")...); r.code != 0 {
		t.Fatalf("second run: exit %d", r.code)
	}
	s := readReport(t, report)
	if s.ExecutionsOK != 2 || s.SkippedUnchanged == 0 || s.EventsNew != 2 {
		t.Errorf("second run: %d archived again, %d unchanged, %d new events: want the two that went on archived (2 new events), the others left as archived", s.ExecutionsOK, s.SkippedUnchanged, s.EventsNew)
	}
	var again []string
	for _, row := range tableRows[schema.Execution](t, dir, "executions") {
		if row.RunID == "second" {
			again = append(again, row.ExecutionArn)
		}
	}
	slices.Sort(again)
	want := []string{wentOn.ARN, grown.ARN}
	slices.Sort(want)
	if !slices.Equal(again, want) {
		t.Errorf("executions rows of the second run %v, want %v", again, want)
	}
	readEvents(t, dir) // fails on an event archived twice
}

// TestStateWithHistoryRerunReadsNoUnchangedHistory: with --history, a
// rerun reads the state of the executions still running again, but no
// page of a history that has not grown since (one small call each proves
// it); those whose state is as archived are left so, and the one whose
// state went on gains an executions row that keeps the event count and
// last event id the first run archived; no event lands twice.
func TestStateWithHistoryRerunReadsNoUnchangedHistory(t *testing.T) {
	srv, url, manifest, execs := fixture(t, 30)
	dir, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--report", report, "--history", "--page-size", "20"}
	if r := runCLI(t, append(args, "--run-id", "first")...); r.code != 0 {
		t.Fatalf("first run: exit %d", r.code)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(execs) || s.Pages <= int64(2*len(execs)) {
		t.Fatalf("first run: %d archived, %d pages: want all %d, histories of several pages", s.ExecutionsOK, s.Pages, len(execs))
	}
	changed := stateGoesOn(t, srv, execs)
	if r := runCLI(t, append(args, "--run-id", "second")...); r.code != 0 {
		t.Fatalf("second run: exit %d", r.code)
	}
	s := readReport(t, report)
	running := s.ExecutionsOK + s.SkippedUnchanged
	if s.ExecutionsOK != 1 || s.SkippedUnchanged == 0 || s.SkippedTerminal == 0 || s.Events != 0 || s.EventsNew != 0 ||
		s.APICallsByOperation["GetDurableExecutionHistory"] != int64(running) || s.APICallsByOperation["GetDurableExecution"] != int64(running) {
		t.Errorf("second run: %d archived again, %d unchanged, %d terminal skipped, %d events read, %d written, calls %v: want the running ones' state again, one history call each, the one that went on archived",
			s.ExecutionsOK, s.SkippedUnchanged, s.SkippedTerminal, s.Events, s.EventsNew, s.APICallsByOperation)
	}
	first := map[string]schema.Execution{}
	var again int
	for _, row := range tableRows[schema.Execution](t, dir, "executions") {
		if row.RunID == "first" {
			first[row.ExecutionArn] = row
		}
	}
	for _, row := range tableRows[schema.Execution](t, dir, "executions") {
		if row.RunID != "second" {
			continue
		}
		again++
		f := first[row.ExecutionArn]
		if row.EventCount == nil || row.LastEventID == nil || f.EventCount == nil || f.LastEventID == nil ||
			*row.EventCount != *f.EventCount || *row.LastEventID != *f.LastEventID || *row.EventCount == 0 {
			t.Errorf("%s: event count %v and last id %v, the first run's %v and %v", row.ExecutionArn, row.EventCount, row.LastEventID, f.EventCount, f.LastEventID)
		}
	}
	if again != 1 {
		t.Errorf("%d executions rows of the second run, want %s's alone", again, changed.ARN)
	}
	readEvents(t, dir) // fails on an event archived twice
}
