package load_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/migrations"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

func TestMain(m *testing.M) {
	os.Exit(s3test.Main(s3test.RunFunc(func() int { return pgtest.Main(m) })))
}

// migratedLoader is a loader of a new migrated schema s, closed when the
// test ends, and a connection to read s with.
func migratedLoader(t *testing.T) (*load.Postgres, string, *pgx.Conn) {
	t.Helper()
	url, s, conn := pgtest.Migrated(t)
	pg, err := load.NewPostgres(context.Background(), url, load.WithPGSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	return pg, s, conn
}

// opRow is an operations row of execution arn.
func opRow(arn, id string, seq int64, status, run string) schema.Operation {
	return schema.Operation{ExecutionArn: arn, OperationID: id, Seq: seq, Type: "STEP", Status: status, Source: "state", RunID: run, ExtractedAt: time.Now()}
}

// archiveOps archives execution arn through pg as a run does: its
// operations rows in batches, then its executions row (status; its
// operation count the distinct ids), aborted on a failure.
func archiveOps(ctx context.Context, pg *load.Postgres, arn, status string, batches ...[]schema.Operation) error {
	x, err := pg.Begin(ctx, arn)
	if err != nil {
		return err
	}
	var ids []string
	for _, b := range batches {
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, b)); err != nil {
			x.Abort(ctx) // or pg.Close waits for the connection
			return err
		}
		for _, o := range b {
			ids = append(ids, o.OperationID)
		}
	}
	n := int64(len(slices.Compact(slices.Sorted(slices.Values(ids)))))
	return x.Commit(ctx, "2026-01-05", schema.Execution{ExecutionArn: arn, Status: &status, OperationCount: n, RunID: batches[0][0].RunID, ExtractedAt: time.Now()})
}

// leaveOrphanRow writes an operations row of arn by hand, with no
// executions row: as a run beside this one archiving it first would
// leave it for a moment, or someone by hand.
func leaveOrphanRow(t *testing.T, conn *pgx.Conn, s, arn string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), "INSERT INTO "+s+".operations (execution_arn, operation_id, seq, type, status, source, run_id, extracted_at) VALUES ($1, 'a', 0, 'STEP', 'STARTED', 'state', 'other', now())", arn); err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	url, s := pgtest.Schema(t)
	conn := pgtest.Conn(t, url)
	ctx := context.Background()
	var pending *migrations.PendingError
	if err := migrations.Check(ctx, conn, s); !errors.As(err, &pending) || pending.Current != 0 {
		t.Fatalf("empty database: want PendingError at 0, got %v", err)
	}
	if _, err := load.NewPostgres(ctx, url, load.WithPGSchema(s)); !errors.As(err, &pending) || !strings.Contains(err.Error(), "etl migrate") {
		t.Fatalf("loader on an unmigrated schema: %v", err)
	}
	// Two migrators at once: one waits, both succeed.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close(ctx)
			errs[i] = migrations.Migrate(ctx, c, s)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent migrations: %v / %v", errs[0], errs[1])
	}
	if err := migrations.Check(ctx, conn, s); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
	if err := migrations.Migrate(ctx, conn, s); err != nil {
		t.Fatalf("migrate when up to date: %v", err)
	}
	// The migrated tables are the schema/ tables, column for column (in any
	// order: a migration can only add columns at the end).
	for _, table := range schema.Tables() {
		rows, _ := conn.Query(ctx, `SELECT column_name, udt_name, is_nullable FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, s, table.Name)
		var got []string
		for rows.Next() {
			var name, udt, null string
			rows.Scan(&name, &udt, &null)
			got = append(got, fmt.Sprintf("%s %s %s", name, udt, null))
		}
		udt := map[string]string{"text": "text", "bigint": "int8", "integer": "int4", "boolean": "bool", "timestamptz": "timestamptz", "text[]": "_text"}
		var want []string
		for _, c := range table.Columns {
			null := "NO"
			if c.Nullable {
				null = "YES"
			}
			want = append(want, fmt.Sprintf("%s %s %s", c.Name, udt[c.PostgresType()], null))
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: migrated columns\n%s\nwant (schema/)\n%s", table.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestQuotedSchemaName(t *testing.T) {
	url, s := pgtest.Schema(t)
	weird := s + `-We"ird`
	conn := pgtest.Conn(t, url)
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{weird}.Sanitize()+" CASCADE")
	})
	if err := migrations.Migrate(context.Background(), conn, weird); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Check(context.Background(), conn, weird); err != nil {
		t.Fatal(err)
	}
}

// pgRun archives execs from srv into the schema through the pipeline.
func pgRun(t *testing.T, srv *emulator.Server, url, s, runID string, execs []emulator.Execution) (*pipeline.Summary, error) {
	t.Helper()
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2))
	return pgRunWith(t, client, url, s, runID, execs)
}

