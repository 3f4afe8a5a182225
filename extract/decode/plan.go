package decode

import (
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/traits"
)

// kind is how a member's JSON value lands in its Go field: one kind per Go
// field type the generated Lambda types use for the durable operations.
type kind uint8

const (
	kString     kind = iota + 1 // string, or a named string (an enum)
	kStringPtr                  // *string
	kInt32                      // int32
	kInt32Ptr                   // *int32
	kBool                       // bool
	kBoolPtr                    // *bool
	kTimePtr                    // *time.Time, epoch seconds on the wire
	kStructPtr                  // *struct
	kStructList                 // []struct
	kStringList                 // []string
)

// field is one member of a structure: its JSON key, where its Go field
// sits, and how to fill it.
type field struct {
	key    string
	kind   kind
	offset uintptr
	typ    reflect.Type // the field's Go type
	elem   *plan        // kStructPtr, kStructList: the structure's plan
	// lists: the length of the last such list decoded, any decoder's (a
	// page is mostly as long as the one before it): a list longer than
	// four grows to it at once instead of doubling.
	lastLen *atomic.Int32
}

// plan is how to decode one structure shape into its Go type.
type plan struct {
	typ    reflect.Type
	fields []field
	// byLen are the indexes of the fields by the length of their key: an
	// event has 34 members, and a search through them all was a fifth of
	// decoding a history page.
	byLen [][]uint8
}

// find is the index of the member whose key is key, or -1 (an unknown
// member, which the SDK skips too).
func (p *plan) find(key []byte) int {
	if len(key) >= len(p.byLen) {
		return -1
	}
	for _, i := range p.byLen[len(key)] {
		if p.fields[i].key == string(key) {
			return int(i)
		}
	}
	return -1
}

// index fills byLen.
func (p *plan) index() {
	for i, f := range p.fields {
		for len(p.byLen) <= len(f.key) {
			p.byLen = append(p.byLen, nil)
		}
		p.byLen[len(f.key)] = append(p.byLen[len(f.key)], uint8(i))
	}
}

var timeType = reflect.TypeFor[time.Time]()

// compile builds the plan for the structure shape s whose generated Go type
// is t, and the plans of the structures it holds (memo: one plan per type,
// so shared shapes share one). It fails for any member it cannot decode
// exactly as the SDK's generated code does (a union, a map, a document, a
// blob, a number other than int32, a timestamp not in epoch seconds, a
// @jsonName that differs from the member name); the caller then leaves the
// operation to the SDK.
func compile(t reflect.Type, s *smithy.Schema, memo map[reflect.Type]*plan) (*plan, error) {
	if p, ok := memo[t]; ok {
		return p, nil
	}
	if t.Kind() != reflect.Struct || s.Type() != smithy.ShapeTypeStructure {
		return nil, fmt.Errorf("%s: not a structure", t)
	}
	p := &plan{typ: t}
	memo[t] = p
	if len(s.Members()) > 64 {
		return nil, fmt.Errorf("%s: %d members, more than the decoder tracks", t, len(s.Members()))
	}
	for name, m := range s.Members() {
		if jn, ok := smithy.SchemaTrait[*traits.JSONName](m); ok && jn.Name != name {
			return nil, fmt.Errorf("%s.%s: @jsonName %q", t, name, jn.Name)
		}
		sf, ok := t.FieldByName(name)
		if !ok || len(sf.Index) != 1 {
			return nil, fmt.Errorf("%s: no field for member %s", t, name)
		}
		f := field{key: name, offset: sf.Offset, typ: sf.Type}
		k, elem, err := kindOf(sf.Type, m, memo)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, name, err)
		}
		f.kind, f.elem = k, elem
		if k == kStructList || k == kStringList {
			f.lastLen = new(atomic.Int32)
		}
		p.fields = append(p.fields, f)
	}
	p.index()
	return p, nil
}

// scalars are the Go kinds of scalar fields, the shape types each is
// decoded from, and the kinds of such a field and of a pointer to one.
var scalars = []struct {
	goKind   reflect.Kind
	shapes   []smithy.ShapeType
	val, ptr kind
}{
	{reflect.String, []smithy.ShapeType{smithy.ShapeTypeString, smithy.ShapeTypeEnum}, kString, kStringPtr},
	{reflect.Int32, []smithy.ShapeType{smithy.ShapeTypeInteger}, kInt32, kInt32Ptr},
	{reflect.Bool, []smithy.ShapeType{smithy.ShapeTypeBoolean}, kBool, kBoolPtr},
}

// kindOf matches a member's Go type with its shape.
func kindOf(t reflect.Type, m *smithy.Schema, memo map[reflect.Type]*plan) (kind, *plan, error) {
	st := m.Type()
	base, ptr := t, t.Kind() == reflect.Pointer
	if ptr {
		base = t.Elem()
	}
	for _, s := range scalars {
		if base.Kind() == s.goKind && slices.Contains(s.shapes, st) {
			if ptr {
				return s.ptr, nil, nil
			}
			return s.val, nil, nil
		}
	}
	switch {
	case ptr && base == timeType && st == smithy.ShapeTypeTimestamp:
		if f, ok := smithy.SchemaTrait[*traits.TimestampFormat](m); ok && f.Format != "epoch-seconds" {
			return 0, nil, fmt.Errorf("timestamp format %s", f.Format)
		}
		return kTimePtr, nil, nil
	case ptr && base.Kind() == reflect.Struct && st == smithy.ShapeTypeStructure:
		p, err := compile(base, m, memo)
		return kStructPtr, p, err
	case t.Kind() == reflect.Slice && st == smithy.ShapeTypeList:
		lm, e := m.ListMember(), t.Elem()
		switch {
		case e.Kind() == reflect.String && (lm.Type() == smithy.ShapeTypeString || lm.Type() == smithy.ShapeTypeEnum):
			return kStringList, nil, nil
		case e.Kind() == reflect.Struct && lm.Type() == smithy.ShapeTypeStructure:
			p, err := compile(e, lm, memo)
			return kStructList, p, err
		}
	}
	return 0, nil, fmt.Errorf("type %s for shape type %d is not decoded here", t, st)
}
