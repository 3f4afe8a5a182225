package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	smithytime "github.com/aws/smithy-go/time"

	"github.com/durable-etl/durable-etl/internal/slab"
)

// errDecline is wrapped by every error of the decoder: the response is not
// one it takes exactly as the SDK would, so the SDK decodes it instead.
var errDecline = errors.New("declined")

// decoder reads one response body, strictly by RFC 8259, into the Go values
// a plan describes. Short strings are copied into small arena chunks, and
// the pointer members point into slabs, so a page of operations costs a
// few allocations per operation instead of one per member; nothing points
// into the body, which can be reused.
type decoder struct {
	buf   []byte
	i     int
	arena []byte // short strings; a full chunk is left to the strings in it
	tmp   []byte // an escaped string being decoded (see unquote)
	// Where the pointer members point: a page's pointer members cost an
	// allocation per chunk, not one each. A value kept keeps its chunk (a
	// few KiB) alive, never the page.
	strs  slab.Slab[string]
	times slab.Slab[time.Time]
	ints  slab.Slab[int32]
	bools slab.Slab[bool]
	// unknown counts the members skipped as unknown to the SDK's model
	// (see [Unknown]).
	unknown int
	// With capture, the decoder notes each unknown member (finds), under
	// the known members it is in (steps).
	capture bool
	steps   []step
	finds   []find
}

// slabChunk is how many values a chunk of the decoder's slabs holds.
const slabChunk = 128

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errDecline, what, d.i)
}

