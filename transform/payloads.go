package transform

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/scratch"
)

// payloads keeps the payloads a [Folder] holds until its history ends (an
// execution's input, each operation's latest Result and Error): in memory
// up to a budget, past it in a temporary file, so that a history of many
// large results folds in bounded memory. Nothing is created while the
// budget holds.
type payloads struct {
	budget int64 // bytes kept in memory before spilling
	inMem  int64 // bytes kept in memory now
	// retryMem is the bytes of retries' outcomes kept in memory past the
	// budgets, at most retrySlack (see Folder.foldOutcome).
	retryMem int64
	shared   *PayloadBudget // nil: none
	dir      string
	f        *scratch.File
	w        *bufio.Writer
	size     int64 // bytes written to f
	// win, at winOff in f, is what the last read brought in (a
	// read-ahead: operations are emitted roughly in the order their
	// payloads were spilled).
	win    []byte
	winOff int64
	// failed is the first error writing the spill file: from then on,
	// payloads stay in memory (nothing is lost; only the bound is).
	failed error
	buf    []byte
}

// payload is one kept value: v in memory, or bytes of the spill file
// (spilled): where they are packed in at, so that a payload costs a folded
// operation 16 bytes, not 32 (a history can hold half a million operations
// until it ends). A nil value is never spilled.
type payload[T any] struct {
	v  T
	at spillAt
}

// spillAt is where a payload is in the spill file, packed: zero for none,
// else 1 + the offset shifted above the length (spillLenBits). A payload
// the packing cannot place (at past spillMaxOffset of spill file, or longer
// than spillMaxLen) stays in memory: only the bound is lost, never the
// payload.
type spillAt uint64

const (
	spillLenBits   = 31
	spillMaxLen    = 1<<spillLenBits - 1
	spillMaxOffset = 1<<(64-spillLenBits) - 2 // 8 GiB; the largest packed value + 1 does not wrap
)

func packSpill(off int64, n int) spillAt {
	return spillAt(uint64(off)<<spillLenBits|uint64(n)) + 1
}

func (a spillAt) spilled() bool { return a != 0 }

// place is the offset and length a spilled payload's bytes have.
func (a spillAt) place() (off int64, n int) {
	v := uint64(a - 1)
	return int64(v >> spillLenBits), int(v & spillMaxLen)
}

// Payloads kept in memory are copies: the SDK's strings share 4 KiB blocks
// with the rest of their page, and a small payload kept as it came would
// keep its page's block alive until the history ends (a 200-byte result
// pinning 4 KiB).

func (p *payloads) keepString(s *string) payload[*string] {
	if s == nil {
		return payload[*string]{}
	}
	if p.room(int64(len(*s))) {
		return payload[*string]{v: cloneString(s)}
	}
	at, ok := p.spill([]byte(*s))
	if !ok {
		p.count(int64(len(*s)))
		return payload[*string]{v: cloneString(s)}
	}
	return payload[*string]{at: at}
}

// cloneString is a copy of *s; nil for nil.
func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	c := strings.Clone(*s)
	return &c
}

// retrySlack is how many bytes of retries' outcomes a Folder keeps in
// memory past its budgets: a history whose steps are retried, one after
// the other, holds one or two at a time; one whose many steps all wait for
// a retry at once spills the rest as usual.
const retrySlack = 1 << 20

// keepRetry keeps a retry's outcome in memory, counted in the retry slack,
// if it fits there; ok is false if it does not (keep it as any other).
func (p *payloads) keepRetry(result *string, e *types.ErrorObject) (v payload[*string], err payload[*types.ErrorObject], ok bool) {
	n := stringSize(result) + errorSize(e)
	if p.retryMem+n > retrySlack {
		return v, err, false
	}
	p.retryMem += n
	v.v = cloneString(result)
	if e != nil {
		err.v = cloneError(e)
	}
	return v, err, true
}

