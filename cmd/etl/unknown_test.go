package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/verify"
)

// TestFutureMembersArchived: a service newer than the SDK sends members
// the SDK's model does not know (a new details object on WaitStarted, a
// member in StepSucceededDetails, one in GetDurableExecution's
// DurableConfig, one in state's StepDetails). The SDK skips them; the
// archive keeps them in overflow_json under "Unknown", in Parquet and in
// Postgres, with the token among them redacted; the rows still read back
// as the events the SDK handed over; verify finds the archive equal and a
// rerun writes nothing new.
func TestFutureMembersArchived(t *testing.T) {
	execs := emulator.Generate(53, 40, emulator.GenerateOptions{MaxOps: 20})
	_, url, dir, report, args := byFunction(t, execs, emulator.WithFutureMembers())
	dbURL, pgSchema := pgtest.Schema(t)
	pgArgs := append(append([]string{}, args...), "--dest", dbURL, "--pg-schema", pgSchema, "--migrate")
	r := runCLI(t, pgArgs...)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	// The operator hears of each member once: the SDK wants upgrading.
	for _, m := range []string{"Events[].FutureDetails", "Events[].StepSucceededDetails.Cost", "DurableConfig.ArchiveOnDelete"} {
		if n := strings.Count(r.stderr, m); n != 1 {
			t.Errorf("the run's log names %s %d times, want once:\n%s", m, n, r.stderr)
		}
	}
	events := map[string]schema.Event{}
	for _, r := range tableRows[schema.Event](t, dir, "events") {
		events[fmt.Sprint(r.ExecutionArn, "/", r.EventID)] = r
		if r.OverflowJSON != nil && strings.Contains(*r.OverflowJSON, "token-") {
			t.Errorf("event %d: the token reached the archive: %s", r.EventID, *r.OverflowJSON)
		}
	}
	waits, steps := 0, 0
	for _, e := range execs {
		for k := range e.History.Len() {
			ev := e.History.Event(k)
			row, ok := events[fmt.Sprint(e.ARN, "/", *ev.EventId)]
			if !ok {
				t.Fatalf("%s: event %d not archived", e.ARN, *ev.EventId)
			}
			var want string
			switch {
			case ev.EventType == types.EventTypeWaitStarted:
				waits++
				want = fmt.Sprintf(`"Unknown":{"FutureDetails":{"CheckpointToken":"[redacted]","Levels":[1,2.50],"Note":"wait <%d> & more"}}}`, *ev.EventId)
			case ev.StepSucceededDetails != nil && ev.EventType == types.EventTypeStepSucceeded:
				steps++
				want = `"Unknown":{"StepSucceededDetails":{"Cost":{"Units":3}}}}`
			}
			got := ""
			if row.OverflowJSON != nil {
				got = *row.OverflowJSON
			}
			if want != "" && !strings.HasSuffix(got, want) || want == "" && strings.Contains(got, "Unknown") {
				t.Errorf("%s event %d (%s): overflow_json %s, want it to end %s", e.ARN, *ev.EventId, ev.EventType, got, want)
			}
			if d := optest.DiffEventRow(ev, &row); d != "" {
				t.Errorf("%s event %d reads back otherwise:\n%s", e.ARN, *ev.EventId, d)
			}
		}
	}
	if waits < 3 || steps < 3 {
		t.Fatalf("%d WaitStarted and %d StepSucceeded events: too few to test", waits, steps)
	}
	withConfig := 0
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		if r.RetentionPeriodDays == nil {
			continue
		}
		withConfig++
		if r.OverflowJSON == nil || !strings.HasSuffix(*r.OverflowJSON, `"Unknown":{"DurableConfig":{"ArchiveOnDelete":true}}}`) {
			t.Errorf("%s: executions overflow_json %v", r.ExecutionArn, r.OverflowJSON)
		}
	}
	if withConfig == 0 {
		t.Fatal("no execution with a DurableConfig: nothing tested")
	}
	// Postgres holds the same, as JSON it can query.
	ctx := context.Background()
	conn := pgtest.Conn(t, dbURL)
	var pgWaits, pgTokens int
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE overflow_json::jsonb -> 'Unknown' -> 'FutureDetails' ->> 'CheckpointToken' = '[redacted]'), "+
		"count(*) FILTER (WHERE overflow_json LIKE '%token-%') FROM "+pgx.Identifier{pgSchema, "events"}.Sanitize()).Scan(&pgWaits, &pgTokens); err != nil {
		t.Fatal(err)
	}
	if pgWaits != waits || pgTokens != 0 {
		t.Errorf("Postgres: %d events with FutureDetails (want %d), %d with the token (want 0)", pgWaits, waits, pgTokens)
	}
	// Verify compares equal, and a rerun finds no new event.
	vreport := filepath.Join(t.TempDir(), "v.json")
	r = runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", vreport}, functionArgs()...)...)
	if v := readVerify(t, vreport); r.code != 0 || v.Sampled == 0 || v.Equal != v.Sampled {
		t.Errorf("verify: exit %d, %d of %d sampled equal, differing %v %v", r.code, v.Equal, v.Sampled, v.ContentDiffer, v.Differing)
	}
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.EventsNew != 0 {
		t.Errorf("rerun: %d new events, want 0", s.EventsNew)
	}
}

