package decode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/durable-etl/durable-etl/extract/decode"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/optest"
)

// operation is one of the two responses the decoder takes.
type operation struct {
	name   string
	schema *smithy.OperationSchema
	output func() smithy.Deserializable
}

var (
	stateOp = operation{"state", smithy.NewOperationSchema(schemas.GetDurableExecutionState, schemas.GetDurableExecutionStateRequest, schemas.GetDurableExecutionStateResponse),
		func() smithy.Deserializable { return &lambda.GetDurableExecutionStateOutput{} }}
	historyOp = operation{"history", smithy.NewOperationSchema(schemas.GetDurableExecutionHistory, schemas.GetDurableExecutionHistoryRequest, schemas.GetDurableExecutionHistoryResponse),
		func() smithy.Deserializable { return &lambda.GetDurableExecutionHistoryOutput{} }}
)

func response(status int, body []byte) *smithyhttp.Response {
	return &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}}
}

func newProtocol(t testing.TB) *decode.Protocol {
	p, err := decode.NewProtocol(restjson1.New(schemas.AWSGirApiService), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// compare decodes body with the SDK alone and through p, and fails unless
// both give the same value, or both the same error.
func compare(t testing.TB, p *decode.Protocol, op operation, status int, body []byte) (smithy.Deserializable, smithy.Deserializable) {
	t.Helper()
	return compareIn(context.Background(), t, p, op, status, body)
}

// compareIn is compare with the protocol's call made under ctx.
func compareIn(ctx context.Context, t testing.TB, p *decode.Protocol, op operation, status int, body []byte) (smithy.Deserializable, smithy.Deserializable) {
	t.Helper()
	sdk := restjson1.New(schemas.AWSGirApiService)
	want, got := op.output(), op.output()
	werr := sdk.DeserializeResponse(context.Background(), op.schema, lambda.TypeRegistry, response(status, body), want)
	gerr := p.DeserializeResponse(ctx, op.schema, lambda.TypeRegistry, response(status, body), got)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("%s body %.300q:\nSDK error: %v\nour error: %v", op.name, body, werr, gerr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s body %.300q decodes differently (-SDK +ours):\n%s", op.name, body, optest.Diff(contents(want), contents(got)))
	}
	return want, got
}

// contents is an output without its (unexported) result metadata, for a diff.
func contents(out smithy.Deserializable) any {
	switch o := out.(type) {
	case *lambda.GetDurableExecutionStateOutput:
		return []any{o.Operations, o.NextMarker}
	case *lambda.GetDurableExecutionHistoryOutput:
		return []any{o.Events, o.NextMarker}
	}
	return out
}

// pages fetches every page of every execution of srv over HTTP, as the
// SDK would ask for them, with page size n.
func pages(t testing.TB, srv *emulator.Server, execs []emulator.Execution, op operation, n int) [][]byte {
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var out [][]byte
	for _, e := range execs {
		marker := ""
		for {
			q := url.Values{"MaxItems": {fmt.Sprint(n)}}
			if marker != "" {
				q.Set("Marker", marker)
			}
			if op.name == "state" {
				q.Set("CheckpointToken", e.Token)
			} else {
				q.Set("IncludeExecutionData", "true")
			}
			resp, err := http.Get(hs.URL + "/2025-12-01/durable-executions/" + url.PathEscape(e.ARN) + "/" + op.name + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %d %v %.200s", e.ARN, resp.StatusCode, err, body)
			}
			out = append(out, body)
			var next struct{ NextMarker string }
			if err := json.Unmarshal(body, &next); err != nil {
				t.Fatal(err)
			}
			if marker = next.NextMarker; marker == "" {
				break
			}
		}
	}
	return out
}

// TestSameAsSDKOnEmulatorPages: every state and history page of generated
// executions (every operation type and status, retries, unicode, control
// characters, large and random payloads, unknown types and event types)
// decodes exactly as the SDK decodes it, none is declined, and the values
// stay intact while later pages are decoded.
func TestSameAsSDKOnEmulatorPages(t *testing.T) {
	p := newProtocol(t)
	type pair struct{ sdk, ours smithy.Deserializable }
	var kept []pair
	for _, o := range []emulator.GenerateOptions{
		{MinOps: 1, MaxOps: 400, LargePayloadEvery: 50},
		{MinOps: 250, MaxOps: 250, Days: 730, LargePayloadEvery: 100, RandomPayloads: true},
	} {
		n := 40
		if testing.Short() { // the race run
			n = 4
		}
		execs := emulator.Generate(7, n, o)
		srv := emulator.New()
		srv.Add(execs...)
		for _, op := range []operation{stateOp, historyOp} {
			for _, n := range []int{1000, 7} {
				for _, body := range pages(t, srv, execs, op, n) {
					sdk, ours := compare(t, p, op, 200, body)
					kept = append(kept, pair{sdk, ours})
				}
			}
		}
	}
	if n := p.Declined(); n != 0 {
		t.Errorf("%d pages declined, want 0", n)
	}
	// Nothing decoded shares the body buffers, which later pages reused.
	for i, k := range kept {
		if !reflect.DeepEqual(k.sdk, k.ours) {
			t.Fatalf("page %d changed after later pages were decoded:\n%s", i, optest.Diff(contents(k.sdk), contents(k.ours)))
		}
	}
}

// TestSameAsSDKOnRandomShapes: random operations and events (every details
// variant, absent and empty members, extreme times) through the
// emulator's wire form.
func TestSameAsSDKOnRandomShapes(t *testing.T) {
	p := newProtocol(t)
	g := optest.New(11)
	n := 3000
	if testing.Short() { // the race run
		n = 300
	}
	ops := make([]types.Operation, n)
	events := make([]types.Event, n)
	for i := range ops {
		ops[i] = g.Operation()
		events[i] = g.Event()
	}
	e := emulator.Fixed("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/x/y", "tok", ops)
	e.History = emulator.FixedHistory(events)
	srv := emulator.New()
	srv.Add(e)
	for _, op := range []operation{stateOp, historyOp} {
		for _, body := range pages(t, srv, []emulator.Execution{e}, op, 1000) {
			compare(t, p, op, 200, body)
		}
	}
	if n := p.Declined(); n != 0 {
		t.Errorf("%d pages declined, want 0", n)
	}
}

// edgeCases are bodies at the corners of JSON and of the SDK's decoding;
// declined says whether the decoder should leave them to the SDK.
var edgeCases = []struct {
	body     string
	declined bool
}{
	{`{}`, false},
	{` {"Operations":[],"NextMarker":null} `, false},
	{`{"Operations":null,"Events":null}`, false},
	{`{"Operations":[null,{}],"Events":[null,{}]}`, false},
	{`{"Operations":[{"Id":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude9a\ud800x\udc00","Name":"\u0000"}]}`, false},
	{"{\"Operations\":[{\"Id\":\"bad \xff utf8\",\"Name\":\"bad \xff and \\n\"}]}", false},
	// Escaped strings with runs of every kind around the escapes: two-byte
	// sequences, cut and overlong ones, three and four bytes, invalid bytes
	// at a run's start and end, in the last eight bytes and past them.
	{"{\"Operations\":[{\"Id\":\"caf\xc3\xa9 cr\xc3\xa8me \\\"br\xc3\xbbl\xc3\xa9e\\\" \xe2\x82\xac\xf0\x9f\x9a\x9a \xc3\",\"Name\":\"\xc3\\n\xc0\xaf\xc2\x7f\xed\xa0\x80 long enough run\\t\xc3\xa9\xc3\"}]}", false},
	{"{\"Operations\":[{\"Id\":\"\\u00e9\xc3\xa9abcdefgh\xff\\/12345678\xe2\x82\",\"Name\":\"0123456789abcdef\\\\\xf4\x90\x80\x80x\"}]}", false},
	// One pass finds a string's end and decodes it (unquote): a JSON
	// payload longer than the arena's strings, a surrogate at the string's
	// end, a cut \u escape, a control character and the body's end after
	// an escape.
	{`{"Events":[{"StepSucceededDetails":{"Result":{"Payload":"` + strings.Repeat(`{\"sku\":\"SKU-\u00e9\",\"qty\":3}`, 60) + `"}}}]}`, false},
	{`{"Operations":[{"Id":"\ud800","Name":"x\ud83d"}]}`, false},
	{`{"Operations":[{"Id":"\u12"}]}`, true},
	{"{\"Operations\":[{\"Id\":\"a\\nb\tc\"}]}", true},
	{`{"Operations":[{"Id":"a\n`, true},
	{`{"Operations":[{"Id":"a\`, true},
	{`{"Operations":[{"StartTimestamp":1767571200,"EndTimestamp":1767571200.123,"StepDetails":{"Attempt":3,"NextAttemptTimestamp":-1.5}}]}`, false},
	{`{"Operations":[{"StartTimestamp":1.7675712001239999e9,"EndTimestamp":0.0005,"WaitDetails":{"ScheduledEndTimestamp":-0}}]}`, false},
	{`{"Operations":[{"StartTimestamp":1e300}]}`, false},
	{`{"Operations":[{"StartTimestamp":123456789012345678901234}]}`, false},
	{`{"Operations":[{"StartTimestamp":1e400}]}`, true},
	{`{"Operations":[{"StartTimestamp":"1767571200"}]}`, true},
	{`{"Operations":[{"StepDetails":{"Attempt":2147483648}}]}`, true},
	{`{"Operations":[{"StepDetails":{"Attempt":-2147483648}}]}`, false},
	{`{"Operations":[{"StepDetails":{"Attempt":1.0}}]}`, true},
	{`{"Operations":[{"ContextDetails":{"ReplayChildren":true,"Error":{"StackTrace":["a",null,"\u00e9"],"ErrorData":""}}}]}`, false},
	{`{"Operations":[{"Unknown":{"a":[1,2,{"b":null}],"c":"\u1234"},"Id":"x","Type":"SOMETHING_NEW"}],"Extra":true}`, false},
	{`{"Operations":[{"Id":"x","Id":"y"}]}`, true},
	{`{"Operations":[{"I\u0064":"x"}]}`, true},
	{`{"Operations":[{"Id":"x",}]}`, true},
	{`{"Operations":[{"Id":"x"}]} trailing`, true},
	{"{\"Operations\":[{\"Id\":\"x\"}]}\x00", true},
	{"{\"Operations\":[{\"Id\":\"x\"}]} \x00 ", true},
	{`{"Operations":[{"Id":01}]}`, true},
	{`{"Operations":[{"Id":"tab	inside"}]}`, true},
	{`{"Operations":[{"Id":"\x"}]}`, true},
	{`{"Operations":[{"StepDetails":"not an object"}]}`, true},
	{`{"Operations":{}}`, true},
	{`null`, true},
	{``, true},
	{`{"Operations":[{"Id":"x"}`, true},
	{`{"Events":[{"EventId":7,"EventType":"StepFailed","StepFailedDetails":{"Error":{"Payload":{"ErrorMessage":"m"},"Truncated":false},"RetryDetails":{"CurrentAttempt":2,"NextAttemptDelaySeconds":5}}}]}`, false},
	{`{"Events":[{"EventId":1,"ExecutionStartedDetails":{"Input":{"Payload":"{\"k\":1}","Truncated":true},"ExecutionTimeout":900},"ContextStartedDetails":{},"StepStartedDetails":{}}]}`, false},
	{`{"Events":[{"InvocationCompletedDetails":{"StartTimestamp":1767571200.001,"EndTimestamp":1767571200.999,"RequestId":"r","Error":{"Payload":null}}}]}`, false},
}

// TestSameAsSDKOnEdgeCases: each edge case gives what the SDK gives, and
// only the ones meant to be declined are.
func TestSameAsSDKOnEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		for _, op := range []operation{stateOp, historyOp} {
			p := newProtocol(t)
			compare(t, p, op, 200, []byte(c.body))
			if got := p.Declined() == 1; got != c.declined && appliesTo(c.body, op) {
				t.Errorf("%s %q: declined %v, want %v", op.name, c.body, got, c.declined)
			}
		}
	}
}

// appliesTo: an edge case is about the state op if it has Operations, the
// history op if it has Events, both if it has both or neither.
func appliesTo(body string, op operation) bool {
	ops, events := strings.Contains(body, `"Operations"`), strings.Contains(body, `"Events"`)
	if op.name == "state" {
		return ops || !events
	}
	return events || !ops
}

// TestDeclineReasonsNameNoContent: the reason a page was left to the SDK
// (logged at debug level) names the operation and a position, never what
// the body holds.
func TestDeclineReasonsNameNoContent(t *testing.T) {
	var reasons []error
	p, err := decode.NewProtocol(restjson1.New(schemas.AWSGirApiService), func(err error) { reasons = append(reasons, err) })
	if err != nil {
		t.Fatal(err)
	}
	compare(t, p, stateOp, 200, []byte(`{"Operations":[{"Id":"secret-123","Id":"secret-456"}]}`))
	if len(reasons) != 1 || !strings.Contains(reasons[0].Error(), "GetDurableExecutionState") || strings.Contains(reasons[0].Error(), "secret") {
		t.Errorf("reasons %v: want one, naming the operation and no content", reasons)
	}
}

// TestErrorsAndOtherOperationsGoToTheSDK: an error status is the SDK's
// typed error, and a body cut short is io.ErrUnexpectedEOF (which the
// client's retryer retries).
func TestErrorsAndOtherOperationsGoToTheSDK(t *testing.T) {
	p := newProtocol(t)
	compare(t, p, stateOp, 400, []byte(`{"Type":"User","message":"Invalid checkpoint token"}`))
	compare(t, p, historyOp, 404, []byte(`{"Type":"User","Message":"no such execution"}`))
	var nf *types.ResourceNotFoundException
	err := p.DeserializeResponse(context.Background(), historyOp.schema, lambda.TypeRegistry,
		func() *smithyhttp.Response {
			r := response(404, []byte(`{"Message":"gone"}`))
			r.Header.Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			return r
		}(), historyOp.output())
	if !errors.As(err, &nf) {
		t.Errorf("404 ResourceNotFoundException: got %v", err)
	}
	short := response(200, []byte(`{"Operations":[]}`))
	short.ContentLength = 100
	err = p.DeserializeResponse(context.Background(), stateOp.schema, lambda.TypeRegistry, short, stateOp.output())
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body cut short: got %v, want io.ErrUnexpectedEOF", err)
	}
	out := &lambda.GetDurableExecutionOutput{}
	getOp := smithy.NewOperationSchema(schemas.GetDurableExecution, schemas.GetDurableExecutionRequest, schemas.GetDurableExecutionResponse)
	if err := p.DeserializeResponse(context.Background(), getOp, lambda.TypeRegistry, response(200, []byte(`{"DurableExecutionArn":"a","Status":"RUNNING"}`)), out); err != nil || aws.ToString(out.DurableExecutionArn) != "a" {
		t.Errorf("GetDurableExecution through the SDK: %v %+v", err, out)
	}
}

// FuzzSameAsSDK: for any body, the client's protocol gives exactly what the
// SDK gives, for both operations.
func FuzzSameAsSDK(f *testing.F) {
	for _, c := range edgeCases {
		f.Add([]byte(c.body))
	}
	execs := emulator.Generate(3, 2, emulator.GenerateOptions{MinOps: 20, MaxOps: 20})
	for _, srv := range []*emulator.Server{emulator.New(), emulator.New(emulator.WithFutureMembers())} {
		srv.Add(execs...)
		for _, op := range []operation{stateOp, historyOp} {
			for _, body := range pages(f, srv, execs, op, 1000) {
				f.Add(body)
			}
		}
	}
	p := newProtocol(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		compare(t, p, stateOp, 200, body)
		compare(t, p, historyOp, 200, body)
		// Asked for the unknown members too: the same output, and what
		// is reported is JSON.
		for _, op := range []operation{stateOp, historyOp, describeOp} {
			var u decode.Unknown
			compareIn(decode.WithUnknown(context.Background(), &u), t, p, op, 200, body)
			for i, raw := range u.Records {
				if !json.Valid(raw) {
					t.Fatalf("%s record %d: %q is not JSON", op.name, i, raw)
				}
			}
			if u.Output != nil && !json.Valid(u.Output) {
				t.Fatalf("%s: %q is not JSON", op.name, u.Output)
			}
		}
	})
}

// TestAnEarlierAttemptLeavesNothing: the SDK keeps one output value across
// a call's attempts; what an earlier attempt left in it is gone.
func TestAnEarlierAttemptLeavesNothing(t *testing.T) {
	p := newProtocol(t)
	out := &lambda.GetDurableExecutionStateOutput{NextMarker: aws.String("stale"), Operations: []types.Operation{{Id: aws.String("stale")}}}
	if err := p.DeserializeResponse(context.Background(), stateOp.schema, lambda.TypeRegistry, response(200, []byte(`{"Operations":[]}`)), out); err != nil {
		t.Fatal(err)
	}
	if out.NextMarker != nil || len(out.Operations) != 0 {
		t.Errorf("after a page of no operations and no marker: %v operations, marker %v", len(out.Operations), out.NextMarker)
	}
}
