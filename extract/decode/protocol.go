package decode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Protocol is the Lambda client's protocol with the successful responses
// of GetDurableExecutionState and GetDurableExecutionHistory decoded here;
// requests, errors, every other operation and any response the decoder
// declines go to the protocol it wraps (the SDK's restJson1).
//
// A body that cannot be read fails as the SDK's would (a
// *smithy.DeserializationError wrapping the read error, so a body cut short
// is io.ErrUnexpectedEOF to the retryer). A declined body is handed to the
// SDK whole, so the caller gets exactly what the SDK makes of it. Under a
// context from [WithUnknown], those two and GetDurableExecution also
// report the members the SDK's model does not know.
type Protocol struct {
	smithyhttp.ClientProtocol
	state, history *plan
	shapes         shapes
	declined       atomic.Int64
	onDecline      func(error)
	onUnknown      func(operation, member string, kept bool)
	told           sync.Map // operation + member: told onUnknown already
	tells          atomic.Int32
	bodies         sync.Pool // *[]byte
}

// NewProtocol wraps base; onDecline (nil: nothing) hears why each declined
// response was left to the SDK (the reason names a position in the body,
// never its content). It fails only if the SDK's types no longer match
// what the decoder takes (a new member of a kind it does not decode): the
// caller should then use base alone.
func NewProtocol(base smithyhttp.ClientProtocol, onDecline func(error), opts ...ProtocolOption) (*Protocol, error) {
	memo := map[reflect.Type]*plan{}
	state, err := compile(reflect.TypeFor[lambda.GetDurableExecutionStateOutput](), schemas.GetDurableExecutionStateResponse, memo)
	if err != nil {
		return nil, fmt.Errorf("decode GetDurableExecutionState: %w", err)
	}
	history, err := compile(reflect.TypeFor[lambda.GetDurableExecutionHistoryOutput](), schemas.GetDurableExecutionHistoryResponse, memo)
	if err != nil {
		return nil, fmt.Errorf("decode GetDurableExecutionHistory: %w", err)
	}
	sh := shapes{}
	for _, s := range []*smithy.Schema{schemas.GetDurableExecutionStateResponse, schemas.GetDurableExecutionHistoryResponse, schemas.GetDurableExecutionResponse} {
		sh.add(s)
	}
	p := &Protocol{ClientProtocol: base, state: state, history: history, shapes: sh, onDecline: onDecline}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// maxTells bounds the distinct members OnUnknown is told of (and the
// Protocol remembers): a body with made-up member names cannot grow it.
const maxTells = 100

// ProtocolOption configures a [Protocol].
type ProtocolOption func(*Protocol)

// OnUnknown has fn told, once per operation and member path for the
// Protocol's life, of each member a response carried that the SDK's model
// does not know (see [Unknown]; reported under [WithUnknown] only): kept
// is true for the members a record or GetDurableExecution's answer holds,
// which [Unknown] hands back to be archived, and false for a page's own
// (outside its records), which it reports but no row can hold. After 100
// members fn is told no more. Default: nobody is told. fn may be called
// from several goroutines at once.
func OnUnknown(fn func(operation, member string, kept bool)) ProtocolOption {
	return func(p *Protocol) { p.onUnknown = fn }
}

// Declined is how many successful responses the decoder left to the SDK.
func (p *Protocol) Declined() int64 { return p.declined.Load() }

// DeserializeResponse implements smithyhttp.ClientProtocol.
func (p *Protocol) DeserializeResponse(ctx context.Context, op *smithy.OperationSchema, types *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	var pl *plan
	var zero func()
	var schema *smithy.Schema
	var records string
	switch o := out.(type) {
	case *lambda.GetDurableExecutionStateOutput:
		pl, zero = p.state, func() { *o = lambda.GetDurableExecutionStateOutput{} }
		schema, records = schemas.GetDurableExecutionStateResponse, "Operations"
	case *lambda.GetDurableExecutionHistoryOutput:
		pl, zero = p.history, func() { *o = lambda.GetDurableExecutionHistoryOutput{} }
		schema, records = schemas.GetDurableExecutionHistoryResponse, "Events"
	case *lambda.GetDurableExecutionOutput:
		schema = schemas.GetDurableExecutionResponse
	}
	u := unknownOf(ctx)
	if u != nil {
		*u = Unknown{}
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok || schema == nil || pl == nil && u == nil {
		return p.ClientProtocol.DeserializeResponse(ctx, op, types, resp, out)
	}
	if pl == nil { // GetDurableExecution, asked for its unknown members: the SDK decodes it
		body, err := readAll(nil, resp.Body)
		if err != nil {
			return &smithy.DeserializationError{Err: err}
		}
		p.findUnknown(op, u, body, schema, records)
		again := *resp.Response
		again.Body = io.NopCloser(bytes.NewReader(body))
		return p.ClientProtocol.DeserializeResponse(ctx, op, types, &smithyhttp.Response{Response: &again}, out)
	}
	body, err := p.readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return &smithy.DeserializationError{Err: err}
	}
	defer p.bodies.Put(&body)
	// The middleware keeps one output across a call's attempts: nothing of
	// an earlier attempt's stays.
	zero()
	d := decoder{buf: body, capture: u != nil}
	err = d.top(pl, reflect.ValueOf(out).UnsafePointer())
	if err == nil {
		if u != nil && d.unknown > 0 {
			p.report(op, u, body, d.finds, records)
		}
		return nil
	}
	p.declined.Add(1)
	if p.onDecline != nil {
		p.onDecline(fmt.Errorf("%s: %w", op.ID().Name, err))
	}
	if u != nil {
		p.findUnknown(op, u, body, schema, records)
	}
	zero()
	again := *resp.Response
	again.Body = io.NopCloser(bytes.NewReader(body))
	return p.ClientProtocol.DeserializeResponse(ctx, op, types, &smithyhttp.Response{Response: &again}, out)
}

// findUnknown fills u with the unknown members of body by a scan of it
// (for a body the decoder left to the SDK, or GetDurableExecution's); a
// body the scan cannot read leaves it empty (the SDK then fails on it, or
// finds nothing either).
func (p *Protocol) findUnknown(op *smithy.OperationSchema, u *Unknown, body []byte, s *smithy.Schema, records string) {
	if finds, err := p.shapes.scanUnknown(body, s); err == nil {
		p.report(op, u, body, finds, records)
	}
}

// report hands the finds in body to u and tells OnUnknown's hook what it
// has not heard of.
func (p *Protocol) report(op *smithy.OperationSchema, u *Unknown, body []byte, finds []find, records string) {
	found, err := collect(body, finds, records)
	if err != nil {
		return
	}
	*u = found
	if p.onUnknown == nil {
		return
	}
	name := op.ID().Name
	for _, m := range found.Members {
		if p.tells.Load() >= maxTells {
			return
		}
		if _, told := p.told.LoadOrStore(name+" "+m, true); !told {
			p.tells.Add(1)
			p.onUnknown(name, m, records == "" || strings.HasPrefix(m, records+"[]"))
		}
	}
}

// readBody reads a whole body into a buffer of the pool, sized by its
// Content-Length when it has one (the SDK's own pool keeps no buffer over
// 64 KiB, so it grows one by doubling for every page). Nothing decoded
// points into it.
func (p *Protocol) readBody(r io.Reader, n int64) ([]byte, error) {
	var buf []byte
	if b, ok := p.bodies.Get().(*[]byte); ok {
		buf = (*b)[:0]
	}
	if n < 0 || n > 1<<30 {
		return readAll(buf, r)
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// readAll is io.ReadAll into buf.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	w := bytes.NewBuffer(buf)
	_, err := w.ReadFrom(r)
	return w.Bytes(), err
}

var _ smithyhttp.ClientProtocol = (*Protocol)(nil)