func (d *decoder) ws() {
	for d.i < len(d.buf) {
		switch d.buf[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek is the next non-space byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.buf) {
		return d.buf[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.fail("expected " + string(c))
	}
	d.i++
	return nil
}

// literal consumes lit (null, true, false) at the current position.
func (d *decoder) literal(lit string) bool {
	if len(d.buf)-d.i >= len(lit) && string(d.buf[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// more consumes what follows a member or an element: a comma (another
// follows: true) or the end of its object or array (end: false).
func (d *decoder) more(end byte) (bool, error) {
	switch d.peek() {
	case ',':
		d.i++
		return true, nil
	case end:
		d.i++
		return false, nil
	}
	return false, d.fail("expected , or " + string(end))
}

// top decodes the whole body as one object of plan p into the value at v;
// nothing but white space may follow.
func (d *decoder) top(p *plan, v unsafe.Pointer) error {
	if err := d.object(p, v); err != nil {
		return err
	}
	if d.ws(); d.i != len(d.buf) { // peek's 0 would take a NUL byte for the end
		return d.fail("data after the top-level value")
	}
	return nil
}

// object decodes a JSON object into the struct at v. Unknown members are
// skipped and members whose value is null stay unset, as the SDK does; a
// member given twice is declined (the SDK would keep the later one).
func (d *decoder) object(p *plan, v unsafe.Pointer) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	var seen uint64
	for {
		if d.peek() != '"' {
			return d.fail("expected a member name")
		}
		key, escaped, err := d.scanString()
		if err != nil {
			return err
		}
		if escaped {
			return d.fail("escaped member name")
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		c := d.peek()
		switch i := p.find(key); {
		case i < 0:
			d.unknown++
			start := d.i
			if err := d.skip(0); err != nil {
				return err
			}
			if d.capture {
				d.note(memberName(key), start)
			}
		case c == 'n':
			if !d.literal("null") {
				return d.fail("bad literal")
			}
		case seen&(1<<i) != 0:
			return d.fail("member " + p.fields[i].key + " given twice")
		default:
			seen |= 1 << i
			f := &p.fields[i]
			if err := d.value(f, unsafe.Add(v, f.offset)); err != nil {
				return err
			}
		}
		if more, err := d.more('}'); !more {
			return err
		}
	}
}

// value decodes a member's (non-null) value into its field at v.
func (d *decoder) value(f *field, v unsafe.Pointer) error {
	switch f.kind {
	case kString, kStringPtr:
		s, err := d.str()
		return set(v, s, err, f.kind == kStringPtr, &d.strs)
	case kInt32, kInt32Ptr:
		n, err := d.int32()
		return set(v, n, err, f.kind == kInt32Ptr, &d.ints)
	case kBool, kBoolPtr:
		b, err := d.bool()
		return set(v, b, err, f.kind == kBoolPtr, &d.bools)
	case kTimePtr:
		t, err := d.time()
		return set(v, t, err, true, &d.times)
	case kStructPtr:
		if d.peek() != '{' {
			return d.fail("expected an object")
		}
		p := reflect.New(f.elem.typ).UnsafePointer()
		if d.capture {
			d.steps = append(d.steps, step{f.key, -1})
		}
		if err := d.object(f.elem, p); err != nil {
			return err
		}
		if d.capture {
			d.steps = d.steps[:len(d.steps)-1]
		}
		*(*unsafe.Pointer)(v) = p
	case kStringList:
		return d.list(f, v)
	case kStructList:
		if !d.capture {
			return d.list(f, v)
		}
		d.steps = append(d.steps, step{f.key, -1}) // list sets the element's index
		err := d.list(f, v)
		d.steps = d.steps[:len(d.steps)-1]
		return err
	}
	return nil
}

// set stores x, unless err, in the field at v: the field itself, or for a
// pointer field (ptr) a value of slab s the field points to.
func set[T any](v unsafe.Pointer, x T, err error, ptr bool, s *slab.Slab[T]) error {
	switch {
	case err != nil:
		return err
	case ptr:
		*(**T)(v) = s.Put(x, slabChunk)
	default:
		*(*T)(v) = x
	}
	return nil
}

// list decodes a JSON array into the slice at v: never nil, even when
// empty, and a null element is the zero value, as the SDK's generated code
// makes it.
func (d *decoder) list(f *field, v unsafe.Pointer) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		reflect.NewAt(f.typ, v).Elem().Set(reflect.MakeSlice(f.typ, 0, 0))
		return nil
	}
	s := reflect.MakeSlice(f.typ, 0, 4)
	for n := 0; ; n++ {
		if n == s.Cap() {
			c := 2 * n
			if n == 4 { // longer than most: as long as the last one, likely
				c = max(c, min(int(f.lastLen.Load()), maxListHint))
			}
			grown := reflect.MakeSlice(f.typ, n, c)
			reflect.Copy(grown, s)
			s = grown
		}
		s = s.Slice(0, n+1)
		switch c := d.peek(); {
		case c == 'n':
			if !d.literal("null") {
				return d.fail("bad literal")
			}
		case f.kind == kStringList:
			str, err := d.str()
			if err != nil {
				return err
			}
			s.Index(n).SetString(str)
		default:
			if c != '{' {
				return d.fail("expected an object")
			}
			if d.capture {
				d.steps[len(d.steps)-1].index = n
			}
			if err := d.object(f.elem, s.Index(n).Addr().UnsafePointer()); err != nil {
				return err
			}
		}
		if more, err := d.more(']'); err != nil {
			return err
		} else if !more {
			reflect.NewAt(f.typ, v).Elem().Set(s)
			if int(f.lastLen.Load()) != n+1 {
				f.lastLen.Store(int32(min(n+1, maxListHint)))
			}
			return nil
		}
	}
}

func (d *decoder) bool() (bool, error) {
	d.ws()
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	}
	return false, d.fail("expected a boolean")
}

// number scans a JSON number and returns its text.
func (d *decoder) number() ([]byte, error) {
	d.ws()
	start, b := d.i, d.buf
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == digits || (b[digits] == '0' && i-digits > 1) {
		return nil, d.fail("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == frac {
			return nil, d.fail("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == exp {
			return nil, d.fail("bad number")
		}
	}
	d.i = i
	return b[start:i], nil
}

// integer is a number token's value when it is a plain integer that fits
// in an int64 (no fraction, no exponent).
func integer(tok []byte) (int64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func (d *decoder) int32() (int32, error) {
	tok, err := d.number()
	if err != nil {
		return 0, err
	}
	n, ok := integer(tok)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, d.fail("not an int32")
	}
	return int32(n), nil
}

// time reads epoch seconds as the SDK does: the number as a float64, then
// smithytime.ParseEpochSeconds, which keeps whole milliseconds truncated
// toward zero. Its big.Float arithmetic at 53 bits rounds the product to
// nearest even exactly as float64 multiplication does, so where the
// milliseconds fit an int64 with room to spare the result is computed here
// without it.
func (d *decoder) time() (time.Time, error) {
	tok, err := d.number()
	if err != nil {
		return time.Time{}, err
	}
	var f float64
	if n, ok := integer(tok); ok {
		f = float64(n)
	} else if f, err = strconv.ParseFloat(string(tok), 64); err != nil {
		return time.Time{}, d.fail("bad timestamp")
	}
	ms := float64(f * 1e3)
	if ms > -(1<<62) && ms < 1<<62 {
		return time.Unix(0, int64(ms)*1e6).UTC(), nil
	}
	return smithytime.ParseEpochSeconds(f), nil
}

// str reads a string value.
func (d *decoder) str() (string, error) {
	if d.peek() != '"' {
		return "", d.fail("expected a string")
	}
	b := d.buf
	start := d.i + 1
	i := stringRun(b, start)
	switch {
	case i >= len(b):
		return "", d.fail("unterminated string")
	case b[i] == '\\':
		return d.unquote(start)
	case b[i] < 0x20:
		return "", d.fail("control character in string")
	}
	d.i = i + 1
	raw := b[start:i]
	if len(raw) == 0 {
		return "", nil
	}
	return d.keep(raw), nil
}

// keep copies s: into the arena when short, else into an allocation of its
// own.
func (d *decoder) keep(s []byte) string {
	if len(s) > arenaString {
		return string(s)
	}
	buf := d.reserve(len(s))
	d.arena = append(buf, s...)
	return unsafe.String(&d.arena[len(buf)], len(s))
}

// Strings up to arenaString bytes are copied into arena chunks of
// arenaChunk bytes, longer ones into allocations of their own: a string
// kept long after its page (a payload in a partition's buffer) then keeps
// a few KiB alive with it, never the whole page.
const (
	arenaString = 1 << 10
	arenaChunk  = 4 << 10
)

// reserve makes room for n more bytes: the arena, or a new chunk (the
// strings in the full one keep it), or for a long string a buffer of its
// own.
func (d *decoder) reserve(n int) []byte {
	if n > arenaString {
		return make([]byte, 0, n)
	}
	if cap(d.arena)-len(d.arena) < n {
		// No more than the rest of the body can still be copied: a small
		// page's strings keep no more than its size alive.
		d.arena = make([]byte, 0, min(arenaChunk, n+len(d.buf)-min(d.i, len(d.buf))))
	}
	return d.arena
}

// scanString consumes a string token at d.i (which is '"') and returns its
// bytes between the quotes, and whether it holds escapes. Control
// characters and escapes JSON does not define are declined (escape checks
// them; what it decodes goes to d.tmp, unused).
func (d *decoder) scanString() ([]byte, bool, error) {
	b := d.buf
	start := d.i + 1
	escaped := false
	for i := start; ; {
		i = stringRun(b, i)
		switch {
		case i >= len(b):
			return nil, false, d.fail("unterminated string")
		case b[i] == '"':
			d.i = i + 1
			return b[start:i], escaped, nil
		case b[i] == '\\':
			escaped = true
			var err error
			if d.tmp, i, err = d.escape(d.tmp[:0], i); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, d.fail("control character in string")
		}
	}
}

// stringRun is where the bytes of a string from b[i] that need no look
// end: at the first '"', '\\' or control character, or at len(b).
func stringRun(b []byte, i int) int {
	for i < len(b) {
		i += plain(b[i:], quoteOrControl)
		if i >= len(b) || b[i] == '"' || b[i] == '\\' || b[i] < 0x20 {
			return i
		}
		i++ // in the last bytes, fewer than eight
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// quoteOrControl flags the bytes of v that are '"', '\\' or below 0x20;
// specialInString those and the bytes that are not ASCII. Either flags
// the first such byte of the eight exactly, if there is one (a borrow only runs
// upward, so beyond it, it may flag others).
func quoteOrControl(v uint64) uint64 {
	return ((v-lsb*0x20)&^v | zero(v^lsb*'"') | zero(v^lsb*'\\')) & msb
}

func specialInString(v uint64) uint64 { return quoteOrControl(v) | v&msb }

func zero(v uint64) uint64 { return (v - lsb) & ^v & msb }

// plain is how many leading bytes of b, eight at a time, have none that
// flag marks: the position of the first marked byte, or of the last
// fewer than eight, where the byte-by-byte work starts.
func plain(b []byte, flag func(uint64) uint64) int {
	n := 0
	for len(b)-n >= 8 {
		if m := flag(binary.LittleEndian.Uint64(b[n:])); m != 0 {
			return n + bits.TrailingZeros64(m)/8
		}
		n += 8
	}
	return n
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unquote reads a string from start, its first byte, knowing it holds an
// escape, in one pass: it checks each escape (escape, as scanString
// does) and decodes it as encoding/json's unquote does, which the SDK copies (a
// surrogate that does not pair and invalid UTF-8 become U+FFFD). Runs of
// bytes that need no change are copied whole, into d.tmp, then kept. One
// pass, not a scan for the end and a second to decode: a JSON payload held
// in a string escapes every quote of it.
func (d *decoder) unquote(start int) (string, error) {
	b := d.buf
	out := d.tmp[:0]
	kept := start // b[kept:r] is still to be copied as it is
	r := start    // the bytes before the escape may not be UTF-8: read again
	for {
		r += plain(b[r:], specialInString)
		if r >= len(b) {
			return "", d.fail("unterminated string")
		}
		c := b[r]
		switch {
		case c == '"':
			out = append(out, b[kept:r]...)
			d.i, d.tmp = r+1, out[:0]
			if len(out) == 0 {
				return "", nil
			}
			return d.keep(out), nil
		case c == '\\':
			out = append(out, b[kept:r]...)
			var err error
			if out, r, err = d.escape(out, r); err != nil {
				return "", err
			}
			kept = r
		case c < 0x20:
			d.i = r
			return "", d.fail("control character in string")
		case c >= utf8.RuneSelf:
			if c >= 0xC2 && c < 0xE0 && r+1 < len(b) && b[r+1]&0xC0 == 0x80 { // two bytes: most non-ASCII text
				r += 2
				continue
			}
			if rr, size := utf8.DecodeRune(b[r:]); rr != utf8.RuneError || size != 1 {
				r += size
				continue
			}
			out = utf8.AppendRune(append(out, b[kept:r]...), utf8.RuneError)
			r++
			kept = r
		default: // in the last bytes, fewer than eight
			r++
		}
	}
}

// escape decodes the escape at b[r] (a backslash) onto out and returns
// where the string goes on; an escape JSON does not define is declined.
func (d *decoder) escape(out []byte, r int) ([]byte, int, error) {
	b := d.buf
	if r+1 >= len(b) {
		d.i = r
		return nil, 0, d.fail("unterminated string")
	}
	switch b[r+1] {
	case 'b':
		out = append(out, '\b')
	case 'f':
		out = append(out, '\f')
	case 'n':
		out = append(out, '\n')
	case 'r':
		out = append(out, '\r')
	case 't':
		out = append(out, '\t')
	case '"', '\\', '/':
		out = append(out, b[r+1])
	case 'u':
		if r+5 >= len(b) || !isHex(b[r+2]) || !isHex(b[r+3]) || !isHex(b[r+4]) || !isHex(b[r+5]) {
			d.i = r
			return nil, 0, d.fail("bad \\u escape")
		}
		rr := getu4(b[r:])
		r += 6
		if utf16.IsSurrogate(rr) {
			if dec := utf16.DecodeRune(rr, getu4(b[r:])); dec != unicode.ReplacementChar {
				return utf8.AppendRune(out, dec), r + 6, nil
			}
			rr = unicode.ReplacementChar
		}
		return utf8.AppendRune(out, rr), r, nil
	default:
		d.i = r
		return nil, 0, d.fail("bad escape")
	}
	return out, r + 2, nil
}

// getu4 decodes \uXXXX at the start of s, or -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// maxListHint bounds the capacity a list starts with: the API's pages
// hold at most 1,000 items.
const maxListHint = 1024

// skip consumes one JSON value of any kind (an unknown member's), checking
// its syntax; depth bounds the nesting.
func (d *decoder) skip(depth int) error {
	if depth > 200 {
		return d.fail("nested too deep")
	}
	switch c := d.peek(); c {
	case '"':
		_, _, err := d.scanString()
		return err
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		if d.peek() == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.peek() != '"' {
					return d.fail("expected a member name")
				}
				if _, _, err := d.scanString(); err != nil {
					return err
				}
				if err := d.expect(':'); err != nil {
					return err
				}
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			if more, err := d.more(end); !more {
				return err
			}
		}
	case 't', 'f', 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		return d.fail("bad literal")
	default:
		_, err := d.number()
		return err
	}
}
