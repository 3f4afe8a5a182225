package schema

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"reflect"
	"slices"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// Rows is a batch of one table's rows as loaders take them: a slice of the
// table's row struct behind an interface, so that a loader writes every
// table alike, knowing only its declaration.
type Rows interface {
	// Table is the table the rows belong to.
	Table() *Table
	// Len is the number of rows.
	Len() int
	// Size estimates the rows' bytes in memory (the structs, what their
	// pointers hold, the string data), for loaders' memory budgets.
	Size() int64
	// Values fills dst, one element per column, with row i's values in
	// column order, as pgx encodes them (string, *string, int32, *int32,
	// int64, *int64, *bool, time.Time, *time.Time, []string), and returns
	// it. The values share memory with the row.
	Values(i int, dst []any) []any
	// Value is row i's value of column col, as Values gives it.
	Value(i, col int) any
}

// RowsOf is rows of table t. It panics when T is not t's row struct: a
// programming error, not a data one.
func RowsOf[T any](t *Table, rows []T) Rows {
	if reflect.TypeFor[T]() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, reflect.TypeFor[T]()))
	}
	return rowsOf[T]{t: t, rows: rows}
}

type rowsOf[T any] struct {
	t    *Table
	rows []T
}

// Tail is r without its first from rows (0 <= from <= r.Len()), sharing
// their memory.
func Tail(r Rows, from int) Rows {
	return r.(interface{ tail(int) Rows }).tail(from)
}

func (r rowsOf[T]) tail(from int) Rows { return rowsOf[T]{t: r.t, rows: r.rows[from:]} }

// Filter is r's rows for which keep(i) is true, in order: r itself when
// it keeps every one, else a new slice of them (sharing what their
// fields point to).
func Filter(r Rows, keep func(i int) bool) Rows {
	return r.(interface{ filter(func(int) bool) Rows }).filter(keep)
}

func (r rowsOf[T]) filter(keep func(int) bool) Rows {
	var kept []T
	for i := range r.rows {
		switch {
		case !keep(i):
			if kept == nil {
				kept = append(make([]T, 0, len(r.rows)-1), r.rows[:i]...)
			}
		case kept != nil:
			kept = append(kept, r.rows[i])
		}
	}
	if kept == nil {
		return r
	}
	return rowsOf[T]{t: r.t, rows: kept}
}

func (r rowsOf[T]) Table() *Table { return r.t }
func (r rowsOf[T]) Len() int      { return len(r.rows) }

func (r rowsOf[T]) Size() int64 {
	var n int64
	for i := range r.rows {
		n += r.t.codec.size(unsafe.Pointer(&r.rows[i]))
	}
	return n
}

// at is the address of row i.
func (r rowsOf[T]) at(i int) unsafe.Pointer { return unsafe.Pointer(&r.rows[i]) }

func (r rowsOf[T]) Values(i int, dst []any) []any {
	v := reflect.ValueOf(&r.rows[i]).Elem()
	for k := range dst {
		dst[k] = v.Field(k).Interface()
	}
	return dst
}

func (r rowsOf[T]) Value(i, col int) any {
	return reflect.ValueOf(&r.rows[i]).Elem().Field(col).Interface()
}

// ParquetWriter writes one table's rows to a Parquet file: parquet-go's
// GenericWriter of the table's row struct, behind the methods loaders use.
// Its failure semantics are parquet-go's: after an error the file is not
// usable and must be discarded.
type ParquetWriter interface {
	// Write encodes rows into the current row group. It panics when rows
	// are not of the writer's table.
	Write(rows Rows) (int, error)
	// WriteRows encodes rows read from a file of the same table.
	WriteRows(rows []parquet.Row) (int, error)
	// WriteRowGroup copies a row group of a file of the same table, written
	// with the same options, as it is (pages are not decoded).
	WriteRowGroup(rg parquet.RowGroup) (int64, error)
	// AppendRowGroup re-encodes the rows of rg, a row group of a file of
	// the same table in the writer's schema, into the current row group
	// column by column (no row is assembled): the rows WriteRows of them
	// would write (pages may end elsewhere), at about half the cost. keep,
	// unless nil, says by row (one for each of rg's) which rows are
	// appended. It returns how many were. On a failure the current row
	// group may hold part of rg's columns: the file is to be discarded.
	AppendRowGroup(rg parquet.RowGroup, keep []bool) (int64, error)
	// Flush ends the current row group.
	Flush() error
	// Close ends the row group and writes the footer.
	Close() error
	// Reset starts a new file on w, reusing the writer's buffers (a writer
	// that wrote rows it did not Close is replaced instead). The files are
	// whole and correct, and byte for byte what a new writer writes
	// provided page headers carry no statistics
	// (parquet.DataPageStatistics(false), as in Table.WriterOptions): with
	// them, an all-null page's header carries empty bounds once its column
	// held a value (parquet-go v0.32).
	Reset(w io.Writer)
	// Size is the bytes written so far plus those buffered.
	Size() int64
}

