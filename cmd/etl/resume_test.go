package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

func report(t *testing.T, path string) pipeline.Summary {
	t.Helper()
	var s pipeline.Summary
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &s) != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return s
}

// TestRerunSkipsTerminal: a scheduled rerun skips the executions whose last
// snapshot was terminal and reads the others again (leaving those unchanged
// as archived: TestStateRerunLeavesUnchanged); --force takes all. Read
// through state, an EXECUTION operation CANCELLED (the operation enum's)
// is as final as the execution statuses.
func TestRerunSkipsTerminal(t *testing.T) {
	_, url, manifest, execs := fixture(t, 30)
	terminalN, cancelled := 0, 0
	for _, e := range execs {
		switch e.Op(0).Status {
		case "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED":
			terminalN++
		case "CANCELLED":
			terminalN++
			cancelled++
		}
	}
	if cancelled == 0 {
		t.Fatal("fixture has no CANCELLED EXECUTION operation")
	}
	if terminalN == 0 || terminalN == len(execs) {
		t.Fatalf("fixture has %d terminal executions of %d", terminalN, len(execs))
	}
	dir, rep := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	for i, tc := range []struct {
		args                           []string
		ok, skippedTerminal, unchanged int
	}{
		{nil, len(execs), 0, 0},
		{nil, 0, terminalN, len(execs) - terminalN},
		{[]string{"--force"}, len(execs), 0, 0},
	} {
		args := append([]string{"run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--report", rep}, tc.args...)
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("run %d: exit %d", i, r.code)
		}
		if s := report(t, rep); s.ExecutionsOK != tc.ok || s.SkippedTerminal != tc.skippedTerminal || s.SkippedUnchanged != tc.unchanged {
			t.Errorf("run %d: %d archived, %d skipped as terminal, %d as unchanged; want %d, %d, %d", i, s.ExecutionsOK, s.SkippedTerminal, s.SkippedUnchanged, tc.ok, tc.skippedTerminal, tc.unchanged)
		}
	}
}

// TestStateRerunLeavesUnchanged: read through state (a manifest's
// tokens), a still-running execution whose operations are as the newest
// snapshot archived has them is left as archived (skipped_unchanged), no
// row of it written again, in Parquet and Postgres alike (their ledgers
// agree), with --history too; one whose state changed is archived again,
// and one whose newest snapshots the destinations hold differ (a
// destination behind) too.
func TestStateRerunLeavesUnchanged(t *testing.T) {
	srv, url, manifest, execs := fixture(t, 30)
	dir, rep := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	dbURL, pgSchema := pgtest.Schema(t)
	conn := pgtest.Conn(t, dbURL)
	base := []string{"run", "--manifest", manifest, "--endpoint-url", url, "--report", rep}
	parquetOnly := append(slices.Clone(base), "--dest", dir)
	both := append(slices.Clone(parquetOnly), "--dest", dbURL, "--pg-schema", pgSchema, "--migrate")
	run := func(args []string, runID string) pipeline.Summary {
		t.Helper()
		if r := runCLI(t, append(args, "--run-id", runID)...); r.code != 0 {
			t.Fatalf("%s: exit %d", runID, r.code)
		}
		return report(t, rep)
	}
	// What each run archived: its executions rows, in Parquet and Postgres.
	archivedBy := func(runID string) (inParquet, inPostgres []string) {
		t.Helper()
		for _, r := range executionRows(t, dir) {
			if r.RunID == runID {
				inParquet = append(inParquet, r.ExecutionArn)
			}
		}
		rows, err := conn.Query(context.Background(), "SELECT execution_arn FROM "+pgx.Identifier{pgSchema, "executions"}.Sanitize()+" WHERE run_id = $1", runID)
		if err != nil {
			t.Fatal(err)
		}
		inPostgres, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(inParquet)
		slices.Sort(inPostgres)
		return inParquet, inPostgres
	}
	// Parquet first; Postgres added beside it then holds nothing, so
	// the intersection knows no content: every running one is read and
	// archived into Postgres, and into Parquet only the one that went on
	// since (Parquet holds the others' newest snapshots as they are);
	// the ended ones into Postgres alone (Parquet holds them ended, the
	// same).
	first := run(parquetOnly, "first")
	running := first.ExecutionsOK
	for _, e := range execs {
		if load.Terminal(string(e.Op(0).Status)) {
			running--
		}
	}
	if running < 3 {
		t.Fatalf("fixture has %d running executions", running)
	}
	i := slices.IndexFunc(execs, func(e emulator.Execution) bool { return !load.Terminal(string(e.Op(0).Status)) })
	wentOn := stateGoesOn(t, srv, execs[i+1:]) // not the one the "changed" step below takes
	if s := run(both, "beside"); s.ExecutionsOK != len(execs) || s.SkippedUnchanged != 0 {
		t.Errorf("a destination added: %d archived, %d unchanged; want every one (%d) archived", s.ExecutionsOK, s.SkippedUnchanged, len(execs))
	}
	if p, q := archivedBy("beside"); !slices.Equal(p, []string{wentOn.ARN}) || len(q) != len(execs) {
		t.Errorf("a destination added: executions rows %v in Parquet, %d in Postgres; want the one that went on (%s), and all %d", p, len(q), wentOn.ARN, len(execs))
	}
	// Both hold the same newest snapshots: nothing is written.
	if s := run(both, "again"); s.ExecutionsOK != 0 || s.SkippedUnchanged != running {
		t.Errorf("rerun: %d archived, %d unchanged; want 0, %d", s.ExecutionsOK, s.SkippedUnchanged, running)
	}
	if p, q := archivedBy("again"); len(p)+len(q) != 0 {
		t.Errorf("rerun wrote executions rows of unchanged executions: %d in Parquet, %d in Postgres", len(p), len(q))
	}
	// One running execution goes on: a new operation in its state.
	changed := stateGoesOn(t, srv, execs)
	if s := run(both, "changed"); s.ExecutionsOK != 1 || s.SkippedUnchanged != running-1 {
		t.Errorf("after a change: %d archived, %d unchanged; want 1, %d", s.ExecutionsOK, s.SkippedUnchanged, running-1)
	}
	if p, q := archivedBy("changed"); !slices.Equal(p, []string{changed.ARN}) || !slices.Equal(q, p) {
		t.Errorf("after a change, archived %v in Parquet and %v in Postgres; want %s in each", p, q, changed.ARN)
	}
	// Parquet falls behind (its newest snapshot of the changed one
	// removed): their newest snapshots differ, so it is archived again.
	files, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "part-changed-*.parquet"))
	if len(files) == 0 {
		t.Fatal("the change's run wrote no file")
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if s := run(both, "behind"); s.ExecutionsOK != 1 || s.SkippedUnchanged != running-1 {
		t.Errorf("a destination behind: %d archived, %d unchanged; want 1, %d", s.ExecutionsOK, s.SkippedUnchanged, running-1)
	}
	if p, q := archivedBy("behind"); !slices.Equal(p, []string{changed.ARN}) || len(q) != 0 {
		t.Errorf("a destination behind: archived %v in Parquet and %v in Postgres, want %s in Parquet alone", p, q, changed.ARN)
	}
	// With --history: once to archive the histories, then unchanged in
	// both (its newest event, and its state).
	withHistory := append(slices.Clone(both), "--history")
	if s := run(withHistory, "history"); s.ExecutionsOK != len(execs) || s.EventsNew == 0 {
		t.Errorf("--history: %d archived, %d new events; want every one (%d) with its events", s.ExecutionsOK, s.EventsNew, len(execs))
	}
	if s := run(withHistory, "history-again"); s.ExecutionsOK != 0 || s.SkippedUnchanged != running {
		t.Errorf("--history rerun: %d archived, %d unchanged; want 0, %d", s.ExecutionsOK, s.SkippedUnchanged, running)
	}
	if s := run(append(both, "--force"), "forced"); s.ExecutionsOK != len(execs) || s.SkippedUnchanged != 0 {
		t.Errorf("--force: %d archived, %d unchanged; want %d, 0", s.ExecutionsOK, s.SkippedUnchanged, len(execs))
	}

	// A state archive in Parquet, and a Postgres added by a run that
	// reads the histories too: Parquet, which holds no event, is given
	// every one, of the ended executions too.
	dir2 := t.TempDir()
	run(append(slices.Clone(base), "--dest", dir2), "state-only")
	db2, schema2 := pgtest.Schema(t)
	run(append(slices.Clone(base), "--dest", dir2, "--dest", db2, "--pg-schema", schema2, "--migrate", "--history"), "histories")
	var events int
	for _, e := range execs {
		events += e.History.Len()
	}
	if got := len(tableRows[schema.Event](t, dir2, "events")); got != events {
		t.Errorf("a destination added by a run with --history: Parquet holds %d events, want every one (%d)", got, events)
	}
}

