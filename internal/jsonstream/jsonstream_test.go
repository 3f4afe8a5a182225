package jsonstream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/jsonstream"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/verify"
)

// TestSameAsMarshalIndent: the reports etl writes (verify's, and the run's
// summary embedded as writeReport embeds it) come out byte for byte as
// json.MarshalIndent writes them, every field filled, every field zero
// (omitempty, null slices and pointers), and some of each; so do values
// with a conflict of names between an embedded struct and its container,
// a nil embedded pointer, unexported fields and types with their own
// MarshalJSON.
func TestSameAsMarshalIndent(t *testing.T) {
	type runReport struct {
		*pipeline.Summary
		Version string `json:"version"`
		Error   string `json:"error,omitempty"`
	}
	type Inner struct {
		Name  string `json:"name"`
		Shade int
		When  time.Time `json:"when"`
	}
	type odd struct {
		*Inner
		Name    string            `json:"name"` // wins over Inner's
		Skipped string            `json:"-"`
		hidden  int               // unexported: not written
		Raw     json.RawMessage   `json:"raw,omitempty"`
		Bytes   []byte            `json:"bytes"`
		Map     map[string][]int  `json:"map"`
		Any     any               `json:"any"`
		HTML    string            `json:"html"`
		Nested  [][]Inner         `json:"nested"`
		Ptrs    []*Inner          `json:"ptrs,omitempty"`
		Arr     [2]string         `json:"arr"`
		Times   map[string]string `json:",omitempty"`
	}
	for seed := range 4 {
		for _, v := range []any{
			fill(reflect.TypeFor[verify.Report](), seed),
			fill(reflect.TypeFor[runReport](), seed),
			fill(reflect.TypeFor[odd](), seed),
			fill(reflect.TypeFor[[]verify.Difference](), seed),
			odd{HTML: "<a&b>", hidden: 1},
		} {
			want, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := jsonstream.Write(&got, v); err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want)+"\n" {
				t.Fatalf("%T, seed %d:\n%s\nwant:\n%s", v, seed, got.String(), want)
			}
		}
	}
}

// fill makes a value of t: seed 0 all zero, 1 every field set, 2 and 3
// some fields set (by position), slices of up to 3 elements.
func fill(t reflect.Type, seed int) any {
	v := reflect.New(t).Elem()
	fillValue(v, seed, 0, "f")
	return v.Interface()
}

func fillValue(v reflect.Value, seed, depth int, path string) {
	if seed == 0 || depth > 4 || !v.CanSet() {
		return
	}
	if seed > 1 && len(path)%seed == 0 { // some left zero
		return
	}
	if v.Type() == reflect.TypeFor[json.RawMessage]() {
		v.SetBytes([]byte(`{"raw": [1, "` + path + `"]}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(path + "<&>")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(path)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(path)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(path)) / 4)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), seed, depth+1, path+"*")
		v.Set(p)
	case reflect.Slice:
		n := seed % 4
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillValue(s.Index(i), seed, depth+1, fmt.Sprint(path, i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fillValue(v.Index(i), seed, depth+1, fmt.Sprint(path, i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			fillValue(k, 1, depth+1, fmt.Sprint(path, "k", i))
			e := reflect.New(v.Type().Elem()).Elem()
			fillValue(e, seed, depth+1, fmt.Sprint(path, "v", i))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"k": []any{path, 1.5, nil}}))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 4, 23, 0, len(path), 123456789, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fillValue(v.Field(i), seed, depth+1, path+"."+strings.ToLower(v.Type().Field(i).Name))
		}
	}
}