// NewParquetWriter is a Parquet writer of t's rows on w. opts should
// include t's ParquetSchema.
func (t *Table) NewParquetWriter(w io.Writer, opts ...parquet.WriterOption) ParquetWriter {
	return t.codec.newWriter(w, opts)
}

// parquetWriter is parquet-go's GenericWriter, kept from a trap of
// v0.32: rows written with WriteRows and then, in the same row group, with
// Write are lost (the row group's row count and pages keep only the
// latter; a test in rows_test.go shows it). So Write first ends a row
// group that WriteRows wrote into: an execution whose staged rows were
// spilled and read back as parquet.Rows lost its last row group's worth
// of rows, 4.7% of a million-event history, until this was found.
//
// (Reset had a trap of its own up to v0.32.0: it cleared, in place, the
// column paths that the last file's column chunks shared with the writer,
// so every later footer had empty path_in_schema. v0.32.1 copies them;
// TestResetWriterWritesWholeFiles fails on v0.32.0.)
type parquetWriter[T any] struct {
	*parquet.GenericWriter[T]
	opts []parquet.WriterOption
	raw  bool // WriteRows wrote into the current row group
	// values and kept are AppendRowGroup's buffers; repeated says, by
	// leaf column, which may hold several values a row.
	values, kept []parquet.Value
	repeated     []bool
	dirty        bool // rows written since the last Close or Reset
}