// TestFutureMembersArchivedThroughState: the state path keeps a step's
// unknown member with its operation row, and the row reads back as the
// operation the SDK handed over.
func TestFutureMembersArchivedThroughState(t *testing.T) {
	execs := emulator.Generate(54, 20, emulator.GenerateOptions{MaxOps: 30})
	srv := emulator.New(emulator.WithFutureMembers())
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	if r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", dir, "--endpoint-url", url); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	rows := map[string]schema.Operation{}
	for _, r := range tableRows[schema.Operation](t, dir, "operations") {
		rows[r.ExecutionArn+"/"+r.OperationID] = r
	}
	steps := 0
	for _, e := range execs {
		for i := range e.Len {
			op := e.Op(i)
			row, ok := rows[e.ARN+"/"+*op.Id]
			if !ok {
				t.Fatalf("%s: operation %s not archived", e.ARN, *op.Id)
			}
			if op.StepDetails != nil {
				steps++
				want := fmt.Sprintf(`"Unknown":{"StepDetails":{"Budget":{"Left":%d}}}}`, op.StepDetails.Attempt)
				if row.OverflowJSON == nil || !strings.HasSuffix(*row.OverflowJSON, want) {
					t.Errorf("%s operation %s: overflow_json %v, want it to end %s", e.ARN, *op.Id, row.OverflowJSON, want)
				}
			}
			if d := optest.DiffRow(op, &row); d != "" {
				t.Errorf("%s operation %s reads back otherwise:\n%s", e.ARN, *op.Id, d)
			}
		}
	}
	if steps < 3 {
		t.Fatalf("%d steps: too few to test", steps)
	}
}

