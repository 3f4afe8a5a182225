package load

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// TestStateInterner: states read from one file share their repeated
// values (one status, source, run id and retention for the many states
// that have them), and every state keeps its own values, absent ones
// absent.
func TestStateInterner(t *testing.T) {
	ptr := func(s string) *string { return &s }
	days := func(d int32) *int32 { return &d }
	flag := func(b bool) *bool { return &b }
	var states []ExecutionState
	for i := range 40 {
		st := ExecutionState{Arn: fmt.Sprint("arn-", i), Source: string([]byte("history")), RunID: fmt.Sprint("run-", i%2)}
		if i%5 > 0 {
			st.Status = ptr([]string{"SUCCEEDED", "RUNNING"}[i%2])
			st.RetentionDays = days(int32(7 + 23*(i%2)))
			st.DataIncluded = flag(i%3 > 0)
		}
		states = append(states, st)
	}
	want := make([]ExecutionState, len(states))
	for i, st := range states {
		w := st
		if st.Status != nil {
			w.Status, w.RetentionDays, w.DataIncluded = ptr(*st.Status), days(*st.RetentionDays), flag(*st.DataIncluded)
		}
		want[i] = w
	}
	var in stateInterner
	for i := range states {
		in.intern(&states[i])
	}
	statuses, retentions, flags := map[*string]bool{}, map[*int32]bool{}, map[*bool]bool{}
	for i, st := range states {
		w := want[i]
		if st.Arn != w.Arn || st.Source != w.Source || st.RunID != w.RunID || (st.Status == nil) != (w.Status == nil) {
			t.Fatalf("state %d: %+v, want %+v", i, st, w)
		}
		if st.Status == nil {
			if st.RetentionDays != nil || st.DataIncluded != nil {
				t.Errorf("state %d: absent values made present: %+v", i, st)
			}
			continue
		}
		if *st.Status != *w.Status || *st.RetentionDays != *w.RetentionDays || *st.DataIncluded != *w.DataIncluded {
			t.Errorf("state %d: %s %d %v, want %s %d %v", i, *st.Status, *st.RetentionDays, *st.DataIncluded, *w.Status, *w.RetentionDays, *w.DataIncluded)
		}
		statuses[st.Status], retentions[st.RetentionDays], flags[st.DataIncluded] = true, true, true
	}
	if len(statuses) != 2 || len(retentions) != 2 || len(flags) != 2 {
		t.Errorf("%d status, %d retention and %d flag values held for 2 each", len(statuses), len(retentions), len(flags))
	}
	if len(in.strs) != 3 {
		t.Errorf("%d strings held, want 3 (a source, two run ids)", len(in.strs))
	}
}

// TestEachProjectedWhere: a filtered projection hands over exactly the
// rows whose column the filter accepts, whole (in several row groups),
// and refuses a filter on a column the projection lacks.
func TestEachProjectedWhere(t *testing.T) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[ExecutionState](&buf, parquet.MaxRowsPerRowGroup(7))
	var rows []ExecutionState
	for i := range 30 {
		rows = append(rows, ExecutionState{Arn: fmt.Sprint("arn-", i%10), OperationCount: int64(i), ContentHash: fmt.Sprint("hash-", i), RunID: "r"})
	}
	if _, err := w.Write(rows); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	err = eachProjectedWhere(pf, "execution_arn", func(arn string) bool { return arn == "arn-3" }, func(row *ExecutionState) {
		if row.Arn != "arn-3" || row.ContentHash != fmt.Sprint("hash-", row.OperationCount) {
			t.Errorf("row %+v", *row)
		}
		got = append(got, row.OperationCount)
	})
	if err != nil || fmt.Sprint(got) != "[3 13 23]" {
		t.Fatalf("rows of arn-3: %v (%v), want [3 13 23]", got, err)
	}
	if err := eachProjectedWhere(pf, "no_such_column", func(string) bool { return true }, func(*ExecutionState) {}); err == nil {
		t.Fatal("a filter on a column the projection lacks was taken")
	}
}

