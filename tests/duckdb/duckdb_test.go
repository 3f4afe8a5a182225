package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/readmesql"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// archive runs the pipeline twice over the same executions into one
// directory, so every execution has two snapshots.
func archive(t *testing.T, execs []emulator.Execution) string {
	t.Helper()
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	dir := t.TempDir()
	var b strings.Builder
	emulator.WriteManifest(&b, execs)
	start := time.Now().UTC().Truncate(time.Millisecond)
	for i, run := range []string{"r1", "r2"} {
		at := start.Add(time.Duration(i) * time.Second) // each run its own extracted_at
		m, err := extract.NewManifest("m", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		pq, err := load.NewParquetDir(dir, load.WithFilePrefix("part-"+run))
		if err != nil {
			t.Fatal(err)
		}
		archived, err := pq.Archived(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := pipeline.Run(context.Background(), pipeline.Config{API: client, History: client, HistoryAlways: true, ArchivedEvents: archived.Events,
			Loader: pq, RunID: run, Now: func() time.Time { return at }}, m)
		if err != nil || sum.ExecutionsFailed > 0 {
			t.Fatalf("%s: %v %v", run, err, sum.Failures)
		}
	}
	return dir
}

func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for _, tbl := range schema.Tables() {
		glob := filepath.Join(dir, tbl.Name, "*", "*.parquet")
		// dt as a string, as the Athena DDL declares it.
		exec(t, db, fmt.Sprintf(`CREATE VIEW "%s" AS SELECT * FROM read_parquet('%s', hive_partitioning = true, hive_types = {'dt': VARCHAR})`, tbl.Name, glob))
		exec(t, db, fmt.Sprintf(`CREATE VIEW "%s_latest" AS %s`, tbl.Name, schema.LatestViewSQL(tbl, `"`+tbl.Name+`"`)))
	}
	// The one function whose name differs: Athena's approx_percentile is
	// DuckDB's (exact) quantile_disc.
	exec(t, db, `CREATE MACRO approx_percentile(x, p) AS quantile_disc(x, p)`)
	return db
}

func exec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func rows(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	r, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out [][]any
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if d, ok := v.(duckdb.Decimal); ok {
				vals[i] = d.Float64()
			}
		}
		out = append(out, vals)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParquetSchemaLint checks every file's schema as DuckDB reads it: the
// things Athena (Trino) trips on.
func TestParquetSchemaLint(t *testing.T) {
	dir := archive(t, emulator.Generate(3, 20, emulator.GenerateOptions{MaxOps: 100}))
	db := openDB(t, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		for _, r := range rows(t, db, fmt.Sprintf(`SELECT name, type, repetition_type, coalesce(converted_type, ''), coalesce(logical_type, '') FROM parquet_schema('%s')`, f)) {
			name, typ, rep, conv, logical := r[0].(string), fmt.Sprint(r[1]), fmt.Sprint(r[2]), fmt.Sprint(r[3]), fmt.Sprint(r[4])
			switch {
			case name != strings.ToLower(name):
				t.Errorf("%s: mixed-case column %q", f, name)
			case typ == "INT96":
				t.Errorf("%s: %s is INT96", f, name)
			case strings.HasPrefix(conv, "UINT") || strings.Contains(logical, "isSigned=0"):
				t.Errorf("%s: %s is unsigned (%s %s)", f, name, conv, logical)
			case (typ == "INT64" && strings.Contains(name, "time")) && (conv != "TIMESTAMP_MILLIS" ||
				!strings.Contains(logical, "isAdjustedToUTC=1") || !strings.Contains(logical, "MILLIS=MilliSeconds()")):
				// DuckDB prints TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=MilliSeconds(), MICROS=<null>, NANOS=<null>)).
				t.Errorf("%s: %s is %s %s, want TIMESTAMP(MILLIS, UTC)", f, name, conv, logical)
			case rep == "REPEATED" && name != "list":
				t.Errorf("%s: %s is a bare repeated field, not a 3-level LIST", f, name)
			}
		}
		for _, r := range rows(t, db, fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, f)) {
			if c := fmt.Sprint(r[0]); c != "ZSTD" {
				t.Errorf("%s: compression %s", f, c)
			}
		}
	}
	if n := rows(t, db, `SELECT count(*) FROM parquet_schema('`+files[0]+`') WHERE name LIKE '%time%'`)[0][0]; toInt(n) < 2 {
		t.Fatalf("the timestamp rule saw %v columns", n)
	}
	// Times read back as UTC instants, with milliseconds.
	var ts time.Time
	if err := db.QueryRow(`SELECT max(start_time) FROM operations`).Scan(&ts); err != nil || ts.IsZero() {
		t.Fatalf("start_time: %v %v", ts, err)
	}
}

