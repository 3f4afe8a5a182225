package decode

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/smithy-go"
)

// TestValuesOutliveTheBody: strings of every length, escaped or not, stay
// as decoded when the body's buffer is overwritten (it goes back to a pool
// for the next page).
func TestValuesOutliveTheBody(t *testing.T) {
	pl, err := compile(reflect.TypeFor[lambda.GetDurableExecutionStateOutput](), schemas.GetDurableExecutionStateResponse, map[reflect.Type]*plan{})
	if err != nil {
		t.Fatal(err)
	}
	long, longEscaped := strings.Repeat("x", 3000), strings.Repeat(`\"`, 1500)
	body := []byte(`{"Operations":[{"Id":"short","Name":"` + long + `","SubType":"` + longEscaped + `","ParentId":"a\nb"}],"NextMarker":"m"}`)
	var out lambda.GetDurableExecutionStateOutput
	d := decoder{buf: body}
	if err := d.top(pl, unsafe.Pointer(&out)); err != nil {
		t.Fatal(err)
	}
	copy(body, bytes.Repeat([]byte{'#'}, len(body)))
	op := out.Operations[0]
	for name, c := range map[string][2]string{
		"Id": {*op.Id, "short"}, "Name": {*op.Name, long}, "SubType": {*op.SubType, strings.Repeat(`"`, 1500)},
		"ParentId": {*op.ParentId, "a\nb"}, "NextMarker": {*out.NextMarker, "m"},
	} {
		if c[0] != c[1] {
			t.Errorf("%s: %.40q after the body was overwritten, want %.40q", name, c[0], c[1])
		}
	}
}

// TestSmallPagesKeepLittle: the values of a small page (a short history's
// one page, whose rows may wait in a partition's buffer long after it was
// read) hold chunks sized to the page, not to a large one.
func TestSmallPagesKeepLittle(t *testing.T) {
	pl, err := compile(reflect.TypeFor[lambda.GetDurableExecutionHistoryOutput](), schemas.GetDurableExecutionHistoryResponse, map[reflect.Type]*plan{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"Events":[{"EventId":1,"EventType":"ExecutionStarted","EventTimestamp":1764633600.123,"Id":"exec","Name":"orders"},` +
		`{"EventId":2,"EventType":"StepStarted","EventTimestamp":1764633601.5,"Id":"s1","ParentId":"exec"}]}`)
	var out lambda.GetDurableExecutionHistoryOutput
	d := decoder{buf: body}
	if err := d.top(pl, unsafe.Pointer(&out)); err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 2 || *out.Events[1].ParentId != "exec" {
		t.Fatalf("decoded %+v", out.Events)
	}
	if c := cap(d.arena); c > len(body) {
		t.Errorf("the strings' arena holds %d bytes for a page of %d", c, len(body))
	}
	if c := cap(d.strs) + cap(d.times) + cap(d.ints); c > 3*16 {
		t.Errorf("the page's slabs hold %d values for its 2 events", c)
	}
}

// TestCompileRefusesWhatItCannotDecode: a structure with a member the
// decoder does not take (a map, an int64, a union...) has no plan, so the
// SDK decodes it, as it would any operation of a future SDK whose durable
// types grew such a member; one of only the kinds it takes compiles.
func TestCompileRefusesWhatItCannotDecode(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  reflect.Type
		s    *smithy.Schema
		ok   bool
	}{
		{"GetFunction (maps, int64s)", reflect.TypeFor[lambda.GetFunctionOutput](), schemas.GetFunctionResponse, false},
		{"GetAccountSettings (int64s)", reflect.TypeFor[lambda.GetAccountSettingsOutput](), schemas.GetAccountSettingsResponse, false},
		{"GetFunctionConcurrency (an *int32)", reflect.TypeFor[lambda.GetFunctionConcurrencyOutput](), schemas.GetFunctionConcurrencyResponse, true},
	} {
		_, err := compile(c.typ, c.s, map[reflect.Type]*plan{})
		if (err == nil) != c.ok {
			t.Errorf("%s: compiled %v (%v), want %v", c.name, err == nil, err, c.ok)
		}
	}
}