// TestResumedBesideAHalfPublishedTwin: a run into two Parquet
// destinations, killed after one published (here: the attempt was given
// that one alone) and resumed under its run id, through state, state
// and history, and history alone. The resumed run archives every
// execution into the other, and none into the one that holds them
// already: no second snapshot there, not even of the running ones, nor
// an event twice.
func TestResumedBesideAHalfPublishedTwin(t *testing.T) {
	for _, source := range []string{"state", "state and history", "history"} {
		t.Run(source, func(t *testing.T) {
			var execs []emulator.Execution
			var args []string
			first, twin := t.TempDir(), t.TempDir()
			if source == "history" {
				execs = emulator.Generate(73, 30, emulator.GenerateOptions{MaxOps: 20})
				_, _, dir, _, by := byFunction(t, execs)
				args = append(by, "--run-id", "r1")
				first = dir
			} else {
				var url, manifest string
				_, url, manifest, execs = fixture(t, 30)
				args = []string{"run", "--manifest", manifest, "--endpoint-url", url, "--report", filepath.Join(t.TempDir(), "r.json"), "--run-id", "r1", "--dest", first}
				if source == "state and history" {
					args = append(args, "--history")
				}
			}
			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("the killed attempt: exit %d\n%s", r.code, r.stderr)
			}
			running := 0
			for _, e := range execs {
				if !terminal(e) {
					running++
				}
			}
			if running == 0 || running == len(execs) {
				t.Fatalf("%d of %d executions running: the test wants both kinds", running, len(execs))
			}
			if r := runCLI(t, append(args, "--dest", twin)...); r.code != 0 {
				t.Fatalf("resumed: exit %d\n%s", r.code, r.stderr)
			}
			for _, d := range []string{first, twin} {
				if n := len(executionRows(t, d)); n != len(execs) {
					t.Errorf("%s holds %d executions rows, want one an execution (%d, %d running)", d, n, len(execs), running)
				}
				archiveState(t, d) // fails on an operation archived twice
				if source != "state" {
					rows := tableRows[schema.Event](t, d, "events")
					keys := map[string]bool{}
					for _, ev := range rows {
						keys[fmt.Sprint(ev.ExecutionArn, "/", ev.EventID)] = true
					}
					if len(keys) != len(rows) || len(rows) == 0 {
						t.Errorf("%s holds %d events, %d by key: want some, each once", d, len(rows), len(keys))
					}
				}
			}
		})
	}
}

// archiveState is an archive's content, whatever the runs and files: each
// execution's content hash, and the operation rows' count.
func archiveState(t *testing.T, dir string) (map[string]string, int) {
	t.Helper()
	execs := executionsIn(t, dir) // fails on a duplicate execution
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	ops := 0
	seen := map[string]bool{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Operation](f)
		if err != nil {
			t.Fatalf("%s is not a whole Parquet file: %v", f, err)
		}
		for _, r := range rows {
			k := r.ExecutionArn + "\x00" + r.OperationID
			if seen[k] {
				t.Fatalf("operation %s of %s archived twice", r.OperationID, r.ExecutionArn)
			}
			seen[k] = true
		}
		ops += len(rows)
	}
	return execs, ops
}