// pgRunWith is pgRun with a client already made (t.Setenv, which making one
// calls, must not run in parallel goroutines).
func pgRunWith(t *testing.T, client extract.StateAPI, url, s, runID string, execs []emulator.Execution, opts ...func(*pipeline.Config)) (*pipeline.Summary, error) {
	t.Helper()
	pg, err := load.NewPostgres(context.Background(), url, load.WithPGSchema(s), load.WithMaxConns(6))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	emulator.WriteManifest(&b, execs)
	m, err := extract.NewManifest("test", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.Config{API: client, Loader: pg, RunID: runID, PageSize: 100, Concurrency: 4, Version: "test", Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	for _, o := range opts {
		o(&cfg)
	}
	return pipeline.Run(context.Background(), cfg, m)
}

// operationsEqual fails the test unless the operations table holds
// exactly want's operations.
func operationsEqual(t *testing.T, conn *pgx.Conn, s string, want map[string][]types.Operation) {
	t.Helper()
	got := readOperations(t, conn, s)
	for arn, ops := range want {
		if len(got[arn]) != len(ops) {
			t.Fatalf("%s: %d rows, want %d", arn, len(got[arn]), len(ops))
		}
		for i := range ops {
			if diff := optest.DiffRow(ops[i], &got[arn][i]); diff != "" {
				t.Fatalf("%s op %d (-want +got):\n%s", arn, i, diff)
			}
		}
	}
}

// readOperations reads the operations table back into rows, by execution.
func readOperations(t *testing.T, conn *pgx.Conn, s string) map[string][]schema.Operation {
	t.Helper()
	cols := make([]string, len(schema.Operations.Columns)) // by name: migrations add columns at the end
	for i, c := range schema.Operations.Columns {
		cols[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	rows, err := conn.Query(context.Background(), "SELECT "+strings.Join(cols, ", ")+" FROM "+pgx.Identifier{s, "operations"}.Sanitize()+" ORDER BY execution_arn, seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]schema.Operation{}
	for rows.Next() {
		var r schema.Operation
		v := reflect.ValueOf(&r).Elem()
		dst := make([]any, v.NumField())
		for i := range dst {
			dst[i] = v.Field(i).Addr().Interface()
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		out[r.ExecutionArn] = append(out[r.ExecutionArn], r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, conn *pgx.Conn, sql string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func randomExecs(seed uint64, n, maxOps int) ([]emulator.Execution, map[string][]types.Operation) {
	g := optest.New(seed)
	g.NoNUL = true // see TestNULInPostgres
	want := map[string][]types.Operation{}
	var execs []emulator.Execution
	for i := range n {
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/e-%d/%d", i, seed)
		ops := []types.Operation{}
		ids := map[string]bool{}
		for range 1 + g.R.IntN(maxOps) {
			op := g.Operation()
			id := "" // an absent Id is stored as "" (overflow_json says it was absent)
			if op.Id != nil {
				id = *op.Id
			}
			if ids[id] {
				continue // the key is (execution, operation id)
			}
			ids[id] = true
			ops = append(ops, op)
		}
		want[arn] = ops
		execs = append(execs, emulator.Fixed(arn, "tok", ops))
	}
	return execs, want
}

// TestRunAndRerun: a full run lands every operation exactly; a rerun of the
// same manifest changes zero rows (no row version changes either).
func TestRunAndRerun(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	n := 30
	if testing.Short() { // the race run
		n = 10
	}
	execs, want := randomExecs(31, n, 250)
	srv := emulator.New()
	srv.Add(execs...)
	sum, err := pgRun(t, srv, url, s, "run-1", execs)
	if err != nil || sum.ExecutionsOK != n {
		t.Fatalf("%v %+v", err, sum)
	}
	operationsEqual(t, conn, s, want)
	if got := count(t, conn, "SELECT count(*) FROM "+s+".executions"); got != int64(n) {
		t.Errorf("%d executions rows, want %d", got, n)
	}
	xmins := func() string {
		var agg string
		conn.QueryRow(context.Background(), "SELECT string_agg(xmin::text, ',' ORDER BY execution_arn, operation_id) FROM "+s+".operations").Scan(&agg)
		var agg2 string
		conn.QueryRow(context.Background(), "SELECT string_agg(xmin::text, ',' ORDER BY execution_arn) FROM "+s+".executions").Scan(&agg2)
		return agg + "|" + agg2
	}
	before := xmins()
	sum, err = pgRun(t, srv, url, s, "run-2", execs)
	if err != nil || sum.ExecutionsOK != n || sum.RowsWritten != 0 {
		t.Fatalf("rerun: %v, %d rows changed (want 0)", err, sum.RowsWritten)
	}
	if xmins() != before {
		t.Error("the rerun rewrote rows")
	}
	if n := count(t, conn, "SELECT count(*) FROM "+s+".operations WHERE run_id <> 'run-1'"); n != 0 {
		t.Errorf("%d rows claim the no-change rerun", n)
	}
	var status string
	var ok int64
	conn.QueryRow(context.Background(), "SELECT status, executions_ok FROM "+s+".runs WHERE run_id = 'run-2'").Scan(&status, &ok)
	if status != "succeeded" || ok != int64(n) || count(t, conn, "SELECT count(*) FROM "+s+".runs WHERE finished_at IS NOT NULL") != 2 {
		t.Errorf("runs ledger: %s %d", status, ok)
	}
}

// TestLaterSnapshots: a snapshot that adds operations and changes one, then
// one that omits a completed context's children: nothing is deleted.
func TestLaterSnapshots(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/snap/1"
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	op := func(id, parent, status string) types.Operation {
		o := types.Operation{Id: aws.String(id), Type: "STEP", Status: types.OperationStatus(status), StartTimestamp: &start, StepDetails: &types.StepDetails{Attempt: 1}}
		if parent != "" {
			o.ParentId = aws.String(parent)
		}
		return o
	}
	ctxOp := types.Operation{Id: aws.String("ctx"), Type: "CONTEXT", Status: "STARTED", ContextDetails: &types.ContextDetails{}}
	snapshots := [][]types.Operation{
		{ctxOp, op("a", "ctx", "STARTED")},
		{ctxOp, op("a", "ctx", "SUCCEEDED"), op("b", "ctx", "STARTED")},
		{{Id: aws.String("ctx"), Type: "CONTEXT", Status: "SUCCEEDED", ContextDetails: &types.ContextDetails{Result: aws.String("done")}}, op("c", "", "STARTED")},
	}
	for i, ops := range snapshots {
		srv := emulator.New()
		e := emulator.Fixed(arn, "tok", ops)
		srv.Add(e)
		if _, err := pgRun(t, srv, url, s, fmt.Sprintf("snap-%d", i), []emulator.Execution{e}); err != nil {
			t.Fatal(err)
		}
	}
	got := readOperations(t, conn, s)[arn]
	status := map[string]string{}
	for _, r := range got {
		status[r.OperationID] = r.Status
	}
	want := map[string]string{"ctx": "SUCCEEDED", "a": "SUCCEEDED", "b": "STARTED", "c": "STARTED"}
	if !reflect.DeepEqual(status, want) {
		t.Errorf("after three snapshots: %v, want %v", status, want)
	}
	var opCount int64
	var runID string
	conn.QueryRow(context.Background(), "SELECT operation_count, run_id FROM "+s+".executions").Scan(&opCount, &runID)
	if opCount != 2 || runID != "snap-2" {
		t.Errorf("executions row: operation_count %d run %s, want the last snapshot's 2, snap-2", opCount, runID)
	}
}

// TestConcurrentOverlappingRuns: two runs over overlapping manifests at
// once: no error, no duplicate.
func TestConcurrentOverlappingRuns(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	execs, want := randomExecs(32, 40, 100)
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, part := range [][]emulator.Execution{execs[:30], execs[10:]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := pgRunWith(t, client, url, s, fmt.Sprint("c", i), part)
			if err == nil && sum.ExecutionsFailed > 0 {
				err = fmt.Errorf("%v", sum.Failures)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("%v / %v", errs[0], errs[1])
	}
	total := 0
	for _, ops := range want {
		total += len(ops)
	}
	if n := count(t, conn, "SELECT count(*) FROM "+s+".operations"); n != int64(total) {
		t.Errorf("%d operations rows, want %d", n, total)
	}
}

// terminatingBackends is an emulator whose n-th request (and, with every,
// each one after it) first ends every connection of the application app
// in the server, waiting until they are gone (as a restart or a failover
// does: FATAL 57P01 on each). It counts the connections ended.
func terminatingBackends(t *testing.T, admin *pgx.Conn, app string, n int64, every bool, ended *atomic.Int64) emulator.Option {
	var mu sync.Mutex // admin is one connection
	return emulator.WithFaults(func(i int64, _ string) emulator.Fault {
		if i == n || every && i > n {
			mu.Lock()
			defer mu.Unlock()
			ended.Add(pgtest.EndConnections(t, admin, app))
		}
		return emulator.NoFault
	})
}

// withApp is url naming its connections app (the loader keeps a name the
// URL gives), so that a test ends its own run's connections only.
func withApp(url, app string) string { return withParam(url, "application_name", app) }

// withParam is url with the connection parameter key=value.
func withParam(url, key, value string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + key + "=" + value
}

// wholeExecutions fails the test if an executions row's operation count
// differs from its rows, or operations have no executions row.
func wholeExecutions(t *testing.T, conn *pgx.Conn, s string) {
	t.Helper()
	if n := count(t, conn, `SELECT count(*) FROM `+s+`.executions e WHERE e.operation_count <>
		(SELECT count(*) FROM `+s+`.operations o WHERE o.execution_arn = e.execution_arn)`); n != 0 {
		t.Errorf("%d executions are half-written", n)
	}
	if n := count(t, conn, `SELECT count(DISTINCT execution_arn) FROM `+s+`.operations o WHERE NOT EXISTS
		(SELECT 1 FROM `+s+`.executions e WHERE e.execution_arn = o.execution_arn)`); n != 0 {
		t.Errorf("%d executions have operations but no executions row", n)
	}
}

// TestDatabaseDropsConnections: the server ends every connection of the
// loader mid-run (a restart, a failover): the executions in flight are
// archived again from the start (load.Transient), and the run ends as a
// run without it would, every execution archived whole.
func TestDatabaseDropsConnections(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	app := "etl-" + s
	execs, want := randomExecs(33, 60, 300)
	var ended atomic.Int64
	srv := emulator.New(terminatingBackends(t, pgtest.Conn(t, url), app, 40, false, &ended))
	srv.Add(execs...)
	sum, err := pgRun(t, srv, withApp(url, app), s, "dropped", execs)
	if err != nil || sum.ExecutionsOK != len(execs) || sum.ExecutionsFailed != 0 {
		t.Fatalf("run: %v, %d archived, %d failed: want all %d", err, sum.ExecutionsOK, sum.ExecutionsFailed, len(execs))
	}
	if ended.Load() == 0 || sum.DestinationRetries == 0 || sum.DestinationRetries > int(ended.Load()) {
		t.Errorf("%d connections ended, %d executions archived again: want some, at most one each", ended.Load(), sum.DestinationRetries)
	}
	operationsEqual(t, conn, s, want)
	if n := count(t, conn, "SELECT count(*) FROM "+s+".executions"); n != int64(len(execs)) {
		t.Errorf("%d executions rows, want %d", n, len(execs))
	}
	wholeExecutions(t, conn, s)
}

// TestDatabaseGoesAway: the server ends the loader's connections again
// and again: past its tries (Config.DestinationRetries) the run stops
// with a destination error, and every execution in the tables is whole.
func TestDatabaseGoesAway(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	app := "etl-" + s
	execs, _ := randomExecs(33, 60, 300)
	var ended atomic.Int64
	srv := emulator.New(terminatingBackends(t, pgtest.Conn(t, url), app, 40, true, &ended))
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2))
	sum, err := pgRunWith(t, client, withApp(url, app), s, "gone", execs, func(c *pipeline.Config) { c.DestinationRetries = 1 })
	var de *pipeline.DestinationError
	if !errors.As(err, &de) || !load.Transient(err) {
		t.Fatalf("want a transient DestinationError, got %v (%+v)", err, sum)
	}
	if sum.ExecutionsOK >= 60 || sum.DestinationRetries == 0 {
		t.Errorf("%d executions archived, %d again: want not all, and some tried again", sum.ExecutionsOK, sum.DestinationRetries)
	}
	// The executions cut short by the stop are abandoned, not failed.
	for _, f := range sum.Failures {
		if strings.Contains(f.Reason, "context canceled") {
			t.Errorf("failure %+v: the run's stop is no execution's failure", f)
		}
	}
	if len(sum.Failures) == 0 || len(sum.Failures) > 4 { // the run's 4 workers
		t.Errorf("%d failures: want the few whose tries ran out", len(sum.Failures))
	}
	wholeExecutions(t, conn, s)
}

func TestUnreachableDatabaseHidesPassword(t *testing.T) {
	// The URL's password, and one in its query (which pgx reads as well:
	// the message showed it).
	_, err := load.NewPostgres(context.Background(), "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2&password=hunter3")
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hunter3") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v: must name the server, not the password", err)
	}
	// sslmode prefer (the default) tries with TLS, then without: the same
	// refusal is told once.
	if n := strings.Count(err.Error(), "connection refused"); n != 1 {
		t.Errorf("error %v: tells the refusal %d times, want once", err, n)
	}
}

// TestNULInPostgres: Postgres text cannot hold U+0000; the loader stores
// U+FFFD in its place, in every text column and list element, and the
// caller's rows stay untouched.
func TestNULInPostgres(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/nul/1"
	op := types.Operation{Id: aws.String("a\x00b"), Type: "STEP", Status: "FAILED", StepDetails: &types.StepDetails{
		Error: &types.ErrorObject{ErrorMessage: aws.String("bad\x00"), StackTrace: []string{"ok", "x\x00"}}}}
	srv := emulator.New()
	e := emulator.Fixed(arn, "tok", []types.Operation{op})
	srv.Add(e)
	if sum, err := pgRun(t, srv, url, s, "nul", []emulator.Execution{e}); err != nil || sum.ExecutionsOK != 1 {
		t.Fatalf("%v %+v", err, sum)
	}
	got := readOperations(t, conn, s)[arn]
	if len(got) != 1 || got[0].OperationID != "a\uFFFDb" || *got[0].ErrorMessage != "bad\uFFFD" || got[0].ErrorStackTrace[0] != "ok" || got[0].ErrorStackTrace[1] != "x\uFFFD" {
		t.Fatalf("stored %+v", got)
	}
}

// TestInvalidUTF8InPostgres: Postgres text refuses bytes that are not
// UTF-8, which the SDK hands over as the wire had them; the loader stores
// U+FFFD for each run of them, as for U+0000, instead of failing the
// execution; in overflow_json, which keeps them under NotUTF8, they come
// back exactly.
func TestInvalidUTF8InPostgres(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	const arn = "arn:bad-utf8"
	op := opRow(arn, "a\xe0b", 0, "FAILED", "r")
	op.ErrorType, op.ErrorStackTrace = aws.String("Lat\xe0\xe1"), []string{"ok", "x\xff"}
	if err := archiveOps(ctx, pg, arn, "FAILED", []schema.Operation{op}); err != nil {
		t.Fatalf("bytes that are not UTF-8: %v", err)
	}
	got := readOperations(t, conn, s)[arn]
	if len(got) != 1 || got[0].OperationID != "a\uFFFDb" || *got[0].ErrorType != "Lat\uFFFD" || got[0].ErrorStackTrace[0] != "ok" || got[0].ErrorStackTrace[1] != "x\uFFFD" {
		t.Fatalf("stored %+v", got)
	}
	if op.OperationID != "a\xe0b" {
		t.Errorf("the caller's row changed: %q", op.OperationID)
	}
	// Where such bytes land in overflow_json (a second details object's
	// outcome), it holds them under NotUTF8: Postgres keeps them there.
	const arn2 = "arn:bad-utf8-overflow"
	two := types.Operation{Id: aws.String("b"), Type: "STEP", Status: "SUCCEEDED", StepDetails: &types.StepDetails{Result: aws.String("ok")},
		CallbackDetails: &types.CallbackDetails{Result: aws.String("cb\xff"), Error: &types.ErrorObject{StackTrace: []string{"\x80"}}}}
	row := transform.OperationRow(&two, 0, transform.RowMeta{ExecutionArn: arn2, RunID: "r", ExtractedAt: time.Now()})
	if err := archiveOps(ctx, pg, arn2, "SUCCEEDED", []schema.Operation{row}); err != nil {
		t.Fatal(err)
	}
	stored := readOperations(t, conn, s)[arn2]
	if len(stored) != 1 {
		t.Fatalf("%d rows stored", len(stored))
	}
	if diff := optest.DiffRow(two, &stored[0]); diff != "" {
		t.Errorf("the operation read back from Postgres (-archived +read):\n%s", diff)
	}
}

// TestRowValuesLeavesTheRowAlone: the replacement works on copies; the
// caller's row (which the Parquet loader of a fan-out shares) keeps U+0000.
func TestRowValuesLeavesTheRowAlone(t *testing.T) {
	msg := "bad\x00"
	row := schema.Operation{OperationID: "a\x00", ErrorMessage: &msg, ErrorStackTrace: []string{"ok", "x\x00"}}
	vals, replaced := load.RowValuesForTest(&row)
	if !replaced || vals[1] != "a\uFFFD" || *vals[19].(*string) != "bad\uFFFD" || vals[21].([]string)[1] != "x\uFFFD" {
		t.Fatalf("values %v, replaced %v", vals, replaced)
	}
	if row.OperationID != "a\x00" || *row.ErrorMessage != "bad\x00" || row.ErrorStackTrace[1] != "x\x00" {
		t.Error("rowValues changed the caller's row")
	}
	clean := schema.Operation{OperationID: "a"}
	if _, replaced := load.RowValuesForTest(&clean); replaced {
		t.Error("a row without U+0000 reported a replacement")
	}
}

// TestAuditViews loads known rows through the loader and reads each view.
func TestAuditViews(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	at := func(m int) *time.Time { v := time.Date(2026, 4, 1, 10, m, 0, 0, time.UTC); return &v }
	str := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	now := time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)
	arn := "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/v/1"
	ops := []schema.Operation{
		{OperationID: "exec", Type: "EXECUTION", Status: "FAILED", StartTime: at(0), EndTime: at(59)},
		{OperationID: "charge", Name: str("charge"), Type: "STEP", Status: "FAILED", StartTime: at(1), EndTime: at(2), Attempt: i32(3),
			ErrorType: str("CardDeclined"), ErrorMessage: str("declined"), ErrorStackTrace: []string{"at x"}},
		{OperationID: "ok-step", Type: "STEP", Status: "SUCCEEDED", StartTime: at(2), EndTime: at(3), Attempt: i32(1)},
		{OperationID: "slow-wait", Type: "WAIT", Status: "TIMED_OUT", StartTime: at(3), EndTime: at(50)},
		{OperationID: "cb-open", Type: "CALLBACK", Status: "STARTED", StartTime: at(4), CallbackID: str("cb-1")},
		{OperationID: "cb-done", Type: "CALLBACK", Status: "SUCCEEDED", StartTime: at(4), EndTime: at(5), CallbackID: str("cb-2")},
	}
	for i := range ops {
		ops[i].ExecutionArn, ops[i].Seq, ops[i].RunID, ops[i].ExtractedAt = arn, int64(i), "views", now
	}
	snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, RunID: "views", ExtractedAt: now})
	ex := snap.Finish()
	ex.Status, ex.StartTime, ex.OperationCount, ex.FailedOperationCount = str("FAILED"), at(0), int64(len(ops)), 2
	commitSnapshot(t, pg, "2026-04-01", ops, ex)

	query := func(sql string) []string {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var out []string
		for rows.Next() {
			vals, _ := rows.Values()
			out = append(out, fmt.Sprint(vals...))
		}
		return out
	}
	q := pgx.Identifier{s}.Sanitize()
	for _, tc := range []struct{ sql, want string }{
		{"SELECT operation_id, error_type, function_name FROM " + q + ".failed_operations ORDER BY operation_id", "chargeCardDeclinedorders|exec<nil>orders|slow-wait<nil>orders"},
		{"SELECT operation_id, attempt FROM " + q + ".retried_steps", "charge3"},
		{"SELECT function_name, day::text, status, executions FROM " + q + ".executions_by_status_daily", "orders2026-04-01FAILED1"},
		{"SELECT operation_id, callback_id, open_for::text FROM " + q + ".open_callbacks", "cb-opencb-113:56:00"},
		{"SELECT operation_id, duration::text FROM " + q + ".longest_operations LIMIT 2", "exec00:59:00|slow-wait00:47:00"},
	} {
		if got := strings.Join(query(tc.sql), "|"); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
}

// TestEventViews loads events through the loader and reads the history
// views: step_attempts.retried is true only for a next-attempt delay of 1 or
// more, on StepFailed and on StepSucceeded (a wait-for-condition check);
// a delay of 0 (AWS's Python testing server on a step's last failure) or
// none is no retry. invocations_per_execution counts the failed ones.
func TestEventViews(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	now := time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)
	at := func(m int) *time.Time { v := now.Add(time.Duration(m) * time.Minute); return &v }
	str := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	arn := "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/ev/1"
	step := func(id int32, typ, op string, attempt, delay *int32) schema.Event {
		return schema.Event{EventID: id, EventType: typ, EventTime: at(int(id)), OperationID: str(op), Attempt: attempt, NextAttemptDelaySeconds: delay}
	}
	events := []schema.Event{
		{EventID: 1, EventType: "ExecutionStarted", EventTime: at(0)},
		step(2, "StepFailed", "retried", i32(1), i32(5)),
		step(3, "StepFailed", "retried", i32(2), i32(0)), // the last failure, as AWS's Python testing server writes it
		step(4, "StepFailed", "js-last", i32(3), nil),
		step(5, "StepSucceeded", "poll", nil, i32(1)), // a wait-for-condition check not met yet
		step(6, "StepSucceeded", "poll", i32(1), nil),
		step(7, "StepSucceeded", "plain", i32(1), i32(0)),
		{EventID: 8, EventType: "InvocationCompleted", EventTime: at(8), RequestID: str("r1"), InvocationStartTime: at(7), InvocationEndTime: at(8)},
		{EventID: 9, EventType: "InvocationCompleted", EventTime: at(9), RequestID: str("r2"), InvocationStartTime: at(8), InvocationEndTime: at(9), ErrorType: str("Sandbox.Timedout")},
	}
	for i := range events {
		events[i].ExecutionArn, events[i].RunID, events[i].ExtractedAt = arn, "views", now
	}
	x, err := pg.Begin(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Write(ctx, schema.RowsOf(schema.Events, events)); err != nil {
		t.Fatal(err)
	}
	ex := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, RunID: "views", ExtractedAt: now}).Finish()
	ex.Status, ex.StartTime = str("RUNNING"), at(0)
	if err := x.Commit(ctx, "2026-04-02", ex); err != nil {
		t.Fatal(err)
	}
	pg.Close(ctx)

	var got []string
	rows, err := conn.Query(ctx, "SELECT event_id, retried FROM "+pgx.Identifier{s}.Sanitize()+".step_attempts ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int32
		var retried bool
		if err := rows.Scan(&id, &retried); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, ":", retried))
	}
	if want := "2:true 3:false 4:false 5:true 6:false 7:false"; strings.Join(got, " ") != want {
		t.Errorf("step_attempts retried: got %s, want %s", strings.Join(got, " "), want)
	}
	var invocations, failed int64
	var total time.Duration
	if err := conn.QueryRow(ctx, "SELECT invocations, failed_invocations, total_duration FROM "+pgx.Identifier{s}.Sanitize()+".invocations_per_execution").Scan(&invocations, &failed, &total); err != nil {
		t.Fatal(err)
	}
	if invocations != 2 || failed != 1 || total != 2*time.Minute {
		t.Errorf("invocations_per_execution: %d invocations, %d failed, %v", invocations, failed, total)
	}
}

