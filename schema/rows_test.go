package schema_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// operationRows are n operations numbered from first.
func operationRows(first, n int) []schema.Operation {
	rows := make([]schema.Operation, n)
	for i := range rows {
		rows[i] = schema.Operation{ExecutionArn: "arn", OperationID: fmt.Sprint(first + i), Seq: int64(first + i), Status: "SUCCEEDED", Result: aws.String("r")}
	}
	return rows
}

// asParquetRows reads rows back as parquet.Rows, as a spill is read.
func asParquetRows(t *testing.T, rows []schema.Operation) []parquet.Row {
	t.Helper()
	var buf bytes.Buffer
	w := schema.Operations.NewParquetWriter(&buf, schema.Operations.ParquetSchema())
	if _, err := w.Write(schema.RowsOf(schema.Operations, rows)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := parquet.NewReader(bytes.NewReader(buf.Bytes()))
	defer r.Close()
	out := make([]parquet.Row, len(rows))
	n, _ := r.ReadRows(out)
	if n != len(rows) {
		t.Fatalf("read %d rows back, want %d", n, len(rows))
	}
	return out
}

// TestParquetWriterMixesRowsAndStructs: rows written as parquet.Rows and
// then as structs, in one row group, all reach the file, in order (the
// loader does this with a spilled execution's rows and the rows that stayed
// in memory).
func TestParquetWriterMixesRowsAndStructs(t *testing.T) {
	for _, steps := range [][]string{{"rows", "structs"}, {"structs", "rows", "structs"}, {"rows", "structs", "rows"}} {
		var buf bytes.Buffer
		w := schema.Operations.NewParquetWriter(&buf, schema.Operations.ParquetSchema())
		var want []schema.Operation
		for _, s := range steps {
			rows := operationRows(len(want), 100)
			var err error
			if s == "rows" {
				_, err = w.WriteRows(asParquetRows(t, rows))
			} else {
				_, err = w.Write(schema.RowsOf(schema.Operations, rows))
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, rows...)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := parquet.Read[schema.Operation](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d rows in the file, want %d", steps, len(got), len(want))
		}
		for i := range got {
			if got[i].Seq != int64(i) {
				t.Fatalf("%v: row %d has seq %d", steps, i, got[i].Seq)
			}
		}
	}
}

// TestGenericWriterTrap: the trap parquetWriter works around. parquet-go
// v0.32's GenericWriter keeps only the struct rows of a row group written
// with WriteRows and then Write. Should this test fail after an upgrade,
// the library no longer loses them and the workaround can go.
func TestGenericWriterTrap(t *testing.T) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[schema.Operation](&buf, schema.Operations.ParquetSchema())
	if _, err := w.WriteRows(asParquetRows(t, operationRows(0, 100))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(operationRows(100, 10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 10 {
		t.Fatalf("the file has %d rows: parquet-go no longer loses the first 100", f.NumRows())
	}
}

// TestOptionalValueTrap: why every nullable column is a pointer (or a
// list) in the row structs. parquet-go v0.32.1 writes an optional field
// of any other kind (a zero value is its null) in runs, 64 rows at a time,
// and after a value at an odd place in such a block it writes the rest of
// the block as values: nulls read back as zeros or empty strings. Pointer
// fields take a path of their own, row by row, which this test also runs.
// Should the trap be gone after an upgrade, the test says so.
func TestOptionalValueTrap(t *testing.T) {
	type plain struct {
		A int32  `parquet:"a,optional"`
		B []byte `parquet:"b,optional,string"`
	}
	type pointers struct {
		A *int32  `parquet:"a,optional"`
		B *string `parquet:"b,optional"`
	}
	read := func(buf *bytes.Buffer) []pointers {
		rows, err := parquet.Read[pointers](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	valueAt := func(i int) bool { return i == 769 || i == 856 } // 769 is the second row of its block
	rows, ptrs := make([]plain, 2000), make([]pointers, 2000)
	for i := range rows {
		if valueAt(i) {
			rows[i] = plain{A: 5, B: []byte("v")}
			ptrs[i] = pointers{A: aws.Int32(5), B: aws.String("v")}
		}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[plain](&buf)
	if _, err := w.Write(rows); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i, r := range read(&buf) {
		if (r.A != nil) != valueAt(i) || (r.B != nil) != valueAt(i) {
			wrong++
		}
	}
	if wrong == 0 {
		t.Errorf("parquet-go now writes optional values of other kinds than pointers right: the rule below could go")
	}
	buf.Reset()
	pw := parquet.NewGenericWriter[pointers](&buf)
	if _, err := pw.Write(ptrs); err != nil || pw.Close() != nil {
		t.Fatal(err)
	}
	for i, r := range read(&buf) {
		if (r.A != nil) != valueAt(i) || (r.B != nil) != valueAt(i) {
			t.Fatalf("row %d of pointers read back wrong", i)
		}
	}
	// The rule: no row struct has an optional field of another kind.
	for _, row := range []any{schema.Operation{}, schema.Execution{}, schema.Event{}} {
		rt := reflect.TypeOf(row)
		for i := range rt.NumField() {
			f := rt.Field(i)
			if !bytes.Contains([]byte(f.Tag.Get("parquet")), []byte("optional")) {
				continue
			}
			if k := f.Type.Kind(); k != reflect.Pointer && !(k == reflect.Slice && f.Type.Elem().Kind() != reflect.Uint8) {
				t.Errorf("%s.%s is optional and a %s: parquet-go can write its nulls as values; make it a pointer", rt.Name(), f.Name, f.Type)
			}
		}
	}
}

// TestResetWriterWritesWholeFiles: a writer reset after each file writes
// files that hold exactly their rows, with every column's path_in_schema
// (parquet-go v0.32.0's Reset cleared, in place, the column paths that the
// last file's column chunks shared with the writer: every later footer had
// empty paths; fixed in v0.32.1), for files of one and several row groups, one copied from
// another file, and after a file left unclosed.
func TestResetWriterWritesWholeFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	opts := []parquet.WriterOption{schema.Events.ParquetSchema(), parquet.Compression(&parquet.Zstd), parquet.DataPageVersion(1)}
	events := func(n int) []schema.Event {
		rows := make([]schema.Event, n)
		for i := range rows {
			randomRow(r, reflect.ValueOf(&rows[i]).Elem())
		}
		return rows
	}
	// Each file: its row groups; the last copied from another file or not;
	// closed or not (then the next Reset starts afresh).
	type file struct {
		groups   [][]schema.Event
		copied   bool
		unclosed bool
	}
	files := []file{
		{groups: [][]schema.Event{events(300)}},
		{groups: [][]schema.Event{events(2), events(1), events(40)}},
		{groups: [][]schema.Event{events(1)}},
		{groups: [][]schema.Event{events(25), events(70)}, copied: true},
		{groups: [][]schema.Event{events(7), events(9)}, unclosed: true},
		{groups: [][]schema.Event{events(500)}},
		{groups: [][]schema.Event{events(3)}, copied: true},
	}
	var out bytes.Buffer
	w := schema.Events.NewParquetWriter(&out, opts...)
	for i, f := range files {
		out.Reset()
		if i > 0 {
			w.Reset(&out)
		}
		var want []schema.Event
		for j, g := range f.groups {
			want = append(want, g...)
			if f.copied && j == len(f.groups)-1 {
				if _, err := w.WriteRowGroup(rowGroupOf(t, schema.Events, opts, g)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := w.Write(schema.RowsOf(schema.Events, g)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if f.unclosed {
			continue
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		for _, rg := range pf.Metadata().RowGroups {
			for j, c := range rg.Columns {
				if len(c.MetaData.PathInSchema) == 0 || c.MetaData.PathInSchema[0] == "" {
					t.Fatalf("file %d: column %d has no path_in_schema %q", i, j, c.MetaData.PathInSchema)
				}
			}
		}
		got := decodeAll[schema.Event](t, schema.Events, out.Bytes())
		if len(got) != len(want) {
			t.Fatalf("file %d: %d rows, want %d", i, len(got), len(want))
		}
		for k := range got {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Fatalf("file %d: row %d differs", i, k)
			}
		}
	}
}

// TestResetWriterWritesTheSameBytes: with the loader's options (no
// statistics in page headers), a writer reset after other files writes
// each file byte for byte as a new writer does, for every table, whatever
// the files before held (sparse rows, all-null columns, several row
// groups, a copied row group). The loader reuses writers for published
// files, and twin destinations must stay identical.
func TestResetWriterWritesTheSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	resetSameBytes[schema.Operation](t, schema.Operations, r)
	resetSameBytes[schema.Execution](t, schema.Executions, r)
	resetSameBytes[schema.Event](t, schema.Events, r)
}

// randomRows are n random rows (randomRow); sparse, nine in ten are zero.
func randomRows[T any](r *rand.Rand, n int, sparse bool) []T {
	out := make([]T, n)
	for i := range out {
		if !sparse || r.IntN(10) == 0 {
			randomRow(r, reflect.ValueOf(&out[i]).Elem())
		}
	}
	return out
}

func resetSameBytes[T any](t *testing.T, table *schema.Table, r *rand.Rand) {
	opts := table.WriterOptions(parquet.Compression(&parquet.Zstd)) // as the loader writes
	rows := func(n int, sparse bool) []T { return randomRows[T](r, n, sparse) }
	writeFile := func(w schema.ParquetWriter, groups [][]T, copyLast bool) []byte {
		var out bytes.Buffer
		w.Reset(&out)
		for j, g := range groups {
			if copyLast && j == len(groups)-1 {
				if _, err := w.WriteRowGroup(rowGroupOf(t, table, opts, g)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := w.Write(schema.RowsOf(table, g)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	reused := table.NewParquetWriter(io.Discard, opts...)
	for f := 0; f < 80; f++ {
		var groups [][]T
		for range 1 + r.IntN(3) {
			groups = append(groups, rows(1+r.IntN(200), r.IntN(2) == 0))
		}
		copyLast := r.IntN(3) == 0
		if a, b := writeFile(table.NewParquetWriter(io.Discard, opts...), groups, copyLast), writeFile(reused, groups, copyLast); !bytes.Equal(a, b) {
			t.Fatalf("%s: file %d: a reset writer wrote %d bytes, a new one %d, not the same", table.Name, f, len(b), len(a))
		}
	}
}

// rowGroupOf is rows written as a file of their own with opts, its row
// group opened, to be copied into another file.
func rowGroupOf[T any](t *testing.T, table *schema.Table, opts []parquet.WriterOption, rows []T) parquet.RowGroup {
	var src bytes.Buffer
	w := table.NewParquetWriter(&src, opts...)
	w.Write(schema.RowsOf(table, rows))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(src.Bytes()), int64(src.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return pf.RowGroups()[0]
}

// TestAppendRowGroupKeepsEveryRow: row groups appended column by column
// (AppendRowGroup), whole or some of their rows, alone or beside rows
// written as rows, in row groups ended anywhere, hold exactly the rows
// they were given, in order, every page of the list column beginning a
// row: every table, random and sparse rows, stack-trace lists that cross
// the reader's reads and pages (one of thousands of elements), small
// pages.
func TestAppendRowGroupKeepsEveryRow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	appendKeepsRows[schema.Operation](t, schema.Operations, r)
	appendKeepsRows[schema.Execution](t, schema.Executions, r)
	appendKeepsRows[schema.Event](t, schema.Events, r)
}

func appendKeepsRows[T any](t *testing.T, table *schema.Table, r *rand.Rand) {
	opts := table.WriterOptions(parquet.Compression(&parquet.Zstd)) // as the loader writes
	rows := func(n int, sparse bool) []T {
		out := randomRows[T](r, n, sparse)
		for i := range out {
			if r.IntN(300) == 0 { // a long stack trace
				trace := make([]string, 900+r.IntN(2500))
				for j := range trace {
					trace[j] = fmt.Sprint("frame ", j)
				}
				reflect.ValueOf(&out[i]).Elem().FieldByName("ErrorStackTrace").Set(reflect.ValueOf(trace))
			}
		}
		return out
	}
	read := func(data []byte) []T {
		got, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for f := 0; f < 8; f++ {
		var appended, plain bytes.Buffer
		w := table.NewParquetWriter(&appended, append(opts, parquet.PageBufferSize(1+r.IntN(16<<10)))...)
		p := table.NewParquetWriter(&plain, opts...)
		for range 1 + r.IntN(6) {
			g := rows(1+r.IntN(500), r.IntN(2) == 0)
			var keep []bool // nil, or random
			kept := g
			if r.IntN(2) == 0 {
				keep, kept = make([]bool, len(g)), nil
				for i := range keep {
					if keep[i] = r.IntN(4) > 0; keep[i] {
						kept = append(kept, g[i])
					}
				}
			}
			if _, err := p.Write(schema.RowsOf(table, kept)); err != nil {
				t.Fatal(err)
			}
			var n int
			var err error
			switch {
			case len(kept) > 0 && r.IntN(3) == 0: // written as rows read from a file, as the merge does with a file of another schema
				n, err = w.WriteRows(rowsOf(t, rowGroupOf(t, table, opts, kept)))
			default:
				var n64 int64
				n64, err = w.AppendRowGroup(rowGroupOf(t, table, opts, g), keep)
				n = int(n64)
			}
			if err != nil || n != len(kept) {
				t.Fatalf("%s: %d rows of %d written: %v", table.Name, n, len(kept), err)
			}
			if r.IntN(3) == 0 {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		pagesStartRows(t, table, appended.Bytes())
		got, want := read(appended.Bytes()), read(plain.Bytes())
		if len(got) != len(want) {
			t.Fatalf("%s: file %d: %d rows, want %d", table.Name, f, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: file %d: row %d differs:\n got  %+v\n want %+v", table.Name, f, i, got[i], want[i])
			}
		}
	}
}

// rowsOf reads every row of rg.
func rowsOf(t *testing.T, rg parquet.RowGroup) []parquet.Row {
	rd := rg.Rows()
	defer rd.Close()
	var out []parquet.Row
	buf := make([]parquet.Row, 100)
	for {
		n, err := rd.ReadRows(buf)
		for _, row := range buf[:n] {
			out = append(out, row.Clone())
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// pagesStartRows fails unless each page of each repeated column of the
// Parquet file in data begins a row, as the page index (and Parquet for
// v2 pages) requires.
func pagesStartRows(t *testing.T, table *schema.Table, data []byte) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	repeated := 0
	for _, rg := range pf.RowGroups() {
		for _, col := range rg.ColumnChunks() {
			if col.Type().Kind() != parquet.ByteArray {
				continue
			}
			pages := col.Pages()
			for {
				pg, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if reps := pg.RepetitionLevels(); len(reps) > 0 {
					repeated++
					if reps[0] != 0 {
						t.Fatalf("%s: a page of column %d begins within a row", table.Name, col.Column())
					}
				}
				parquet.Release(pg)
			}
			pages.Close()
		}
	}
	if repeated == 0 {
		t.Fatalf("%s: no page of a repeated column", table.Name)
	}
}

// TestFilter: Filter keeps the rows keep accepts, in order, and leaves
// the rows it was given as they were.
func TestFilter(t *testing.T) {
	rows := operationRows(0, 6)
	seqs := func(r schema.Rows) []int64 {
		var out []int64
		for i := range r.Len() {
			out = append(out, r.Value(i, schema.Operations.Column("seq")).(int64))
		}
		return out
	}
	for _, c := range []struct {
		keep func(int64) bool
		want []int64
	}{
		{func(int64) bool { return true }, []int64{0, 1, 2, 3, 4, 5}},
		{func(int64) bool { return false }, nil},
		{func(s int64) bool { return s%2 == 1 }, []int64{1, 3, 5}},
		{func(s int64) bool { return s != 0 }, []int64{1, 2, 3, 4, 5}},
		{func(s int64) bool { return s != 5 }, []int64{0, 1, 2, 3, 4}},
	} {
		r := schema.RowsOf(schema.Operations, rows)
		got := schema.Filter(r, func(i int) bool { return c.keep(r.Value(i, schema.Operations.Column("seq")).(int64)) })
		if g := seqs(got); !reflect.DeepEqual(g, c.want) || got.Table() != schema.Operations {
			t.Errorf("kept %v of %s, want %v", g, got.Table().Name, c.want)
		}
		if g := seqs(r); !reflect.DeepEqual(g, []int64{0, 1, 2, 3, 4, 5}) {
			t.Fatalf("the rows given are now %v", g)
		}
	}
}
