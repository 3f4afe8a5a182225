package emulator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// writeWire writes v in the service's restJson1 form: exported members by
// their Go (API) names, absent ones (nil pointers, nil slices, empty enum
// strings) omitted and never null, timestamps as epoch seconds with the
// milliseconds as a fraction, strings with <, > and & unescaped. It covers
// the SDK's output shapes (pointers, strings, integers, booleans, times,
// string slices, nested structs and slices of structs).
func writeWire(buf *bytes.Buffer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		writeWire(buf, v.Elem())
		return
	}
	if t, ok := v.Interface().(time.Time); ok {
		b, _ := epoch(t).MarshalJSON()
		buf.Write(b)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		buf.WriteByte('{')
		first := true
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if !f.IsExported() || omitted(fv) {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			writeString(buf, f.Name)
			buf.WriteByte(':')
			writeWire(buf, fv)
		}
		buf.WriteByte('}')
	case reflect.Slice:
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeWire(buf, v.Index(i))
		}
		buf.WriteByte(']')
	case reflect.String:
		writeString(buf, v.String())
	case reflect.Bool:
		buf.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int32, reflect.Int64:
		buf.WriteString(strconv.FormatInt(v.Int(), 10))
	default:
		panic("emulator: no wire form for " + v.Type().String())
	}
}

func omitted(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return v.IsNil()
	case reflect.String:
		return v.Len() == 0
	}
	return false
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
