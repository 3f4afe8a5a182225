package load

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// TestLatestMask: --keep latest's mask of a row group, from its key
// columns: each key's newest version once (a second copy of it is not
// kept), an older version kept for its payloads once, a superseded one
// not; nil for a row group whose rows are all kept.
func TestLatestMask(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	rows := []schema.Operation{
		{ExecutionArn: "a", OperationID: "1", ExtractedAt: at(1), RunID: "with-data"}, // older, kept for its payloads
		{ExecutionArn: "a", OperationID: "1", ExtractedAt: at(2), RunID: "newest"},    // newest
		{ExecutionArn: "a", OperationID: "2", ExtractedAt: at(0), RunID: "oldest"},    // superseded
		{ExecutionArn: "b", OperationID: "1", ExtractedAt: at(2), RunID: "newest"},    // newest
		{ExecutionArn: "a", OperationID: "1", ExtractedAt: at(2), RunID: "newest"},    // newest again (a kill's duplicate)
		{ExecutionArn: "a", OperationID: "1", ExtractedAt: at(1), RunID: "with-data"}, // older again
	}
	rg := func(rows []schema.Operation) parquet.RowGroup {
		var buf bytes.Buffer
		w := schema.Operations.NewParquetWriter(&buf, schema.Operations.ParquetSchema())
		if _, err := w.Write(schema.RowsOf(schema.Operations, rows)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		return pf.RowGroups()[0]
	}
	ks, err := newKeyScanner(schema.Operations.ParquetSchema(), keyColumns(schema.Operations), false)
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		key string
		v   version
	}
	var all []read
	var kb []byte
	if err := ks.scan(rg(rows), func(vals []parquet.Value) error {
		key, v := keyOf(vals, &kb)
		all = append(all, read{key, v})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	filter := func() *latestFilter {
		return &latestFilter{
			newest:   map[string]version{all[0].key: all[1].v, all[2].key: all[1].v, all[3].key: all[3].v},
			withData: map[string]version{"a": all[0].v},
			emitted:  map[string]bool{}, emittedOlder: map[string]bool{},
		}
	}
	f := filter()
	keep, n, err := f.mask(ks, rg(rows))
	if want := []bool{true, true, false, true, false, false}; err != nil || n != 3 || !slices.Equal(keep, want) {
		t.Errorf("mask %v, %d kept, %v: want %v, 3", keep, n, err, want)
	}
	f = filter()
	if keep, n, err := f.mask(ks, rg(rows[:2])); err != nil || keep != nil || n != 2 {
		t.Errorf("every row kept: mask %v, %d kept, %v: want nil, 2", keep, n, err)
	}
	if keep, n, err := f.mask(ks, rg(rows[3:4])); err != nil || keep != nil || n != 1 {
		t.Errorf("the next row group, every row kept: mask %v, %d kept, %v: want nil, 1", keep, n, err)
	}
	if keep, n, err := f.mask(ks, rg(rows[4:])); err != nil || !slices.Equal(keep, []bool{false, false}) || n != 0 {
		t.Errorf("rows kept in an earlier row group, again: mask %v, %d kept, %v: want none", keep, n, err)
	}
}
