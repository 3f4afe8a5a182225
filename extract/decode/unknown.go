package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/traits"
)

// Unknown is what one response carried that the pinned SDK's model does
// not know: the members its decoder skips, which no field of its output
// can hold. The service adds members before a client knows them (Lambda
// added pause and resume, with their event details, on 2026-11-17), and an
// archive that kept only what its SDK knew would lose them for good once
// the history expires.
//
// Each value is a JSON object of the unknown members, by their wire names,
// nested as they were sent: a known member that holds unknown ones appears
// under its own name with only those inside it
// (`{"StepSucceededDetails":{"Cost":{"Units":2}}}`), a list that holds
// them as a list with null for its elements that hold none. The form is
// canonical (keys sorted, numbers as sent, no insignificant space), so
// two reads of the same content give the same bytes whatever the order in
// which the service wrote them. A member whose name holds "token" (in any
// case) is kept with the value "[redacted]": a credential must not reach
// the archive.
type Unknown struct {
	// Records are the unknown members of each record of a paged response
	// (GetDurableExecutionHistory's Events, GetDurableExecutionState's
	// Operations), by the record's index in the page as the service sent
	// it; nil when none had any.
	Records map[int]json.RawMessage
	// Output are the unknown members of the response's own object outside
	// its records (GetDurableExecution's, or a page's), nil when none.
	Output json.RawMessage
	// Members are where the unknown members were, as sorted distinct
	// paths of wire names (Events[].FutureDetails,
	// DurableConfig.ArchiveOnDelete): what to tell an operator.
	Members []string
}

type unknownKey struct{}

// WithUnknown returns a context under which a call made through a
// [Protocol] reports in u what its response carried that the SDK does not
// know; u is reset by every attempt, so after the call it describes the
// response the call returned. Only GetDurableExecution,
// GetDurableExecutionState and GetDurableExecutionHistory report; nothing
// is looked for without it, and a response with no unknown member costs
// nothing more. A response the scan cannot read (one the SDK will refuse
// too) leaves u empty.
func WithUnknown(ctx context.Context, u *Unknown) context.Context {
	return context.WithValue(ctx, unknownKey{}, u)
}

func unknownOf(ctx context.Context) *Unknown {
	u, _ := ctx.Value(unknownKey{}).(*Unknown)
	return u
}

// shapes are the wire names of every structure's members reachable from
// the responses that report unknown members, worked out once: a Protocol
// is shared by a run's goroutines, so the map is only read after
// NewProtocol.
type shapes map[*smithy.Schema]map[string]*smithy.Schema

func (sh shapes) add(s *smithy.Schema) {
	switch s.Type() {
	case smithy.ShapeTypeStructure, smithy.ShapeTypeUnion:
		if _, ok := sh[s]; ok {
			return
		}
		names := map[string]*smithy.Schema{}
		sh[s] = names
		for name, m := range s.Members() {
			if jn, ok := smithy.SchemaTrait[*traits.JSONName](m); ok {
				name = jn.Name
			}
			names[name] = m
			sh.add(m)
		}
	case smithy.ShapeTypeList, smithy.ShapeTypeSet:
		sh.add(s.ListMember())
	case smithy.ShapeTypeMap:
		sh.add(s.MapValue())
	}
}

// members is the wire-name table of structure s (of a member's target:
// a member schema shares its target's members).
func (sh shapes) members(s *smithy.Schema) map[string]*smithy.Schema {
	return sh[s]
}

// unknownScan walks a response body by its schema, collecting the members
// the schema does not name. It uses the decoder's syntax checks, and
// decodes nothing the schema knows: a page costs about as much again as
// decoding it, and allocates only for what it finds.
type unknownScan struct {
	d       decoder
	sh      shapes
	records string // the top-level list whose elements are records
	out     Unknown
	path    [][]byte        // the known members from the top to the value being scanned ("[]" for a list's elements)
	seen    map[string]bool // the paths of the unknown members found
}

var (
	listStep = []byte("[]")
	mapStep  = []byte("{}")
)

