package load_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
)

// noteRow is a table the loaders have never heard of: declared here, it
// must be written, published, compacted and loaded into Postgres by the
// same code as the archive's own tables.
type noteRow struct {
	ExecutionArn string    `parquet:"execution_arn,dict"`
	NoteID       int32     `parquet:"note_id"`
	Text         *string   `parquet:"text,optional" large:"true"`
	Tags         []string  `parquet:"tags,optional,list" large:"true"`
	Seen         *bool     `parquet:"seen,optional"`
	RunID        string    `parquet:"run_id,dict"`
	ExtractedAt  time.Time `parquet:"extracted_at,timestamp(millisecond)"`
}

var notes = schema.Declare[noteRow]("notes", schema.Table{Key: []string{"execution_arn", "note_id"}})

// writeNotes commits n executions, spread over days partitions, each with
// one operation and i%7+1 notes (big ones now and then, so that stages
// spill), and returns how many notes it wrote.
func writeNotes(t *testing.T, l load.Loader, n, days int, run string, at time.Time) int {
	t.Helper()
	ctx := context.Background()
	total := 0
	for i := range n {
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:notes:1/durable-execution/n-%d/%d", i, i)
		x, err := l.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		op := schema.Operation{ExecutionArn: arn, OperationID: "op", Type: "STEP", Status: "SUCCEEDED", Source: "state", RunID: run, ExtractedAt: at}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, []schema.Operation{op})); err != nil {
			t.Fatal(err)
		}
		var rows []noteRow
		for k := range i%7 + 1 {
			text := fmt.Sprintf("note %d of %d", k, i)
			if i%10 == 3 {
				text = strings.Repeat("x", 64<<10)
			}
			seen := k%2 == 0
			rows = append(rows, noteRow{ExecutionArn: arn, NoteID: int32(k), Text: &text, Tags: []string{"a", fmt.Sprint(k)}, Seen: &seen, RunID: run, ExtractedAt: at})
		}
		total += len(rows)
		if err := x.Write(ctx, schema.RowsOf(notes, rows)); err != nil {
			t.Fatal(err)
		}
		dt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%days).Format(time.DateOnly)
		status := "SUCCEEDED"
		if err := x.Commit(ctx, dt, schema.Execution{ExecutionArn: arn, Status: &status, Source: "state", RunID: run, ExtractedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	return total
}

// readNotes reads every published notes file under dir, by partition.
func readNotes(t *testing.T, dir string) (rows []noteRow, files map[string]int) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "notes", "dt=*", "*.parquet"))
	files = map[string]int{}
	for _, p := range paths {
		r, err := parquet.ReadFile[noteRow](p)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r...)
		files[filepath.Base(filepath.Dir(p))]++
	}
	return rows, files
}

