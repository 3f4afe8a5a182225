package decode

import (
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
// them as a list up to the last element that does, with null for those
// that hold none. The form is
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
// NewProtocol. Maps are not looked into (no durable shape has one).
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
	}
}

// step is one known member on the way from a response's top to an unknown
// member: its name, and for a list of structures the element's index (-1
// otherwise).
type step struct {
	key   string
	index int
}

// find is an unknown member: the steps to it, its name, and where its
// value is in the body.
type find struct {
	steps      []step
	key        string
	start, end int
}

// note records the unknown member key whose value starts at start and
// ends at d.i, under the steps taken so far.
func (d *decoder) note(key string, start int) {
	d.finds = append(d.finds, find{steps: slices.Clone(d.steps), key: key, start: start, end: d.i})
}

// scanUnknown notes the unknown members of body, a response of structure
// s, as the decoder notes them while it decodes: for a body it leaves to
// the SDK. It checks the syntax as the decoder does, and decodes nothing.
func (sh shapes) scanUnknown(body []byte, s *smithy.Schema) ([]find, error) {
	d := decoder{buf: body}
	if err := sh.scan(&d, s, 0); err != nil {
		return nil, err
	}
	if d.ws(); d.i != len(body) {
		return nil, d.fail("data after the top-level value")
	}
	return d.finds, nil
}

// scan walks the value at d's position, of schema s.
func (sh shapes) scan(d *decoder, s *smithy.Schema, depth int) error {
	if depth > 200 {
		return d.fail("nested too deep")
	}
	names := sh[s]
	isList := s.Type() == smithy.ShapeTypeList || s.Type() == smithy.ShapeTypeSet
	switch c := d.peek(); {
	case c == '{' && names != nil:
		return d.members(func(key string) error {
			m, known := names[key]
			if !known {
				start := d.i
				err := d.skip(0)
				if err == nil {
					d.note(key, start)
				}
				return err
			}
			d.steps = append(d.steps, step{key, -1})
			err := sh.scan(d, m, depth+1)
			d.steps = d.steps[:len(d.steps)-1]
			return err
		})
	case c == '[' && isList && len(d.steps) > 0 && d.steps[len(d.steps)-1].index < 0:
		at := len(d.steps) - 1 // the list member's step: its index says which element
		defer func() { d.steps[at].index = -1 }()
		return d.elements(func(i int) error {
			d.steps[at].index = i
			return sh.scan(d, s.ListMember(), depth+1)
		})
	}
	return d.skip(depth)
}

// collect makes the finds in body into an [Unknown]: a find under the
// list member records with an element index belongs to that record, any
// other to the output's own object.
func collect(body []byte, finds []find, records string) (Unknown, error) {
	var u Unknown
	trees := map[int]map[string]any{} // by record; -1: the output's own
	seen := map[string]bool{}
	for _, f := range finds {
		rec, steps := -1, f.steps
		if len(steps) > 0 && steps[0].key == records && steps[0].index >= 0 {
			rec, steps = steps[0].index, steps[1:]
		}
		val := redacted
		if !isToken(f.key) {
			sub := decoder{buf: body[f.start:f.end]}
			b, err := sub.canon(nil, 0)
			if err != nil {
				return Unknown{}, err
			}
			val = b
		}
		seen[memberPath(f)] = true
		node := trees[rec]
		if node == nil {
			node = map[string]any{}
			trees[rec] = node
		}
		for _, st := range steps {
			node = child(node, st)
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
	return u, nil
}

// memberPath is where f was, for an operator: Events[].StepSucceededDetails.Cost.
func memberPath(f find) string {
	var b strings.Builder
	for _, st := range f.steps {
		b.WriteString(st.key)
		if st.index >= 0 {
			b.WriteString("[]")
		}
		b.WriteByte('.')
	}
	b.WriteString(f.key)
	return b.String()
}

// child is node's entry for st, made when missing: a map, or for a list
// element a map in a list as long as needed (null for the elements
// before it that hold none).
func child(node map[string]any, st step) map[string]any {
	if st.index < 0 {
		c, _ := node[st.key].(map[string]any)
		if c == nil {
			c = map[string]any{}
			node[st.key] = c
		}
		return c
	}
	l, _ := node[st.key].([]any)
	for len(l) <= st.index {
		l = append(l, nil)
	}
	c, _ := l[st.index].(map[string]any)
	if c == nil {
		c = map[string]any{}
		l[st.index] = c
	}
	node[st.key] = l
	return c
}