// TestKill9Resume: etl is killed with SIGKILL at ten seeded points of a run
// (into Parquet and Postgres at once); each time, a rerun with the same
// --run-id completes the archive, which then equals an uninterrupted run's:
// no visible partial file, no duplicate in either destination.
func TestKill9Resume(t *testing.T) {
	execs := emulator.Generate(91, 30, emulator.GenerateOptions{MaxOps: 120})
	emu := emulator.New(emulator.WithLatency(3 * time.Millisecond))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	manifest := manifestFile(t, execs)
	common := []string{"--manifest", manifest, "--endpoint-url", url, "--page-size", "20", "--concurrency", "3", "--target-file-size", "48KiB", "--log-level", "warn"}

	ref := t.TempDir()
	if r := runCLI(t, append([]string{"run", "--dest", ref}, common...)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d", r.code)
	}
	wantExecs, wantOps := archiveState(t, ref)
	totalPages := emu.Stats().PagesOK

	rng := rand.New(rand.NewPCG(2026, 11))
	kills := 10
	if testing.Short() { // the race run
		kills = 4
	}
	for i := range kills {
		killAt := 1 + rng.Int64N(totalPages-1)
		t.Run(fmt.Sprintf("kill after %d of %d pages", killAt, totalPages), func(t *testing.T) {
			dir := t.TempDir()
			dbURL, pgSchema := pgtest.Schema(t)
			runID := fmt.Sprintf("resume-%d", i)
			args := append([]string{"run", "--dest", dir, "--dest", dbURL, "--pg-schema", pgSchema, "--migrate", "--run-id", runID}, common...)
			killAfterPages(t, emu, args, killAt)

			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("resumed run: exit %d", r.code)
			}
			// Whatever the killed run was writing in _incoming, the
			// resumed run removed (no live run held it): nothing is left.
			left, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, "*"))
			hidden, _ := filepath.Glob(filepath.Join(dir, load.IncomingDir, ".*"))
			if left = append(left, hidden...); len(left) > 0 {
				t.Errorf("left in _incoming after the resumed run: %v", left)
			}
			gotExecs, gotOps := archiveState(t, dir)
			if len(gotExecs) != len(wantExecs) || gotOps != wantOps {
				t.Fatalf("%d executions and %d operations, want %d and %d", len(gotExecs), gotOps, len(wantExecs), wantOps)
			}
			for arn, h := range wantExecs {
				if gotExecs[arn] != h {
					t.Errorf("%s differs from the uninterrupted archive", arn)
				}
			}
			conn := pgtest.Conn(t, dbURL)
			var pgExecs, pgOps int
			conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{pgSchema, "executions"}.Sanitize()).Scan(&pgExecs)
			conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{pgSchema, "operations"}.Sanitize()).Scan(&pgOps)
			if pgExecs != len(wantExecs) || pgOps != wantOps {
				t.Errorf("postgres holds %d executions and %d operations, want %d and %d", pgExecs, pgOps, len(wantExecs), wantOps)
			}
		})
	}
}

// killAfterPages runs etl (this test binary as etl) with args and kills it
// with SIGKILL once the emulator has served killAt more pages (or lets it
// finish, if it ends first: then there is nothing to resume). The run's
// TMPDIR is a folder of its own, which must be empty after the kill: every
// temporary file a run makes (spooled manifest, discovery's ARNs, spills)
// has no name from the start, so a killed run leaves none behind.
func killAfterPages(t *testing.T, emu *emulator.Server, args []string, killAt int64) {
	t.Helper()
	start := emu.Stats().PagesOK
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1", "TMPDIR="+tmp)
	defer func() {
		if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
			names := []string{}
			for _, e := range left {
				names = append(names, e.Name())
			}
			t.Errorf("the killed run left %v in its TMPDIR (%v)", names, err)
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
wait:
	for emu.Stats().PagesOK-start < killAt {
		select {
		case <-exited:
			break wait
		default:
			time.Sleep(time.Millisecond) // polling the emulator's counter
		}
	}
	cmd.Process.Kill()
	<-exited
}

// TestKill9ResumeByFunction: a run by discovery publishes start dates as
// it goes; killed with SIGKILL at seeded points (some between two dates'
// publications), a rerun with the same --run-id completes the archive,
// which then equals an uninterrupted run's: every execution, operation and
// event once, one file per table per date. A rerun with a run id of its
// own (a nightly job's) completes it too: every execution, every event
// once.
func TestKill9ResumeByFunction(t *testing.T) {
	execs := emulator.Generate(92, 240, emulator.GenerateOptions{MaxOps: 12, Days: 150, LargePayloadEvery: -1})
	emu := emulator.New(emulator.WithFunctions(emulator.FunctionNames...), emulator.WithLatency(2*time.Millisecond))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	common := append([]string{"--endpoint-url", url, "--concurrency", "3", "--log-level", "warn"}, functionArgs()...)
	ref := t.TempDir()
	before := emu.Stats().PagesOK
	if r := runCLI(t, append([]string{"run", "--dest", ref}, common...)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d", r.code)
	}
	wantExecs, wantOps := archiveState(t, ref)
	wantEvents := 0
	for _, evs := range readEvents(t, ref) {
		wantEvents += len(evs)
	}
	totalPages := emu.Stats().PagesOK - before
	rng := rand.New(rand.NewPCG(2026, 12))
	killedAfterPublishing := 0
	defer func() {
		if killedAfterPublishing == 0 {
			t.Errorf("no killed run had published a date: the kills came too early to test resuming after one")
		}
	}()
	seeds := 6
	if testing.Short() { // the race run
		seeds = 3
	}
	for i := range seeds {
		killAt := totalPages/2 + rng.Int64N(totalPages*2/5) // once dates have been published
		// Every third seed is not resumed: the next run has a run id of
		// its own, as a nightly job's would. It archives again what the
		// killed run left running, and must write no event twice.
		nightly := i%3 == 2
		name := fmt.Sprintf("kill after %d of %d pages", killAt, totalPages)
		if nightly {
			name += ", then a new run"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"run", "--dest", dir, "--run-id", fmt.Sprint("resume-f", i)}, common...)
			killAfterPages(t, emu, args, killAt)
			if published, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet")); len(published) > 0 {
				killedAfterPublishing++
			}
			if nightly {
				args = append([]string{"run", "--dest", dir}, common...)
			}
			if r := runCLI(t, args...); r.code != 0 {
				t.Fatalf("resumed run: exit %d", r.code)
			}
			if nightly {
				events := 0
				for _, evs := range readEvents(t, dir) { // fails on an event archived twice
					events += len(evs)
				}
				arns := map[string]bool{} // a running execution has a row per run
				for _, r := range tableRows[schema.Execution](t, dir, "executions") {
					arns[r.ExecutionArn] = true
				}
				if len(arns) != len(wantExecs) || events != wantEvents {
					t.Fatalf("%d executions, %d events; want %d, %d", len(arns), events, len(wantExecs), wantEvents)
				}
				return
			}
			gotExecs, gotOps := archiveState(t, dir)
			events := 0
			for _, evs := range readEvents(t, dir) { // fails on an event archived twice
				events += len(evs)
			}
			if len(gotExecs) != len(wantExecs) || gotOps != wantOps || events != wantEvents {
				t.Fatalf("%d executions, %d operations, %d events; want %d, %d, %d", len(gotExecs), gotOps, events, len(wantExecs), wantOps, wantEvents)
			}
			for arn, h := range wantExecs {
				if gotExecs[arn] != h {
					t.Errorf("%s differs from the uninterrupted archive", arn)
				}
			}
			for _, table := range []string{"operations", "events", "executions"} {
				files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
				perDT := map[string]int{}
				for _, f := range files {
					if perDT[filepath.Dir(f)]++; perDT[filepath.Dir(f)] > 1 {
						t.Errorf("%s: more than one file", filepath.Dir(f))
					}
				}
			}
		})
	}
}