// TestReadsAfterTheDatabaseDroppedConnections: reads of a Postgres
// destination (the ledger at a run's start, verify's) whose connections
// the server ended (a restart, a failover) are made again on new ones.
func TestReadsAfterTheDatabaseDroppedConnections(t *testing.T) {
	ctx := context.Background()
	url, s, _ := pgtest.Migrated(t)
	execs, _ := randomExecs(35, 20, 40)
	srv := emulator.New()
	srv.Add(execs...)
	if _, err := pgRun(t, srv, url, s, "fill", execs); err != nil {
		t.Fatal(err)
	}
	app := "etl-" + s
	pg, err := load.NewPostgres(ctx, withApp(url, app), load.WithPGSchema(s), load.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	admin := pgtest.Conn(t, url)
	latest, err := pg.Latest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var states []load.ExecutionState
	for _, st := range latest {
		states = append(states, st)
	}
	for _, read := range []struct {
		name string
		read func() (int, error)
	}{
		{"archived", func() (int, error) {
			a, err := pg.Archived(ctx, "r")
			if err != nil {
				return 0, err
			}
			return a.Len(), nil
		}},
		{"latest", func() (int, error) { l, err := pg.Latest(ctx, nil); return len(l), err }},
		{"rows", func() (int, error) {
			rows, err := pg.Rows(ctx, states)
			return len(rows), err
		}},
	} {
		if n, err := read.read(); err != nil || n != len(execs) { // the pool's connection is made
			t.Fatalf("%s: %d, %v", read.name, n, err)
		}
		if pgtest.EndConnections(t, admin, app) != 1 {
			t.Fatalf("%s: the pool's connection was not ended", read.name)
		}
		if n, err := read.read(); err != nil || n != len(execs) {
			t.Errorf("%s after the connection was ended: %d executions, %v: want %d", read.name, n, err, len(execs))
		}
	}
}

// TestRoleThatMayOnlyRead: a role that may read the archive but not write
// it is refused when the loader connects, before a run fetches anything,
// in one line that names what it lacks and the GRANT to give; it may
// still connect for reading (verify); once granted, it may write.
func TestRoleThatMayOnlyRead(t *testing.T) {
	url, s, admin := pgtest.Migrated(t)
	ctx := context.Background()
	role, roleURL := pgtest.Role(t, url)
	for _, q := range []string{
		"GRANT USAGE ON SCHEMA " + pgx.Identifier{s}.Sanitize() + " TO " + role,
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + pgx.Identifier{s}.Sanitize() + " TO " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := load.NewPostgres(ctx, roleURL, load.WithPGSchema(s))
	if err == nil || !strings.Contains(err.Error(), s+".runs (INSERT, UPDATE)") || !strings.Contains(err.Error(), "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA") ||
		strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a role that may only read: %v; want one line naming INSERT on the runs table and the GRANT", err)
	}
	p, err := load.NewPostgres(ctx, roleURL, load.WithPGSchema(s), load.WithReadOnly(true))
	if err != nil {
		t.Fatalf("reading with a role that may read: %v", err)
	}
	p.Close(ctx)
	if _, err := admin.Exec(ctx, "GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA "+pgx.Identifier{s}.Sanitize()+" TO "+role); err != nil {
		t.Fatal(err)
	}
	p, err = load.NewPostgres(ctx, roleURL, load.WithPGSchema(s))
	if err != nil {
		t.Fatalf("once granted: %v", err)
	}
	p.Close(ctx)
}

// TestRoleWithoutTemporaryTables: the staging tables are temporary, so a
// role that may write every table but not make temporary tables (TEMP
// revoked from PUBLIC on its database, as some hardened servers do) is
// refused when the loader connects, naming TEMP and its GRANT. The
// database is the test's own, so that no other test loses TEMP.
func TestRoleWithoutTemporaryTables(t *testing.T) {
	url := pgtest.URL(t)
	admin := pgtest.Conn(t, url)
	ctx := context.Background()
	db := "etl_notemp_" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgtest.Conn(t, url).Exec(ctx, "DROP DATABASE "+db+" WITH (FORCE)") })
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	dbURL := u.String()
	owner := pgtest.Conn(t, dbURL)
	role, roleURL := pgtest.Role(t, dbURL)
	for _, q := range []string{
		"REVOKE TEMP ON DATABASE " + db + " FROM PUBLIC",
		"CREATE SCHEMA archive",
	} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrations.Migrate(ctx, owner, "archive"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"GRANT USAGE ON SCHEMA archive TO " + role, "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA archive TO " + role} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err = load.NewPostgres(ctx, roleURL, load.WithPGSchema("archive"))
	if err == nil || !strings.Contains(err.Error(), "lacks TEMP on database "+db+")") || !strings.Contains(err.Error(), "GRANT TEMP ON DATABASE") {
		t.Fatalf("a role without TEMP: %v; want the missing TEMP and its GRANT", err)
	}
	if _, err := owner.Exec(ctx, "GRANT TEMP ON DATABASE "+db+" TO "+role); err != nil {
		t.Fatal(err)
	}
	p, err := load.NewPostgres(ctx, roleURL, load.WithPGSchema("archive"))
	if err != nil {
		t.Fatalf("once granted TEMP: %v", err)
	}
	p.Close(ctx)
}

