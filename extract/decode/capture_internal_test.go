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
	f.Add([]byte("{\"Events\":[{\"EventId\":1,\"\x86\":1,\"StepSucceededDetails\":{\"\xff\":1,\"\xfe\":2}}]}")) // names not UTF-8, and none escaped: the decoder reads it
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
		`{"\u00e9":1,"e":2,"E":3}`, "{\"\\u0080\":0,\"\x86\":0,\"\xff\":1,\"\xfe\":2}",
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

// A made-up response whose records hold a list of structures, which no
// durable shape has today: the notes' element indexes must nest.
type (
	testItem   struct{ A *string }
	testRecord struct {
		Id    *string
		Items []testItem
	}
	testOutput struct{ Events []testRecord }
)

func testSchema() *smithy.Schema {
	id := func(name string) smithy.ShapeID { return smithy.ShapeID{Namespace: "test", Name: name} }
	str := smithy.NewSchema(id("String"), smithy.ShapeTypeString, 0)
	item := smithy.NewSchema(id("Item"), smithy.ShapeTypeStructure, 1)
	item.AddMember("A", str)
	items := smithy.NewSchema(id("Items"), smithy.ShapeTypeList, 1)
	items.AddMember("member", item)
	record := smithy.NewSchema(id("Record"), smithy.ShapeTypeStructure, 2)
	record.AddMember("Id", str)
	record.AddMember("Items", items)
	records := smithy.NewSchema(id("Records"), smithy.ShapeTypeList, 1)
	records.AddMember("member", record)
	out := smithy.NewSchema(id("Output"), smithy.ShapeTypeStructure, 1)
	out.AddMember("Events", records)
	return out
}

// TestUnknownInListsWithinRecords: an unknown member in a list within a
// record lands in a list up to its element, null before it, alike from
// the decoder's notes and from the scan.
func TestUnknownInListsWithinRecords(t *testing.T) {
	s := testSchema()
	p, err := compile(reflect.TypeFor[testOutput](), s, map[reflect.Type]*plan{})
	if err != nil {
		t.Fatal(err)
	}
	sh := shapes{}
	sh.add(s)
	body := []byte(`{"Events":[{"Id":"a","Items":[{"A":"x"},{"A":"y","New":1}],"X":2},{"Id":"b"},{"Items":[{},{},{"Z":{"t":1}}]}],"Page":3}`)
	want := fmt.Sprint(Unknown{
		Records: map[int]json.RawMessage{0: json.RawMessage(`{"Items":[null,{"New":1}],"X":2}`), 2: json.RawMessage(`{"Items":[null,null,{"Z":{"t":1}}]}`)},
		Output:  json.RawMessage(`{"Page":3}`),
		Members: []string{"Events[].Items[].New", "Events[].Items[].Z", "Events[].X", "Page"},
	})
	got, ok, err := captured(p, body, "Events")
	if !ok || err != nil || fmt.Sprint(got) != want {
		t.Errorf("decoder (%v %v):\n got %s\nwant %s", ok, err, fmt.Sprint(got), want)
	}
	finds, err := sh.scanUnknown(body, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collect(body, finds, "Events"); err != nil || fmt.Sprint(got) != want {
		t.Errorf("scan (%v):\n got %s\nwant %s", err, fmt.Sprint(got), want)
	}
}