// TestDestinationAddedBesideTheArchive: a Postgres destination added to
// the run of a Parquet archive that holds every execution already gets
// them all, and Parquet no event twice. The run reads them again; those
// Parquet holds ended go to Postgres alone (no second snapshot of them in
// Parquet), and so do those still running as Parquet holds them; one
// that went on since goes to both, Parquet given only its new events;
// each kind is logged with its count.
// Then Postgres restored from an older backup (some running executions'
// newest events lost): the next run gives it those events and Parquet
// none. Verify finds both destinations equal to the API, and a last run
// skips everything.
func TestDestinationAddedBesideTheArchive(t *testing.T) {
	execs := emulator.Generate(52, 20, emulator.GenerateOptions{MaxOps: 30})
	srv, url, dir, report, args := byFunction(t, execs)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run into Parquet: exit %d\n%s", r.code, r.stderr)
	}
	wentOn, grown := growRunning(t, srv, execs) // two events since Parquet archived it
	events := int64(len(grown))
	var running []emulator.Execution
	for _, e := range execs {
		if e.ARN != wentOn.ARN {
			events += int64(e.History.Len())
		}
		if !terminal(e) {
			running = append(running, e)
		}
	}
	final := len(execs) - len(running)
	if final == 0 || len(running) < 2 {
		t.Fatalf("%d of %d executions ended: the test wants both kinds", final, len(execs))
	}
	dbURL, s := pgtest.Schema(t)
	both := append(append([]string{}, args...), "--dest", dbURL, "--pg-schema", s, "--migrate")
	r := runCLI(t, both...)
	if r.code != 0 {
		t.Fatalf("run into both: exit %d\n%s", r.code, r.stderr)
	}
	logged(t, r, "archived into the destinations that lack them alone", final)
	logged(t, r, "each given only the events it lacks", len(running))
	if strings.Contains(r.stderr, "gets their events again") {
		t.Errorf("warned of events written twice:\n%s", r.stderr)
	}
	if sum := readReport(t, report); sum.ExecutionsOK != len(execs) {
		t.Errorf("run into both archived %d executions, want all %d", sum.ExecutionsOK, len(execs))
	}
	conn := pgtest.Conn(t, dbURL)
	count := func(table string) (n int64) {
		t.Helper()
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{s, table}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	parquetHolds := func(when string, snapshots int) {
		t.Helper()
		if n, e := count("executions"), count("events"); n != int64(len(execs)) || e != events {
			t.Errorf("%s: Postgres holds %d executions and %d events, want %d and %d", when, n, e, len(execs), events)
		}
		keys := map[string]bool{}
		rows := tableRows[schema.Event](t, dir, "events")
		for _, ev := range rows {
			keys[fmt.Sprint(ev.ExecutionArn, "/", ev.EventID)] = true
		}
		if int64(len(keys)) != events || int64(len(rows)) != events {
			t.Errorf("%s: Parquet holds %d events (%d by key), want %d, each once", when, len(rows), len(keys), events)
		}
		if n := len(tableRows[schema.Execution](t, dir, "executions")); n != snapshots {
			t.Errorf("%s: Parquet holds %d executions rows, want %d", when, n, snapshots)
		}
	}
	// No second snapshot in Parquet but of the one that went on: the
	// other running executions are as it holds them, and the ended ones
	// too.
	snapshots := len(execs) + 1
	parquetHolds("added", snapshots)

	// Postgres restored from a backup older than the newest events of
	// two running executions.
	for _, e := range running[:2] {
		keep := e.History.Len() / 2
		for _, q := range []string{"DELETE FROM %s WHERE execution_arn = $1 AND event_id > $2", "UPDATE %s SET event_count = $2::int, last_event_id = $2::int WHERE execution_arn = $1"} {
			table := map[bool]string{true: "events", false: "executions"}[strings.HasPrefix(q, "DELETE")]
			if _, err := conn.Exec(context.Background(), fmt.Sprintf(q, pgx.Identifier{s, table}.Sanitize()), e.ARN, keep); err != nil {
				t.Fatal(err)
			}
		}
	}
	r = runCLI(t, both...)
	if r.code != 0 {
		t.Fatalf("run after the restore: exit %d\n%s", r.code, r.stderr)
	}
	logged(t, r, "each given only the events it lacks", 2)
	parquetHolds("restored", snapshots) // Postgres given its events back, Parquet nothing

	for _, dest := range [][]string{{"--dest", dir}, {"--dest", dbURL, "--pg-schema", s}} {
		vreport := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", vreport}, dest...), functionArgs()...)...)
		if v := readVerify(t, vreport); r.code != 0 || v.Complete != len(execs) || v.Equal != v.Sampled || v.Sampled == 0 {
			t.Errorf("verify %s: exit %d, %d of %d complete, %d of %d sampled equal", dest[1], r.code, v.Complete, len(execs), v.Equal, v.Sampled)
		}
	}
	r = runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != 0 || sum.SkippedTerminal != final || strings.Contains(r.stderr, "a destination lacks") {
		t.Errorf("next run: exit %d, %d archived, %d terminal skipped (want 0 and %d)\n%s", r.code, sum.ExecutionsOK, sum.SkippedTerminal, final, r.stderr)
	}
}

