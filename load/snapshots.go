package load

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/schema"
)

// ExecutionState is an execution's newest archived snapshot, as verification
// reads it.
type ExecutionState struct {
	Arn            string
	Status         *string
	EndTime        *time.Time
	OperationCount int64
	EventCount     *int64
	ContentHash    string
	Source         string
	RunID          string
	ExtractedAt    time.Time
	DT             string // "" in Postgres
}

// SnapshotReader is a destination that can say what it holds, execution by
// execution, for verification.
type SnapshotReader interface {
	// Latest reads the newest snapshot of every archived execution, from the
	// executions table alone.
	Latest(ctx context.Context) (map[string]ExecutionState, error)
	// Rows reads the operations of an execution's newest snapshot (in seq
	// order) and all its archived events (in event id order).
	Rows(ctx context.Context, st ExecutionState) ([]schema.Operation, []schema.Event, error)
}

// stateRow is the executions projection Latest reads (only these columns
// are read from Parquet).
type stateRow struct {
	ExecutionArn   string     `parquet:"execution_arn"`
	Status         *string    `parquet:"status,optional"`
	EndTime        *time.Time `parquet:"end_time,optional,timestamp(millisecond)"`
	OperationCount int64      `parquet:"operation_count"`
	EventCount     *int64     `parquet:"event_count,optional"`
	ContentHash    string     `parquet:"content_hash"`
	Source         string     `parquet:"source"`
	RunID          string     `parquet:"run_id"`
	ExtractedAt    time.Time  `parquet:"extracted_at,timestamp(millisecond)"`
}

func newer(a, b ExecutionState) bool {
	return a.ExtractedAt.After(b.ExtractedAt) || (a.ExtractedAt.Equal(b.ExtractedAt) && a.RunID > b.RunID)
}

// Latest reads the executions files' key columns (Parquet reads only those).
func (d *Parquet) Latest(ctx context.Context) (map[string]ExecutionState, error) {
	out := map[string]ExecutionState{}
	files, err := d.sink.list(ctx, "executions/")
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.dir, err)
	}
	for _, f := range files {
		dt := partitionOf(f.name)
		err := d.sink.read(ctx, f.name, func(r io.ReaderAt, size int64) error {
			return eachRow(r, size, func(row *stateRow) {
				st := ExecutionState{Arn: row.ExecutionArn, Status: row.Status, EndTime: row.EndTime, OperationCount: row.OperationCount,
					EventCount: row.EventCount, ContentHash: row.ContentHash, Source: row.Source, RunID: row.RunID, ExtractedAt: row.ExtractedAt, DT: dt}
				if cur, ok := out[st.Arn]; !ok || newer(st, cur) {
					out[st.Arn] = st
				}
			})
		})
		if err != nil {
			return nil, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
		}
	}
	return out, nil
}

// Rows reads the execution's partition only.
func (d *Parquet) Rows(ctx context.Context, st ExecutionState) ([]schema.Operation, []schema.Event, error) {
	var ops []schema.Operation
	var events []schema.Event
	for _, table := range []string{"operations", "events"} {
		files, err := d.sink.list(ctx, table+"/")
		if err != nil {
			return nil, nil, fmt.Errorf("destination %s: %w", d.dir, err)
		}
		for _, f := range files {
			if partitionOf(f.name) != st.DT {
				continue
			}
			err := d.sink.read(ctx, f.name, func(r io.ReaderAt, size int64) error {
				if table == "operations" {
					return eachRow(r, size, func(row *schema.Operation) {
						if row.ExecutionArn == st.Arn && row.RunID == st.RunID && row.ExtractedAt.Equal(st.ExtractedAt) {
							ops = append(ops, cloneOp(*row))
						}
					})
				}
				return eachRow(r, size, func(row *schema.Event) {
					if row.ExecutionArn == st.Arn {
						events = append(events, *row)
					}
				})
			})
			if err != nil {
				return nil, nil, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Seq < ops[j].Seq })
	sort.Slice(events, func(i, j int) bool { return events[i].EventID < events[j].EventID })
	return ops, events, nil
}

// cloneOp copies the slice the reader may reuse.
func cloneOp(r schema.Operation) schema.Operation {
	if r.ErrorStackTrace != nil {
		r.ErrorStackTrace = append([]string{}, r.ErrorStackTrace...)
	}
	return r
}

// Latest reads the executions table: Postgres holds one row per execution.
func (p *Postgres) Latest(ctx context.Context) (map[string]ExecutionState, error) {
	rows, err := p.pool.Query(ctx, "SELECT execution_arn, status, end_time, operation_count, event_count, content_hash, source, run_id, extracted_at FROM "+
		pgx.Identifier{p.cfg.schema, "executions"}.Sanitize())
	if err != nil {
		return nil, p.wrap("read executions", err)
	}
	defer rows.Close()
	out := map[string]ExecutionState{}
	for rows.Next() {
		var st ExecutionState
		if err := rows.Scan(&st.Arn, &st.Status, &st.EndTime, &st.OperationCount, &st.EventCount, &st.ContentHash, &st.Source, &st.RunID, &st.ExtractedAt); err != nil {
			return nil, p.wrap("read executions", err)
		}
		if st.EndTime != nil {
			t := st.EndTime.UTC()
			st.EndTime = &t
		}
		st.ExtractedAt = st.ExtractedAt.UTC()
		out[st.Arn] = st
	}
	if err := rows.Err(); err != nil {
		return nil, p.wrap("read executions", err)
	}
	return out, nil
}

// Rows reads the execution by key: its operations (every operation ever
// archived for it: a later snapshot never deletes one) and events.
func (p *Postgres) Rows(ctx context.Context, st ExecutionState) ([]schema.Operation, []schema.Event, error) {
	ops, err := pgRows[schema.Operation](ctx, p, schema.Operations, "seq", st.Arn)
	if err != nil {
		return nil, nil, err
	}
	events, err := pgRows[schema.Event](ctx, p, schema.Events, "event_id", st.Arn)
	return ops, events, err
}

func pgRows[T any](ctx context.Context, p *Postgres, t *schema.Table, order, arn string) ([]T, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE execution_arn = $1 ORDER BY %s", joinCols(cols), pgx.Identifier{p.cfg.schema, t.Name}.Sanitize(), order)
	rows, err := p.pool.Query(ctx, q, arn)
	if err != nil {
		return nil, p.wrap("read "+t.Name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[T])
	if err != nil {
		return nil, p.wrap("read "+t.Name, err)
	}
	for i := range out { // timestamptz comes back in the local zone
		normalizeTimes(&out[i])
	}
	return out, nil
}

func joinCols(cols []string) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}

// normalizeTimes puts every time of a row in UTC, as the Parquet rows are.
func normalizeTimes(row any) {
	v := reflect.ValueOf(row).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i).Addr().Interface().(type) {
		case *time.Time:
			*f = f.UTC()
		case **time.Time:
			if *f != nil {
				t := (*f).UTC()
				*f = &t
			}
		}
	}
}

// StoredForm rewrites row (a pointer to a row struct) as Postgres stores
// it, U+0000 in text as U+FFFD, so that rows read from the API compare
// with rows read from Postgres.
func (p *Postgres) StoredForm(row any) {
	v := reflect.ValueOf(row).Elem()
	vals, replaced := rowValues(row, make([]any, v.NumField()))
	if !replaced {
		return
	}
	for i, x := range vals {
		v.Field(i).Set(reflect.ValueOf(x))
	}
}
