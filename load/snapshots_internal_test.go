package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
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

// TestAppendOwned: the values appended hold the bytes the page's did, in
// memory of their own (the page's is changed after), a run of equal
// values sharing one copy; nulls and other kinds pass as they are.
func TestAppendOwned(t *testing.T) {
	page := []byte("arn-aarn-aarn-barn-a")
	dict := page[:5]
	vals := []parquet.Value{
		parquet.ByteArrayValue(dict), parquet.ByteArrayValue(dict), // one dictionary value, twice
		parquet.ByteArrayValue(page[5:10]), // equal bytes elsewhere
		parquet.NullValue(),
		parquet.ByteArrayValue(page[5:10]), // after a null
		parquet.ByteArrayValue(page[10:15]),
		parquet.ByteArrayValue(page[15:20]),
		parquet.ByteArrayValue(page[:0]), parquet.ByteArrayValue(page[:0]), // empty
		parquet.Int64Value(7),
		parquet.ByteArrayValue(page[10:15]),
	}
	want := make([]string, len(vals))
	for i, v := range vals {
		want[i] = v.String()
	}
	prefix := []parquet.Value{parquet.ByteArrayValue([]byte("arn-a"))} // out's own: not shared with vals
	out := appendOwned(slices.Clone(prefix), vals)
	copy(page, strings.Repeat("x", len(page))) // the page's memory reused
	if len(out) != len(vals)+1 {
		t.Fatalf("%d values out of %d", len(out), len(vals)+1)
	}
	for i, v := range out[1:] {
		if v.String() != want[i] || v.IsNull() != vals[i].IsNull() || v.Kind() != vals[i].Kind() {
			t.Errorf("value %d: %s, want %s", i, v, want[i])
		}
	}
	copies := map[*byte]bool{}
	for _, v := range out[1:] {
		if v.IsNull() || v.Kind() != parquet.ByteArray {
			continue
		}
		if b := v.ByteArray(); len(b) > 0 {
			copies[&b[0]] = true
		}
	}
	if len(copies) != 5 { // arn-a (three times: two by the dictionary), arn-a after the null, arn-b, arn-a, arn-b after 7
		t.Errorf("%d copies of the bytes, want 5: a run of equal values shares one", len(copies))
	}
}
