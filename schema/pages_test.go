// The race detector's sync.Pool drops a share of what it is given, at
// random, so a read under it allocates pages the pools would have held:
// what this file measures does not hold there.

//go:build !race

package schema_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/durable-etl/durable-etl/schema"
	"github.com/parquet-go/parquet-go"
)

// TestReaderGivesBackItsPages: a Reader hands every page it read back to
// parquet-go's pools, the last one of each column chunk too (at a row
// group's end, a seek and Close): reading a file again then takes its
// page buffers from the pools. A page dropped without being released is
// never pooled again, and every later page allocates anew (1.3 GB of a
// verify's 5.4 GB of allocations). Integer columns decode without
// allocating, so what a second read allocates is the pages'.
func TestReaderGivesBackItsPages(t *testing.T) {
	type pair struct {
		ID int64 `parquet:"id"`
		N  int64 `parquet:"n,zstd"`
	}
	pairs := schema.Declare[pair]("pairs", schema.Table{Key: []string{"id"}})
	rows := make([]pair, 100_000)
	for i := range rows {
		rows[i] = pair{int64(i), int64(i * 7919 % 1000)}
	}
	var file bytes.Buffer
	w := parquet.NewGenericWriter[pair](&file, parquet.MaxRowsPerRowGroup(2000))
	if _, err := w.Write(rows); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	if pageCount(t, file.Bytes()) != 2*len(rows)/2000 {
		t.Fatal("the test wants one page a column chunk: the one a Reader holds last")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection empties the pools
	buf := make([]pair, 700)
	// read reads the file, skipping skip rows after each batch (a seek
	// within the row group, mostly).
	read := func(skip int64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rd := openReader[pair](t, pairs, file.Bytes())
		for at := int64(0); ; {
			n, err := rd.Read(buf)
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if buf[0].ID != at {
				t.Fatalf("row %d read at %d", buf[0].ID, at)
			}
			if at += int64(n); skip > 0 && at+skip < int64(len(rows)) {
				at += skip
				if err := rd.SeekToRow(at); err != nil {
					t.Fatal(err)
				}
			}
		}
		rd.Close()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	read(0) // fills the pools
	pages := uint64(len(rows)) * 16
	if got := read(0); got > pages/4 {
		t.Errorf("a second read allocated %d bytes; its pages' values are %d", got, pages)
	}
	if got := read(100); got > pages/4 {
		t.Errorf("a read with a seek after each batch allocated %d bytes; its pages' values are %d", got, pages)
	}
	// So too ColumnValues, which load's key scans read by.
	pf, err := parquet.OpenFile(bytes.NewReader(file.Bytes()), int64(file.Len()))
	if err != nil {
		t.Fatal(err)
	}
	scan := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		vals := make([]parquet.Value, 700)
		for _, rg := range pf.RowGroups() {
			for _, ch := range rg.ColumnChunks() {
				// Its rows' values and no more (as a key scan reads), so
				// the last page is still being read at Close.
				cv := schema.NewColumnValues(ch)
				for left := int(rg.NumRows()); left > 0; {
					got, err := cv.Read(vals[:min(left, len(vals))])
					if err != nil || len(got) == 0 {
						t.Fatalf("%d values short (%v)", left, err)
					}
					left -= len(got)
				}
				cv.Close()
			}
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	scan()
	if got := scan(); got > pages/4 {
		t.Errorf("a second scan of the columns allocated %d bytes; their pages' values are %d", got, pages)
	}
}