// failingReader fails every read, as a store that cannot be reached.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("connection reset") }

// TestNotParquet: a published file whose bytes are read but are not
// Parquet (a stray file, a damaged one) is told apart from a failure to
// read it: only the first is a *NotParquetError, which no rerun mends.
func TestNotParquet(t *testing.T) {
	var good bytes.Buffer
	w := parquet.NewGenericWriter[struct {
		A int64 `parquet:"a"`
	}](&good)
	w.Write([]struct {
		A int64 `parquet:"a"`
	}{{1}, {2}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		r          io.ReaderAt
		size       int64
		notParquet bool
	}{
		{"not parquet", bytes.NewReader([]byte("garbage, not a parquet file")), 27, true},
		{"cut short", bytes.NewReader(good.Bytes()[:good.Len()/2]), int64(good.Len() / 2), true},
		{"footer bigger than the file", bytes.NewReader(append([]byte("PAR1"), []byte{0xff, 0xff, 0xff, 0x0f, 'P', 'A', 'R', '1'}...)), 12, true},
		{"unreadable", failingReader{}, 100, false},
		{"parquet", bytes.NewReader(good.Bytes()), int64(good.Len()), false},
	} {
		_, err := openPublished("f.parquet", tc.r, tc.size)
		var np *NotParquetError
		if errors.As(err, &np) != tc.notParquet || tc.name == "parquet" && err != nil || tc.name == "unreadable" && err == nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestKeyScanAcrossPages: keyScan hands over every row's values in order,
// read a batch at a time from pages of a few values each and row groups
// longer than a batch (values from several pages in one batch, a page's
// values across two batches), a column the file lacks as nulls; and the
// values of a row are still the row's when fn sees them, though the
// pages they came from are handed back after each batch.
func TestKeyScanAcrossPages(t *testing.T) {
	type key struct {
		Arn  string  `parquet:"execution_arn"`
		At   int64   `parquet:"at"`
		Name *string `parquet:"name,optional"`
	}
	var rows []key
	for i := range 7000 {
		k := key{Arn: fmt.Sprintf("arn-%04d", i/37), At: int64(i)}
		if i%5 != 0 {
			k.Name = new(fmt.Sprint("n", i%11))
		}
		rows = append(rows, k)
	}
	pf := smallPagesFile(t, rows, 2500, 512)
	if idx, err := pf.RowGroups()[0].ColumnChunks()[0].OffsetIndex(); err != nil || idx.NumPages() < 10 {
		t.Fatalf("the file's first column has too few pages for the test (%v)", err)
	}
	i := 0
	err := keyScan(pf, []string{"name", "execution_arn", "missing", "at"}, true, func(v []parquet.Value) error {
		want := rows[i]
		name := "<nil>"
		if !v[0].IsNull() {
			name = string(v[0].ByteArray())
		}
		wantName := "<nil>"
		if want.Name != nil {
			wantName = *want.Name
		}
		if name != wantName || string(v[1].ByteArray()) != want.Arn || !v[2].IsNull() || v[3].Int64() != want.At {
			return fmt.Errorf("row %d: %s %s %v %d, want %s %s null %d", i, name, v[1].ByteArray(), v[2], v[3].Int64(), wantName, want.Arn, want.At)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(rows) {
		t.Fatalf("%d rows scanned of %d", i, len(rows))
	}
	if err := keyScan(pf, []string{"missing"}, false, func([]parquet.Value) error { return nil }); err == nil {
		t.Error("a column the file lacks was scanned without optional")
	}
}

// TestKeyIndexRuns: a file's key index has a run for each key in turn,
// however the keys differ (by a string column's bytes or by an integer
// column alone), and the rows of each run are its rows.
func TestKeyIndexRuns(t *testing.T) {
	type key struct {
		Arn string `parquet:"execution_arn"`
		Run string `parquet:"run_id"`
		At  int64  `parquet:"extracted_at"`
	}
	keys := []key{{"a", "r", 1}, {"a", "r", 2}, {"a", "s", 2}, {"b", "s", 2}, {"b", "s", 2}, {"a", "s", 2}}
	lens := []int64{3, 2, 1, 1500, 0, 4}
	var rows []key
	var want []span
	for i, k := range keys {
		if lens[i] == 0 {
			continue
		}
		if l := len(want); l > 0 && keys[i-1] == k {
			want[l-1].n += lens[i]
		} else {
			want = append(want, span{int64(len(rows)), lens[i]})
		}
		for range lens[i] {
			rows = append(rows, k)
		}
	}
	pf := smallPagesFile(t, rows, 700, 256)
	seed := maphash.MakeSeed()
	d := &Parquet{keyHash: func(k []parquet.Value) uint64 { return hashKey(seed, k) }}
	idx, err := d.keyIndexOf("operations/dt=2026-01-01/part-x.parquet", pf, []string{"execution_arn", "run_id", "extracted_at"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(idx.runs, want) || idx.total != int64(len(rows)) {
		t.Errorf("runs %v of %d rows, want %v of %d", idx.runs, idx.total, want, len(rows))
	}
}

// smallPagesFile writes rows to a Parquet file in memory, in row groups
// of rowGroup rows and pages of about pageBytes, and opens it.
func smallPagesFile[T any](t *testing.T, rows []T, rowGroup int64, pageBytes int) *parquet.File {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.MaxRowsPerRowGroup(rowGroup), parquet.PageBufferSize(pageBytes))
	if _, err := w.Write(rows); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

// TestKeyScanRefusesAMiscountedRowGroup: a file whose footer gives a row
// group fewer or more rows than its columns hold values (a damaged file,
// or one another writer got wrong) fails the scan, naming the column,
// instead of pairing keys with the wrong rows: compaction's --keep
// latest and verify act on those pairs. parquet-go cannot write such a
// file, so the test rewrites a good file's footer.
func TestKeyScanRefusesAMiscountedRowGroup(t *testing.T) {
	type key struct {
		Arn string `parquet:"execution_arn"`
		At  int64  `parquet:"at"`
	}
	var rows []key
	for i := range 3000 {
		rows = append(rows, key{Arn: fmt.Sprintf("arn-%04d", i/7), At: int64(i)})
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[key](&buf, parquet.MaxRowsPerRowGroup(1500), parquet.PageBufferSize(512))
	if _, err := w.Write(rows); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		delta int64
		want  string
	}{{0, ""}, {-1, "column execution_arn: 1500 values for 1499 rows"}, {1, "column execution_arn: 1500 values for 1501 rows"}, {-1500 + scanBatch, "values for 1024 rows"}} {
		pf := withRowGroupRows(t, buf.Bytes(), 1, c.delta)
		if got := pf.RowGroups()[1].NumRows(); got != 1500+c.delta {
			t.Fatalf("the rewritten footer gives %d rows, want %d", got, 1500+c.delta)
		}
		n := 0
		err := keyScan(pf, []string{"execution_arn", "at"}, false, func([]parquet.Value) error { n++; return nil })
		switch {
		case c.want == "" && (err != nil || n != len(rows)):
			t.Errorf("the file as written: %d rows scanned, %v", n, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("row group of 1500 rows said to hold %d: %v, want an error with %q", 1500+c.delta, err, c.want)
		}
	}
}

// withRowGroupRows opens a copy of the Parquet file b whose footer says
// that row group rg holds delta rows more (or fewer) than it does.
func withRowGroupRows(t *testing.T, b []byte, rg int, delta int64) *parquet.File {
	t.Helper()
	size := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	footer := b[len(b)-8-size : len(b)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		t.Fatal(err)
	}
	md.RowGroups[rg].NumRows += delta
	md.NumRows += delta
	out, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	file := append(slices.Clip(b[:len(b)-8-size]), out...)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(out)))
	file = append(file, "PAR1"...)
	pf, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	return pf
}