// dropOutcome uncounts an operation's value and error, replaced: retry
// tells they were kept by keepRetry. Spilled ones count nothing.
func (p *payloads) dropOutcome(v payload[*string], e payload[*types.ErrorObject], retry bool) {
	if retry {
		p.retryMem -= stringSize(v.v) + errorSize(e.v)
		return
	}
	if !v.at.spilled() {
		p.drop(stringSize(v.v))
	}
	if !e.at.spilled() {
		p.drop(errorSize(e.v))
	}
}

func (p *payloads) keepError(e *types.ErrorObject) payload[*types.ErrorObject] {
	if e == nil {
		return payload[*types.ErrorObject]{}
	}
	size := errorSize(e)
	if p.room(size) {
		return payload[*types.ErrorObject]{v: cloneError(e)}
	}
	p.buf = appendError(p.buf[:0], e)
	at, ok := p.spill(p.buf)
	if !ok {
		p.count(size)
		return payload[*types.ErrorObject]{v: cloneError(e)}
	}
	return payload[*types.ErrorObject]{at: at}
}

// room reports whether n more bytes fit the budget (and the shared one),
// counting them if so.
func (p *payloads) room(n int64) bool {
	if p.failed != nil {
		p.count(n)
		return true
	}
	if p.inMem+n > p.budget || !p.shared.take(n) {
		return false
	}
	p.inMem += n
	return true
}

// count counts n bytes kept in memory whatever the budgets (the spill file
// failed, or a value too large for it).
func (p *payloads) count(n int64) {
	p.inMem += n
	p.shared.force(n)
}

// drop uncounts an in-memory value that was replaced.
func (p *payloads) drop(n int64) {
	p.inMem -= n
	p.shared.release(n)
}

// PayloadBudget is a memory budget for payloads shared by the Folders of a
// run ([WithSharedPayloadBudget]): a run folds up to --concurrency
// histories at once, and each Folder's own budget alone let them hold that
// many times as much. Safe for concurrent use.
type PayloadBudget struct {
	limit int64
	used  atomic.Int64
}

// NewPayloadBudget is a shared budget of bytes.
func NewPayloadBudget(bytes int64) *PayloadBudget { return &PayloadBudget{limit: bytes} }

// take counts n bytes if they fit; a nil budget always has room.
func (b *PayloadBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *PayloadBudget) force(n int64) {
	if b != nil {
		b.used.Add(n)
	}
}

