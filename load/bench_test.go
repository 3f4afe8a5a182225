package load_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/migrations"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

type benchExec struct {
	arn  string
	ops  []schema.Operation
	exec schema.Execution
}

func benchRows(b *testing.B, n int) ([]benchExec, int) {
	var out []benchExec
	total := 0
	for _, e := range emulator.Generate(41, n, emulator.GenerateOptions{MinOps: 100, MaxOps: 400, LargePayloadEvery: -1}) {
		snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: e.ARN, RunID: "bench", ExtractedAt: time.Now()})
		var rows []schema.Operation
		for i := range e.Len {
			rows = snap.Add(rows, []types.Operation{e.Op(i)})
		}
		for i := range rows { // Postgres text cannot hold U+0000
			rows[i].ErrorMessage = nil
		}
		out = append(out, benchExec{e.ARN, rows, snap.Finish()})
		total += len(rows)
	}
	return out, total
}

// loadAll loads every execution through the loader with 4 workers, as the
// pipeline does, after reading what the archive holds, as a run does
// before it fetches (the loader then stages an execution it holds from
// Begin on).
func loadAll(b *testing.B, pg *load.Postgres, execs []benchExec) {
	ctx := context.Background()
	if _, err := pg.Archived(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	work := make(chan benchExec)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				x, err := pg.Begin(ctx, e.arn)
				if err == nil {
					err = x.Write(ctx, schema.RowsOf(schema.Operations, e.ops))
				}
				if err == nil {
					err = x.Commit(ctx, "", e.exec)
				}
				if err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, e := range execs {
		work <- e
	}
	close(work)
	wg.Wait()
}

// BenchmarkPostgresLoader compares, in one run on one server, the loader's
// fresh load (COPY into staging, upsert, one transaction per execution, 4 at
// once) with a plain COPY of the same rows into an empty table, and a
// no-change rerun with the fresh load. Targets: loader >= 0.6 of COPY's
// rows/s; rerun faster than the fresh load.
func BenchmarkPostgresLoader(b *testing.B) {
	execs, total := benchRows(b, 400)
	ctx := context.Background()
	var copyT, loadT, rerunT time.Duration
	var ratios, rerunRatios []float64
	for i := 0; i < b.N; i++ {
		url, s := pgtest.Schema(b)
		conn := pgtest.Conn(b, url)
		if err := migrations.Migrate(ctx, conn, s); err != nil {
			b.Fatal(err)
		}
		// Baseline: one plain COPY into an empty table like operations.
		plain := pgx.Identifier{s, "plain_copy"}
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", plain.Sanitize(), pgx.Identifier{s, "operations"}.Sanitize())); err != nil {
			b.Fatal(err)
		}
		cols := make([]string, len(schema.Operations.Columns))
		for j, c := range schema.Operations.Columns {
			cols[j] = c.Name
		}
		var all []schema.Operation
		for _, e := range execs {
			all = append(all, e.ops...)
		}
		start := time.Now()
		_, err := conn.CopyFrom(ctx, plain, cols, pgx.CopyFromSlice(len(all), func(j int) ([]any, error) {
			v := reflect.ValueOf(&all[j]).Elem()
			vals := make([]any, v.NumField())
			for k := range vals {
				vals[k] = v.Field(k).Interface()
			}
			return vals, nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		copyI := time.Since(start)
		copyT += copyI

		pg, err := load.NewPostgres(ctx, url, load.WithPGSchema(s), load.WithMaxConns(6))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		loadAll(b, pg, execs)
		loadI := time.Since(start)
		loadT += loadI
		start = time.Now()
		loadAll(b, pg, execs)
		rerunI := time.Since(start)
		rerunT += rerunI
		ratios = append(ratios, copyI.Seconds()/loadI.Seconds())
		rerunRatios = append(rerunRatios, loadI.Seconds()/rerunI.Seconds())
		if pg.Stats().Rows != int64(total+len(execs)) {
			b.Fatalf("fresh load wrote %d rows, want %d (and the rerun none)", pg.Stats().Rows, total+len(execs))
		}
		pg.Close(ctx)
	}
	rate := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() }
	b.ReportMetric(rate(copyT), "copy-rows/s")
	b.ReportMetric(rate(loadT), "loader-rows/s")
	b.ReportMetric(rate(rerunT), "rerun-rows/s")
	// Each iteration measures both against each other; the median of those
	// ratios is steadier than the ratio of the sums.
	b.ReportMetric(median(ratios), "loader/copy")
	b.ReportMetric(median(rerunRatios), "rerun/load")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
