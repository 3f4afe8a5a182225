package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/verify"
)

// TestVerifySelfCheck: executions past their retention, and those still
// running (drawn for the sample, not comparable), are checked against
// their own executions rows in every destination: Postgres, which keeps
// every operation and stores U+0000 as U+FFFD (the generated executions'
// error messages hold one), and Parquet read as streams; rows deleted or
// altered there are found, an intact archive is consistent.
func TestVerifySelfCheck(t *testing.T) {
	ctx := context.Background()
	old := emulator.Generate(43, 16, emulator.GenerateOptions{MaxOps: 30}) // ended in January
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(old...)
	url, _ := emulatortest.Start(t, srv)
	dir := filepath.Join(t.TempDir(), "archive")
	dbURL, s := pgtest.Schema(t)
	if r := runCLI(t, "run", "--all-functions", "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	// Every generated execution has a U+0000 somewhere; one without,
	// archived through state by another server.
	jan := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	clean := emulator.Fixed("arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/clean/1", "tok", []types.Operation{
		{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded, StartTimestamp: aws.Time(jan), EndTimestamp: aws.Time(jan.Add(time.Hour)),
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String(`{"order":1}`)}},
		{Id: aws.String("step-1"), ParentId: aws.String("exec"), Name: aws.String("charge"), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded,
			StartTimestamp: aws.Time(jan), EndTimestamp: aws.Time(jan.Add(time.Minute)), StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String(`"ok"`)}},
	})
	other := emulator.New()
	other.Add(clean)
	otherURL, _ := emulatortest.Start(t, other)
	if r := runCLI(t, "run", "--manifest", manifestFile(t, []emulator.Execution{clean}), "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", otherURL, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	ended := []string{clean.ARN}
	var running []string
	for _, e := range old {
		if terminal(e) {
			ended = append(ended, e.ARN)
		} else {
			running = append(running, e.ARN)
		}
	}
	slices.Sort(ended)
	slices.Sort(running)
	if len(ended) < 3 || len(running) < 1 {
		t.Fatalf("%d of %d generated executions ended: too few ended or running to alter", len(ended), len(old))
	}
	client, err := extract.NewClient(ctx, extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// check verifies the archive alone, every execution, those past
	// their retention against their own rows, and returns what is
	// inconsistent, by ARN.
	check := func(reader archive, dest string, streamRows int64) map[string]string {
		t.Helper()
		listed, err := archivedListing(ctx, reader, dest, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer listed.close()
		asked := func() (n int64) {
			for _, arn := range ended {
				n += srv.Requests("get", arn)
			}
			return n
		}
		before := asked()
		rep, err := verify.InRounds(ctx, client, reader, listed, verify.Options{All: true, Concurrency: 4, StreamRows: streamRows,
			PastRetention: func(st load.ExecutionState) bool { return pastRetention(st, now) }})
		if err != nil {
			t.Fatal(err)
		}
		if rep.SelfChecked != len(ended)+len(running) || rep.NotComparedSelfChecked != len(running) || rep.PastRetention != len(ended) || len(rep.Errors) != 0 {
			t.Fatalf("%s: %d checked against their own rows (%d not compared), %d past retention, want %d (%d) and %d; errors %v",
				dest, rep.SelfChecked, rep.NotComparedSelfChecked, rep.PastRetention, len(ended)+len(running), len(running), len(ended), rep.Errors)
		}
		if n := asked() - before; n != 0 {
			t.Errorf("%s: %d requests for executions past their retention", dest, n)
		}
		found := map[string]string{}
		for _, d := range rep.Inconsistent {
			found[d.ExecutionArn] = d.What
			// A running one the API described: a run with --force reads
			// it again; one past its retention was not asked.
			if d.AtService != slices.Contains(running, d.ExecutionArn) {
				t.Errorf("%s: inconsistent %s, at_service %v, running %v", dest, d.ExecutionArn, d.AtService, slices.Contains(running, d.ExecutionArn))
			}
		}
		return found
	}

	pg, err := load.NewPostgres(ctx, dbURL, load.WithPGSchema(s), load.WithReadOnly(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	if found := check(pg, dbURL, 0); len(found) != 0 {
		t.Fatalf("postgres, intact: inconsistent %v", found)
	}
	conn := pgtest.Conn(t, dbURL)
	table := func(name string) string { return pgx.Identifier{s, name}.Sanitize() }
	// The U+FFFD that Postgres stores for U+0000 leaves the content hash
	// unchecked (the intact archive above is consistent all the same);
	// an execution without one has it checked.
	const replaced = `position(U&'\FFFD' in concat(name, error_type, error_message, error_data, result, input_payload, overflow_json, array_to_string(error_stack_trace, ''))) > 0`
	var withFFFD int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT execution_arn) FROM "+table("operations")+" WHERE execution_arn = ANY($1) AND "+replaced, ended).Scan(&withFFFD); err != nil {
		t.Fatal(err)
	}
	if withFFFD == 0 {
		t.Fatal("no ended execution with U+FFFD in its operations: the test proves nothing")
	}
	lessOps, lessEvents := ended[1], ended[2]
	// A running one loses an event.
	runningLess := running[0]
	for _, q := range []struct {
		sql string
		arn string
	}{
		{"DELETE FROM " + table("operations") + " WHERE execution_arn = $1 AND seq = 1", lessOps},
		{"DELETE FROM " + table("events") + " WHERE execution_arn = $1 AND event_id = 2", lessEvents},
		{"UPDATE " + table("operations") + " SET name = 'tampered' WHERE execution_arn = $1 AND seq = 1", clean.ARN},
		{"DELETE FROM " + table("events") + " WHERE execution_arn = $1 AND event_id = 2", runningLess},
	} {
		if tag, err := conn.Exec(ctx, q.sql, q.arn); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v, %d rows", q.sql, err, tag.RowsAffected())
		}
	}
	found := check(pg, dbURL, 0)
	if len(found) != 4 || !strings.HasPrefix(found[lessOps], "operations: ") || !strings.HasPrefix(found[lessEvents], "events: ") || found[clean.ARN] != verify.ContentHashDiffers ||
		!strings.HasPrefix(found[runningLess], "events: ") {
		t.Fatalf("postgres, a row of four executions deleted or altered: inconsistent %v", found)
	}

	// Parquet, every execution read as a stream (more rows than 1): the
	// counts are checked.
	reader, err := load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	if found := check(reader, dir, 1); len(found) != 0 {
		t.Fatalf("parquet as streams, intact: inconsistent %v", found)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	victims := map[string]string{}
	var runningVictims int
	for _, arn := range fileARNs(t, files[0]) {
		victims[arn] = "events"
		if slices.Contains(running, arn) {
			runningVictims++
		}
	}
	if runningVictims == 0 || runningVictims == len(victims) {
		t.Fatalf("%s holds %d executions, %d of them running: the test wants both kinds", files[0], len(victims), runningVictims)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	reader, err = load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	found = check(reader, dir, 1)
	for arn, what := range found {
		if !strings.HasPrefix(what, "events: 0 archived, its executions row counts ") {
			t.Errorf("%s: %s", arn, what)
		}
		found[arn] = "events"
	}
	if !maps.Equal(found, victims) {
		t.Fatalf("parquet as streams, an events file deleted: inconsistent %v, want %v", found, victims)
	}
}

// TestSelfCheckReadsPastTheNamedSnapshot: an execution that gains a
// snapshot between verify's read of its executions row (Latest) and its
// check against its own rows, where Postgres gives the newer snapshot's
// operations (as many as the older's, but changed), is checked again on
// its newest snapshot and found consistent, not named inconsistent for
// a hash of the older one. (It ends with that snapshot, archived through
// state with no token to compare it by: not comparable.)
func TestSelfCheckReadsPastTheNamedSnapshot(t *testing.T) {
	ctx := context.Background()
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/moving/1"
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	snapshot := func(status types.OperationStatus) emulator.Execution {
		var end *time.Time
		if status == types.OperationStatusSucceeded {
			end = aws.Time(start.Add(time.Minute))
		}
		return emulator.Fixed(arn, "tok", []types.Operation{
			{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: status, StartTimestamp: aws.Time(start), EndTimestamp: end,
				ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String(`{"order":1}`)}},
			{Id: aws.String("step-1"), ParentId: aws.String("exec"), Name: aws.String("charge"), Type: types.OperationTypeStep, Status: status,
				StartTimestamp: aws.Time(start), EndTimestamp: end, StepDetails: &types.StepDetails{Attempt: 1}},
		})
	}
	dbURL, s := pgtest.Schema(t)
	archive := func(e emulator.Execution, migrate ...string) string {
		srv := emulator.New()
		srv.Add(e)
		url, _ := emulatortest.Start(t, srv)
		args := append([]string{"run", "--manifest", manifestFile(t, []emulator.Execution{e}), "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url, "--log-level", "warn"}, migrate...)
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("run: exit %d", r.code)
		}
		return url
	}
	archive(snapshot(types.OperationStatusStarted), "--migrate")
	pg, err := load.NewPostgres(ctx, dbURL, load.WithPGSchema(s), load.WithReadOnly(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	named, err := pg.Latest(ctx, nil) // what verify read first
	if err != nil || named[arn].OperationCount != 2 {
		t.Fatalf("the first snapshot: %v, %+v", err, named[arn])
	}
	url := archive(snapshot(types.OperationStatusSucceeded)) // a run beside verify
	newest, err := pg.Latest(ctx, nil)
	if err != nil || newest[arn].ContentHash == named[arn].ContentHash || newest[arn].OperationCount != 2 {
		t.Fatalf("the second snapshot: %v, %+v (the test wants as many operations, changed)", err, newest[arn])
	}
	client, err := extract.NewClient(ctx, extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	for name, archived := range map[string]map[string]load.ExecutionState{"named before the run": named, "newest": newest} {
		rep := verify.Check(ctx, client, pg, []verify.Execution{{ARN: arn}}, archived, verify.Options{All: true})
		if rep.NotSampleable != 1 || rep.Running != 0 || rep.NotComparedSelfChecked != 1 || len(rep.Inconsistent) != 0 || len(rep.Errors) != 0 {
			t.Errorf("%s: %d not compared, %d running, %d checked against its own rows (want 1, 0, 1), inconsistent %v, errors %v",
				name, rep.NotSampleable, rep.Running, rep.NotComparedSelfChecked, rep.Inconsistent, rep.Errors)
		}
	}
}