// TestMembersArchivedBeforeKept: executions archived before the service
// sent members the SDK does not know (or before etl kept them) lack them
// for good, their events being written once. Verify tells such rows apart
// from differences, in both destinations and both ways of comparing
// (whole and streamed), without hiding a real difference among them; and
// `etl run --force` archives them again, after which verify finds the
// archive equal and a plain rerun writes nothing.
func TestMembersArchivedBeforeKept(t *testing.T) {
	execs := emulator.Generate(55, 30, emulator.GenerateOptions{MaxOps: 20})
	_, dir, report, args, pg := archivedToBoth(t, execs)
	// The same executions, served by a service that now sends members
	// the SDK does not know.
	newer := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithFutureMembers())
	newer.Add(execs...)
	url, _ := emulatortest.Start(t, newer)
	verifyArgs := func(dest ...string) []string {
		return append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", filepath.Join(t.TempDir(), "v.json")}, dest...), functionArgs()...)
	}
	lacking := func(what string, code int, v verify.Report) {
		t.Helper()
		if code != 1 || len(v.LacksUnknown) == 0 || len(v.ContentDiffer) != 0 || len(v.Errors) != 0 || v.Equal+len(v.LacksUnknown) != v.Sampled {
			t.Fatalf("%s: exit %d, %d sampled, %d equal, lacking %v, differing %v, errors %v", what, code, v.Sampled, v.Equal, v.LacksUnknown, v.ContentDiffer, v.Errors)
		}
		for _, d := range v.LacksUnknown {
			if !strings.Contains(d.What, "etl run --force") {
				t.Fatalf("%s: %q does not say what mends it", what, d.What)
			}
		}
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		a := verifyArgs(dest...)
		r := runCLI(t, a...)
		v := readVerify(t, a[5])
		lacking(dest[1], r.code, v)
		if want := fmt.Sprintf("; %d archived without members etl's SDK does not know (etl run --force archives them again)", len(v.LacksUnknown)); !strings.Contains(r.stdout, want) {
			t.Errorf("%s: the summary does not say %q:\n%s", dest[1], want, r.stdout)
		}
	}
	check := verifyInProcess(t, dir, url, execs)
	for _, streamRows := range []int64{0, 1} {
		v := check(streamRows)
		lacking(fmt.Sprint("streamRows ", streamRows), 1, *v)
	}

	// A real difference among them is still one.
	target := check(0).LacksUnknown[0].ExecutionArn
	altered := filepath.Join(t.TempDir(), "altered")
	if err := os.CopyFS(altered, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	checkAlteredEventFound(t, altered, url, execs, target)

	// --force archives them again, in both destinations.
	for _, dest := range [][]string{nil, pg} {
		if r := runCLI(t, append(withEndpoint(args, url), append(dest, "--force")...)...); r.code != 0 {
			t.Fatalf("run --force %v: exit %d\n%s", dest, r.code, r.stderr)
		}
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		a := verifyArgs(dest...)
		r := runCLI(t, a...)
		if v := readVerify(t, a[5]); r.code != 0 || v.Sampled == 0 || v.Equal != v.Sampled {
			t.Errorf("%s after --force: exit %d, %d of %d equal, lacking %v, differing %v", dest[1], r.code, v.Equal, v.Sampled, v.LacksUnknown, v.ContentDiffer)
		}
	}
	// Parquet now holds two rows of each such event: the newer is the
	// event, whole and streamed alike.
	for _, streamRows := range []int64{0, 1} {
		if v := check(streamRows); v.Sampled == 0 || v.Equal != v.Sampled {
			t.Errorf("streamRows %d after --force: %d of %d equal, lacking %v, differing %v, errors %v", streamRows, v.Equal, v.Sampled, v.LacksUnknown, v.ContentDiffer, v.Errors)
		}
	}
	if r := runCLI(t, withEndpoint(args, url)...); r.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.EventsNew != 0 {
		t.Errorf("rerun: %d new events, want 0", s.EventsNew)
	}
	// Another --force finds them held as they are: Parquet gains no
	// events row.
	held := len(tableRows[schema.Event](t, dir, "events"))
	if r := runCLI(t, append(withEndpoint(args, url), "--force")...); r.code != 0 {
		t.Fatalf("run --force again: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(tableRows[schema.Event](t, dir, "events")); n != held {
		t.Errorf("run --force again: %d events rows, %d before", n, held)
	}
	if s := readReport(t, report); s.EventsNew != 0 {
		t.Errorf("run --force again: %d new events, want 0", s.EventsNew)
	}
}

// TestMembersArchivedBeforeKeptThroughState: the same through state,
// whose operations rows keep such members (and whose content hash covers
// them).
func TestMembersArchivedBeforeKeptThroughState(t *testing.T) {
	execs := emulator.Generate(56, 20, emulator.GenerateOptions{MaxOps: 30, Settled: true})
	older := emulator.New()
	older.Add(execs...)
	olderURL, _ := emulatortest.Start(t, older)
	newer := emulator.New(emulator.WithFutureMembers())
	newer.Add(execs...)
	url, _ := emulatortest.Start(t, newer)
	dir, manifest := t.TempDir(), manifestFile(t, execs)
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", olderURL); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	verifyNow := func() (int, verify.Report) {
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, "verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--all", "--report", report)
		return r.code, readVerify(t, report)
	}
	if code, v := verifyNow(); code != 1 || len(v.LacksUnknown) == 0 || len(v.ContentDiffer) != 0 || v.Equal+len(v.LacksUnknown) != v.Sampled ||
		!strings.Contains(v.LacksUnknown[0].What, "operation ") {
		t.Fatalf("verify: exit %d, %d sampled, %d equal, lacking %v, differing %v", code, v.Sampled, v.Equal, v.LacksUnknown, v.ContentDiffer)
	}
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--force"); r.code != 0 {
		t.Fatalf("run --force: exit %d\n%s", r.code, r.stderr)
	}
	if code, v := verifyNow(); code != 0 || v.Sampled == 0 || v.Equal != v.Sampled {
		t.Errorf("verify after --force: exit %d, %d of %d equal, lacking %v, differing %v", code, v.Equal, v.Sampled, v.LacksUnknown, v.ContentDiffer)
	}
}