// scanUnknown collects the unknown members of body, a response of
// structure s whose list member records holds its records ("" for none).
func (sh shapes) scanUnknown(body []byte, s *smithy.Schema, records string) (Unknown, error) {
	x := unknownScan{d: decoder{buf: body}, sh: sh, records: records}
	top, found, err := x.value(s, 0, true)
	if err != nil {
		return Unknown{}, err
	}
	if x.d.ws(); x.d.i != len(body) {
		return Unknown{}, x.d.fail("data after the top-level value")
	}
	if found {
		x.out.Output = appendTree(nil, top)
	}
	x.out.Members = slices.Sorted(maps.Keys(x.seen))
	return x.out, nil
}

// found notes an unknown member named key inside the value being scanned,
// by its path: Events[].StepSucceededDetails.Cost.
func (x *unknownScan) found(key string) {
	if x.seen == nil {
		x.seen = map[string]bool{}
	}
	var b strings.Builder
	for i, p := range x.path {
		if i > 0 && !bytes.Equal(p, listStep) && !bytes.Equal(p, mapStep) {
			b.WriteByte('.')
		}
		b.Write(p)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	x.seen[b.String()] = true
}

// value scans the value at the decoder's position, of schema s, and
// returns its unknown members (a map for an object, a slice for a list)
// and whether it had any. At the top, the records list's elements go to
// x.out.Records instead.
func (x *unknownScan) value(s *smithy.Schema, depth int, top bool) (any, bool, error) {
	d := &x.d
	if depth > 200 {
		return nil, false, d.fail("nested too deep")
	}
	switch c := d.peek(); {
	case c == '{' && x.sh.members(s) != nil:
		return x.object(s, depth, top)
	case c == '{' && s.Type() == smithy.ShapeTypeMap:
		return x.mapValues(s, depth)
	case c == '[' && (s.Type() == smithy.ShapeTypeList || s.Type() == smithy.ShapeTypeSet):
		x.path = append(x.path, listStep)
		v, found, err := x.list(s.ListMember(), depth, nil)
		x.path = x.path[:len(x.path)-1]
		return v, found, err
	}
	return nil, false, d.skip(depth)
}

func (x *unknownScan) object(s *smithy.Schema, depth int, top bool) (any, bool, error) {
	d := &x.d
	names := x.sh.members(s)
	var out map[string]any
	more, err := x.open()
	for more && err == nil {
		var key []byte
		if key, err = x.name(); err != nil {
			break
		}
		m, known := names[string(key)]
		var v any
		var found bool
		switch {
		case !known:
			k := string(key)
			x.found(k)
			if v, found, err = x.raw(depth + 1); isToken(k) {
				v = redacted
			}
			if err == nil {
				out = put(out, k, v)
			}
		case top && string(key) == x.records && d.peek() == '[':
			x.path = append(x.path, key, listStep)
			_, _, err = x.list(m.ListMember(), depth+1, x.record)
			x.path = x.path[:len(x.path)-2]
		default:
			x.path = append(x.path, key)
			v, found, err = x.value(m, depth+1, false)
			x.path = x.path[:len(x.path)-1]
			if err == nil && found {
				out = put(out, string(key), v)
			}
		}
		if err == nil {
			more, err = x.next()
		}
	}
	return out, out != nil, err
}

// record keeps the unknown members of the records list's element i.
func (x *unknownScan) record(i int, v any) error {
	if x.out.Records == nil {
		x.out.Records = map[int]json.RawMessage{}
	}
	x.out.Records[i] = appendTree(nil, v)
	return nil
}

// put sets out[key], making out when nil.
func put(out map[string]any, key string, v any) map[string]any {
	if out == nil {
		out = map[string]any{}
	}
	out[key] = v
	return out
}

// mapValues scans a map's values (the API's durable shapes have none today).
func (x *unknownScan) mapValues(s *smithy.Schema, depth int) (any, bool, error) {
	var out map[string]any
	more, err := x.open()
	for more && err == nil {
		var key []byte
		if key, err = x.name(); err != nil {
			break
		}
		x.path = append(x.path, mapStep)
		v, found, verr := x.value(s.MapValue(), depth+1, false)
		x.path = x.path[:len(x.path)-1]
		if err = verr; err == nil && found {
			out = put(out, string(key), v)
		}
		if err == nil {
			more, err = x.next()
		}
	}
	return out, out != nil, err
}

// open consumes an object's '{' and reports whether a member follows.
func (x *unknownScan) open() (bool, error) {
	d := &x.d
	if err := d.expect('{'); err != nil {
		return false, err
	}
	if d.peek() == '}' {
		d.i++
		return false, nil
	}
	return true, nil
}

// name reads a member's name and the ':' after it. The bytes point into
// the body, or for an escaped name into a copy of its own: they stay
// valid for the whole scan.
func (x *unknownScan) name() ([]byte, error) {
	d := &x.d
	if d.peek() != '"' {
		return nil, d.fail("expected a member name")
	}
	start := d.i
	raw, escaped, err := d.scanString()
	if err != nil {
		return nil, err
	}
	if escaped {
		var key string
		if err := json.Unmarshal(d.buf[start:d.i], &key); err != nil {
			return nil, d.fail("member name")
		}
		raw = []byte(key)
	}
	if err := d.expect(':'); err != nil {
		return nil, err
	}
	return raw, nil
}

// next consumes what follows a member's value and reports whether
// another member follows.
func (x *unknownScan) next() (bool, error) {
	d := &x.d
	switch d.peek() {
	case ',':
		d.i++
		return true, nil
	case '}':
		d.i++
		return false, nil
	}
	return false, d.fail("expected , or }")
}

// list scans a list of elem; record (when given) takes each element's
// unknown members by index instead of the result.
func (x *unknownScan) list(elem *smithy.Schema, depth int, record func(int, any) error) (any, bool, error) {
	d := &x.d
	if err := d.expect('['); err != nil {
		return nil, false, err
	}
	var out []any
	found := false
	if d.peek() == ']' {
		d.i++
		return nil, false, nil
	}
	for i := 0; ; i++ {
		v, ok, err := x.value(elem, depth+1, false)
		if err != nil {
			return nil, false, err
		}
		switch {
		case ok && record != nil:
			if err := record(i, v); err != nil {
				return nil, false, err
			}
		case record == nil:
			out = append(out, v) // nil (null) for an element with none
			found = found || ok
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			if !found {
				out = nil
			}
			return out, found, nil
		default:
			return nil, false, d.fail("expected , or ]")
		}
	}
}

// raw is the unknown value at the decoder's position in canonical form.
func (x *unknownScan) raw(depth int) (any, bool, error) {
	b, err := x.d.canon(nil, 0) // bounded as the decoder's skip bounds it
	return json.RawMessage(b), err == nil, err
}

// collect makes what the decoder's finds say into an [Unknown], the same
// as a scan of the body would; ok is false when it cannot (a find inside
// a list within a record, which no durable shape has today, or a value it
// cannot read), and the body should be scanned instead.
func (d *decoder) collect() (u Unknown, ok bool) {
	trees := map[int]map[string]any{} // by record; -1: the output's own
	seen := map[string]bool{}
	for _, f := range d.finds {
		steps := f.steps
		if f.rec >= 0 {
			steps = steps[1:] // the records list's own step
		}
		for _, st := range steps {
			if strings.HasSuffix(st, "[]") {
				return Unknown{}, false
			}
		}
		val := redacted
		if !isToken(f.key) {
			sub := decoder{buf: d.buf[f.start:f.end]}
			b, err := sub.canon(nil, 0)
			if err != nil {
				return Unknown{}, false
			}
			val = b
		}
		seen[strings.Join(append(f.steps, f.key), ".")] = true
		node := trees[f.rec]
		if node == nil {
			node = map[string]any{}
			trees[f.rec] = node
		}
		for _, st := range steps {
			child, _ := node[st].(map[string]any)
			if child == nil {
				child = map[string]any{}
				node[st] = child
			}
			node = child
		}
		node[f.key] = val
	}
	for rec, t := range trees {
		if rec < 0 {
			u.Output = appendTree(nil, t)
			continue
		}
		if u.Records == nil {
			u.Records = map[int]json.RawMessage{}
		}
		u.Records[rec] = appendTree(nil, t)
	}
	u.Members = slices.Sorted(maps.Keys(seen))
	return u, true
}
