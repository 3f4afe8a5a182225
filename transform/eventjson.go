package transform

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// invocationJSON is marshal(d), byte for byte, for an InvocationCompleted
// details object whose Error is absent or has no members, written by hand:
// some producers write an empty Error on every invocation, which sends
// each of those events to overflow_json, and encoding/json took 2-3 us
// over it. ok is false for any other (encode it with marshal), and always
// if the SDK's types are no longer the shape this was written for.
func invocationJSON(d *types.InvocationCompletedDetails) (json.RawMessage, bool) {
	if !invocationShape {
		return nil, false
	}
	return encodeInvocation(d)
}

func encodeInvocation(d *types.InvocationCompletedDetails) (_ json.RawMessage, ok bool) {
	if d.Error != nil && (d.Error.Payload != nil || d.Error.Truncated != nil) {
		return nil, false
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"EndTimestamp":`...)
	if b, ok = appendJSONTime(b, d.EndTimestamp); !ok {
		return nil, false
	}
	b = append(b, `,"RequestId":`...)
	if d.RequestId == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *d.RequestId)
	}
	b = append(b, `,"StartTimestamp":`...)
	if b, ok = appendJSONTime(b, d.StartTimestamp); !ok {
		return nil, false
	}
	if d.Error == nil {
		return append(b, `,"Error":null}`...), true
	}
	return append(b, `,"Error":{"Payload":null,"Truncated":null}}`...), true
}

// invocationShape: encodeInvocation writes what encoding/json writes for a
// details object with every member set (the SDK's structs have no tags: a
// member added to either type shows, null or not, and turns it off).
var invocationShape = func() bool {
	t, id := time.Date(2026, 1, 5, 10, 0, 0, 123e6, time.UTC), "r"
	for _, e := range []*types.EventError{nil, {}} {
		d := &types.InvocationCompletedDetails{EndTimestamp: &t, RequestId: &id, StartTimestamp: &t, Error: e}
		want, err := tryMarshal(d)
		got, ok := encodeInvocation(d)
		if err != nil || !ok || !bytes.Equal(want, got) {
			return false
		}
	}
	return true
}()

// appendJSONTime appends t as encoding/json writes a *time.Time; false if
// it cannot (a year outside 0-9999).
func appendJSONTime(b []byte, t *time.Time) ([]byte, bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	j, err := t.MarshalJSON()
	if err != nil {
		return nil, false
	}
	return append(b, j...), true
}

// appendJSONString appends s quoted as encoding/json writes it with HTML
// escaping off: '"' and '\\' escaped, control characters as \b \f \n \r
// \t or \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