// TestDestinationAddedWhilePayloadsComeBack: Parquet holds executions
// without their payloads (the service could not decrypt them) when a
// Postgres destination is added, and the key works again by then. The
// run reads them with their payloads and writes their events again, the
// payload-carrying ones to Parquet too: Parquet is not spared the events
// it holds then (that would leave it without the payloads for good), a
// warning says it gets events again, and verify finds both destinations
// equal to the API.
func TestDestinationAddedWhilePayloadsComeBack(t *testing.T) {
	execs := emulator.Generate(61, 24, emulator.GenerateOptions{MaxOps: 30})
	denied := everyNth(execs, 3)
	var keyFixed atomic.Bool
	_, url, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] && !keyFixed.Load() }))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run into Parquet: exit %d\n%s", r.code, r.stderr)
	}
	keyFixed.Store(true)
	dbURL, s := pgtest.Schema(t)
	r := runCLI(t, append(append([]string{}, args...), "--dest", dbURL, "--pg-schema", s, "--migrate")...)
	if r.code != 0 {
		t.Fatalf("run into both: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "every destination gets their events again") {
		t.Errorf("no warning of events written again:\n%s", r.stderr)
	}
	if sum := readReport(t, report); sum.ExecutionsOK != len(execs) {
		t.Errorf("run into both: %d archived, want %d", sum.ExecutionsOK, len(execs))
	}
	for _, dest := range [][]string{{"--dest", dir}, {"--dest", dbURL, "--pg-schema", s}} {
		vreport := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append(append([]string{"verify", "--endpoint-url", url, "--all", "--report", vreport}, dest...), functionArgs()...)...)
		if v := readVerify(t, vreport); r.code != 0 || v.Complete != len(execs) || v.Equal != v.Sampled || v.Sampled == 0 || len(v.WithoutPayloads) != 0 {
			t.Errorf("verify %s: exit %d, %d of %d complete, %d of %d sampled equal, %d without payloads", dest[1], r.code, v.Complete, len(execs), v.Equal, v.Sampled, len(v.WithoutPayloads))
		}
	}
}

// TestDestinationFilledThroughStateBesideHistory: Parquet holds ended
// executions read through history; Postgres the same executions, ended
// too, read through state (with their tokens), so without their history.
// A run of both by function reads them again for Postgres's sake and
// writes them to Postgres alone: Parquet gets no event twice.
func TestDestinationFilledThroughStateBesideHistory(t *testing.T) {
	var execs []emulator.Execution
	for _, e := range emulator.Generate(67, 30, emulator.GenerateOptions{MaxOps: 20}) {
		if terminal(e) {
			execs = append(execs, e)
		}
	}
	if len(execs) < 5 {
		t.Fatalf("%d ended executions generated: too few", len(execs))
	}
	var events int64
	for _, e := range execs {
		events += int64(e.History.Len())
	}
	_, url, dir, report, args := byFunction(t, execs)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run into Parquet: exit %d\n%s", r.code, r.stderr)
	}
	dbURL, s := pgtest.Schema(t)
	pg := []string{"--dest", dbURL, "--pg-schema", s}
	if r := runCLI(t, append([]string{"run", "--manifest", manifestFile(t, execs), "--endpoint-url", url, "--migrate"}, pg...)...); r.code != 0 {
		t.Fatalf("run into Postgres through state: exit %d\n%s", r.code, r.stderr)
	}
	r := runCLI(t, append(append([]string{}, args...), pg...)...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != len(execs) {
		t.Fatalf("run into both by function: exit %d, %d archived, want %d\n%s", r.code, sum.ExecutionsOK, len(execs), r.stderr)
	}
	var n int64
	if err := pgtest.Conn(t, dbURL).QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{s, "events"}.Sanitize()).Scan(&n); err != nil || n != events {
		t.Errorf("Postgres holds %d events (%v), want %d", n, err, events)
	}
	if rows := tableRows[schema.Event](t, dir, "events"); int64(len(rows)) != events {
		t.Errorf("Parquet holds %d event rows, want %d, each once", len(rows), events)
	}
	if rows := tableRows[schema.Execution](t, dir, "executions"); len(rows) != len(execs) {
		t.Errorf("Parquet holds %d executions rows, want %d: no second snapshot", len(rows), len(execs))
	}
}

// logged fails t unless r's log has a line holding msg that ends naming
// n executions.
func logged(t *testing.T, r cliResult, msg string, n int) {
	t.Helper()
	if i := strings.Index(r.stderr, msg); i < 0 || !strings.HasSuffix(strings.SplitN(r.stderr[i:], "\n", 2)[0], fmt.Sprintf(" executions=%d", n)) {
		t.Errorf("no log line %q naming %d executions:\n%s", msg, n, r.stderr)
	}
}

// busiestEndedDate is the partition (dt=DATE) of the Parquet folder dir
// holding the most executions rows, all of them ended, and how many; ""
// when none holds only ended ones.
func busiestEndedDate(t *testing.T, dir string) (dt string, n int) {
	t.Helper()
	dts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*"))
	for _, d := range dts {
		files, _ := filepath.Glob(filepath.Join(d, "*.parquet"))
		var rows []schema.Execution
		for _, f := range files {
			rows = append(rows, readFileRows[schema.Execution](t, f)...)
		}
		ended := !slices.ContainsFunc(rows, func(e schema.Execution) bool { return e.Status == nil || !load.Terminal(*e.Status) })
		if ended && len(rows) > n {
			dt, n = filepath.Base(d), len(rows)
		}
	}
	return dt, n
}

