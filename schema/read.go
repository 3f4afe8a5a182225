package schema

import (
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// Reader reads an open file's rows as T, its table's row struct, column
// by column: each column the struct has is read through its own pages
// (which seek by the page index), a batch of rows' values at a time, and
// decoded into the batch's rows by the field offsets Declare took
// (rowDecoder), strings copied into blocks. Rows are never assembled as
// parquet.Row: parquet-go's row reader (and GenericReader's reflective
// Reconstruct after it) cost more than the decoding. Columns the struct
// lacks are not read; fields the file lacks stay zero. The rows it fills
// own their memory: a caller may keep them. A Reader is not safe for
// concurrent use.
type Reader[T any] struct {
	dec      *rowDecoder
	rgs      []parquet.RowGroup
	starts   []int64 // each row group's first row in the file
	rg       int     // the row group being read
	row      int64   // the next row within it
	cols     []*columnCursor
	repeated []bool          // by column: may hold several values per row
	vals     []parquet.Value // the flat columns' read buffer
	gathered []parquet.Value // a repeated column's rows, gathered
	opened   bool            // cols hold rgs[rg]'s pages
}

// columnCursor is one column's pages in the row group being read, and (for
// a repeated column) the values read from them but not yet decoded,
// buf[pos:].
type columnCursor struct {
	pages  parquet.Pages
	values parquet.ValueReader // the current page's; nil before one is read
	page   parquet.Page
	ended  bool           // page's values are all read
	done   []parquet.Page // pages whose values were all taken, released once decoded
	buf    []parquet.Value
	pos    int
}

// ColumnValues reads one column chunk's values page after page, without
// copying them out of the pages: a value stays valid until Release (the
// page it is in is handed back then, unless still being read) or Close.
// It is not safe for concurrent use.
type ColumnValues struct{ c columnCursor }

// NewColumnValues reads the values of ch.
func NewColumnValues(ch parquet.ColumnChunk) *ColumnValues {
	return &ColumnValues{c: columnCursor{pages: ch.Pages()}}
}

// Read reads up to len(buf) values into buf and returns them: fewer at
// the end of a page, none at the end of the chunk.
func (v *ColumnValues) Read(buf []parquet.Value) ([]parquet.Value, error) { return v.c.read(buf) }

// Release hands back the pages whose values were all read: the values
// read from them are no longer valid.
func (v *ColumnValues) Release() { v.c.release() }

// Close releases the pages; no value read is valid after it.
func (v *ColumnValues) Close() error {
	v.c.drop()
	return v.c.pages.Close()
}

// NewReader is a reader of the rows of pf, a file of t, or an error naming
// the first column whose type is not the one t's struct would write (read
// such a file with parquet-go's GenericReader instead). It panics when T
// is not t's row struct: a programming error.
func NewReader[T any](t *Table, pf *parquet.File) (*Reader[T], error) {
	if reflect.TypeFor[T]() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, reflect.TypeFor[T]()))
	}
	dec, err := t.newRowDecoder(pf.Schema())
	if err != nil {
		return nil, err
	}
	r := &Reader[T]{dec: dec, rgs: pf.RowGroups()}
	s := pf.Schema()
	r.repeated = make([]bool, len(s.Columns()))
	for _, path := range s.Columns() {
		leaf, _ := s.Lookup(path...)
		r.repeated[leaf.ColumnIndex] = leaf.MaxRepetitionLevel > 0
	}
	var n int64
	for _, rg := range r.rgs {
		r.starts = append(r.starts, n)
		n += rg.NumRows()
	}
	return r, nil
}

// open opens the pages of the current row group's wanted columns.
func (r *Reader[T]) open() {
	r.closeColumns()
	chunks := r.rgs[r.rg].ColumnChunks()
	r.cols = make([]*columnCursor, len(chunks))
	for c, ch := range chunks {
		if r.dec.wants(c) {
			r.cols[c] = &columnCursor{pages: ch.Pages()}
		}
	}
	r.opened = true
}

// SeekToRow positions the reader at row n of the file.
func (r *Reader[T]) SeekToRow(n int64) error {
	rg := len(r.rgs) - 1
	for rg > 0 && r.starts[rg] > n {
		rg--
	}
	if rg < 0 {
		return fmt.Errorf("seek to row %d of a file with no rows", n)
	}
	if rg != r.rg || !r.opened {
		r.rg = rg
		r.open()
	}
	r.row = n - r.starts[rg]
	for _, c := range r.cols {
		if c == nil {
			continue
		}
		c.drop()
		if err := c.pages.SeekToRow(r.row); err != nil {
			return err
		}
	}
	return nil
}

