package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"
)

// OrphanFinder is a SnapshotReader that can name the executions whose
// operations or events it holds without an executions row: what an
// executions file deleted or lost leaves (etl itself never writes one
// without the other). A verify of the archive alone, which lists the
// executions table, asks for them so that such an execution is found
// missing rather than never looked at.
type OrphanFinder interface {
	// Orphans returns, sorted, the ARN of each execution that has rows in
	// the operations or events table and none in the executions table,
	// under any start date. On an error it returns none.
	Orphans(ctx context.Context) ([]string, error)
}

// Orphans reads, partition by partition (fileReaders partitions at
// once), the execution_arn column of the operations and events files,
// where dictionary-encoded only its dictionaries, against the ARNs of the
// same partition's executions files, held as their 16-byte keys (arnkey,
// as ListDated tells them apart: about 40 bytes an execution of the
// partitions being read). Those left over are looked for
// in every executions file (an execution whose start date changed
// between snapshots has its executions rows under another date) before
// they are named. A file that is not Parquet etl can read is left out, as
// Latest leaves it (Unreadable names it): the executions of such an
// executions file are named if their other rows can be read.
func (d *Parquet) Orphans(ctx context.Context) ([]string, error) {
	var out []string
	err := ListedAgain(func() error {
		var err error
		out, err = d.orphans(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("destination %s: look for rows without an executions row: %w", d.dir, err)
	}
	return out, nil
}

func (d *Parquet) orphans(ctx context.Context) ([]string, error) {
	byTable := map[string]map[string][]publishedFile{}
	dts := map[string]bool{}
	for _, table := range []string{"executions", "operations", "events"} {
		files, err := d.sink.list(ctx, table+"/")
		if err != nil {
			return nil, err
		}
		byTable[table] = map[string][]publishedFile{}
		for _, f := range files {
			dt := partitionOf(f.name)
			byTable[table][dt] = append(byTable[table][dt], f)
			if table != "executions" {
				dts[dt] = true
			}
		}
	}
	var mu sync.Mutex
	candidates := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fileReaders)
	for _, dt := range slices.Sorted(maps.Keys(dts)) {
		g.Go(func() error {
			have := map[arnkey.Key]struct{}{}
			for _, f := range byTable["executions"][dt] {
				if err := d.eachARN(gctx, f, func(arn []byte) { have[arnKey(arn)] = struct{}{} }); err != nil {
					return err
				}
			}
			for _, f := range slices.Concat(byTable["operations"][dt], byTable["events"][dt]) {
				err := d.eachARN(gctx, f, func(arn []byte) {
					if _, ok := have[arnKey(arn)]; !ok {
						mu.Lock()
						candidates[string(arn)] = true
						mu.Unlock()
					}
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	found, err := d.latest(ctx, nil, func(arn string) bool { return candidates[arn] })
	if err != nil {
		return nil, err
	}
	var out []string
	for arn := range candidates {
		if _, ok := found[arn]; !ok {
			out = append(out, arn)
		}
	}
	slices.Sort(out)
	return out, nil
}

// arnKey is the arnkey of an ARN given as bytes (valid during a call only).
func arnKey(arn []byte) arnkey.Key { return arnkey.Of(unsafe.String(unsafe.SliceData(arn), len(arn))) }

// eachARN calls fn with the execution ARNs of a published file
// (distinctARNs), none if the file is not Parquet etl can read
// (leftUnreadable notes it).
func (d *Parquet) eachARN(ctx context.Context, f publishedFile, fn func(arn []byte)) error {
	err := d.readProjection(ctx, f, func(pf *parquet.File) error { return distinctARNs(pf, fn) })
	if d.leftUnreadable(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	return nil
}

// distinctARNs calls fn with every value of the file's execution_arn
// column, at least once each: a dictionary-encoded column chunk's
// dictionary is given whole (its pages' indexes are read, not looked
// up), a plainly encoded page's values once per run of equal ones (rows
// are written in order of execution). arn is valid during the call only.
func distinctARNs(pf *parquet.File, fn func(arn []byte)) error {
	col, ok := pf.Schema().Lookup("execution_arn")
	if !ok {
		return errors.New("no column execution_arn")
	}
	buf := make([]parquet.Value, 1024)
	for _, rg := range pf.RowGroups() {
		if err := chunkARNs(rg.ColumnChunks()[col.ColumnIndex], buf, fn); err != nil {
			return fmt.Errorf("column execution_arn: %w", err)
		}
	}
	return nil
}

func chunkARNs(cc parquet.ColumnChunk, buf []parquet.Value, fn func(arn []byte)) error {
	pages := cc.Pages()
	defer pages.Close()
	var given parquet.Dictionary
	var last []byte
	first := true
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if dict := p.Dictionary(); dict != nil {
			if dict != given {
				given = dict
				for i := range dict.Len() {
					fn(dict.Index(int32(i)).ByteArray())
				}
			}
			parquet.Release(p)
			continue
		}
		vr := p.Values()
		for {
			k, err := vr.ReadValues(buf)
			for _, v := range buf[:k] {
				if b := v.ByteArray(); first || !bytes.Equal(b, last) {
					fn(b)
					last, first = append(last[:0], b...), false
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
}

// Orphans asks the server, for the operations and events tables, each
// execution ARN they hold by a walk of their primary key's index (one
// descent an execution, not a read of every row) without an executions
// row. etl writes an execution's rows of every table in one transaction,
// so only rows deleted by hand leave any.
func (p *Postgres) Orphans(ctx context.Context) ([]string, error) {
	return reread(ctx, p, "orphans", func() ([]string, error) { return p.orphansOnce(ctx) })
}

func (p *Postgres) orphansOnce(ctx context.Context) ([]string, error) {
	executions := pgx.Identifier{p.cfg.schema, "executions"}.Sanitize()
	// A probe of the index per execution the archive holds: seconds for
	// millions, past a role's statement_timeout perhaps.
	tx, err := p.beginRead(ctx, pgx.ReadCommitted)
	if err != nil {
		return nil, p.wrap("look for rows without an executions row", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	var out []string
	for _, table := range []string{"operations", "events"} {
		t := pgx.Identifier{p.cfg.schema, table}.Sanitize()
		rows, err := tx.Query(ctx, `WITH RECURSIVE arns(arn) AS (
	(SELECT execution_arn FROM `+t+` ORDER BY execution_arn LIMIT 1)
	UNION ALL
	SELECT (SELECT execution_arn FROM `+t+` WHERE execution_arn > arns.arn ORDER BY execution_arn LIMIT 1) FROM arns WHERE arns.arn IS NOT NULL
)
SELECT arn FROM arns WHERE arn IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `+executions+` e WHERE e.execution_arn = arns.arn)`)
		if err != nil {
			return nil, p.wrap("look for "+table+" without an executions row", err)
		}
		arns, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, p.wrap("look for "+table+" without an executions row", err)
		}
		out = append(out, arns...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