// readmeQueries are the SQL blocks between the README's analytics markers.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	blocks, err := readmesql.Blocks(filepath.Join("..", "..", "README.md"), "analytics-queries")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range blocks {
		out = append(out, strings.TrimSuffix(strings.TrimSpace(q), ";"))
	}
	if len(out) != 5 {
		t.Fatalf("want 5 analytics queries in the README, found %d", len(out))
	}
	return out
}

// TestReadmeAnalyticsQueries runs the README's queries over an archive
// holding two snapshots of every execution and compares them with results
// computed from the generated operations themselves.
func TestReadmeAnalyticsQueries(t *testing.T) {
	execs := emulator.Generate(11, 80, emulator.GenerateOptions{MaxOps: 150})
	db := openDB(t, archive(t, execs))
	q := readmeQueries(t)

	// Ground truth, straight from the source operations.
	type day struct{ fn, dt string }
	execCount, failed := map[day]int{}, map[day]int{}
	type step struct{ fn, name string }
	retried, retries, maxAttempt := map[step]int{}, map[step]int{}, map[step]int32{}
	durations := map[step][]int64{}
	for _, e := range execs {
		a, _ := extract.ParseARN(e.ARN)
		first := e.Op(0)
		d := day{a.FunctionName, first.StartTimestamp.UTC().Format(time.DateOnly)}
		execCount[d]++
		if first.Status == types.OperationStatusFailed || first.Status == types.OperationStatusTimedOut {
			failed[d]++
		}
		for i := range e.Len {
			op := e.Op(i)
			if op.Type != types.OperationTypeStep || op.StepDetails == nil {
				continue
			}
			name := "<nil>"
			if op.Name != nil {
				name = *op.Name
			}
			k := step{a.FunctionName, name}
			if at := op.StepDetails.Attempt; at > 1 {
				retried[k]++
				retries[k] += int(at - 1)
				maxAttempt[k] = max(maxAttempt[k], at)
			}
			if op.StartTimestamp != nil && op.EndTimestamp != nil {
				durations[k] = append(durations[k], op.EndTimestamp.Sub(*op.StartTimestamp).Milliseconds())
			}
		}
	}

	t.Run("failure rate", func(t *testing.T) {
		got := rows(t, db, q[0])
		if len(got) != len(execCount) {
			t.Fatalf("%d rows, want %d", len(got), len(execCount))
		}
		for _, r := range got {
			d := day{r[0].(string), r[1].(string)}
			n, f := toInt(r[2]), toInt(r[3])
			pct := toFloat(r[4])
			want := math.Round(10000*float64(failed[d])/float64(execCount[d])) / 100
			if n != execCount[d] || f != failed[d] || math.Abs(pct-want) > 1e-9 {
				t.Errorf("%v: %d executions, %d failed, %.2f%%; want %d, %d, %.2f%% (a rerun must not double-count)", d, n, f, pct, execCount[d], failed[d], want)
			}
		}
	})
	t.Run("retry hot spots", func(t *testing.T) {
		got := rows(t, db, q[1])
		var keys []step
		for k := range retries {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if retries[a] != retries[b] {
				return retries[a] > retries[b]
			}
			if a.fn != b.fn {
				return a.fn < b.fn
			}
			if (a.name == "<nil>") != (b.name == "<nil>") {
				return b.name == "<nil>" // NULLs last
			}
			return a.name < b.name
		})
		keys = keys[:min(20, len(keys))]
		if len(got) != len(keys) {
			t.Fatalf("%d rows, want %d", len(got), len(keys))
		}
		for i, r := range got {
			k := keys[i]
			name := "<nil>"
			if r[1] != nil {
				name = r[1].(string)
			}
			if r[0].(string) != k.fn || name != k.name || toInt(r[2]) != retried[k] || toInt(r[3]) != retries[k] || toInt(r[4]) != int(maxAttempt[k]) {
				t.Errorf("row %d: %v, want %v %d %d %d", i, r, k, retried[k], retries[k], maxAttempt[k])
			}
		}
	})
	t.Run("failed attempts from history", func(t *testing.T) {
		type attempt struct {
			fn, name string
			attempt  int32
			errType  string
		}
		want := map[attempt]int{}
		for _, e := range execs {
			a, _ := extract.ParseARN(e.ARN)
			for i := range e.History.Len() {
				ev := e.History.Event(i)
				if ev.EventType != "StepFailed" {
					continue
				}
				k := attempt{fn: a.FunctionName, name: "<nil>", errType: "<nil>"}
				if ev.Name != nil {
					k.name = *ev.Name
				}
				if d := ev.StepFailedDetails; d != nil {
					if d.RetryDetails != nil {
						k.attempt = d.RetryDetails.CurrentAttempt
					}
					if d.Error != nil && d.Error.Payload != nil && d.Error.Payload.ErrorType != nil {
						k.errType = *d.Error.Payload.ErrorType
					}
				}
				want[k]++
			}
		}
		got := rows(t, db, q[2])
		if len(got) == 0 || len(got) > 20 {
			t.Fatalf("%d rows", len(got))
		}
		prev := math.MaxInt
		for _, r := range got {
			k := attempt{fn: r[0].(string), name: "<nil>", errType: "<nil>"}
			if r[1] != nil {
				k.name = r[1].(string)
			}
			if r[2] != nil {
				k.attempt = int32(toInt(r[2]))
			}
			if r[3] != nil {
				k.errType = r[3].(string)
			}
			n := toInt(r[4])
			if n != want[k] || n > prev {
				t.Errorf("%v: %d failures, want %d (and in descending order)", k, n, want[k])
			}
			prev = n
		}
	})
	t.Run("p95 step duration", func(t *testing.T) {
		got := rows(t, db, q[3])
		if len(got) == 0 || len(got) > 20 {
			t.Fatalf("%d rows", len(got))
		}
		for _, r := range got {
			name := "<nil>"
			if r[1] != nil {
				name = r[1].(string)
			}
			k := step{r[0].(string), name}
			ds := append([]int64(nil), durations[k]...)
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			if toInt(r[2]) != len(ds) {
				t.Fatalf("%v: %d steps, want %d", k, toInt(r[2]), len(ds))
			}
			// A nearest-rank percentile: one of the two ranks around 0.95.
			lo, hi := ds[int(math.Floor(0.95*float64(len(ds)-1)))], ds[int(math.Ceil(0.95*float64(len(ds)-1)))]
			if p := int64(toInt(r[3])); p != lo && p != hi {
				t.Errorf("%v: p95 %d, want %d or %d", k, p, lo, hi)
			}
		}
	})
	t.Run("pauses", func(t *testing.T) {
		// Each ExecutionPaused event, with the first ExecutionResumed after it.
		type pause struct {
			arn           string
			at, resumed   time.Time
			reason        string
			timeoutPaused bool
		}
		var want []pause
		for _, e := range execs {
			for i := range e.History.Len() {
				ev := e.History.Event(i)
				d := ev.ExecutionPausedDetails
				if d == nil {
					continue
				}
				p := pause{arn: e.ARN, at: d.PauseRequestTimestamp.UTC(), timeoutPaused: *d.ExecutionTimeoutPaused, reason: "<nil>"}
				if d.Reason != nil && d.Reason.Payload != nil {
					p.reason = *d.Reason.Payload
				}
				for j := i + 1; j < e.History.Len(); j++ {
					if r := e.History.Event(j).ExecutionResumedDetails; r != nil {
						p.resumed = r.ResumeRequestTimestamp.UTC()
						break
					}
				}
				want = append(want, p)
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if !want[i].at.Equal(want[j].at) {
				return want[i].at.After(want[j].at)
			}
			return want[i].arn < want[j].arn
		})
		want = want[:min(20, len(want))]
		got := rows(t, db, q[4])
		if len(want) < 3 || len(got) != len(want) {
			t.Fatalf("%d rows, want %d (and at least 3 to test)", len(got), len(want))
		}
		for i, r := range got {
			w := want[i]
			reason, resumed := "<nil>", time.Time{}
			if r[2] != nil {
				reason = r[2].(string)
			}
			if r[4] != nil {
				resumed = r[4].(time.Time).UTC()
			}
			if r[0].(string) != w.arn || !r[1].(time.Time).Equal(w.at) || reason != w.reason || r[3].(bool) != w.timeoutPaused || !resumed.Equal(w.resumed) {
				t.Errorf("row %d: %v, want %+v", i, r, w)
			}
		}
	})
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case int32:
		return int(x)
	case uint64:
		return int(x)
	case float64:
		return int(x)
	case *big.Int:
		return int(x.Int64())
	}
	panic(fmt.Sprintf("not an integer: %T %v", v, v))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	panic(fmt.Sprintf("not a number: %T %v", v, v))
}