// TestColumnsArchivedBeforeKept: events archived by an etl older than
// some of their columns (the pause events' reason, request_time and
// execution_timeout_paused: null in the archive, as the SDK then dropped
// their details) are told apart from differences, in both destinations
// and both ways of comparing, without hiding a real difference among
// them; `etl run --force` archives them again, after which verify finds
// the archive equal and a plain rerun writes nothing.
func TestColumnsArchivedBeforeKept(t *testing.T) {
	execs := emulator.Generate(57, 48, emulator.GenerateOptions{MaxOps: 12})
	url, dir, report, args, pg := archivedToBoth(t, execs)
	// The archive as an older etl made it: no values in those columns.
	older := map[string]bool{} // the executions with such events
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	for _, f := range files {
		rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
			for i := range rows {
				if schema.HasSinceValue(schema.Events, &rows[i]) {
					older[rows[i].ExecutionArn] = true
					schema.ClearSince(schema.Events, &rows[i])
				}
			}
			return rows
		})
	}
	conn := pgtest.Conn(t, pg[1]) // pg: --dest URL --pg-schema SCHEMA
	if _, err := conn.Exec(context.Background(), "UPDATE "+pgx.Identifier{pg[3], "events"}.Sanitize()+" SET reason = NULL, request_time = NULL, execution_timeout_paused = NULL"); err != nil {
		t.Fatal(err)
	}
	final := finalAmong(t, execs, older, "has a pause event") // of those, the ones verify compares
	lacking := func(what string, v verify.Report) {
		t.Helper()
		if len(v.LacksColumns) != final || len(v.ContentDiffer) != 0 || len(v.Errors) != 0 || v.Equal+final != v.Sampled || v.OK() {
			t.Errorf("%s: %d sampled, %d equal, lacking %v (want %d), differing %v, errors %v", what, v.Sampled, v.Equal, v.LacksColumns, final, v.ContentDiffer, v.Errors)
		}
		for _, d := range v.LacksColumns {
			if !older[d.ExecutionArn] || !strings.Contains(d.What, "etl run --force") || !strings.HasPrefix(d.What, "event ") {
				t.Errorf("%s: %s: %q", what, d.ExecutionArn, d.What)
			}
		}
	}
	verifyAll := func(dest ...string) (int, verify.Report) {
		path := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", path}, dest...), functionArgs()...)...)
		return r.code, readVerify(t, path)
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		code, v := verifyAll(dest...)
		lacking(dest[1], v)
		if code != exitFailed {
			t.Errorf("%s: exit %d", dest[1], code)
		}
	}
	check := verifyInProcess(t, dir, url, execs)
	for _, streamRows := range []int64{0, 1} {
		lacking(fmt.Sprint("streamRows ", streamRows), *check(streamRows))
	}

	// A real difference among them is still one.
	altered := filepath.Join(t.TempDir(), "altered")
	if err := os.CopyFS(altered, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	checkAlteredEventFound(t, altered, url, execs, check(0).LacksColumns[0].ExecutionArn)

	// --force archives them again, in both destinations.
	if r := runCLI(t, append(append([]string{}, args...), append(pg, "--force")...)...); r.code != 0 {
		t.Fatalf("run --force: exit %d\n%s", r.code, r.stderr)
	}
	for _, dest := range [][]string{{"--dest", dir}, pg} {
		if code, v := verifyAll(dest...); code != 0 || v.Sampled == 0 || v.Equal != v.Sampled {
			t.Errorf("%s after --force: exit %d, %d of %d equal, lacking %v, differing %v", dest[1], code, v.Equal, v.Sampled, v.LacksColumns, v.ContentDiffer)
		}
	}
	for _, streamRows := range []int64{0, 1} {
		if v := check(streamRows); v.Sampled == 0 || v.Equal != v.Sampled {
			t.Errorf("streamRows %d after --force: %d of %d equal, lacking %v, differing %v, errors %v", streamRows, v.Equal, v.Sampled, v.LacksColumns, v.ContentDiffer, v.Errors)
		}
	}
	if r := runCLI(t, append(append([]string{}, args...), pg...)...); r.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.EventsNew != 0 {
		t.Errorf("rerun: %d new events, want 0", s.EventsNew)
	}
	// Another --force finds them held as they are: Parquet gains no
	// events row.
	held := len(tableRows[schema.Event](t, dir, "events"))
	if r := runCLI(t, append(append([]string{}, args...), append(pg, "--force")...)...); r.code != 0 {
		t.Fatalf("run --force again: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(tableRows[schema.Event](t, dir, "events")); n != held {
		t.Errorf("run --force again: %d events rows, %d before", n, held)
	}
	// (Postgres, which cannot tell, is given them again: events_new
	// counts them; its upsert rewrites none unchanged.)
}
