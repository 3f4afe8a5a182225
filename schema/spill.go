package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// AppendRows appends rows to b in a compact binary form of the table's
// own, which ReadRows reads back field for field: for rows that wait on
// local disk before they are written to Parquet (the loader's spill runs).
// It is not a storage format: nothing but the process that wrote it reads
// it. It panics when rows are not of t.
func (t *Table) AppendRows(b []byte, rows Rows) []byte {
	r, ok := rows.(interface{ at(int) unsafe.Pointer })
	if !ok || rows.Table() != t {
		panic(fmt.Sprintf("schema: rows of %s appended as %s", rows.Table().Name, t.Name))
	}
	for i := range rows.Len() {
		p := r.at(i)
		for _, f := range t.codec.fields {
			b = f.appendTo(b, unsafe.Add(p, f.off))
		}
	}
	return b
}

// errShortRows is ReadRows' error for bytes that end before n rows do.
var errShortRows = errors.New("schema: rows end early")

// errShortOr is ReadRows' error for no bytes: none for no rows.
func errShortOr(n int) error {
	if n == 0 {
		return nil
	}
	return errShortRows
}

// ReadRows reads n rows of t from b, as AppendRows wrote them, and
// returns them with the bytes that follow. The rows' strings share b's
// memory, which must not change afterwards; what their pointers hold is
// allocated in one block per kind.
func (t *Table) ReadRows(b []byte, n int) (Rows, []byte, error) {
	rows, base := t.codec.makeRows(t, n)
	if n == 0 || len(b) == 0 {
		return rows, b, errShortOr(n)
	}
	d := rowReader{src: unsafe.String(&b[0], len(b))}
	d.blocks(t.codec.fields, n)
	size := uintptr(t.codec.base)
	for i := range n {
		p := unsafe.Add(base, uintptr(i)*size)
		for _, f := range t.codec.fields {
			if err := d.read(f.kind, unsafe.Add(p, f.off)); err != nil {
				return nil, nil, fmt.Errorf("%s row %d: %w", t.Name, i, err)
			}
		}
	}
	return rows, b[d.pos:], nil
}

// appendTo appends the field's value at a: lengths and presence as
// uvarints (a pointer or list's length plus one, 0 for nil), integers as
// varints, a time as its Unix seconds and nanoseconds (any year).
func (f field) appendTo(b []byte, a unsafe.Pointer) []byte {
	str := func(s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	switch f.kind {
	case kString:
		return str(*(*string)(a))
	case kStringPtr:
		s := *(**string)(a)
		if s == nil {
			return append(b, 0)
		}
		return append(binary.AppendUvarint(b, uint64(len(*s))+1), *s...)
	case kStringList:
		l := *(*[]string)(a)
		if l == nil {
			return append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(l))+1)
		for _, s := range l {
			b = str(s)
		}
		return b
	case kInt32:
		return binary.AppendVarint(b, int64(*(*int32)(a)))
	case kInt32Ptr:
		if v := *(**int32)(a); v != nil {
			return binary.AppendVarint(append(b, 1), int64(*v))
		}
		return append(b, 0)
	case kInt64:
		return binary.AppendVarint(b, *(*int64)(a))
	case kInt64Ptr:
		if v := *(**int64)(a); v != nil {
			return binary.AppendVarint(append(b, 1), *v)
		}
		return append(b, 0)
	case kBool:
		return append(b, boolByte(*(*bool)(a)))
	case kBoolPtr:
		if v := *(**bool)(a); v != nil {
			return append(b, 1+boolByte(*v))
		}
		return append(b, 0)
	case kTime:
		return appendTime(b, *(*time.Time)(a))
	case kTimePtr:
		if v := *(**time.Time)(a); v != nil {
			return appendTime(append(b, 1), *v)
		}
		return append(b, 0)
	}
	panic(fmt.Sprintf("schema: field kind %d", f.kind))
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// rowReader reads AppendRows' values from src, from pos on.
type rowReader struct {
	src   string
	pos   int
	strs  []string
	i32s  []int32
	i64s  []int64
	bools []bool
	times []time.Time
}

// blocks allocates what the pointers of n rows of fields may point to.
func (d *rowReader) blocks(fields []field, n int) {
	var strs, i32s, i64s, bools, times int
	for _, f := range fields {
		switch f.kind {
		case kStringPtr:
			strs += n
		case kInt32Ptr:
			i32s += n
		case kInt64Ptr:
			i64s += n
		case kBoolPtr:
			bools += n
		case kTimePtr:
			times += n
		}
	}
	d.strs, d.i32s, d.i64s = make([]string, 0, strs), make([]int32, 0, i32s), make([]int64, 0, i64s)
	d.bools, d.times = make([]bool, 0, bools), make([]time.Time, 0, times)
}

func (d *rowReader) uvarint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if d.pos >= len(d.src) {
			return 0, errShortRows
		}
		c := d.src[d.pos]
		d.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("schema: varint overflows")
}