// TestLatestViewsPrune: a query through either _latest view that filters on
// dt reads only that partition's files, as the plan shows, and returns what
// the same filter on the whole view returns.
func TestLatestViewsPrune(t *testing.T) {
	execs := emulator.Generate(17, 60, emulator.GenerateOptions{MaxOps: 20, Days: 40})
	dir := archive(t, execs)
	db := openDB(t, dir)
	for _, tbl := range schema.Tables() {
		t.Run(tbl.Name, func(t *testing.T) {
			parts, _ := filepath.Glob(filepath.Join(dir, tbl.Name, "dt=*"))
			if len(parts) < 10 {
				t.Fatalf("only %d partitions: the test needs many", len(parts))
			}
			dt := strings.TrimPrefix(filepath.Base(parts[len(parts)/2]), "dt=")
			files, _ := filepath.Glob(filepath.Join(parts[len(parts)/2], "*.parquet"))
			all, _ := filepath.Glob(filepath.Join(dir, tbl.Name, "dt=*", "*.parquet"))
			q := fmt.Sprintf(`SELECT count(*) FROM "%s_latest" WHERE dt = '%s'`, tbl.Name, dt)
			read := filesRead(t, db, q)
			if read != len(files) {
				t.Errorf("%s read %d files, want %d (the partition's; the table has %d)", q, read, len(files), len(all))
			}
			pruned := toInt(rows(t, db, q)[0][0])
			whole := toInt(rows(t, db, fmt.Sprintf(`SELECT count(*) FROM (SELECT * FROM "%s_latest") WHERE dt || '' = '%s'`, tbl.Name, dt))[0][0])
			if pruned == 0 || pruned != whole {
				t.Errorf("the filtered view has %d rows, the filter on the whole view %d", pruned, whole)
			}
		})
	}
}

