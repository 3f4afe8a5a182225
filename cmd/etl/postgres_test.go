package main

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/readmesql"
	"github.com/durable-etl/durable-etl/internal/s3test"
)

func TestMain(m *testing.M) {
	// The kill tests run this binary as etl itself.
	if os.Getenv("ETL_TEST_EXEC_MAIN") == "1" {
		os.Exit(process(append([]string{"etl"}, os.Args[1:]...)))
	}
	os.Exit(s3test.Main(s3test.RunFunc(func() int { return pgtest.Main(m) })))
}

func TestPostgresDestination(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 8)
	dbURL, s := pgtest.Schema(t)
	dir := filepath.Join(t.TempDir(), "archive")

	// Unmigrated: stops before fetching, naming etl migrate.
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url)
	if r.code != exitUsage || !strings.Contains(r.stderr, "etl migrate") || srv.Stats().Requests != 0 {
		t.Fatalf("unmigrated schema: exit %d, %d requests", r.code, srv.Stats().Requests)
	}
	// migrate says what it applied: every migration, then none.
	all, _ := filepath.Glob(filepath.Join("..", "..", "migrations", "*.sql"))
	if r = runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", s); r.code != 0 || !strings.Contains(r.stdout, "up to date: applied 001_") || strings.Count(r.stdout, ".sql") != len(all) || len(all) == 0 {
		t.Fatalf("migrate: exit %d, %d of %d migrations said applied", r.code, strings.Count(r.stdout, ".sql"), len(all))
	}
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", s); r.code != 0 || !strings.Contains(r.stdout, "was up to date: nothing applied") {
		t.Fatalf("migrate again: exit %d", r.code)
	}
	// Parquet and Postgres from one extraction.
	r = runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url, "--run-id", "both")
	if r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	if n := srv.Stats().Requests; n != 8 {
		t.Errorf("%d requests for 8 one-page executions", n)
	}
	conn := pgtest.Conn(t, dbURL)
	var ops, status string
	conn.QueryRow(context.Background(), "SELECT count(*)::text FROM "+pgx.Identifier{s, "operations"}.Sanitize()).Scan(&ops)
	conn.QueryRow(context.Background(), "SELECT status FROM "+pgx.Identifier{s, "runs"}.Sanitize()+" WHERE run_id = 'both'").Scan(&status)
	if !strings.Contains(r.stdout, ops+" operations") || status != "succeeded" {
		t.Errorf("postgres holds %s operations, runs status %q; stdout:\n%s", ops, status, r.stdout)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet")); len(files) == 0 {
		t.Error("no Parquet beside Postgres")
	}
}

func TestRunMigrateFlag(t *testing.T) {
	_, url, manifest, _ := fixture(t, 2)
	dbURL, s := pgtest.Schema(t)
	if r := runCLI(t, "run", "--migrate", "--manifest", manifest, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url); r.code != 0 {
		t.Fatalf("run --migrate: exit %d", r.code)
	}
}