func (w *parquetWriter[T]) Write(rows Rows) (int, error) {
	w.dirty = true
	if w.raw {
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	return w.GenericWriter.Write(rows.(rowsOf[T]).rows)
}

func (w *parquetWriter[T]) WriteRows(rows []parquet.Row) (int, error) {
	w.dirty = true
	n, err := w.GenericWriter.WriteRows(rows)
	w.raw = w.raw || n > 0
	return n, err
}

func (w *parquetWriter[T]) WriteRowGroup(rg parquet.RowGroup) (int64, error) {
	w.raw, w.dirty = false, true // parquet-go flushes the current row group first
	return w.GenericWriter.WriteRowGroup(rg)
}

func (w *parquetWriter[T]) AppendRowGroup(rg parquet.RowGroup, keep []bool) (int64, error) {
	n := rg.NumRows()
	if keep != nil {
		if int64(len(keep)) != n {
			return 0, fmt.Errorf("%d rows to keep or not for a row group of %d", len(keep), n)
		}
		n = 0
		for _, k := range keep {
			if k {
				n++
			}
		}
	}
	if n == 0 {
		return 0, nil
	}
	cols := rg.ColumnChunks()
	dst := w.ColumnWriters()
	if len(cols) != len(dst) {
		return 0, fmt.Errorf("row group of %d columns appended to a writer of %d", len(cols), len(dst))
	}
	w.raw, w.dirty = true, true
	if len(w.values) == 0 {
		w.values = make([]parquet.Value, 1024)
	}
	if w.repeated == nil {
		for _, path := range w.Schema().Columns() {
			leaf, _ := w.Schema().Lookup(path...)
			w.repeated = append(w.repeated, leaf.MaxRepetitionLevel > 0)
		}
	}
	for i, col := range cols {
		a := columnAppend{dst: dst[i], repeated: w.repeated[i], keep: keep, kept: w.kept[:0]}
		err := a.from(col, w.values)
		w.kept = a.kept
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// columnAppend writes values of a column chunk to a column writer.
type columnAppend struct {
	dst      *parquet.ColumnWriter
	repeated bool            // several values a row (those after the first have a repetition level)
	keep     []bool          // by row, which are written (nil: all)
	row      int             // the row of the last value filtered
	kept     []parquet.Value // filter's values, a read's
}

// from writes src's values of the rows kept, a read of buf at a time. A
// repeated column's values go in whole rows (a row's values may not span
// two pages): the last row of a read waits, copied, for the next.
func (a *columnAppend) from(src parquet.ColumnChunk, buf []parquet.Value) error {
	rd := parquet.NewColumnChunkValueReader(src)
	defer rd.Close()
	a.row = -1
	var row []parquet.Value // repeated: the row begun in an earlier read
	for {
		n, err := rd.ReadValues(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		end := err != nil
		vals := a.filter(buf[:n])
		if a.repeated {
			next := 0 // where the read's first row begins
			for next < len(vals) && vals[next].RepetitionLevel() != 0 {
				next++
			}
			for _, v := range vals[:next] {
				row = append(row, v.Clone())
			}
			vals = vals[next:]
			if len(row) > 0 && (len(vals) > 0 || end) {
				if err := a.write(row); err != nil {
					return err
				}
				row = row[:0]
			}
			if !end && len(vals) > 0 {
				last := len(vals) - 1
				for last > 0 && vals[last].RepetitionLevel() != 0 {
					last--
				}
				for _, v := range vals[last:] {
					row = append(row, v.Clone())
				}
				vals = vals[:last]
			}
		}
		if err := a.write(vals); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
}

// filter is the values of vals, the next read's, in the rows kept.
func (a *columnAppend) filter(vals []parquet.Value) []parquet.Value {
	if a.keep == nil {
		return vals
	}
	a.kept = a.kept[:0]
	for _, v := range vals {
		if !a.repeated || v.RepetitionLevel() == 0 {
			a.row++
		}
		if a.keep[a.row] {
			a.kept = append(a.kept, v)
		}
	}
	return a.kept
}

// rowsPerWrite is the most rows columnAppend writes at once: a page ends
// after the write that fills it, so it passes the page size by at most
// that many rows' values (parquet-go's row path writes 64 at once too).
const rowsPerWrite = 64

// write writes vals, whole rows, rowsPerWrite rows at a time.
func (a *columnAppend) write(vals []parquet.Value) error {
	for len(vals) > 0 {
		k := min(len(vals), rowsPerWrite)
		if a.repeated {
			k = 0
			for rows := 0; k < len(vals); k++ {
				if vals[k].RepetitionLevel() == 0 {
					if rows == rowsPerWrite {
						break
					}
					rows++
				}
			}
		}
		if _, err := a.dst.WriteRowValues(vals[:k]); err != nil {
			return err
		}
		vals = vals[k:]
	}
	return nil
}

func (w *parquetWriter[T]) Flush() error {
	w.raw = false
	return w.GenericWriter.Flush()
}

func (w *parquetWriter[T]) Close() error {
	w.raw = false
	err := w.GenericWriter.Close()
	w.dirty = err != nil
	return err
}

func (w *parquetWriter[T]) Reset(out io.Writer) {
	w.raw = false
	if w.dirty {
		// Row groups written but no footer: their paths cannot be told
		// apart from the writer's, so start afresh.
		w.GenericWriter = parquet.NewGenericWriter[T](out, w.opts...)
		return
	}
	w.GenericWriter.Reset(out)
}

// codec is what a table knows of its row struct without naming it: how to
// write it to Parquet, and every field's place and kind, from which it
// sizes and compares rows without reflection.
type codec struct {
	newWriter func(io.Writer, []parquet.WriterOption) ParquetWriter
	base      int64   // the struct's size
	fields    []field // every field, in order
	// makeRows is n zero rows of t and the address of the first.
	makeRows func(t *Table, n int) (Rows, unsafe.Pointer)
}

// field is one field of the row struct, at off.
type field struct {
	off  uintptr
	kind fieldKind
}

type fieldKind int

// The field types a row struct may hold (declare refuses others).
const (
	kString fieldKind = iota
	kStringPtr
	kStringList
	kInt32
	kInt32Ptr
	kInt64
	kInt64Ptr
	kBool
	kBoolPtr
	kTime
	kTimePtr
)

// fieldTypes are the Go types a row struct's fields may hold: for each,
// how the codec reads it and the column kind it makes (a pointer makes the
// column nullable). declare refuses any other type.
var fieldTypes = map[reflect.Type]struct {
	field  fieldKind
	column Kind
}{
	reflect.TypeFor[string](): {kString, String}, reflect.TypeFor[*string](): {kStringPtr, String},
	reflect.TypeFor[[]string](): {kStringList, StringList},
	reflect.TypeFor[int32]():    {kInt32, Int32}, reflect.TypeFor[*int32](): {kInt32Ptr, Int32},
	reflect.TypeFor[int64](): {kInt64, Int64}, reflect.TypeFor[*int64](): {kInt64Ptr, Int64},
	reflect.TypeFor[bool](): {kBool, Bool}, reflect.TypeFor[*bool](): {kBoolPtr, Bool},
	reflect.TypeFor[time.Time](): {kTime, Timestamp}, reflect.TypeFor[*time.Time](): {kTimePtr, Timestamp},
}

// newCodec is the codec of the row struct T, whose fields declare checked.
func newCodec[T any](rt reflect.Type) codec {
	c := codec{base: int64(rt.Size()), newWriter: func(w io.Writer, opts []parquet.WriterOption) ParquetWriter {
		return &parquetWriter[T]{GenericWriter: parquet.NewGenericWriter[T](w, opts...), opts: opts}
	}, makeRows: func(t *Table, n int) (Rows, unsafe.Pointer) {
		rows := make([]T, n)
		if n == 0 {
			return rowsOf[T]{t: t, rows: rows}, nil
		}
		return rowsOf[T]{t: t, rows: rows}, unsafe.Pointer(&rows[0])
	}}
	for i := range rt.NumField() {
		f := rt.Field(i)
		c.fields = append(c.fields, field{off: f.Offset, kind: fieldTypes[f.Type].field})
	}
	return c
}

// size estimates the memory of the row at p (a pointer to the table's row
// struct: the offsets were read from its type): the struct, what its
// pointers point to, the string data.
func (c *codec) size(p unsafe.Pointer) int64 {
	n := c.base
	for _, f := range c.fields {
		at := unsafe.Add(p, f.off)
		switch f.kind {
		case kString:
			n += int64(len(*(*string)(at)))
		case kStringPtr:
			if s := *(**string)(at); s != nil {
				n += 16 + int64(len(*s))
			}
		case kStringList:
			for _, s := range *(*[]string)(at) {
				n += 16 + int64(len(s))
			}
		case kInt32Ptr, kInt64Ptr, kBoolPtr:
			if *(*unsafe.Pointer)(at) != nil {
				n += 8
			}
		case kTimePtr:
			if *(*unsafe.Pointer)(at) != nil {
				n += 24
			}
		}
	}
	return n
}

// DiffRow is the index of the first column (in table order) whose values
// differ between rows a and b of table t, leaving out the columns skip
// marks (indexed like t.Columns; nil skips none), or -1 when none does.
// Times compare as instants; a nil pointer or list differs from a set one,
// even an empty list. It reads the rows by the field offsets declare took
// from the struct, without reflection. It panics when T is not t's row
// struct.
func DiffRow[T any](t *Table, a, b *T, skip []bool) int {
	if reflect.TypeFor[T]() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, reflect.TypeFor[T]()))
	}
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	for i, f := range t.codec.fields {
		if (skip == nil || !skip[i]) && !f.equal(unsafe.Add(pa, f.off), unsafe.Add(pb, f.off)) {
			return i
		}
	}
	return -1
}

func (f field) equal(a, b unsafe.Pointer) bool {
	switch f.kind {
	case kString:
		return *(*string)(a) == *(*string)(b)
	case kStringPtr:
		return samePtr(*(**string)(a), *(**string)(b), func(x, y *string) bool { return *x == *y })
	case kStringList:
		x, y := *(*[]string)(a), *(*[]string)(b)
		return (x == nil) == (y == nil) && slices.Equal(x, y)
	case kInt32:
		return *(*int32)(a) == *(*int32)(b)
	case kInt32Ptr:
		return samePtr(*(**int32)(a), *(**int32)(b), func(x, y *int32) bool { return *x == *y })
	case kInt64:
		return *(*int64)(a) == *(*int64)(b)
	case kInt64Ptr:
		return samePtr(*(**int64)(a), *(**int64)(b), func(x, y *int64) bool { return *x == *y })
	case kBool:
		return *(*bool)(a) == *(*bool)(b)
	case kBoolPtr:
		return samePtr(*(**bool)(a), *(**bool)(b), func(x, y *bool) bool { return *x == *y })
	case kTime:
		return (*(*time.Time)(a)).Equal(*(*time.Time)(b))
	case kTimePtr:
		return samePtr(*(**time.Time)(a), *(**time.Time)(b), func(x, y *time.Time) bool { return x.Equal(*y) })
	}
	return false
}

// null reports the field's value at a null: a nil pointer or list (a
// field of a type that is never null: false).
func (f field) null(a unsafe.Pointer) bool {
	switch f.kind {
	case kStringPtr, kInt32Ptr, kInt64Ptr, kBoolPtr, kTimePtr:
		return *(*unsafe.Pointer)(a) == nil
	case kStringList:
		return *(*[]string)(a) == nil
	}
	return false
}

// setNull makes the field's value at a null (declare allows Since only on
// nullable columns: fields of other types are left as they are).
func (f field) setNull(a unsafe.Pointer) {
	switch f.kind {
	case kStringPtr, kInt32Ptr, kInt64Ptr, kBoolPtr, kTimePtr:
		*(*unsafe.Pointer)(a) = nil
	case kStringList:
		*(*[]string)(a) = nil
	}
}

func samePtr[E any](x, y *E, eq func(x, y *E) bool) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return eq(x, y)
}

// HashRow hashes row of table t with h (reset first), leaving out the
// columns skip marks, so that two rows DiffRow finds equal hash alike
// (times as instants; a nil pointer or list apart from a set one, an empty
// list included) and rows that differ almost surely do not: verification
// compares executions too large to hold by their rows' hashes. It panics
// when T is not t's row struct.
func HashRow[T any](t *Table, h *maphash.Hash, row *T, skip []bool) uint64 {
	return hashAt(t, h, rowPointer(t, row), skip)
}

// HashRowOf is HashRow of r's row i.
func HashRowOf(r Rows, i int, h *maphash.Hash, skip []bool) uint64 {
	return hashAt(r.Table(), h, r.(interface{ at(int) unsafe.Pointer }).at(i), skip)
}

func hashAt(t *Table, h *maphash.Hash, p unsafe.Pointer, skip []bool) uint64 {
	h.Reset()
	for i, f := range t.codec.fields {
		if skip == nil || !skip[i] {
			f.hash(h, unsafe.Add(p, f.off))
		}
	}
	return h.Sum64()
}

// hash writes the field's value at a to h, with a byte for its presence
// and lengths before strings, so that no two values write the same bytes.
func (f field) hash(h *maphash.Hash, a unsafe.Pointer) {
	str := func(s string) {
		maphash.WriteComparable(h, len(s))
		h.WriteString(s)
	}
	present := func(ok bool) bool {
		if ok {
			h.WriteByte(1)
		} else {
			h.WriteByte(0)
		}
		return ok
	}
	switch f.kind {
	case kString:
		str(*(*string)(a))
	case kStringPtr:
		if s := *(**string)(a); present(s != nil) {
			str(*s)
		}
	case kStringList:
		if l := *(*[]string)(a); present(l != nil) {
			maphash.WriteComparable(h, len(l))
			for _, s := range l {
				str(s)
			}
		}
	case kInt32:
		maphash.WriteComparable(h, *(*int32)(a))
	case kInt32Ptr:
		if v := *(**int32)(a); present(v != nil) {
			maphash.WriteComparable(h, *v)
		}
	case kInt64:
		maphash.WriteComparable(h, *(*int64)(a))
	case kInt64Ptr:
		if v := *(**int64)(a); present(v != nil) {
			maphash.WriteComparable(h, *v)
		}
	case kBool:
		present(*(*bool)(a))
	case kBoolPtr:
		if v := *(**bool)(a); present(v != nil) {
			present(*v)
		}
	case kTime:
		instant(h, *(*time.Time)(a))
	case kTimePtr:
		if v := *(**time.Time)(a); present(v != nil) {
			instant(h, *v)
		}
	}
}

// instant writes the instant t stands for (any year, unlike UnixNano).
func instant(h *maphash.Hash, t time.Time) {
	maphash.WriteComparable(h, t.Unix())
	maphash.WriteComparable(h, t.Nanosecond())
}