// TestParquetDestinationAddedBesideAnother: a second Parquet destination
// added to the run of a Parquet archive is filled as a Postgres would be:
// the executions the first holds ended go to the new one alone, and so
// do those still running, unchanged since (the first given neither a
// snapshot nor events again).
// Then the new one loses a partition's files (as a kill between the two
// destinations' publishes leaves it): the next run gives them back to it
// alone, and the first gets nothing. Each logs its count; the last run
// archives nothing.
func TestParquetDestinationAddedBesideAnother(t *testing.T) {
	var execs []emulator.Execution
	var events int64
	running := 0
	for _, e := range emulator.Generate(71, 40, emulator.GenerateOptions{MaxOps: 20}) {
		if !terminal(e) {
			if running == 3 {
				continue
			}
			running++
		}
		execs = append(execs, e)
		events += int64(e.History.Len())
	}
	if running == 0 || running == len(execs) {
		t.Fatalf("%d of %d executions running: the test wants both kinds", running, len(execs))
	}
	_, _, dir, report, args := byFunction(t, execs)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run into one: exit %d\n%s", r.code, r.stderr)
	}
	holds := func(when, d string, snapshots int) {
		t.Helper()
		rows := tableRows[schema.Event](t, d, "events")
		keys := map[string]bool{}
		for _, ev := range rows {
			keys[fmt.Sprint(ev.ExecutionArn, "/", ev.EventID)] = true
		}
		if int64(len(keys)) != events || int64(len(rows)) != events {
			t.Errorf("%s: %s holds %d events (%d by key), want %d, each once", when, d, len(rows), len(keys), events)
		}
		if n := len(tableRows[schema.Execution](t, d, "executions")); n != snapshots {
			t.Errorf("%s: %s holds %d executions rows, want %d", when, d, n, snapshots)
		}
	}
	twin := t.TempDir()
	both := append(append([]string{}, args...), "--dest", twin)
	r := runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != len(execs) {
		t.Fatalf("run into both: exit %d, %d archived (want %d)\n%s", r.code, sum.ExecutionsOK, len(execs), r.stderr)
	}
	logged(t, r, "archived into the destinations that lack them alone", len(execs)-running)
	logged(t, r, "each given only the events it lacks", running)
	holds("added", dir, len(execs)) // no second snapshot, not even of those running
	holds("added", twin, len(execs))

	// The new one loses the files of the partition with the most
	// executions, all ended: a kill between the two publishes.
	lost, most := busiestEndedDate(t, dir)
	if lost == "" {
		t.Fatal("no partition holds ended executions alone")
	}
	before := map[string]bool{}
	for _, table := range []string{"executions", "operations", "events"} {
		if err := os.RemoveAll(filepath.Join(twin, table, lost)); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
		for _, f := range files {
			before[f] = true
		}
	}
	r = runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != most {
		t.Fatalf("run after the loss: exit %d, %d archived (want %d)\n%s", r.code, sum.ExecutionsOK, most, r.stderr)
	}
	logged(t, r, "archived into the destinations that lack them alone", most)
	holds("restored", dir, len(execs))
	holds("restored", twin, len(execs))
	for _, table := range []string{"executions", "operations", "events"} {
		files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
		for _, f := range files {
			if !before[f] {
				t.Errorf("the first destination got a file: %s", f)
			}
		}
	}
	r = runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != 0 || strings.Contains(r.stderr, "a destination lacks") {
		t.Errorf("next run: exit %d, %d archived (want 0)\n%s", r.code, sum.ExecutionsOK, r.stderr)
	}
}

// TestDestinationsApart: three Parquet destinations (two folders and S3)
// and a Postgres, each
// run given a random few of them, while running executions go on and
// destinations lose things: a Parquet destination a date's files (all
// three tables, as a deleted or older copy leaves them) or its newest
// executions file (as a run killed between a date's renames leaves it),
// Postgres a few executions' rows (as a restore from an older backup
// does), and Parquet destinations are compacted; now and then a run is
// resumed under the same run id. After every run each destination it was
// given holds every event the service has, each once, every execution,
// and (Parquet) no two snapshots of one by one run; a last run of all
// four leaves them all so, and a run after it archives nothing.
func TestDestinationsApart(t *testing.T) {
	seeds := uint64(3)
	if testing.Short() { // the race detector's pass
		seeds = 1
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			execs := emulator.Generate(80+seed, 30, emulator.GenerateOptions{MaxOps: 20, Days: 5})
			srv, url, _, report, _ := byFunction(t, execs)
			growth := emulator.NewGrowth(rng, execs)
			srv.Add(execs...)
			if n := growth.Running(); n < 3 || n == len(execs) {
				t.Fatalf("%d of %d executions running: the test wants both kinds", n, len(execs))
			}
			want := func(e emulator.Execution) int {
				if n, ok := growth.Served(e.ARN); ok {
					return n
				}
				return e.History.Len()
			}
			dbURL, pgSchema := pgtest.Schema(t)
			conn := pgtest.Conn(t, dbURL)
			table := func(name string) string { return pgx.Identifier{pgSchema, name}.Sanitize() }
			const pg = 3
			srv3, bucket := s3test.Bucket(t)
			srv3.Env(t)
			stores := []parquetStore{localStore(t.TempDir()), localStore(t.TempDir()), s3Store{t: t, srv: srv3, bucket: bucket, prefix: "p/"}}
			dests := [][]string{{"--dest", string(stores[0].(localStore))}, {"--dest", string(stores[1].(localStore))}, {"--dest", "s3://" + bucket + "/p"}, {"--dest", dbURL, "--pg-schema", pgSchema, "--migrate"}}
			complete := func(when string, d int) {
				t.Helper()
				var got map[string]int
				var held map[string]bool
				if d == pg {
					got, held = pgHolds(t, conn, table)
				} else {
					got, held = parquetHolds(t, when, stores[d].local())
				}
				for _, e := range execs {
					if got[e.ARN] != want(e) {
						t.Errorf("%s: destination %d holds %d events of %s, want %d", when, d, got[e.ARN], e.ARN, want(e))
					}
				}
				if len(held) != len(execs) {
					t.Errorf("%s: destination %d holds %d executions, want %d", when, d, len(held), len(execs))
				}
			}
			run := func(when string, ds []int, extra ...string) cliResult {
				t.Helper()
				args := append([]string{"run", "--endpoint-url", url, "--report", report}, functionArgs()...)
				for _, d := range ds {
					args = append(args, dests[d]...)
				}
				t.Logf("%s: destinations %v", when, ds)
				r := runCLI(t, append(args, extra...)...)
				if r.code != 0 {
					t.Fatalf("%s: exit %d\n%s", when, r.code, r.stderr)
				}
				for _, d := range ds {
					complete(when, d)
				}
				return r
			}
			var last []int
			lastID := ""
			for round := range 12 {
				when := fmt.Sprint("round ", round)
				ds, resume := pickRun(rng, last, lastID != "", len(dests))
				if !resume {
					srv.Add(growth.Grow()...)
				}
				// A destination loses something; before a resumed run,
				// always one of the run's (the kill left it behind the
				// others).
				d := rng.IntN(len(dests))
				if resume {
					d = ds[rng.IntN(len(ds))]
				}
				if resume || rng.IntN(2) == 0 {
					if d == pg {
						when += fmt.Sprintf(" (Postgres lost %s)", losePostgres(t, rng, conn, table))
					} else {
						when += fmt.Sprintf(" (destination %d lost %s)", d, stores[d].lose(rng))
					}
				}
				id := fmt.Sprint("r", seed, "-", round)
				if resume {
					id, when = lastID, when+" resumed"
				} else if c := rng.IntN(len(dests) + 2); c < pg {
					// A Parquet destination compacted between runs.
					keep := []string{"latest", "all"}[rng.IntN(2)]
					if r := runCLI(t, "compact", "--dest", dests[c][1], "--keep", keep, "--min-age", "0s"); r.code != 0 {
						t.Fatalf("%s: compact %d: exit %d\n%s", when, c, r.code, r.stderr)
					}
					when += fmt.Sprintf(" (destination %d compacted, keeping %s)", c, keep)
				}
				run(when, ds, "--run-id", id)
				last, lastID = ds, id
			}
			all := []int{0, 1, 2, 3}
			run("all four", all)
			if r := run("again", all); strings.Contains(r.stderr, "a destination lacks") {
				t.Errorf("the run after: lacks logged\n%s", r.stderr)
			}
			if sum := readReport(t, report); sum.ExecutionsOK != 0 {
				t.Errorf("the run after archived %d executions, want 0", sum.ExecutionsOK)
			}
		})
	}
}

