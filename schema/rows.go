package schema

import (
	"fmt"
	"io"
	"reflect"
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

func (r rowsOf[T]) Table() *Table { return r.t }
func (r rowsOf[T]) Len() int      { return len(r.rows) }

func (r rowsOf[T]) Size() int64 {
	var n int64
	for i := range r.rows {
		n += r.t.codec.size(unsafe.Pointer(&r.rows[i]))
	}
	return n
}

func (r rowsOf[T]) Values(i int, dst []any) []any {
	v := reflect.ValueOf(&r.rows[i]).Elem()
	for k := range dst {
		dst[k] = v.Field(k).Interface()
	}
	return dst
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
	// Flush ends the current row group.
	Flush() error
	// Close ends the row group and writes the footer.
	Close() error
	// Reset starts a new file on w, reusing the writer's buffers.
	Reset(w io.Writer)
	// Size is the bytes written so far plus those buffered.
	Size() int64
}

// NewParquetWriter is a Parquet writer of t's rows on w. opts should
// include t's ParquetSchema.
func (t *Table) NewParquetWriter(w io.Writer, opts ...parquet.WriterOption) ParquetWriter {
	return t.codec.newWriter(w, opts)
}

type parquetWriter[T any] struct{ *parquet.GenericWriter[T] }

func (w parquetWriter[T]) Write(rows Rows) (int, error) {
	return w.GenericWriter.Write(rows.(rowsOf[T]).rows)
}

// codec is what a table knows of its row struct without naming it.
type codec struct {
	newWriter func(io.Writer, []parquet.WriterOption) ParquetWriter
	base      int64       // the struct's size
	fields    []fieldSize // the fields that hold more than the struct
}

// fieldSize is a field whose memory lies outside the struct, at off.
type fieldSize struct {
	off  uintptr
	kind fieldKind
	elem int64 // what a non-nil pointer points to, for ptrFixed
}

type fieldKind int

const (
	strField     fieldKind = iota // string: its bytes
	strPtrField                   // *string: a header and its bytes
	strListField                  // []string: headers and bytes
	ptrFixed                      // *int32, *time.Time, ...: the value
)

func newCodec[T any](rt reflect.Type) codec {
	c := codec{base: int64(rt.Size()), newWriter: func(w io.Writer, opts []parquet.WriterOption) ParquetWriter {
		return parquetWriter[T]{parquet.NewGenericWriter[T](w, opts...)}
	}}
	for i := range rt.NumField() {
		f := rt.Field(i)
		switch {
		case f.Type.Kind() == reflect.String:
			c.fields = append(c.fields, fieldSize{off: f.Offset, kind: strField})
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.String:
			c.fields = append(c.fields, fieldSize{off: f.Offset, kind: strPtrField})
		case f.Type.Kind() == reflect.Slice:
			c.fields = append(c.fields, fieldSize{off: f.Offset, kind: strListField})
		case f.Type.Kind() == reflect.Pointer:
			c.fields = append(c.fields, fieldSize{off: f.Offset, kind: ptrFixed, elem: max(8, int64(f.Type.Elem().Size()))})
		}
	}
	return c
}

// size estimates the memory of the row at p (a pointer to the table's row
// struct: the offsets were read from its type).
func (c codec) size(p unsafe.Pointer) int64 {
	n := c.base
	for _, f := range c.fields {
		at := unsafe.Add(p, f.off)
		switch f.kind {
		case strField:
			n += int64(len(*(*string)(at)))
		case strPtrField:
			if s := *(**string)(at); s != nil {
				n += 16 + int64(len(*s))
			}
		case strListField:
			for _, s := range *(*[]string)(at) {
				n += 16 + int64(len(s))
			}
		case ptrFixed:
			if *(*unsafe.Pointer)(at) != nil {
				n += f.elem
			}
		}
	}
	return n
}
