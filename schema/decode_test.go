package schema_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// randomRow fills the struct v with random values: each pointer nil or set
// (to an empty string sometimes), each list nil, empty or 1-3 elements,
// strings empty, short (of three letters) or longer than the decoder's
// blocks take.
func randomRow(r *rand.Rand, v reflect.Value) {
	str := func() string {
		switch r.IntN(6) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("é", 3000+r.IntN(3000)) // longer than ownString
		default: // strings of one length differ in their bytes
			b := []byte("s")
			for range r.IntN(40) {
				b = append(b, byte('a'+r.IntN(3)))
			}
			return string(b)
		}
	}
	var fill func(f reflect.Value)
	fill = func(f reflect.Value) {
		switch f.Kind() {
		case reflect.Pointer:
			if r.IntN(3) > 0 {
				f.Set(reflect.New(f.Type().Elem()))
				fill(f.Elem())
			}
		case reflect.Slice:
			switch n := r.IntN(5); n {
			case 0:
			case 1:
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			default:
				l := reflect.MakeSlice(f.Type(), n-1, n-1)
				for i := range n - 1 {
					l.Index(i).SetString(str())
				}
				f.Set(l)
			}
		case reflect.String:
			f.SetString(str())
		case reflect.Int32, reflect.Int64:
			f.SetInt(r.Int64N(1<<31) - 1<<30)
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Struct: // time.Time, to the millisecond the files keep
			f.Set(reflect.ValueOf(time.UnixMilli(r.Int64N(4e12)).UTC()))
		}
	}
	for i := range v.NumField() {
		fill(v.Field(i))
	}
}