// TestNULReplacementIsLogged: Postgres text cannot hold U+0000; the CLI's log
// says, once per execution, how many rows had one replaced and which was
// the first (the Parquet archive keeps it).
func TestNULReplacementIsLogged(t *testing.T) {
	var ops []types.Operation
	for _, id := range []string{"nul-op", "nul-op-2", "nul-op-3"} {
		ops = append(ops, types.Operation{Id: aws.String(id), Type: "STEP", Status: "FAILED",
			StepDetails: &types.StepDetails{Error: &types.ErrorObject{ErrorMessage: aws.String("bad\x00byte")}}})
	}
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/nul/1"
	srv := emulator.New()
	srv.Add(emulator.Fixed(arn, "tok", ops))
	url, _ := emulatortest.Start(t, srv)
	dbURL, s := pgtest.Schema(t)
	r := runCLI(t, "run", "--execution", arn, "--checkpoint-token", "tok", "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url)
	if r.code != 0 || strings.Count(r.stderr, "U+0000") != 1 || !strings.Contains(r.stderr, "rows=3") || !strings.Contains(r.stderr, "operation_id=nul-op ") && !strings.Contains(r.stderr, "operation_id=nul-op\"") {
		t.Fatalf("exit %d; the replacements must be logged once, with their count and the first operation", r.code)
	}

	// Past ten executions, the rest are told at debug level, and summed up.
	var execs []emulator.Execution
	for i := range 12 {
		execs = append(execs, emulator.Fixed(fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/nul-%d/1", i), "tok", ops[:1]))
	}
	srv.Add(execs...)
	r = runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url)
	if r.code != 0 || strings.Count(r.stderr, "U+0000") != 10+1 || !strings.Contains(r.stderr, "executions=12 rows=12") {
		t.Fatalf("exit %d; 12 executions with U+0000 replaced must be told 10 times (load.nulWarnings) and summed up once", r.code)
	}
}

// TestRoleWithoutTheRights: a role that may not create the schema makes
// etl migrate a usage error (exit 2), and one that may read the migrated
// tables but not write them stops etl run before any request to the API
// (exit 2), naming the GRANT; verify reads with it.
func TestRoleWithoutTheRights(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 4)
	dbURL, s := pgtest.Schema(t)
	admin := pgtest.Conn(t, dbURL)
	ctx := context.Background()
	role, roleURL := pgtest.Role(t, dbURL)
	if r := runCLI(t, "migrate", "--dest", roleURL, "--pg-schema", s+"_own"); r.code != exitUsage || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("migrate by a role that may not create: exit %d, %q", r.code, r.stderr)
	}
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", s); r.code != 0 {
		t.Fatalf("migrate: exit %d", r.code)
	}
	sch := pgx.Identifier{s}.Sanitize()
	for _, q := range []string{"GRANT USAGE ON SCHEMA " + sch + " TO " + role, "GRANT SELECT ON ALL TABLES IN SCHEMA " + sch + " TO " + role} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "run", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url)
	if r.code != exitUsage || !strings.Contains(r.stderr, "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA") || strings.Contains(r.stderr, passwordOf(t, roleURL)) || srv.Stats().Requests != 0 {
		t.Fatalf("run by a role that may only read: exit %d, %d requests, %q", r.code, srv.Stats().Requests, lastLine(r.stderr))
	}
	if r := runCLI(t, "verify", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url); r.code == exitUsage {
		t.Fatalf("verify by a role that may read: exit %d, %q", r.code, lastLine(r.stderr))
	}
}

// writerRole migrates schema s (etl migrate) and makes a role of the
// test's that may write it (pgtest.Role, pgtest.Writer), with the
// settings given; it returns the role's name and URL.
func writerRole(t *testing.T, dbURL, s string, settings ...string) (string, string) {
	t.Helper()
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", s); r.code != 0 {
		t.Fatalf("migrate: exit %d", r.code)
	}
	role, roleURL := pgtest.Role(t, dbURL)
	pgtest.Writer(t, dbURL, role, s, settings...)
	return role, roleURL
}

// TestRoleSerializableByDefault: a role whose transactions are
// SERIALIZABLE by default (default_transaction_isolation) has etl's run
// at READ COMMITTED, what the loader is built for: at SERIALIZABLE,
// executions written beside each other failed for nothing (40001),
// each read from the API again (300 executions at --concurrency 16:
// 53 s and 649 pages, where 17 s and 454 pages do). Each write to
// executions records its transaction's isolation (a trigger).
func TestRoleSerializableByDefault(t *testing.T) {
	_, url, manifest, execs := fixture(t, 12)
	dbURL, s := pgtest.Schema(t)
	_, roleURL := writerRole(t, dbURL, s, "default_transaction_isolation = 'serializable'")
	admin := pgtest.Conn(t, dbURL)
	ctx := context.Background()
	sch := pgx.Identifier{s}.Sanitize()
	pgtest.Exec(t, dbURL,
		"CREATE TABLE "+sch+".isolation_seen (level text)",
		"CREATE FUNCTION "+sch+".note_isolation() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN INSERT INTO "+sch+".isolation_seen VALUES (current_setting('transaction_isolation')); RETURN NULL; END$$",
		"CREATE TRIGGER note_isolation AFTER INSERT OR UPDATE ON "+sch+".executions FOR EACH STATEMENT EXECUTE FUNCTION "+sch+".note_isolation()",
	)
	r := runCLI(t, "run", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--concurrency", "8", "--log-level", "warn")
	if want := fmt.Sprintf("%d executions archived, 0 failed", len(execs)); r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Fatalf("run: exit %d, %q", r.code, lastLine(r.stderr))
	}
	rows, _ := admin.Query(ctx, "SELECT level, count(*) FROM "+sch+".isolation_seen GROUP BY level")
	seen, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil || len(seen) != 1 || seen[0]["level"] != "read committed" {
		t.Errorf("the writes' isolation levels: %v (%v), want read committed alone", seen, err)
	}
}

