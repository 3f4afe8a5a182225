package schema

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// rowDecoder fills a table's row structs from the values of one Parquet
// file's columns (see [Reader]) by the field offsets declare took: what
// parquet-go's GenericReader does by reflection (Schema.Reconstruct), which
// took a quarter of verify's CPU. Strings and what the row's pointers
// point to are copied into blocks the decoder allocates and never reuses,
// so a decoded row stays valid after the file's pages are gone; a block is
// freed when no row uses it any more. It is not safe for concurrent use.
type rowDecoder struct {
	t       *Table
	columns []columnTarget // by the file's column index

	bytes []byte // unused part of the current string block
	strs  []string
	i32s  []int32
	i64s  []int64
	bools []bool
	times []time.Time
}

// columnTarget is where one column of the file goes: the field (skip: a
// column the row struct does not have) and the column's maximum
// definition level.
type columnTarget struct {
	field
	skip   bool
	maxDef int
	// last is the string the column's last value decoded to (and ptr a
	// pointer to it, for a *string field): a value equal to it is given
	// the same string (and pointer) again, with no copy. Columns such as
	// execution_arn and run_id repeat their value row after row.
	last string
	ptr  *string
}

// newRowDecoder is a decoder of rows of a file of t whose schema is file,
// or an error naming the first column whose type is not the one t's
// struct would write (the caller reads such a file by reflection instead).
// Columns the struct does not have are skipped; fields the file lacks (a
// file written before a column was added) are left zero, as a
// GenericReader leaves them.
func (t *Table) newRowDecoder(file *parquet.Schema) (*rowDecoder, error) {
	want := t.ParquetSchema()
	d := &rowDecoder{t: t}
	for _, path := range file.Columns() {
		leaf, _ := file.Lookup(path...)
		col := columnTarget{skip: true, maxDef: leaf.MaxDefinitionLevel}
		if i := t.Column(path[0]); i >= 0 {
			wantLeaf, ok := want.Lookup(path...)
			if !ok || !sameLeaf(leaf, wantLeaf) {
				return nil, fmt.Errorf("schema: %s: column %v is not as this version writes it", t.Name, path)
			}
			col.field, col.skip = t.codec.fields[i], false
		}
		d.columns = append(d.columns, col)
	}
	return d, nil
}

// sameLeaf is true when a file's leaf column has the type, levels and
// logical type of the one the table's struct writes.
func sameLeaf(a, b parquet.LeafColumn) bool {
	return a.MaxDefinitionLevel == b.MaxDefinitionLevel && a.MaxRepetitionLevel == b.MaxRepetitionLevel &&
		a.Node.Type().Kind() == b.Node.Type().Kind() && sameLogical(a.Node.Type().LogicalType(), b.Node.Type().LogicalType())
}

func sameLogical(a, b *format.LogicalType) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.String() == b.String()
}

// decodeColumn fills file column c (its index in the file's schema) of
// rows from vals, the column's values for len(rows) whole rows in order (a
// row's values start at repetition level 0; a flat column has one value
// per row). The fields it fills must be zero (rows cleared beforehand); a
// column the row struct does not have is ignored. T is the table's row
// struct (NewReader checked).
func decodeColumn[T any](d *rowDecoder, c int, vals []parquet.Value, rows []T) {
	col := &d.columns[c]
	if col.skip {
		return
	}
	r := -1
	for i := range vals {
		v := &vals[i]
		if v.RepetitionLevel() == 0 {
			r++
		}
		d.set(col, unsafe.Add(unsafe.Pointer(&rows[r]), col.off), v)
	}
}

// wants reports whether the row struct has file column c: a reader need
// not read the others.
func (d *rowDecoder) wants(c int) bool { return !d.columns[c].skip }

// set stores v, a value of col, in col's field at at. A null value
// leaves a pointer nil; in the list column, definition level maxDef-1 is
// an empty list, below it a nil one.
func (d *rowDecoder) set(col *columnTarget, at unsafe.Pointer, v *parquet.Value) {
	kind := col.kind
	if kind == kStringList {
		l := (*[]string)(at)
		switch def := v.DefinitionLevel(); {
		case def == col.maxDef:
			*l = append(*l, d.string(v.ByteArray()))
		case def == col.maxDef-1 && *l == nil:
			*l = []string{}
		}
		return
	}
	if v.IsNull() {
		return
	}
	switch kind {
	case kString:
		*(*string)(at) = d.repeated(col, v.ByteArray())
	case kStringPtr:
		if b := v.ByteArray(); col.ptr != nil && string(b) == col.last {
			*(**string)(at) = col.ptr
		} else {
			col.ptr = ptrTo(&d.strs, d.repeated(col, b))
			*(**string)(at) = col.ptr
		}
	case kInt32:
		*(*int32)(at) = v.Int32()
	case kInt32Ptr:
		*(**int32)(at) = ptrTo(&d.i32s, v.Int32())
	case kInt64:
		*(*int64)(at) = v.Int64()
	case kInt64Ptr:
		*(**int64)(at) = ptrTo(&d.i64s, v.Int64())
	case kBool:
		*(*bool)(at) = v.Boolean()
	case kBoolPtr:
		*(**bool)(at) = ptrTo(&d.bools, v.Boolean())
	case kTime:
		*(*time.Time)(at) = time.UnixMilli(v.Int64()).UTC()
	case kTimePtr:
		*(**time.Time)(at) = ptrTo(&d.times, time.UnixMilli(v.Int64()).UTC())
	}
}

// blockSize is the size of the decoder's blocks of string bytes; a
// longer string gets an allocation of its own. Elements per block of
// pointer targets: 256.
const (
	blockSize    = 64 << 10
	ownString    = 4 << 10
	targetsBlock = 256
)

// repeated is b as a string: col's last one when equal to it (rows share
// it: a row's strings, like what its pointers point to, are never changed
// in place), else a copy (string) that becomes col's last.
func (d *rowDecoder) repeated(col *columnTarget, b []byte) string {
	if string(b) != col.last {
		col.last, col.ptr = d.string(b), nil
	}
	return col.last
}

// string copies b into the current block.
func (d *rowDecoder) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > ownString {
		return string(b)
	}
	if len(d.bytes) < len(b) {
		d.bytes = make([]byte, blockSize)
	}
	n := copy(d.bytes, b)
	s := unsafe.String(&d.bytes[0], n)
	d.bytes = d.bytes[n:]
	return s
}

// ptrTo is a pointer to x, stored in a fresh element of the block *s
// (a new block when it is used up).
func ptrTo[E any](s *[]E, x E) *E {
	if len(*s) == 0 {
		*s = make([]E, targetsBlock)
	}
	e := &(*s)[0]
	*s = (*s)[1:]
	*e = x
	return e
}