func (d *rowReader) varint() (int64, error) {
	u, err := d.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

func (d *rowReader) str(n uint64) (string, error) {
	if n > uint64(len(d.src)-d.pos) {
		return "", errShortRows
	}
	s := d.src[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s, nil
}

func (d *rowReader) byte() (byte, error) {
	if d.pos >= len(d.src) {
		return 0, errShortRows
	}
	d.pos++
	return d.src[d.pos-1], nil
}

func (d *rowReader) time() (time.Time, error) {
	sec, err := d.varint()
	if err != nil {
		return time.Time{}, err
	}
	ns, err := d.uvarint()
	return time.Unix(sec, int64(ns)).UTC(), err
}

// read reads a value of kind into the field at a (zero beforehand).
func (d *rowReader) read(kind fieldKind, a unsafe.Pointer) error {
	switch kind {
	case kString:
		n, err := d.uvarint()
		if err == nil {
			*(*string)(a), err = d.str(n)
		}
		return err
	case kStringPtr:
		n, err := d.uvarint()
		if err != nil || n == 0 {
			return err
		}
		s, err := d.str(n - 1)
		d.strs = append(d.strs, s)
		*(**string)(a) = &d.strs[len(d.strs)-1]
		return err
	case kStringList:
		n, err := d.uvarint()
		if err != nil || n == 0 {
			return err
		}
		if n-1 > uint64(len(d.src)-d.pos) {
			return errShortRows // every element takes a byte at least
		}
		l := make([]string, n-1)
		for i := range l {
			m, err := d.uvarint()
			if err == nil {
				l[i], err = d.str(m)
			}
			if err != nil {
				return err
			}
		}
		*(*[]string)(a) = l
		return nil
	case kInt32, kInt64:
		v, err := d.varint()
		if kind == kInt32 {
			*(*int32)(a) = int32(v)
		} else {
			*(*int64)(a) = v
		}
		return err
	case kInt32Ptr, kInt64Ptr:
		return d.readIntPtr(kind, a)
	case kBool:
		c, err := d.byte()
		*(*bool)(a) = c == 1
		return err
	case kBoolPtr:
		c, err := d.byte()
		if err != nil || c == 0 {
			return err
		}
		d.bools = append(d.bools, c == 2)
		*(**bool)(a) = &d.bools[len(d.bools)-1]
		return nil
	case kTime:
		t, err := d.time()
		*(*time.Time)(a) = t
		return err
	case kTimePtr:
		if c, err := d.byte(); err != nil || c == 0 {
			return err
		}
		t, err := d.time()
		d.times = append(d.times, t)
		*(**time.Time)(a) = &d.times[len(d.times)-1]
		return err
	}
	return fmt.Errorf("schema: field kind %d", kind)
}

// readIntPtr reads a *int32 or *int64 (kind) into the field at a.
func (d *rowReader) readIntPtr(kind fieldKind, a unsafe.Pointer) error {
	if c, err := d.byte(); err != nil || c == 0 {
		return err
	}
	v, err := d.varint()
	if kind == kInt32Ptr {
		d.i32s = append(d.i32s, int32(v))
		*(**int32)(a) = &d.i32s[len(d.i32s)-1]
	} else {
		d.i64s = append(d.i64s, v)
		*(**int64)(a) = &d.i64s[len(d.i64s)-1]
	}
	return err
}