// TestEachRowReadsOneSnapshot: EachRow's three queries read one snapshot
// of the tables, as Rows's do: operations changed by another session
// after the executions row was read (a run committing beside verify) are
// not seen until the next call.
func TestEachRowReadsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	url, s, conn := pgtest.Migrated(t)
	execs, _ := randomExecs(36, 1, 20)
	srv := emulator.New()
	srv.Add(execs...)
	if _, err := pgRun(t, srv, url, s, "fill", execs); err != nil {
		t.Fatal(err)
	}
	pg, err := load.NewPostgres(ctx, url, load.WithPGSchema(s), load.WithReadOnly(true))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	latest, err := pg.Latest(ctx, nil)
	if err != nil || len(latest) != 1 {
		t.Fatalf("latest: %v, %d", err, len(latest))
	}
	var st load.ExecutionState
	for _, v := range latest {
		st = v
	}
	stream := func(change bool) (changed int) {
		err := pg.EachRow(ctx, st, func(*schema.Execution) {
			if change {
				if _, err := conn.Exec(ctx, "UPDATE "+s+".operations SET name = 'changed'"); err != nil {
					t.Fatal(err)
				}
			}
		}, func(op *schema.Operation) {
			if op.Name != nil && *op.Name == "changed" {
				changed++
			}
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}
	if n := stream(true); n != 0 {
		t.Errorf("%d operations changed after the executions row was read were seen in the same stream", n)
	}
	if n := stream(false); n != int(st.OperationCount) {
		t.Errorf("the next stream saw %d changed operations, want %d", n, st.OperationCount)
	}
}

// TestRepeatedKeysInASnapshot: a snapshot that lists an operation twice
// keeps the later listing (the higher seq) in Postgres, whether the
// repeat comes in the batch of the first listing (the batch is staged) or
// in a later batch (the first went straight into the table, the later is
// staged and upserted over it), and whether or not the archive held the
// execution before.
func TestRepeatedKeysInASnapshot(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	load1 := func(arn string, batches ...[]schema.Operation) {
		t.Helper()
		if err := archiveOps(ctx, pg, arn, "SUCCEEDED", batches...); err != nil {
			t.Fatal(err)
		}
	}
	op := func(arn, id string, seq int64, status string) schema.Operation {
		return opRow(arn, id, seq, status, "r")
	}
	for _, c := range []struct {
		name   string
		before bool // the archive holds the execution already
	}{
		{"in one batch", false},
		{"in a later batch", false},
		{"in one batch, archived before", true},
		{"in a later batch, archived before", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			arn := "arn:" + strings.ReplaceAll(c.name, " ", "-")
			if c.before {
				load1(arn, []schema.Operation{op(arn, "a", 0, "STARTED")})
			}
			first := []schema.Operation{op(arn, "a", 0, "STARTED"), op(arn, "b", 1, "SUCCEEDED")}
			repeat := op(arn, "a", 2, "FAILED")
			if strings.Contains(c.name, "one batch") {
				load1(arn, append(first, repeat))
			} else {
				load1(arn, first, []schema.Operation{repeat})
			}
			var seq int64
			var status string
			if err := conn.QueryRow(ctx, "SELECT seq, status FROM "+s+".operations WHERE execution_arn = $1 AND operation_id = 'a'", arn).Scan(&seq, &status); err != nil {
				t.Fatal(err)
			}
			if seq != 2 || status != "FAILED" {
				t.Errorf("operation a: seq %d %s, want the later listing (seq 2, FAILED)", seq, status)
			}
			if n := count(t, conn, "SELECT count(*) FROM "+s+".operations WHERE execution_arn = '"+arn+"'"); n != 2 {
				t.Errorf("%d operations rows, want 2", n)
			}
		})
	}
}