// TestParquetWritesADeclaredTable: a table declared in a test is written
// through every path of the Parquet loader (rows waiting by partition,
// spill runs, a spilled stage, Close's drain), one file per partition
// beside its executions file, and compacted by its declared key.
func TestParquetWritesADeclaredTable(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	opts := []load.ParquetOption{load.WithTablesForTest(schema.Operations, notes), load.WithBufferBudget(96 << 10),
		load.WithRowGroupSize(64 << 10), load.WithStageMemory(32 << 10)}
	pd, err := load.NewParquetDir(dir, append(opts, load.WithFilePrefix("run-1"))...)
	if err != nil {
		t.Fatal(err)
	}
	want := writeNotes(t, pd, 120, 30, "run-1", at)
	if err := pd.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, files := readNotes(t, dir)
	if len(rows) != want {
		t.Fatalf("%d notes read back, want %d", len(rows), want)
	}
	if len(files) != 30 {
		t.Errorf("notes in %d partitions, want 30", len(files))
	}
	for dt, n := range files {
		if n != 1 {
			t.Errorf("notes/%s: %d files, want 1", dt, n)
		}
		if execs, _ := filepath.Glob(filepath.Join(dir, "executions", dt, "*.parquet")); len(execs) != 1 {
			t.Errorf("notes/%s has %d executions files beside it", dt, len(execs))
		}
	}
	i := slices.IndexFunc(rows, func(r noteRow) bool { return strings.HasSuffix(r.ExecutionArn, "/n-13/13") && r.NoteID == 2 })
	if i < 0 || len(*rows[i].Text) != 64<<10 || !slices.Equal(rows[i].Tags, []string{"a", "2"}) || !*rows[i].Seen {
		t.Fatalf("a spilled note read back wrong: %+v", i)
	}

	// A second run archives the same notes again; compaction keeps one row
	// per declared key, in one file per partition.
	pd, err = load.NewParquetDir(dir, append(opts, load.WithFilePrefix("run-2"))...)
	if err != nil {
		t.Fatal(err)
	}
	writeNotes(t, pd, 120, 30, "run-2", at.Add(time.Hour))
	if err := pd.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readNotes(t, dir); len(rows) != 2*want {
		t.Fatalf("%d notes after two runs, want %d", len(rows), 2*want)
	}
	pd, err = load.NewParquetDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Compact(context.Background(), load.CompactOptions{KeepLatest: true}); err != nil {
		t.Fatal(err)
	}
	rows, files = readNotes(t, dir)
	if len(rows) != want {
		t.Fatalf("%d notes after compaction, want %d", len(rows), want)
	}
	for _, r := range rows {
		if r.RunID != "run-2" {
			t.Fatalf("compaction kept an older note: %+v", r)
		}
	}
	for dt, n := range files {
		if n != 1 {
			t.Errorf("notes/%s: %d files after compaction, want 1", dt, n)
		}
	}
}

// TestPostgresWritesADeclaredTable: the same table, created from its
// declaration, is loaded by the Postgres loader with its declared key
// (a rerun of the same rows changes none), U+0000 stored as U+FFFD.
func TestPostgresWritesADeclaredTable(t *testing.T) {
	url, s, conn := pgtest.Migrated(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, notes.PostgresCreate(s)); err != nil {
		t.Fatal(err)
	}
	open := func() *load.Postgres {
		p, err := load.NewPostgres(ctx, url, load.WithPGSchema(s), load.WithPGTablesForTest(schema.Operations, notes))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := open()
	want := writeNotes(t, p, 25, 3, "run-1", at)
	x, err := p.Begin(ctx, "arn:nul")
	if err != nil {
		t.Fatal(err)
	}
	nul := "a\x00b"
	if err := x.Write(ctx, schema.RowsOf(notes, []noteRow{{ExecutionArn: "arn:nul", NoteID: 1, Text: &nul, RunID: "run-1", ExtractedAt: at}})); err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, "2026-01-01", schema.Execution{ExecutionArn: "arn:nul", Source: "state", RunID: "run-1", ExtractedAt: at}); err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
	if got := count(t, conn, fmt.Sprintf(`SELECT count(*) FROM %q.notes`, s)); got != int64(want+1) {
		t.Fatalf("%d notes in Postgres, want %d", got, want+1)
	}
	var text string
	if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT text FROM %q.notes WHERE execution_arn = 'arn:nul'`, s)).Scan(&text); err != nil || text != "a\uFFFDb" {
		t.Fatalf("stored %q, %v", text, err)
	}
	p = open()
	writeNotes(t, p, 25, 3, "run-2", at.Add(time.Hour))
	p.Close(ctx)
	if st := p.Stats(); st.Rows != 0 {
		t.Errorf("a rerun of the same notes changed %d rows", st.Rows)
	}
	if got := count(t, conn, fmt.Sprintf(`SELECT count(*) FROM %q.notes WHERE run_id = 'run-2'`, s)); got != 0 {
		t.Errorf("%d notes rewritten by the rerun", got)
	}
}
