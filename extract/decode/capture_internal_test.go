package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/smithy-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
)

// futurePages are history and state pages of generated executions served
// with members the SDK does not know.
func futurePages(t testing.TB) (history, state [][]byte) {
	execs := emulator.Generate(5, 12, emulator.GenerateOptions{MinOps: 10, MaxOps: 30})
	srv := emulator.New(emulator.WithFutureMembers())
	srv.Add(execs...)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	get := func(path string) []byte {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return b
	}
	for _, e := range execs {
		arn := url.PathEscape(e.ARN)
		history = append(history, get("/2025-12-01/durable-executions/"+arn+"/history?MaxItems=12"))
		state = append(state, get("/2025-12-01/durable-executions/"+arn+"/state?MaxItems=12&CheckpointToken="+url.QueryEscape(e.Token)))
	}
	return history, state
}

// captured decodes body with capture on and collects what it noted; ok
// is false when the decoder declines the body.
func captured(p *plan, body []byte, records string) (Unknown, bool, error) {
	d := decoder{buf: body, capture: true}
	out := reflect.New(p.typ)
	if err := d.top(p, out.UnsafePointer()); err != nil {
		return Unknown{}, false, nil
	}
	u, err := collect(body, d.finds, records)
	return u, true, err
}

// pageKind is one of the two paged responses, as the capture and the
// scan see it.
type pageKind struct {
	plan    func(*Protocol) *plan
	schema  *smithy.Schema
	records string
}

var pageKinds = []pageKind{
	{func(p *Protocol) *plan { return p.history }, schemas.GetDurableExecutionHistoryResponse, "Events"},
	{func(p *Protocol) *plan { return p.state }, schemas.GetDurableExecutionStateResponse, "Operations"},
}

// agree fails unless what the decoder notes of body's unknown members is
// what a scan of it finds, and returns how many records had any; -1 when
// the decoder does not read body.
func agree(t testing.TB, p *Protocol, k pageKind, body []byte) int {
	t.Helper()
	got, ok, err := captured(k.plan(p), body, k.records)
	if !ok {
		return -1
	}
	if err != nil {
		t.Fatalf("%s %q: collect: %v", k.records, body, err)
	}
	finds, err := p.shapes.scanUnknown(body, k.schema)
	if err != nil {
		t.Fatalf("%s: the decoder read %q, the scan did not: %v", k.records, body, err)
	}
	want, err := collect(body, finds, k.records)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s %q:\ncaptured %s\n scanned %s", k.records, body, show(got), show(want))
	}
	for _, raw := range got.Records {
		if !json.Valid(raw) {
			t.Fatalf("%q is not JSON", raw)
		}
	}
	return len(got.Records)
}

// FuzzCaptureSameAsScan: what the decoder notes of the unknown members
// while it decodes is what a scan of the body finds, for any body both
// read.
func FuzzCaptureSameAsScan(f *testing.F) {
	history, state := futurePages(f)
	for _, b := range append(history, state...) {
		f.Add(b)
	}
	f.Add([]byte(`{"Events":[{"EventId":1,"A":{"b":"\u00e9","a":[1,{"z":null,"y":"\"q\""}]},"Token":"x","StepSucceededDetails":{"Cost":1,"Cost":2}}],"Page":{"nextToken":"t"}}`))
	p, err := NewProtocol(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, k := range pageKinds {
			agree(t, p, k, body)
		}
	})
}

func show(u Unknown) string {
	s := fmt.Sprintf("output %s members %q", u.Output, u.Members)
	for i, r := range u.Records {
		s += fmt.Sprintf(" [%d]%s", i, r)
	}
	return s
}

// TestCaptureFindsTheFutureMembers: the decoder reads the emulator's
// future members and notes them as the scan does.
func TestCaptureFindsTheFutureMembers(t *testing.T) {
	history, state := futurePages(t)
	p, err := NewProtocol(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, bodies := range [][][]byte{history, state} {
		for _, b := range bodies {
			found := agree(t, p, pageKinds[k], b)
			if found < 0 {
				t.Fatalf("%s: the decoder declined a page", pageKinds[k].records)
			}
			n += found
		}
	}
	if n < 10 {
		t.Fatalf("%d records with unknown members: too few to tell", n)
	}
}

// FuzzCanonicalIsEncodingJSONs: the canonical form written from the body
// is what encoding/json writes for the value it decodes (numbers kept as
// sent), with the seeds' every kind of string.
func FuzzCanonicalIsEncodingJSONs(f *testing.F) {
	for _, v := range []string{
		`"plain <&> é"`, `"esc\/aped \u00e9 \n \t \" \\ \u2028 \ud800 x"`, "\"bad \xff\xfe utf8\"", "\"\xe2\x80\xa9\"",
		`{"b":1,"a":{"d":[1,-0,1E5,1e+05,true,null],"c":""},"b":2}`, `[]`, `{}`, `[{"z":{}}]`,
		`{"\u00e9":1,"e":2,"E":3}`,
	} {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		d := decoder{buf: v}
		got, err := d.canon(nil, 0)
		if d.ws(); err != nil || d.i != len(v) || bytes.Contains(bytes.ToLower(v), []byte("token")) {
			return // not one value, or one with a member redacted
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("%q: canonical %q, encoding/json refuses it: %v", v, got, err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Errorf("%q: canonical %q, encoding/json %q", v, got, want)
		}
	})
}
