package load

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/schema"
)

// TestFreshRowsGoStraightIn: an execution the archive never held sends
// its rows straight into their tables, even where two tables' keys look
// alike (an operation "1" and an event 1), while they do not repeat
// (a key is its key columns', not execution_arn's, which every row of it
// shares); from a batch that repeats a key on, it stages. A fresh path
// that staged too much would archive the same rows (its tests in
// load_test cannot tell), only slower.
func TestFreshRowsGoStraightIn(t *testing.T) {
	ctx := context.Background()
	url, s, _ := pgtest.Migrated(t)
	pg, err := NewPostgres(ctx, url, WithPGSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	const arn = "arn:fresh"
	x, err := pg.Begin(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	e := x.(*pgExec)
	defer e.Abort(ctx)
	ops := func(ids ...int) schema.Rows {
		var rows []schema.Operation
		for _, id := range ids {
			rows = append(rows, schema.Operation{ExecutionArn: arn, OperationID: fmt.Sprint(id), Seq: int64(id), Type: "STEP", Status: "SUCCEEDED", Source: "history", RunID: "r", ExtractedAt: time.Now()})
		}
		return schema.RowsOf(schema.Operations, rows)
	}
	events := func(ids ...int32) schema.Rows {
		var rows []schema.Event
		for _, id := range ids {
			rows = append(rows, schema.Event{ExecutionArn: arn, EventID: id, RunID: "r", ExtractedAt: time.Now()})
		}
		return schema.RowsOf(schema.Events, rows)
	}
	for _, step := range []struct {
		rows    schema.Rows
		staging bool
	}{
		{ops(1, 2, 3), false},
		{events(1, 2, 3), false},
		{ops(4, 5), false},
		{events(4), false},
		{ops(6, 2), true},
		{ops(7), true},
	} {
		if err := e.Write(ctx, step.rows); err != nil {
			t.Fatal(err)
		}
		if e.staging != step.staging {
			t.Fatalf("after %d %s rows (%d copied before): staging %v, want %v", step.rows.Len(), step.rows.Table().Name, e.copied, e.staging, step.staging)
		}
	}
	if e.copied != 9 {
		t.Errorf("%d rows copied straight in, want 9", e.copied)
	}
}

// TestHeldExecutionsStagedAtBegin: an execution the archive held when the
// run read it (Archived) is staged from Begin on, its staging tables made
// in Begin's round trip, without asking whether it is held; one archived
// since (by a run beside this one) is found by asking, and staged too;
// one never archived is not. Each is archived whole, the held one also
// when its rows were deleted since the run read the archive.
func TestHeldExecutionsStagedAtBegin(t *testing.T) {
	ctx := context.Background()
	url, s, conn := pgtest.Migrated(t)
	pg, err := NewPostgres(ctx, url, WithPGSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	archive := func(arn string, ids ...string) *pgExec {
		t.Helper()
		x, err := pg.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		e := x.(*pgExec)
		staging := e.staging
		var rows []schema.Operation
		for i, id := range ids {
			rows = append(rows, schema.Operation{ExecutionArn: arn, OperationID: id, Seq: int64(i), Type: "STEP", Status: "SUCCEEDED", Source: "history", RunID: "r", ExtractedAt: time.Now()})
		}
		if err := e.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			e.Abort(ctx)
			t.Fatal(err)
		}
		status := "SUCCEEDED"
		if err := e.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: arn, Status: &status, OperationCount: int64(len(ids)), ContentHash: "h", Source: "history", RunID: "r", ExtractedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		e.staging = staging // as Begin left it
		return e
	}
	archive("arn:held", "a")
	archive("arn:gone", "a")
	if _, err := pg.Archived(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	archive("arn:beside", "a") // after the run read the archive
	if _, err := conn.Exec(ctx, fmt.Sprintf("DELETE FROM %s.operations WHERE execution_arn = 'arn:gone'; DELETE FROM %[1]s.executions WHERE execution_arn = 'arn:gone'", s)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arn     string
		staging bool // from Begin on
	}{
		{"arn:held", true},
		{"arn:gone", true},
		{"arn:beside", true},
		{"arn:new", false},
	} {
		if e := archive(c.arn, "a", "b"); e.staging != c.staging {
			t.Errorf("%s: staging from Begin %v, want %v", c.arn, e.staging, c.staging)
		}
		var n int64
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.operations WHERE execution_arn = $1", s), c.arn).Scan(&n); err != nil || n != 2 {
			t.Errorf("%s: %d operations rows (%v), want 2", c.arn, n, err)
		}
	}
	if held, beside, never := pg.heldBefore("arn:held"), pg.heldBefore("arn:beside"), pg.heldBefore("arn:new"); !held || beside || never {
		t.Errorf("held before: arn:held %v, arn:beside %v, arn:new %v; want true, false, false", held, beside, never)
	}
}

// TestTransactionsUnboundByTheRole: a role whose defaults bound its
// statements and idle transactions and make them SERIALIZABLE has each
// of etl's transactions as the loader needs it, whatever the defaults:
// an execution's (Begin) at READ COMMITTED, its reads (beginRead) at
// the isolation asked and read only, both with neither bound.
func TestTransactionsUnboundByTheRole(t *testing.T) {
	ctx := context.Background()
	url, s, _ := pgtest.Migrated(t)
	role, roleURL := pgtest.Role(t, url)
	pgtest.Writer(t, url, role, s, "statement_timeout = '100ms'", "idle_in_transaction_session_timeout = '50ms'",
		"default_transaction_isolation = 'serializable'")
	pg, err := NewPostgres(ctx, roleURL, WithPGSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	const settings = "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('transaction_isolation'), current_setting('transaction_read_only')"
	type seen struct{ statement, idle, iso, readOnly string }
	read := func(r pgx.Row) seen {
		var v seen
		if err := r.Scan(&v.statement, &v.idle, &v.iso, &v.readOnly); err != nil {
			t.Fatal(err)
		}
		return v
	}
	x, err := pg.Begin(ctx, "arn:unbound")
	if err != nil {
		t.Fatal(err)
	}
	e := x.(*pgExec)
	if got, want := read(e.conn.QueryRow(ctx, settings)), (seen{"0", "0", "read committed", "off"}); got != want {
		t.Errorf("an execution's transaction: %+v, want %+v", got, want)
	}
	e.Abort(ctx)
	for _, iso := range []pgx.TxIsoLevel{pgx.ReadCommitted, pgx.RepeatableRead} {
		tx, err := pg.beginRead(ctx, iso)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := read(tx.QueryRow(ctx, settings)), (seen{"0", "0", string(iso), "on"}); got != want {
			t.Errorf("a read at %s: %+v, want %+v", iso, got, want)
		}
		tx.Rollback(ctx)
	}
	// Outside them, the role's own (what the test would see without etl's).
	conn := pgtest.Conn(t, roleURL)
	if got := read(conn.QueryRow(ctx, settings)); got.statement != "100ms" || got.iso != "serializable" {
		t.Errorf("the role's defaults: %+v: the test sets none", got)
	}
}