// pickRun is a run resumed (the last one's destinations, ds, and run id,
// nothing grown since), when canResume, one time in three; else a new one
// of a random few of n destinations, not the last one's few.
func pickRun(rng *rand.Rand, last []int, canResume bool, n int) (ds []int, resume bool) {
	if canResume && rng.IntN(3) == 0 {
		return last, true
	}
	for len(ds) == 0 || slices.Equal(ds, last) {
		ds = nil
		for d := range n {
			if rng.IntN(2) == 0 {
				ds = append(ds, d)
			}
		}
	}
	return ds, false
}

// pgHolds is what a Postgres schema holds: events by execution, and the
// executions.
func pgHolds(t *testing.T, conn *pgx.Conn, table func(string) string) (events map[string]int, execs map[string]bool) {
	t.Helper()
	type arnCount struct {
		Arn string
		N   int
	}
	rows, _ := conn.Query(context.Background(), "SELECT execution_arn, count(*)::int FROM "+table("events")+" GROUP BY 1")
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[arnCount])
	if err != nil {
		t.Fatal(err)
	}
	events, execs = map[string]int{}, map[string]bool{}
	for _, c := range counts {
		events[c.Arn] = c.N
	}
	for _, arn := range pgStrings(t, conn, "SELECT execution_arn FROM "+table("executions")) {
		execs[arn] = true
	}
	return events, execs
}

// parquetHolds is what a Parquet folder holds: events by execution (each
// once, or the test fails), and the executions (no two snapshots of one
// by one run, or it fails).
func parquetHolds(t *testing.T, when, dir string) (events map[string]int, execs map[string]bool) {
	t.Helper()
	events, execs = map[string]int{}, map[string]bool{}
	for arn, evs := range readEvents(t, dir) {
		events[arn] = len(evs)
	}
	runs := map[string]bool{}
	for _, r := range tableRows[schema.Execution](t, dir, "executions") {
		execs[r.ExecutionArn] = true
		if k := r.ExecutionArn + " " + r.RunID; runs[k] {
			t.Errorf("%s: %s holds two snapshots of %s by run %s", when, dir, r.ExecutionArn, r.RunID)
		}
		runs[r.ExecutionArn+" "+r.RunID] = true
	}
	return events, execs
}

// losePostgres deletes every row of a few executions (as a restore from
// an older backup loses them) and says how many.
func losePostgres(t *testing.T, rng *rand.Rand, conn *pgx.Conn, table func(string) string) string {
	t.Helper()
	var exists bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table("executions")).Scan(&exists); err != nil || !exists {
		return "nothing (not migrated yet)"
	}
	var arns []string
	for _, arn := range pgStrings(t, conn, "SELECT execution_arn FROM "+table("executions")+" ORDER BY 1") {
		if rng.IntN(8) == 0 {
			arns = append(arns, arn)
		}
	}
	for _, name := range []string{"events", "operations", "executions"} {
		if _, err := conn.Exec(context.Background(), "DELETE FROM "+table(name)+" WHERE execution_arn = ANY($1)", arns); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("%d executions", len(arns))
}

// pgStrings is the one text column of query's rows.
func pgStrings(t *testing.T, conn *pgx.Conn, query string) []string {
	t.Helper()
	rows, _ := conn.Query(context.Background(), query)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parquetStore is a Parquet destination's files, for a test to read and
// to take from.
type parquetStore interface {
	// names lists the published files under TABLE/dt=DATE/.
	names(table string) []string
	remove(name string)
	// local is a folder holding the published files (a copy, for S3).
	local() string
	// lose takes something (see loseFrom).
	lose(rng *rand.Rand) string
}

// loseFrom takes from s a date's files, every table's, as a deleted or older
// copy leaves them, or the newest executions file of the date (by the
// round in its run id, r<seed>-<round>), as a run killed between
// publishing its events file and that one leaves it; but a compaction's
// file is never lost alone (a compacted date never lacks its executions
// file). It says what it took.
func loseFrom(s parquetStore, rng *rand.Rand) string {
	execs := s.names("executions")
	if len(execs) == 0 {
		return "nothing"
	}
	dt := path.Dir(execs[rng.IntN(len(execs))])
	if rng.IntN(2) == 0 {
		newest, round := "", -1
		for _, n := range execs {
			var seed, r int
			if path.Dir(n) != dt {
				continue
			}
			if _, err := fmt.Sscanf(path.Base(n), "part-r%d-%d-", &seed, &r); err != nil {
				return "nothing (a compacted date)"
			}
			if r > round {
				newest, round = n, r
			}
		}
		s.remove(newest)
		return "the executions file " + newest
	}
	date := path.Base(dt)
	for _, table := range []string{"executions", "operations", "events"} {
		for _, n := range s.names(table) {
			if path.Base(path.Dir(n)) == date {
				s.remove(n)
			}
		}
	}
	return "every file of " + date
}

type localStore string

func (l localStore) names(table string) []string {
	files, _ := filepath.Glob(filepath.Join(string(l), table, "dt=*", "*.parquet"))
	for i, f := range files {
		rel, _ := filepath.Rel(string(l), f)
		files[i] = filepath.ToSlash(rel)
	}
	return files
}

func (l localStore) remove(name string) {
	if err := os.Remove(filepath.Join(string(l), filepath.FromSlash(name))); err != nil {
		panic(err)
	}
}

func (l localStore) local() string { return string(l) }

func (l localStore) lose(rng *rand.Rand) string { return loseFrom(l, rng) }

type s3Store struct {
	t              *testing.T
	srv            s3test.Server
	bucket, prefix string
}

func (s s3Store) names(table string) []string {
	var out []string
	for _, k := range s3test.Keys(s.t, s.srv, s.bucket, s.prefix+table+"/dt=") {
		if strings.HasSuffix(k, ".parquet") {
			out = append(out, strings.TrimPrefix(k, s.prefix))
		}
	}
	return out
}

func (s s3Store) remove(name string) {
	if _, err := s.srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + name)}); err != nil {
		s.t.Fatal(err)
	}
}