// TestRoleLockTimeout: a role with a lock_timeout (which etl leaves as
// set) that meets a lock held by another transaction (here a table lock
// on executions, held until the run's first wait for it has timed out)
// fails that try of the execution, which is archived again, as after a
// deadlock: the run archives everything. It stopped, exit 1, at the
// first such failure (55P03 was not taken for a transient one).
func TestRoleLockTimeout(t *testing.T) {
	_, url, manifest, execs := fixture(t, 6)
	dbURL, s := pgtest.Schema(t)
	role, roleURL := writerRole(t, dbURL, s, "lock_timeout = '100ms'")
	ctx := context.Background()
	holder := pgtest.Conn(t, dbURL)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{s, "executions"}.Sanitize()+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	done := make(chan cliResult, 1)
	go func() {
		done <- runCLI(t, "run", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--report", report, "--log-level", "warn")
	}()
	// Hold the lock until the run has waited for it and given up. A wait
	// for the executions table alone: the role's sessions may wait a
	// moment for others as they start (CI once saw one, ended before
	// the run's first write, and let the run through without a retry).
	watcher := pgtest.Conn(t, dbURL)
	table := pgx.Identifier{s, "executions"}.Sanitize()
	waiting := func() bool {
		var n int
		if err := watcher.QueryRow(ctx, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.usename = $1 AND l.relation = $2::regclass", role, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	deadline := time.Now().Add(time.Minute)
	for !waiting() {
		if time.Now().After(deadline) {
			t.Fatal("the run never waited for the lock")
		}
	}
	for waiting() {
		if time.Now().After(deadline) {
			t.Fatal("the run's wait for the lock never ended: lock_timeout not in force?")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	sum := readReport(t, report)
	if want := fmt.Sprintf("%d executions archived, 0 failed", len(execs)); r.code != exitOK || !strings.Contains(r.stdout, want) || sum.DestinationRetries == 0 {
		t.Errorf("run meeting a lock past its lock_timeout: exit %d, %d destination retries, %q: want %q after a retry", r.code, sum.DestinationRetries, lastLine(r.stderr), want)
	}
}

// TestReadOnlyDatabase: a server that takes no writes from the role
// (default_transaction_read_only, as a reader endpoint or a standby
// gives) stops etl run before any request to the API, exit 2, in one
// line that says so; it got as far as recording the run, then retried
// that for minutes as a failover's old primary is retried. verify,
// which only reads, reads with it.
func TestReadOnlyDatabase(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 4)
	dbURL, s := pgtest.Schema(t)
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	_, roleURL := writerRole(t, dbURL, s, "default_transaction_read_only = on")
	before := srv.Stats().Requests
	r := runCLI(t, "run", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--run-id", "second")
	msg := strings.TrimSpace(r.stderr)
	if r.code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "takes no writes") || srv.Stats().Requests != before {
		t.Fatalf("run into a read-only database: exit %d, %d requests, %q: want %d, none, one line saying so", r.code, srv.Stats().Requests-before, msg, exitUsage)
	}
	if r := runCLI(t, "verify", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--all"); r.code != exitOK {
		t.Errorf("verify with a read-only role: exit %d, %q", r.code, lastLine(r.stderr))
	}
}

// TestRoleTimeoutsDoNotCutARunShort: a role whose statements a DBA
// bounds (statement_timeout) and whose transactions may not wait for
// their client (idle_in_transaction_session_timeout), as production
// databases often set, archives every execution all the same: an
// execution's COPY grows with its history (here each write to events
// takes 300 ms, a trigger's sleep, past the role's 100 ms), and its
// transaction waits for the API's next page (150 ms here, past the
// role's 50 ms). Before, every such execution failed each night until
// its history expired. verify reads with the same role.
func TestRoleTimeoutsDoNotCutARunShort(t *testing.T) {
	execs := emulator.Generate(57, 6, emulator.GenerateOptions{MinOps: 20, MaxOps: 40})
	srv := emulator.New(emulator.WithLatency(150*time.Millisecond), emulator.WithPageItems(40))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dbURL, s := pgtest.Schema(t)
	_, roleURL := writerRole(t, dbURL, s, "statement_timeout = '100ms'", "idle_in_transaction_session_timeout = '50ms'")
	admin := pgtest.Conn(t, dbURL)
	ctx := context.Background()
	sch := pgx.Identifier{s}.Sanitize()
	pgtest.Exec(t, dbURL,
		"CREATE FUNCTION "+sch+".slow() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END$$",
		"CREATE TRIGGER slow AFTER INSERT ON "+sch+".events FOR EACH STATEMENT EXECUTE FUNCTION "+sch+".slow()",
	)
	manifest := tokenlessManifest(t, execs)
	r := runCLI(t, "run", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--log-level", "warn")
	if want := fmt.Sprintf("%d executions archived, 0 failed", len(execs)); r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Fatalf("run by a role with timeouts: exit %d, %q: want %q", r.code, lastLine(r.stderr), want)
	}
	want := 0
	for _, e := range execs {
		want += e.History.Len()
	}
	var got int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+sch+".events").Scan(&got); err != nil || got != want {
		t.Errorf("%d events archived (%v), want %d", got, err, want)
	}
	if r := runCLI(t, "verify", "--manifest", manifest, "--dest", roleURL, "--pg-schema", s, "--endpoint-url", url, "--all"); r.code != exitOK {
		t.Errorf("verify by the role: exit %d, %q", r.code, lastLine(r.stderr))
	}
}

// TestReadmeAuditQueries runs the README's Postgres audit queries, as
// they are but for the schema, over an archive of the demo functions'
// executions made by discovery (history: events, folded operations): each
// runs, and those over data every such archive has return rows.
func TestReadmeAuditQueries(t *testing.T) {
	blocks, err := readmesql.Blocks(filepath.Join("..", "..", "README.md"), "postgres-audit-queries")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, q := range strings.Split(strings.Join(blocks, ""), ";\n") {
		if q = strings.TrimSpace(q); q != "" {
			queries = append(queries, q)
		}
	}
	if len(queries) != 8 {
		t.Fatalf("want 8 audit queries in the README, found %d", len(queries))
	}

	execs := emulator.Generate(47, 60, emulator.GenerateOptions{MinOps: 3, MaxOps: 30})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dbURL, s := pgtest.Schema(t)
	if r := runCLI(t, "run", "--all-functions", "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	conn := pgtest.Conn(t, dbURL)
	schemaName := pgx.Identifier{s}.Sanitize() + "."
	// Views over what every archive by discovery holds: the rows of
	// history, of operations with durations, and of the run itself.
	mustHaveRows := []string{"longest_operations", "step_attempts", "invocations_per_execution", ".runs "}
	for _, q := range queries {
		sql := strings.ReplaceAll(q, "durable_archive.", schemaName)
		rows, err := conn.Query(context.Background(), sql)
		if err != nil {
			t.Errorf("%s\n: %v", q, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("%s\n: %v", q, err)
		}
		for _, v := range mustHaveRows {
			if strings.Contains(q, v) && n == 0 {
				t.Errorf("%s\n: no rows", q)
			}
		}
		t.Logf("%d rows: %s", n, strings.SplitN(q, "\n", 2)[0])
	}
}

// passwordOf is the password of a connection URL.
func passwordOf(t *testing.T, u string) string {
	t.Helper()
	parsed, err := neturl.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := parsed.User.Password()
	if !ok {
		t.Fatalf("%s: no password", u)
	}
	return pw
}