// Read fills dst with the next rows, within one row group; io.EOF after
// the last.
func (r *Reader[T]) Read(dst []T) (int, error) {
	for r.rg < len(r.rgs) && r.row >= r.rgs[r.rg].NumRows() {
		r.rg, r.row, r.opened = r.rg+1, 0, false
	}
	if r.rg >= len(r.rgs) {
		return 0, io.EOF
	}
	if !r.opened {
		r.open()
	}
	n := int(min(int64(len(dst)), r.rgs[r.rg].NumRows()-r.row))
	rows := dst[:n]
	clear(rows)
	for i, c := range r.cols {
		if c == nil {
			continue
		}
		if err := r.decode(i, c, rows); err != nil {
			return 0, fmt.Errorf("column %d: %w", i, err)
		}
		c.release()
	}
	r.row += int64(n)
	return n, nil
}

// decode decodes column i of the next len(rows) rows into rows. A flat
// column's values are decoded where they were read, a buffer at a time; a
// repeated column's are gathered first, as a row's may span buffers.
func (r *Reader[T]) decode(i int, c *columnCursor, rows []T) error {
	n := len(rows)
	if r.repeated[i] {
		var err error
		if r.gathered, err = c.next(n, r.gathered[:0]); err != nil {
			return err
		}
		decodeColumn(r.dec, i, r.gathered, rows)
		return nil
	}
	// A flat column reads exactly the values it decodes, so one buffer
	// serves every such column of the reader.
	if cap(r.vals) == 0 {
		r.vals = make([]parquet.Value, 0, min(max(n, 16), 1024))
	}
	for row := 0; row < n; {
		vals, err := c.read(r.vals[:min(n-row, cap(r.vals))])
		if err != nil {
			return err
		}
		if len(vals) == 0 {
			return fmt.Errorf("%d rows short", n-row)
		}
		decodeColumn(r.dec, i, vals, rows[row:row+len(vals)])
		row += len(vals)
	}
	return nil
}

// read reads up to len(buf) values into buf, from the next page when the
// current one is spent; none at the end of the column chunk.
func (c *columnCursor) read(buf []parquet.Value) ([]parquet.Value, error) {
	if c.ended { // its values are all taken: released with the batch's
		c.done = append(c.done, c.page)
		c.values, c.page, c.ended = nil, nil, false
	}
	for {
		if c.values == nil {
			p, err := c.pages.ReadPage()
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			c.page, c.values = p, p.Values()
		}
		k, err := c.values.ReadValues(buf)
		if errors.Is(err, io.EOF) {
			c.ended = true
		} else if err != nil {
			return nil, err
		}
		if k > 0 {
			return buf[:k], nil
		}
		if c.ended {
			c.done = append(c.done, c.page)
			c.values, c.page, c.ended = nil, nil, false
		}
	}
}

// next appends the values of a repeated column's next n rows to dst: it
// reads on until the value that starts the row after them, or the end.
func (c *columnCursor) next(n int, dst []parquet.Value) ([]parquet.Value, error) {
	rows := 0
	for {
		for c.pos < len(c.buf) {
			v := c.buf[c.pos]
			if v.RepetitionLevel() == 0 {
				if rows == n {
					return dst, nil
				}
				rows++
			}
			dst = append(dst, v)
			c.pos++
		}
		more, err := c.fill(n - rows)
		if err != nil {
			return dst, err
		}
		if !more {
			if rows < n {
				return dst, fmt.Errorf("%d rows short", n-rows)
			}
			return dst, nil
		}
	}
}

// fill reads the next values into the column's own buffer; false at the
// end of the column chunk. want is how many rows the caller
// still needs: it sizes the buffer the first time.
func (c *columnCursor) fill(want int) (bool, error) {
	if cap(c.buf) == 0 {
		c.buf = make([]parquet.Value, 0, min(max(want, 16), 1024))
	}
	vals, err := c.read(c.buf[:cap(c.buf)])
	c.buf, c.pos = c.buf[:len(vals)], 0
	return len(vals) > 0, err
}

// release hands back the pages whose values were all decoded (the values
// still buffered are the current page's). A page neither released nor
// dropped is left to the collector, its buffers never back in
// parquet-go's pools: each page read after would allocate anew.
func (c *columnCursor) release() {
	for i, p := range c.done {
		parquet.Release(p)
		c.done[i] = nil
	}
	c.done = c.done[:0]
}

// drop releases every page the cursor holds, the one being read too,
// and forgets the values buffered: the rows decoded so far have their
// own copies. A page the column's pages may serve again (after a seek
// into it) is held by them as well, so it stays valid for them.
func (c *columnCursor) drop() {
	c.release()
	if c.page != nil {
		parquet.Release(c.page)
	}
	c.values, c.page, c.ended, c.buf, c.pos = nil, nil, false, c.buf[:0], 0
}

func (r *Reader[T]) closeColumns() {
	for _, c := range r.cols {
		if c != nil {
			c.drop()
			c.pages.Close()
		}
	}
	r.cols = nil
}

// Close releases the pages being read.
func (r *Reader[T]) Close() error {
	r.closeColumns()
	return nil
}