// decodeAll reads every row of the Parquet file in data through a
// schema.Reader, in batches of random sizes.
func decodeAll[T any](t *testing.T, table *schema.Table, data []byte) []T {
	t.Helper()
	rd := openReader[T](t, table, data)
	defer rd.Close()
	r := rand.New(rand.NewPCG(3, 5))
	var out []T
	for {
		buf := make([]T, 1+r.IntN(300))
		n, err := rd.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func openReader[T any](t *testing.T, table *schema.Table, data []byte) *schema.Reader[T] {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := schema.NewReader[T](table, pf)
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// checkDecode writes random rows of table with its writer (row groups of
// 97 rows, pages of a few KiB, so that columns, lists among them, span
// pages; each value the row before's half the time) and reads them back through a schema.Reader and through
// parquet-go's GenericReader: both must give the rows written. Runs of
// rows read after a seek (across pages and row groups) must be the rows
// at that place.
func checkDecode[T any](t *testing.T, table *schema.Table) {
	r := rand.New(rand.NewPCG(7, uint64(len(table.Name))))
	want := make([]T, 500)
	for i := range want {
		row := reflect.ValueOf(&want[i]).Elem()
		randomRow(r, row)
		// Runs of a value, as key columns have (and any column may): each
		// field the row before's half the time, a null or empty one too.
		for j := range row.NumField() {
			if i > 0 && r.IntN(2) == 0 {
				row.Field(j).Set(reflect.ValueOf(&want[i-1]).Elem().Field(j))
			}
		}
	}
	var file bytes.Buffer
	w := table.NewParquetWriter(&file, table.ParquetSchema(), parquet.MaxRowsPerRowGroup(97), parquet.PageBufferSize(4<<10))
	if _, err := w.Write(schema.RowsOf(table, want)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := decodeAll[T](t, table, file.Bytes())
	byReflection, err := parquet.Read[T](bytes.NewReader(file.Bytes()), int64(file.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows decoded of %d", table.Name, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s row %d: decoded\n%+v\nwritten\n%+v", table.Name, i, got[i], want[i])
		}
		if !reflect.DeepEqual(got[i], byReflection[i]) {
			t.Fatalf("%s row %d: decoded\n%+v\nGenericReader\n%+v", table.Name, i, got[i], byReflection[i])
		}
	}
	rd := openReader[T](t, table, file.Bytes())
	defer rd.Close()
	for range 200 {
		first, n := r.IntN(len(want)), 1+r.IntN(150)
		if err := rd.SeekToRow(int64(first)); err != nil {
			t.Fatal(err)
		}
		// A run may cross row groups: Read stops at each end.
		var run []T
		for len(run) < n && first+len(run) < len(want) {
			buf := make([]T, n-len(run))
			k, err := rd.Read(buf)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if k == 0 {
				t.Fatalf("%s: no row at %d", table.Name, first+len(run))
			}
			run = append(run, buf[:k]...)
		}
		for i := range run {
			if !reflect.DeepEqual(run[i], want[first+i]) {
				t.Fatalf("%s: after a seek to row %d, row %d read\n%+v\nwritten\n%+v", table.Name, first, first+i, run[i], want[first+i])
			}
		}
	}
	if pages := pageCount(t, file.Bytes()); pages < 3*len(table.ParquetSchema().Columns()) {
		t.Errorf("%s: %d pages: the file does not test columns across pages", table.Name, pages)
	}
}

// pageCount is the number of data pages of the file, from its offset index.
func pageCount(t *testing.T, data []byte) int {
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rg := range pf.RowGroups() {
		for _, c := range rg.ColumnChunks() {
			idx, err := c.OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			n += idx.NumPages()
		}
	}
	return n
}

// TestReaderMatchesGenericReader: for every table, random rows (nil,
// empty and set pointers and lists, strings longer than a block) read back
// as the rows written, and as parquet-go's GenericReader reads the same
// file, whole or a run at a time after seeks.
func TestReaderMatchesGenericReader(t *testing.T) {
	checkDecode[schema.Operation](t, schema.Operations)
	checkDecode[schema.Execution](t, schema.Executions)
	checkDecode[schema.Event](t, schema.Events)
}

// Rows of an older file, written before a column existed, decode with
// that field zero; a column the struct does not know is skipped; a column
// of another type makes NewReader refuse the file.
func TestReaderOtherSchemas(t *testing.T) {
	type note struct {
		ID   string  `parquet:"id"`
		Body *string `parquet:"body,optional"`
		At   int64   `parquet:"at"`
	}
	type older struct {
		ID    string `parquet:"id"`
		Extra int32  `parquet:"extra"`
		At    int64  `parquet:"at"`
	}
	type retyped struct {
		ID string `parquet:"id"`
		At string `parquet:"at"`
	}
	notes := schema.Declare[note]("notes", schema.Table{Key: []string{"id"}})
	var file bytes.Buffer
	if err := parquet.Write(&file, []older{{ID: "a", Extra: 5, At: 9}, {ID: "b", At: -1}}); err != nil {
		t.Fatal(err)
	}
	got := decodeAll[note](t, notes, file.Bytes())
	if want := []note{{ID: "a", At: 9}, {ID: "b", At: -1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("older file: %+v, want %+v", got, want)
	}
	file.Reset()
	if err := parquet.Write(&file, []retyped{{ID: "a", At: "x"}}); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(file.Bytes()), int64(file.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema.NewReader[note](notes, pf); err == nil || !strings.Contains(err.Error(), "at") {
		t.Errorf("a column of another type: %v", err)
	}
}

// TestReaderSharesRepeatedValues: a string column's value equal to the
// row before's (execution_arn and run_id are such runs) decodes to the
// same string, and a *string column's to the same pointer, with no copy;
// a value that differs, even by its last byte, or comes after a null,
// decodes to its own.
func TestReaderSharesRepeatedValues(t *testing.T) {
	type note struct {
		ID   string  `parquet:"id"`
		Body *string `parquet:"body,optional"`
	}
	notes := schema.Declare[note]("notes", schema.Table{Key: []string{"id"}})
	s := func(v string) *string { return &v }
	want := []note{
		{"arn-a", s("x")}, {"arn-a", s("x")}, {"arn-b", nil}, {"arn-c", s("x")},
		{"arn-c", s("")}, {"", s("")}, {"", s("xy")}, {"arn-a", s("xz")}, {"arn-a", nil},
	}
	var file bytes.Buffer
	if err := parquet.Write(&file, want); err != nil {
		t.Fatal(err)
	}
	got := decodeAll[note](t, notes, file.Bytes())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	if !same(got[0].ID, got[1].ID) || !same(got[3].ID, got[4].ID) || got[0].Body != got[1].Body || got[4].Body != got[5].Body {
		t.Error("equal neighbours decoded to copies of their own")
	}
	if same(got[1].ID, got[7].ID) || got[5].Body == got[6].Body || got[6].Body == got[7].Body || got[3].Body == got[4].Body {
		t.Error("values that differ from the row before share its memory")
	}
}