func (b *PayloadBudget) release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// spill writes b to the spill file; ok is false if it is kept in memory
// instead (the file failed, or b cannot be placed: see spillAt).
//
// Not compressed: S2 on one payload at a time halved realistic JSON results
// of 1.3 KiB (random identifiers, prices, names) at 600 MB/s, more CPU
// than the page cache's writes of the bytes it saved.
func (p *payloads) spill(b []byte) (at spillAt, ok bool) {
	if len(b) > spillMaxLen || p.size > spillMaxOffset { // larger than any payload the API allows, or past 8 GiB of them
		return 0, false
	}
	if p.f == nil {
		f, err := scratch.Create(p.dir, ".fold-*.payloads")
		if err != nil {
			p.failed = fmt.Errorf("create the fold's payload file: %w", err)
			return 0, false
		}
		p.f, p.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	if _, err := p.w.Write(b); err != nil {
		p.failed = fmt.Errorf("write the fold's payload file: %w", err)
		return 0, false
	}
	at = packSpill(p.size, len(b))
	p.size += int64(len(b))
	return at, true
}

// readAhead is the least a read of the spill file brings in.
const readAhead = 256 << 10

// read is the bytes of a spilled payload, valid until the next read (the
// callers copy what they keep).
func (p *payloads) read(at spillAt) ([]byte, error) {
	off, n := at.place()
	if off < p.winOff || off+int64(n) > p.winOff+int64(len(p.win)) {
		if err := p.w.Flush(); err != nil {
			return nil, fmt.Errorf("write the fold's payload file: %w", err)
		}
		size := int(min(max(int64(n), readAhead), p.size-off))
		if cap(p.win) < size {
			p.win = make([]byte, size)
		}
		m, err := p.f.ReadAt(p.win[:size], off)
		if m < n {
			return nil, fmt.Errorf("read the fold's payload file: %w", err)
		}
		p.win, p.winOff = p.win[:m], off
	}
	return p.win[off-p.winOff:][:n], nil
}

func (p *payloads) stringOf(v payload[*string]) (*string, error) {
	if !v.at.spilled() {
		return v.v, nil
	}
	b, err := p.read(v.at)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func (p *payloads) errorOf(v payload[*types.ErrorObject]) (*types.ErrorObject, error) {
	if !v.at.spilled() {
		return v.v, nil
	}
	b, err := p.read(v.at)
	if err != nil {
		return nil, err
	}
	e, err := readError(b)
	if err != nil {
		return nil, fmt.Errorf("read the fold's payload file: %w", err)
	}
	return e, nil
}

// SpilledBytes is how many bytes of payloads the Folder wrote to its
// temporary file so far.
func (f *Folder) SpilledBytes() int64 { return f.pay.size }

// close releases the spill file, if any, and the payloads' share of the
// shared budget.
func (p *payloads) close() error {
	p.shared.release(p.inMem)
	p.inMem = 0
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f, p.w = nil, nil
	return err
}

// cloneError is a copy of e that shares no memory with it.
func cloneError(e *types.ErrorObject) *types.ErrorObject {
	c := &types.ErrorObject{}
	for _, f := range []struct{ dst, src **string }{{&c.ErrorData, &e.ErrorData}, {&c.ErrorMessage, &e.ErrorMessage}, {&c.ErrorType, &e.ErrorType}} {
		*f.dst = cloneString(*f.src)
	}
	if e.StackTrace != nil {
		c.StackTrace = make([]string, len(e.StackTrace))
		for i, line := range e.StackTrace {
			c.StackTrace[i] = strings.Clone(line)
		}
	}
	return c
}

func stringSize(s *string) int64 {
	if s == nil {
		return 0
	}
	return int64(len(*s))
}

func errorSize(e *types.ErrorObject) int64 {
	if e == nil {
		return 0
	}
	n := stringSize(e.ErrorData) + stringSize(e.ErrorMessage) + stringSize(e.ErrorType)
	for _, s := range e.StackTrace {
		n += int64(len(s)) + 16
	}
	return n
}

// appendError encodes e: each of ErrorData, ErrorMessage, ErrorType as a
// presence byte and, when present, a length and the bytes; then StackTrace
// as a presence byte (nil and empty differ) and, when present, a count and
// each line as a length and the bytes.
func appendError(b []byte, e *types.ErrorObject) []byte {
	for _, s := range []*string{e.ErrorData, e.ErrorMessage, e.ErrorType} {
		if s == nil {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(append(b, 1), uint64(len(*s)))
		b = append(b, *s...)
	}
	if e.StackTrace == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(append(b, 1), uint64(len(e.StackTrace)))
	for _, s := range e.StackTrace {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errBadPayload = errors.New("a spilled error object does not decode")

// readError decodes what appendError encoded.
func readError(b []byte) (*types.ErrorObject, error) {
	e := &types.ErrorObject{}
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	for _, dst := range []**string{&e.ErrorData, &e.ErrorMessage, &e.ErrorType} {
		if len(b) == 0 {
			return nil, errBadPayload
		}
		present := b[0]
		b = b[1:]
		if present == 0 {
			continue
		}
		s, ok := str()
		if !ok {
			return nil, errBadPayload
		}
		*dst = &s
	}
	if len(b) == 0 {
		return nil, errBadPayload
	}
	present := b[0]
	b = b[1:]
	if present == 0 {
		return e, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadPayload
	}
	b = b[k:]
	e.StackTrace = make([]string, 0, n)
	for range n {
		s, ok := str()
		if !ok {
			return nil, errBadPayload
		}
		e.StackTrace = append(e.StackTrace, s)
	}
	return e, nil
}
