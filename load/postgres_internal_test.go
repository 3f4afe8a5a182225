package load

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/migrations"
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
	url, s := pgtest.Schema(t)
	if err := migrations.Migrate(ctx, pgtest.Conn(t, url), s); err != nil {
		t.Fatal(err)
	}
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
