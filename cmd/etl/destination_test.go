package main

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/schema"
)

// dbOutage is a test's schema and an emulator serving execs whose nth
// request ends every server connection named app ("etl-" and the schema:
// give the run that application_name), as a restart, a failover or a
// pooler's recycling does; ended counts those it ended.
type dbOutage struct {
	url, db, schema, app string
	admin                *pgx.Conn
	ended                atomic.Int64
}

func endConnectionsAt(t *testing.T, execs []emulator.Execution, n int64) *dbOutage {
	t.Helper()
	o := &dbOutage{}
	o.db, o.schema = pgtest.Schema(t)
	o.app, o.admin = "etl-"+o.schema, pgtest.Conn(t, o.db)
	srv := emulator.New(emulator.WithFaults(func(i int64, _ string) emulator.Fault {
		if i == n {
			o.ended.Store(pgtest.EndConnections(t, o.admin, o.app))
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	o.url, _ = emulatortest.Start(t, srv)
	return o
}

// TestDatabaseRestartsMidRun: the database ends every connection of a run
// into Postgres and two local directories at once, in the middle of it
// (a restart, a failover: FATAL 57P01 on each). The run archives the
// executions in flight again and succeeds; the archives match the API,
// each event once, and the directories are twins.
func TestDatabaseRestartsMidRun(t *testing.T) {
	execs := emulator.Generate(43, 24, emulator.GenerateOptions{MaxOps: 80})
	o := endConnectionsAt(t, execs, 20)
	dbURL, s, app, admin, ended, url := o.db, o.schema, o.app, o.admin, &o.ended, o.url
	manifest := tokenlessManifest(t, execs) // through history
	dir := t.TempDir()
	u, err := neturl.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app) // the run's connections alone
	u.RawQuery = q.Encode()
	db := u.String()
	report, metrics := filepath.Join(t.TempDir(), "r.json"), filepath.Join(t.TempDir(), "m.prom")
	twin := t.TempDir()
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--dest", twin, "--dest", db, "--pg-schema", s, "--migrate", "--endpoint-url", url, "--concurrency", "4", "--report", report, "--metrics-file", metrics)
	sum := readReport(t, report)
	if m, err := os.ReadFile(metrics); err != nil || !strings.Contains(string(m), fmt.Sprintf("durable_etl_last_run_destination_retries %d\n", sum.DestinationRetries)) {
		t.Errorf("metrics (%v) do not count the %d executions archived again:\n%s", err, sum.DestinationRetries, m)
	}
	if r.code != exitOK || sum.ExecutionsOK != len(execs) || ended.Load() == 0 || sum.DestinationRetries == 0 || !strings.Contains(r.stdout, "after a destination failed for a moment") {
		t.Fatalf("run: exit %d, %d archived, %d connections ended, %d archived again: want 0, all %d, some, some, told in the summary",
			r.code, sum.ExecutionsOK, ended.Load(), sum.DestinationRetries, len(execs))
	}
	for _, dest := range []string{dir, db} {
		if r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--pg-schema", s, "--endpoint-url", url, "--all"); r.code != exitOK {
			t.Errorf("verify %s: exit %d", dest, r.code)
		}
	}
	// The executions tried again reached both directories alike: their
	// files are byte for byte the same.
	twins(t, dir, twin)
	// Events are written once: none twice in either archive.
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	seen := map[string]bool{}
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Event](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rows {
			k := fmt.Sprint(e.ExecutionArn, e.EventID)
			if seen[k] {
				t.Errorf("event %s twice in the Parquet archive", k)
			}
			seen[k] = true
		}
	}
	var n int64
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{s, "events"}.Sanitize()).Scan(&n); err != nil || n != int64(len(seen)) || n != sum.EventsNew {
		t.Errorf("postgres holds %d events (%v), Parquet %d, the run wrote %d: want the same", n, err, len(seen), sum.EventsNew)
	}
}

// TestThroughAPoolerInTransactionMode: Postgres reached through PgBouncer
// in transaction mode, whose server sessions are ended midway (as a
// pooler recycles them: server_lifetime, a failover): the sessions it
// opens next serve the run's connections made before. The staging tables
// were made once per connection, so the transactions in the new sessions
// failed for good ("relation etl_stage_events does not exist"); now each
// transaction makes what its session lacks, and the run archives the
// executions in flight again (load.Transient). pgx's statement cache
// needs default_query_exec_mode=exec there (without it the error says
// so). Migrations go to the server directly, as the README says.
func TestThroughAPoolerInTransactionMode(t *testing.T) {
	execs := emulator.Generate(47, 40, emulator.GenerateOptions{MaxOps: 60})
	o := endConnectionsAt(t, execs, 30)
	dbURL, s, app, admin, ended, url := o.db, o.schema, o.app, o.admin, &o.ended, o.url
	manifest := tokenlessManifest(t, execs) // through history: three tables
	if r := runCLI(t, "migrate", "--dest", dbURL, "--pg-schema", s); r.code != exitOK {
		t.Fatalf("migrate: exit %d", r.code)
	}
	pooled := pgtest.Pooler(t, dbURL, 4) + "&default_query_exec_mode=exec&application_name=" + app
	r := runCLI(t, "run", "--manifest", manifest, "--dest", pooled, "--pg-schema", s, "--endpoint-url", url, "--concurrency", "6")
	if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("%d executions archived, 0 failed", len(execs))) || ended.Load() == 0 {
		t.Fatalf("run through the pooler: exit %d, %d server sessions ended midway (want some)", r.code, ended.Load())
	}
	if r := runCLI(t, "verify", "--manifest", manifest, "--dest", pooled, "--pg-schema", s, "--endpoint-url", url, "--all"); r.code != exitOK {
		t.Errorf("verify through the pooler: exit %d", r.code)
	}
	var events int
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{s, "events"}.Sanitize()).Scan(&events); err != nil || events == 0 {
		t.Errorf("%d events in the table (%v)", events, err)
	}
}