// TestRowsThereBeforeTheExecutionsRow: an execution the archive holds no
// executions row of, whose operations rows are there (a run beside this
// one archived it first, or rows left by hand): its first try meets them
// (load.Transient), the next is staged and upserts over them, the
// operations rows taking the new snapshot.
func TestRowsThereBeforeTheExecutionsRow(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	arn := "arn:there-before"
	leaveOrphanRow(t, conn, s, arn)
	try := func() error {
		return archiveOps(ctx, pg, arn, "SUCCEEDED", []schema.Operation{opRow(arn, "a", 0, "SUCCEEDED", "r")})
	}
	if err := try(); err == nil || !load.Transient(err) || !strings.Contains(err.Error(), "copy operations") {
		t.Fatalf("first try: %v; want a transient failure of the COPY naming the table", err)
	}
	if err := try(); err != nil {
		t.Fatalf("second try: %v", err)
	}
	var status, run string
	if err := conn.QueryRow(ctx, "SELECT status, run_id FROM "+s+".operations WHERE execution_arn = $1", arn).Scan(&status, &run); err != nil {
		t.Fatal(err)
	}
	if status != "SUCCEEDED" || run != "r" {
		t.Errorf("operation a: %s by run %s, want SUCCEEDED by r", status, run)
	}
	if n := count(t, conn, "SELECT count(*) FROM "+s+".executions"); n != 1 {
		t.Errorf("%d executions rows, want 1", n)
	}
}

