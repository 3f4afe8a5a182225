package decode

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// The canonical form of the unknown members [Unknown] reports: what
// encoding/json writes (with <, > and & as they are) for the value
// decoded generically with numbers kept as sent, that is, compact, object
// keys sorted, the last of repeated keys kept, strings escaped only where
// encoding/json escapes them; and any member whose name holds "token", in
// any case, at any depth, with the value "[redacted]". Written straight
// from the body: a string that needs no escaping is copied as it is.

var redacted = json.RawMessage(`"[redacted]"`)

// isToken reports a member name that may hold a credential.
func isToken(key string) bool {
	return strings.Contains(strings.ToLower(key), "token")
}

// canon appends the canonical form of the JSON value at d's position.
func (d *decoder) canon(out []byte, depth int) ([]byte, error) {
	if depth > 200 {
		return out, d.fail("nested too deep")
	}
	switch c := d.peek(); c {
	case '"':
		raw, escaped, err := d.scanString()
		if err != nil {
			return out, err
		}
		if !escaped {
			return appendString(out, raw), nil
		}
		var s string
		if err := json.Unmarshal(d.buf[d.i-len(raw)-2:d.i], &s); err != nil {
			return out, d.fail("string")
		}
		return appendString(out, []byte(s)), nil
	case '{':
		return d.canonObject(out, depth)
	case '[':
		out = append(out, '[')
		err := d.elements(func(i int) error {
			if i > 0 {
				out = append(out, ',')
			}
			var err error
			out, err = d.canon(out, depth+1)
			return err
		})
		return append(out, ']'), err
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if d.literal(lit) {
				return append(out, lit...), nil
			}
		}
		return out, d.fail("bad literal")
	default:
		tok, err := d.number()
		return append(out, tok...), err
	}
}

// member is one member of an object being made canonical.
type member struct {
	key string
	val json.RawMessage
}

func (d *decoder) canonObject(out []byte, depth int) ([]byte, error) {
	var ms []member
	err := d.members(func(key string) error {
		val, err := d.canon(nil, depth+1)
		if isToken(key) {
			val = redacted
		}
		ms = append(ms, member{key, val})
		return err
	})
	if err != nil {
		return out, err
	}
	return appendMembers(out, ms), nil
}

// appendMembers appends ms as an object: sorted by key, the last of
// repeated keys kept.
func appendMembers(out []byte, ms []member) []byte {
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out = append(out, '{')
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendString(out, []byte(m.key))
		out = append(out, ':')
		out = append(out, m.val...)
	}
	return append(out, '}')
}

// members walks the object at d's position, calling each with a member's
// name (unescaped, and bytes that are not UTF-8 as U+FFFD, as
// encoding/json decodes it) and d at its value, which each must consume.
func (d *decoder) members(each func(key string) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.fail("expected a member name")
		}
		start := d.i
		raw, escaped, err := d.scanString()
		if err != nil {
			return err
		}
		var key string
		if !escaped {
			key = memberName(raw)
		} else if err := json.Unmarshal(d.buf[start:d.i], &key); err != nil {
			return d.fail("member name")
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := each(key); err != nil {
			return err
		}
		if more, err := d.more('}'); !more {
			return err
		}
	}
}

// memberName is an unescaped member name as encoding/json decodes it:
// bytes that are not UTF-8 as U+FFFD, so that names sort, repeat and
// read as in encoding/json's form.
func memberName(raw []byte) string {
	if !utf8.Valid(raw) {
		return string(validUTF8(raw))
	}
	return string(raw)
}

// elements walks the array at d's position, calling each with an
// element's index and d at the element, which each must consume.
func (d *decoder) elements(each func(i int) error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for i := 0; ; i++ {
		if err := each(i); err != nil {
			return err
		}
		if more, err := d.more(']'); !more {
			return err
		}
	}
}

// appendString appends s (unescaped text) as encoding/json writes the
// string it decodes s to, with HTML escaping off: invalid UTF-8 as U+FFFD,
// then as it is, quoted, unless it holds what encoding/json escapes (a
// quote, a backslash, a control character, U+2028, U+2029).
func appendString(out, s []byte) []byte {
	if !utf8.Valid(s) {
		s = validUTF8(s)
	}
	plainText := !bytes.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '\u2028' || r == '\u2029'
	})
	if plainText {
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"')
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(string(s)) // a string always encodes
	return append(out, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// validUTF8 is s with each byte that is not part of valid UTF-8 replaced
// by U+FFFD, as encoding/json decodes such a string.
func validUTF8(s []byte) []byte {
	out := make([]byte, 0, len(s)+8)
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		out = utf8.AppendRune(out, r) // RuneError for an invalid byte
		s = s[n:]
	}
	return out
}

// appendTree appends a tree of unknown members (maps of known members'
// names, lists with nil for elements that hold none, canonical leaves)
// in the canonical form.
func appendTree(out []byte, v any) []byte {
	switch t := v.(type) {
	case json.RawMessage:
		return append(out, t...)
	case map[string]any:
		ms := make([]member, 0, len(t))
		for k, e := range t {
			ms = append(ms, member{k, appendTree(nil, e)})
		}
		return appendMembers(out, ms)
	case []any:
		out = append(out, '[')
		for i, e := range t {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendTree(out, e)
		}
		return append(out, ']')
	}
	return append(out, "null"...)
}