// local downloads the published objects into a new folder.
func (s s3Store) local() string {
	dir := s.t.TempDir()
	for _, table := range []string{"executions", "operations", "events"} {
		for _, n := range s.names(table) {
			p := filepath.Join(dir, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				s.t.Fatal(err)
			}
			if err := os.WriteFile(p, s3Object(s.t, s.srv, s.bucket, s.prefix+n), 0o644); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	return dir
}

func (s s3Store) lose(rng *rand.Rand) string { return loseFrom(s, rng) }

// TestParquetBehindPostgres: a Parquet destination loses a date (a kill
// between Postgres's commits and Parquet's publishing leaves it so, or a
// lost copy): the next run gives the date's executions, which Postgres
// holds done, to Parquet alone, and says how many. Postgres then refuses
// any executions row written (a trigger), so that a run that wrote them
// there too would fail.
func TestParquetBehindPostgres(t *testing.T) {
	var execs []emulator.Execution
	for _, e := range emulator.Generate(91, 40, emulator.GenerateOptions{MaxOps: 20, Days: 4}) {
		if terminal(e) {
			execs = append(execs, e)
		}
	}
	_, _, dir, report, args := byFunction(t, execs)
	dbURL, s := pgtest.Schema(t)
	both := append(append([]string{}, args...), "--dest", dbURL, "--pg-schema", s, "--migrate")
	if r := runCLI(t, both...); r.code != 0 {
		t.Fatalf("run into both: exit %d\n%s", r.code, r.stderr)
	}
	lost, most := busiestEndedDate(t, dir)
	if most < 2 || most == len(execs) {
		t.Fatalf("%d of %d executions on the busiest date: the test wants a date of several among others", most, len(execs))
	}
	for _, table := range []string{"executions", "operations", "events"} {
		if err := os.RemoveAll(filepath.Join(dir, table, lost)); err != nil {
			t.Fatal(err)
		}
	}
	conn := pgtest.Conn(t, dbURL)
	refuse := pgx.Identifier{s, "refuse"}.Sanitize()
	for _, q := range []string{
		"CREATE FUNCTION " + refuse + "() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'written again: %', NEW.execution_arn; END$$",
		"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON " + pgx.Identifier{s, "executions"}.Sanitize() + " FOR EACH ROW EXECUTE FUNCTION " + refuse + "()",
	} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != most {
		t.Fatalf("run after the loss: exit %d, %d archived (want %d)\n%s", r.code, sum.ExecutionsOK, most, r.stderr)
	}
	logged(t, r, "archived into the destinations that lack them alone", most)
	var events int
	held := readEvents(t, dir) // each once, or it fails
	for _, e := range execs {
		events += e.History.Len()
		if got := len(held[e.ARN]); got != e.History.Len() {
			t.Errorf("Parquet holds %d events of %s, want %d", got, e.ARN, e.History.Len())
		}
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{s, "events"}.Sanitize()).Scan(&n); err != nil || n != events {
		t.Errorf("Postgres holds %d events (%v), want %d", n, err, events)
	}
}

// TestPostgresLacksPayloadsParquetHolds: Parquet holds executions with
// their payloads; a Postgres added while the service cannot decrypt some
// of them holds those without. Once the key works again, the run reads
// them with their payloads for Postgres alone: Parquet, which holds them
// whole, gets no event twice and no second snapshot, and verify finds
// Postgres whole.
func TestPostgresLacksPayloadsParquetHolds(t *testing.T) {
	var execs []emulator.Execution
	for _, e := range emulator.Generate(63, 30, emulator.GenerateOptions{MaxOps: 30}) {
		if terminal(e) {
			execs = append(execs, e)
		}
	}
	denied := everyNth(execs, 3)
	var keyBroken atomic.Bool
	_, url, dir, report, args := byFunction(t, execs, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] && keyBroken.Load() }))
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("run into Parquet: exit %d\n%s", r.code, r.stderr)
	}
	keyBroken.Store(true)
	dbURL, s := pgtest.Schema(t)
	pg := []string{"--dest", dbURL, "--pg-schema", s}
	both := append(append([]string{}, args...), append(pg, "--migrate")...)
	if r := runCLI(t, both...); r.code != 0 {
		t.Fatalf("run into both, the key broken: exit %d\n%s", r.code, r.stderr)
	}
	if sum := readReport(t, report); sum.ExecutionsOK != len(execs) || sum.WithoutPayloads != len(denied) {
		t.Fatalf("run into both, the key broken: %d archived (want %d), %d without payloads (want %d)", sum.ExecutionsOK, len(execs), sum.WithoutPayloads, len(denied))
	}
	keyBroken.Store(false)
	r := runCLI(t, both...)
	if sum := readReport(t, report); r.code != 0 || sum.ExecutionsOK != len(denied) || strings.Contains(r.stderr, "events again") {
		t.Errorf("run with the key fixed: exit %d, %d archived (want %d), warned of events again: %v\n%s", r.code, sum.ExecutionsOK, len(denied), strings.Contains(r.stderr, "events again"), r.stderr)
	}
	readEvents(t, dir) // each once, or it fails
	if n := len(tableRows[schema.Execution](t, dir, "executions")); n != len(execs) {
		t.Errorf("Parquet holds %d executions rows, want %d: no second snapshot", n, len(execs))
	}
	vreport := filepath.Join(t.TempDir(), "v.json")
	r = runCLI(t, append([]string{"verify", "--endpoint-url", url, "--all", "--report", vreport}, append(pg, functionArgs()...)...)...)
	if v := readVerify(t, vreport); r.code != 0 || v.Complete != len(execs) || v.Equal != v.Sampled || v.Sampled != len(execs) || len(v.WithoutPayloads) != 0 {
		t.Errorf("verify Postgres: exit %d, %d of %d complete, %d of %d sampled equal, %d without payloads", r.code, v.Complete, len(execs), v.Equal, v.Sampled, len(v.WithoutPayloads))
	}
}
