// Package jsonstream writes a value as JSON exactly as
// json.MarshalIndent(v, "", "  ") would, but holding one element of a
// slice at a time rather than the whole document: a report that names
// hundreds of thousands of executions (a verify of an account whose
// archive lacks most of them) would otherwise take several times its own
// size in memory, at the moment it matters most.
//
// Structs (their exported fields, by encoding/json's rules: tag names,
// "-", omitempty, embedded structs flattened with the shallower field
// winning a name) and slices are walked; anything else, and any type with
// its own MarshalJSON or MarshalText, is encoded by encoding/json.
package jsonstream

import (
	"bufio"
	"encoding"
	"encoding/json"
	"io"
	"reflect"
	"strings"
)

// Write writes v to w as json.MarshalIndent(v, "", "  ") followed by a
// newline. On an error part of the document may have been written.
func Write(w io.Writer, v any) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := encode(bw, reflect.ValueOf(v), ""); err != nil {
		return err
	}
	if err := bw.WriteByte('\n'); err != nil {
		return err
	}
	return bw.Flush()
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshals reports a type encoding/json hands to its own methods.
func marshals(t reflect.Type) bool {
	return t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

func encode(w *bufio.Writer, v reflect.Value, prefix string) error {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && !v.IsNil() && !marshals(v.Type()) {
		v = v.Elem()
	}
	switch {
	case !v.IsValid() || (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil():
		_, err := w.WriteString("null")
		return err
	case marshals(v.Type()):
	case v.Kind() == reflect.Struct:
		return encodeStruct(w, v, prefix)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		if v.IsNil() {
			_, err := w.WriteString("null")
			return err
		}
		if v.Len() == 0 {
			_, err := w.WriteString("[]")
			return err
		}
		w.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString("\n" + prefix + "  ")
			if err := encode(w, v.Index(i), prefix+"  "); err != nil {
				return err
			}
		}
		_, err := w.WriteString("\n" + prefix + "]")
		return err
	}
	b, err := json.MarshalIndent(v.Interface(), prefix, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func encodeStruct(w *bufio.Writer, v reflect.Value, prefix string) error {
	fields := fieldsOf(v)
	if len(fields) == 0 {
		_, err := w.WriteString("{}")
		return err
	}
	w.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			w.WriteByte(',')
		}
		name, err := json.Marshal(f.name)
		if err != nil {
			return err
		}
		w.WriteString("\n" + prefix + "  ")
		w.Write(name)
		w.WriteString(": ")
		if err := encode(w, f.value, prefix+"  "); err != nil {
			return err
		}
	}
	_, err := w.WriteString("\n" + prefix + "}")
	return err
}

type field struct {
	name  string
	value reflect.Value
	depth int
}

// fieldsOf are the fields encoding/json writes of struct v, in its order:
// exported, not tagged "-", not empty when tagged omitempty, embedded
// structs' fields in place of the struct (a nil embedded pointer's
// none), and of two fields of one name the shallower. Two of one name
// at one depth, which encoding/json settles by their tags, are not
// settled here: the types written have none (the test compares them
// with encoding/json's output).
func fieldsOf(v reflect.Value) []field {
	var all []field
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			fv := v.Field(i)
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					if fv.Kind() == reflect.Pointer {
						if fv.IsNil() {
							continue
						}
						fv = fv.Elem()
					}
					walk(fv, depth+1)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if strings.Contains(","+opts+",", ",omitempty,") && empty(fv) {
				continue
			}
			all = append(all, field{name: name, value: fv, depth: depth})
		}
	}
	walk(v, 0)
	out := all[:0]
	for _, f := range all {
		keep := true
		for _, g := range all {
			if g.name == f.name && g.depth < f.depth {
				keep = false
			}
		}
		if keep {
			out = append(out, f)
		}
	}
	return out
}

// empty is encoding/json's omitempty test.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
