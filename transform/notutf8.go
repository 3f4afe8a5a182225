package transform

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// NotUTF8 are the strings of an overflow_json that are not valid UTF-8, by
// member path ("CallbackDetails.Error.ErrorType", a list's element by its
// index: "CallbackDetails.Error.StackTrace.2"; an event's from its details
// object: "StepFailedDetails.Error.Payload.ErrorMessage"), each as the
// standard base64 of its bytes. The SDK hands a JSON string's bytes over as
// the body had them, valid UTF-8 or not; JSON text cannot hold such bytes
// (encoding/json writes U+FFFD in their place, which the string's own
// member keeps, readable), so they are kept here, where [Reconstruct] and
// [ReconstructEvent] take them back: the row still gives back exactly what
// the SDK handed over. The typed columns need none of this: Parquet keeps
// their bytes (Postgres text cannot: see the loader).
type NotUTF8 map[string]string

// replacement is what encoding/json writes for a byte that is not UTF-8;
// a valid U+FFFD it writes as it is, so only a string that is not UTF-8
// (or one that spells the escape out, which costs a look and no more) makes
// an encoding hold it.
const replacement = `\ufffd`

// mayHideBytes reports JSON text in which encoding/json may have replaced
// bytes that are not UTF-8: those worth a walk by [collectNotUTF8].
func mayHideBytes(b []byte) bool {
	return bytes.Contains(b, []byte(replacement))
}

// collectNotUTF8 adds to *m, under path, each string in v (structs by
// their exported fields' names, pointers, slices by index) that is not
// valid UTF-8; *m is made on the first. Other kinds of value hold none
// that an overflow writes.
func collectNotUTF8(m *NotUTF8, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectNotUTF8(m, path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				collectNotUTF8(m, join(path, f.Name), v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectNotUTF8(m, join(path, strconv.Itoa(i)), v.Index(i))
		}
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			if *m == nil {
				*m = NotUTF8{}
			}
			(*m)[path] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
}

func join(path, member string) string {
	if path == "" {
		return member
	}
	return path + "." + member
}

// restore sets each string m names in v (a settable value) to its bytes.
// It fails on a path that names no string of v, or a value that is not
// base64: an overflow_json this version cannot read.
func (m NotUTF8) restore(v reflect.Value) error {
	for path, b64 := range m {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return fmt.Errorf("NotUTF8 %s: %w", path, err)
		}
		dst, err := member(v, path)
		if err != nil {
			return fmt.Errorf("NotUTF8 %s: %w", path, err)
		}
		if dst.Kind() == reflect.Pointer { // a new string: the old one may be shared
			str := string(b)
			dst.Set(reflect.ValueOf(&str))
		} else {
			dst.SetString(string(b))
		}
	}
	return nil
}

// member is the settable string, or pointer to a string, at path in v.
func member(v reflect.Value, path string) (reflect.Value, error) {
	prev := "the overflow"
	for step := range strings.SplitSeq(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, fmt.Errorf("%s is absent", prev)
			}
			v = v.Elem()
		}
		prev = step
		switch v.Kind() {
		case reflect.Struct:
			f, ok := v.Type().FieldByName(step)
			if !ok || !f.IsExported() {
				return reflect.Value{}, fmt.Errorf("no member %s", step)
			}
			v = v.FieldByIndex(f.Index)
		case reflect.Slice:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= v.Len() {
				return reflect.Value{}, fmt.Errorf("no element %s", step)
			}
			v = v.Index(i)
		default:
			return reflect.Value{}, fmt.Errorf("%s is not an object or a list", step)
		}
	}
	if v.Kind() == reflect.Pointer && (v.IsNil() || v.Type().Elem().Kind() != reflect.String) {
		return reflect.Value{}, fmt.Errorf("not a string")
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.String || !v.CanSet() {
		return reflect.Value{}, fmt.Errorf("not a string")
	}
	return v, nil
}