// TestJoinsPruneBothSides: the README's joins match dt as well as the
// execution, so a dt filter on the executions side alone reads only that
// partition's files of both tables (the plan's), and the join returns
// what it returns without dt in its condition.
func TestJoinsPruneBothSides(t *testing.T) {
	execs := emulator.Generate(19, 60, emulator.GenerateOptions{MaxOps: 20, Days: 40})
	dir := archive(t, execs)
	db := openDB(t, dir)
	parts, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*"))
	if len(parts) < 10 {
		t.Fatalf("only %d partitions: the test needs many", len(parts))
	}
	dt := strings.TrimPrefix(filepath.Base(parts[len(parts)/2]), "dt=")
	var want int
	for _, tbl := range []string{"operations", "executions"} {
		files, _ := filepath.Glob(filepath.Join(dir, tbl, "dt="+dt, "*.parquet"))
		want += len(files)
	}
	join := `SELECT count(*) FROM operations_latest o JOIN executions_latest e ON %s WHERE e.dt = '%s'`
	q := fmt.Sprintf(join, "o.dt = e.dt AND o.execution_arn = e.execution_arn", dt)
	if read := filesRead(t, db, q); read != want {
		t.Errorf("%s read %d files, want %d (the partition's of both tables)", q, read, want)
	}
	got := toInt(rows(t, db, q)[0][0])
	unpruned := toInt(rows(t, db, fmt.Sprintf(join, "o.execution_arn = e.execution_arn", dt))[0][0])
	if got == 0 || got != unpruned {
		t.Errorf("the join on dt too has %d rows, on the execution alone %d", got, unpruned)
	}
}

// filesRead is the number of Parquet files DuckDB reads to answer q, all
// its scans together, from its EXPLAIN ANALYZE profile.
func filesRead(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var kind, plan string
	if err := db.QueryRow("EXPLAIN ANALYZE "+q).Scan(&kind, &plan); err != nil {
		t.Fatal(err)
	}
	ms := regexp.MustCompile(`Total Files Read:\s*(\d+)`).FindAllStringSubmatch(plan, -1)
	if ms == nil {
		t.Fatalf("no file count in the plan of %s:\n%s", q, plan)
	}
	n := 0
	for _, m := range ms { // one a scan
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}
