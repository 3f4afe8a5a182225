package load

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// ArchivedData is what a destination holds of an execution's data (its
// payloads), for a snapshot of it read without them (the service could
// not decrypt them): see [schema.KeepData].
type ArchivedData struct {
	// Execution is the executions row; only its data columns are set.
	Execution schema.Execution
	// Operations are the operations rows, by operation id.
	Operations map[string]*schema.Operation
}

// DataReader is a destination that can hand over what it archived of an
// execution's data. Optional: a caller asks for it and does without.
type DataReader interface {
	// ArchivedData reads it for arn, whose rows are in partition dt: from
	// Parquet, the newest snapshot read with the data; from Postgres, the
	// rows (which keep the data through reads without it). It is nil when
	// there is none, or when that snapshot has more than maxOps operations
	// (more than the caller would hold for this).
	ArchivedData(ctx context.Context, arn, dt string, maxOps int64) (*ArchivedData, error)
}

// ArchivedData asks the file ledgers first, then the others: the first
// that holds some answers.
func (f *fanout) ArchivedData(ctx context.Context, arn, dt string, maxOps int64) (*ArchivedData, error) {
	for _, ledgers := range []bool{true, false} {
		for _, l := range f.loaders {
			if r, ok := l.(DataReader); ok && isFileLedger(l) == ledgers {
				data, err := r.ArchivedData(ctx, arn, dt, maxOps)
				if data != nil || err != nil {
					return data, err
				}
			}
		}
	}
	return nil, nil
}

// ArchivedData reads dt's executions files (their ExecutionState
// projection) for arn's newest snapshot read with the data, then that
// snapshot's operations (only the pages that hold them, where the files'
// indexes tell); the executions row's input is its EXECUTION operation's.
// Files are listed once per loader; should one vanish (a compaction beside
// the run), they are listed again.
func (d *Parquet) ArchivedData(ctx context.Context, arn, dt string, maxOps int64) (*ArchivedData, error) {
	var out *ArchivedData
	err := ListedAgain(func() error {
		var err error
		out, err = d.archivedData(ctx, arn, dt, maxOps)
		return d.forgetIfVanished(err)
	})
	return out, err
}

func (d *Parquet) archivedData(ctx context.Context, arn, dt string, maxOps int64) (*ArchivedData, error) {
	files, err := d.listCached(ctx, schema.Executions.Name)
	if err != nil {
		return nil, err
	}
	var best *ExecutionState
	for _, f := range files[dt] {
		err := d.readProjection(ctx, f, func(pf *parquet.File) error {
			return eachProjectedWhere(pf, "execution_arn", func(a string) bool { return a == arn }, func(row *ExecutionState) {
				if row.DataIncluded != nil && !*row.DataIncluded {
					return
				}
				if best == nil || newer(*row, *best) {
					best = new(*row)
				}
			})
		})
		if err != nil {
			return nil, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
		}
	}
	if best == nil || best.OperationCount > maxOps {
		return nil, nil
	}
	data := &ArchivedData{Operations: make(map[string]*schema.Operation, best.OperationCount)}
	best.DT = dt
	execSeq := int64(-1)
	err = d.eachRow(ctx, []ExecutionState{*best}, nil, func(row *schema.Operation) {
		if cur, ok := data.Operations[row.OperationID]; !ok || row.Seq > cur.Seq {
			data.Operations[row.OperationID] = new(*row)
		}
		if row.Type == "EXECUTION" && (execSeq < 0 || row.Seq < execSeq) {
			// The executions row's input is its first EXECUTION
			// operation's (transform.Snapshot): read from here, the
			// executions files' payload column is not.
			execSeq, data.Execution.InputPayload = row.Seq, row.InputPayload
		}
	}, nil)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ArchivedData reads arn's rows: Postgres keeps the data of a row through
// reads without it, so its rows are what it holds of the data.
func (p *Postgres) ArchivedData(ctx context.Context, arn, dt string, maxOps int64) (*ArchivedData, error) {
	var input *string
	var ops int64
	q := fmt.Sprintf("SELECT input_payload, (SELECT count(*) FROM %s WHERE execution_arn = $1) FROM %s WHERE execution_arn = $1",
		pgx.Identifier{p.cfg.schema, schema.Operations.Name}.Sanitize(), pgx.Identifier{p.cfg.schema, schema.Executions.Name}.Sanitize())
	if err := p.pool.QueryRow(ctx, q, arn).Scan(&input, &ops); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return nil, p.wrap("read executions", err)
	}
	if ops > maxOps {
		return nil, nil
	}
	data := &ArchivedData{Execution: schema.Execution{InputPayload: input}, Operations: make(map[string]*schema.Operation, ops)}
	err := pgEach(ctx, p, p.pool, schema.Operations, "seq", []string{arn}, func(row *schema.Operation) { data.Operations[row.OperationID] = new(*row) })
	if err != nil {
		return nil, err
	}
	return data, nil
}