// TestKeysThatPostgresStoresAlike: two operation ids of one snapshot that
// differ only by a U+0000 in one and a U+FFFD in the other are one key in
// Postgres (TestNULInPostgres): the later is kept, at the first try.
func TestKeysThatPostgresStoresAlike(t *testing.T) {
	pg, s, conn := migratedLoader(t)
	ctx := context.Background()
	arn := "arn:nul-key"
	if err := archiveOps(ctx, pg, arn, "SUCCEEDED", []schema.Operation{opRow(arn, "a\x00", 0, "STARTED", "r"), opRow(arn, "a\uFFFD", 1, "SUCCEEDED", "r")}); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := conn.QueryRow(ctx, "SELECT status FROM "+s+".operations WHERE execution_arn = $1", arn).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "SUCCEEDED" {
		t.Errorf("operation a\uFFFD: %s, want the later listing's SUCCEEDED", status)
	}
}

// TestTwoRunsInsertTheSameNewExecution: two runs (two loaders) archive
// an execution neither finds archived, both COPYing straight into the
// tables; the later one's COPY waits on the earlier one's keys. When the
// earlier commits, the later fails as load.Transient and its next try,
// staged, upserts its snapshot over the earlier's; when the earlier rolls
// back, the later's COPY goes on and commits at its first try.
func TestTwoRunsInsertTheSameNewExecution(t *testing.T) {
	for _, earlierCommits := range []bool{true, false} {
		t.Run(fmt.Sprint("earlier commits ", earlierCommits), func(t *testing.T) {
			url, s, conn := pgtest.Migrated(t)
			ctx := context.Background()
			open := func(app string) *load.Postgres {
				pg, err := load.NewPostgres(ctx, withApp(url, app), load.WithPGSchema(s))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pg.Close(ctx) })
				return pg
			}
			earlier, later := open("earlier-"+s), open("later-"+s)
			arn := "arn:both-runs"
			ops := func(run, status string) []schema.Operation {
				var ops []schema.Operation
				for i := range 50 {
					ops = append(ops, opRow(arn, fmt.Sprint("op", i), int64(i), status, run))
				}
				return ops
			}
			first, err := earlier.Begin(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if err := first.Write(ctx, schema.RowsOf(schema.Operations, ops("earlier", "STARTED"))); err != nil {
				first.Abort(ctx)
				t.Fatal(err)
			}
			try := func() error { return archiveOps(ctx, later, arn, "SUCCEEDED", ops("later", "SUCCEEDED")) }
			tried := make(chan error, 1)
			go func() { tried <- try() }()
			// The later run's COPY waits on the earlier's uncommitted keys.
			for waiting := int64(0); waiting == 0; {
				select {
				case err := <-tried:
					first.Abort(ctx)
					t.Fatalf("the later run's try ended (%v) while the earlier's rows were uncommitted", err)
				case <-time.After(5 * time.Millisecond):
				}
				waiting = count(t, conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'later-"+s+"' AND wait_event_type = 'Lock'")
			}
			if earlierCommits {
				started := "STARTED"
				if err := first.Commit(ctx, "2026-01-05", schema.Execution{ExecutionArn: arn, Status: &started, OperationCount: 50, RunID: "earlier", ExtractedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if err := <-tried; err == nil || !load.Transient(err) || !strings.Contains(err.Error(), "copy operations") {
					t.Fatalf("later run's first try: %v; want a transient failure of the COPY", err)
				}
				if err := try(); err != nil {
					t.Fatalf("later run's second try: %v", err)
				}
			} else {
				if err := first.Abort(ctx); err != nil {
					t.Fatal(err)
				}
				if err := <-tried; err != nil {
					t.Fatalf("later run's first try: %v", err)
				}
			}
			if n := count(t, conn, "SELECT count(*) FROM "+s+".operations WHERE status = 'SUCCEEDED' AND run_id = 'later'"); n != 50 {
				t.Errorf("%d operations rows of the later run's snapshot, want 50", n)
			}
			if n := count(t, conn, "SELECT count(*) FROM "+s+".operations"); n != 50 {
				t.Errorf("%d operations rows, want 50", n)
			}
			wholeExecutions(t, conn, s)
		})
	}
}

// TestNewExecutionArchivedBesideBeforeItsCommit: a run whose new
// execution's first page repeats a key stages its rows, to insert them at
// Commit; a run beside it archives the same execution in between. The
// INSERT meets those rows: the execution fails as load.Transient, and its
// next try, staged and upserted, leaves its snapshot.
func TestNewExecutionArchivedBesideBeforeItsCommit(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	ctx := context.Background()
	open := func() *load.Postgres {
		pg, err := load.NewPostgres(ctx, url, load.WithPGSchema(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close(ctx) })
		return pg
	}
	this, beside := open(), open()
	arn := "arn:beside"
	repeats := []schema.Operation{opRow(arn, "a", 0, "STARTED", "this"), opRow(arn, "b", 1, "SUCCEEDED", "this"), opRow(arn, "a", 2, "SUCCEEDED", "this")}
	try := func() error {
		x, err := this.Begin(ctx, arn)
		if err != nil {
			return err
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, repeats)); err != nil {
			x.Abort(ctx)
			return err
		}
		// The run beside it commits the execution now (its rows go
		// straight in: nothing of this transaction's is in the tables).
		if err := archiveOps(ctx, beside, arn, "STARTED", []schema.Operation{opRow(arn, "a", 0, "STARTED", "beside")}); err != nil {
			x.Abort(ctx)
			t.Fatalf("the run beside: %v", err)
		}
		done := "SUCCEEDED"
		return x.Commit(ctx, "2026-01-05", schema.Execution{ExecutionArn: arn, Status: &done, OperationCount: 2, RunID: "this", ExtractedAt: time.Now()})
	}
	if err := try(); err == nil || !load.Transient(err) || !strings.Contains(err.Error(), "rows are there already") {
		t.Fatalf("first try: %v; want a transient failure: rows there already", err)
	}
	if err := archiveOps(ctx, this, arn, "SUCCEEDED", repeats); err != nil {
		t.Fatalf("second try: %v", err)
	}
	if n := count(t, conn, "SELECT count(*) FROM "+s+".operations WHERE status = 'SUCCEEDED' AND run_id = 'this'"); n != 2 {
		t.Errorf("%d operations rows SUCCEEDED by this run, want 2 (a's later listing, b)", n)
	}
	wholeExecutions(t, conn, s)
}

// TestQueryExecModes: every pgx query exec mode a user may set in the URL
// (default_query_exec_mode; a pooler in transaction mode needs exec)
// archives alike: Begin's and Commit's batches carry BEGIN and COMMIT,
// which the simple protocol sends as one multi-statement query. Each mode
// goes through the fresh path, rows there before the executions row, a
// repeated key (its staged rows inserted) and the staged path.
func TestQueryExecModes(t *testing.T) {
	for _, mode := range []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			url, s, conn := pgtest.Migrated(t)
			ctx := context.Background()
			pg, err := load.NewPostgres(ctx, withParam(url, "default_query_exec_mode", mode), load.WithPGSchema(s))
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close(ctx)
			archive := func(arn, status string, ids ...string) error {
				var ops []schema.Operation
				for i, id := range ids {
					ops = append(ops, opRow(arn, id, int64(i), status, "r"))
				}
				return archiveOps(ctx, pg, arn, status, ops)
			}
			leaveOrphanRow(t, conn, s, "arn:before")
			if err := archive("arn:before", "SUCCEEDED", "a", "b"); err == nil || !load.Transient(err) {
				t.Fatalf("rows there before the executions row, first try: %v; want a transient failure", err)
			}
			for _, step := range []struct {
				arn, status string
				ids         []string
			}{
				{"arn:before", "SUCCEEDED", []string{"a", "b"}}, // staged, upserted over the row there
				{"arn:fresh", "STARTED", []string{"a", "b", "c"}},
				{"arn:repeats", "SUCCEEDED", []string{"a", "b", "a"}},
				{"arn:fresh", "SUCCEEDED", []string{"a", "b", "c", "d"}}, // staged: archived before
			} {
				if err := archive(step.arn, step.status, step.ids...); err != nil {
					t.Fatalf("%s %v: %v", step.arn, step.ids, err)
				}
			}
			if n := count(t, conn, "SELECT count(*) FROM "+s+".operations WHERE status = 'SUCCEEDED' AND run_id = 'r'"); n != 8 {
				t.Errorf("%d operations rows SUCCEEDED by run r, want 8 (2 + 2 + 4)", n)
			}
			if n := count(t, conn, "SELECT count(*) FROM "+s+".operations"); n != 8 {
				t.Errorf("%d operations rows, want 8", n)
			}
			wholeExecutions(t, conn, s)
		})
	}
}
