package schema_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// TestAppendRowsReadsBack: for every table, random rows (nil, empty and
// set pointers and lists, long strings), plus times of any year and
// extreme integers, read back from AppendRows' bytes as the rows written,
// batch after batch from one buffer; bytes cut short are an error, never
// rows; and the rows read back encode to the same Parquet bytes.
func TestAppendRowsReadsBack(t *testing.T) {
	checkAppendRows[schema.Operation](t, schema.Operations, func(r *schema.Operation) {
		r.ExtractedAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
		r.Seq = math.MinInt64
	})
	checkAppendRows[schema.Execution](t, schema.Executions, func(r *schema.Execution) {
		r.ExtractedAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		r.OperationCount = math.MaxInt64
	})
	checkAppendRows[schema.Event](t, schema.Events, func(r *schema.Event) {
		r.ExtractedAt = time.Time{}
	})
}

func checkAppendRows[T any](t *testing.T, table *schema.Table, extreme func(*T)) {
	r := rand.New(rand.NewPCG(11, uint64(len(table.Name))))
	want := make([]T, 300)
	for i := range want {
		randomRow(r, reflect.ValueOf(&want[i]).Elem())
	}
	extreme(&want[len(want)-1])
	var b []byte
	for _, batch := range [][]T{want[:1], want[1:200], want[200:]} {
		b = table.AppendRows(b, schema.RowsOf(table, batch))
	}
	rest := b
	var got []T
	for _, n := range []int{1, 199, 100} {
		rows, after, err := table.ReadRows(rest, n)
		if err != nil {
			t.Fatalf("%s: %v", table.Name, err)
		}
		got = append(got, rowSlice[T](t, table, rows)...)
		rest = after
	}
	if len(rest) != 0 {
		t.Errorf("%s: %d bytes left after every row", table.Name, len(rest))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s row %d: read back\n%+v\nwritten\n%+v", table.Name, i, got[i], want[i])
		}
	}
	if !bytes.Equal(parquetBytes(t, table, schema.RowsOf(table, want)), parquetBytes(t, table, schema.RowsOf(table, got))) {
		t.Errorf("%s: the rows read back encode to other Parquet bytes", table.Name)
	}
	for _, cut := range []int{1, len(b) / 2, len(b) - 1} {
		if _, _, err := table.ReadRows(b[:cut], len(want)); err == nil {
			t.Errorf("%s: %d of %d bytes read as %d rows", table.Name, cut, len(b), len(want))
		}
	}
}

// rowSlice is rows' structs, through the values every loader reads
// (Values, and Value, which must agree with it).
func rowSlice[T any](t *testing.T, table *schema.Table, rows schema.Rows) []T {
	out := make([]T, rows.Len())
	vals := make([]any, len(table.Columns))
	for i := range out {
		v := reflect.ValueOf(&out[i]).Elem()
		for k, x := range rows.Values(i, vals) {
			if one := rows.Value(i, k); !reflect.DeepEqual(one, x) {
				t.Fatalf("%s row %d: Value of column %s %#v, Values %#v", table.Name, i, table.Columns[k].Name, one, x)
			}
			v.Field(k).Set(reflect.ValueOf(x))
		}
	}
	return out
}

func parquetBytes(t *testing.T, table *schema.Table, rows schema.Rows) []byte {
	var buf bytes.Buffer
	w := table.NewParquetWriter(&buf, table.ParquetSchema(), parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
