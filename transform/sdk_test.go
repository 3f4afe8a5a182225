package transform_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/optest"
)

// described are the members of GetDurableExecution's answer, and of the
// objects in it, that the executions row takes or knows it need not
// (transform.Describe): the execution's ARN and name are the row's key
// and its parsed parts; ResultMetadata is the SDK's own.
var described = map[string]bool{
	"GetDurableExecutionOutput.DurableExecutionArn": true, "GetDurableExecutionOutput.DurableExecutionName": true,
	"GetDurableExecutionOutput.FunctionArn": true, "GetDurableExecutionOutput.StartTimestamp": true,
	"GetDurableExecutionOutput.Status": true, "GetDurableExecutionOutput.EndTimestamp": true,
	"GetDurableExecutionOutput.Error": true, "GetDurableExecutionOutput.InputPayload": true,
	"GetDurableExecutionOutput.Result": true, "GetDurableExecutionOutput.Version": true,
	"GetDurableExecutionOutput.TraceHeader": true, "GetDurableExecutionOutput.DurableConfig": true,
	"GetDurableExecutionOutput.ExecutionDataIncluded": true, "GetDurableExecutionOutput.ExpectedExecutionTimeoutTimestamp": true,
	"GetDurableExecutionOutput.PauseDetails": true, "GetDurableExecutionOutput.ResultMetadata": true,
	"ErrorObject.ErrorMessage": true, "ErrorObject.ErrorType": true, "ErrorObject.ErrorData": true, "ErrorObject.StackTrace": true,
	"TraceHeader.XAmznTraceId":       true,
	"DurableConfig.ExecutionTimeout": true, "DurableConfig.RetentionPeriodInDays": true, "DurableConfig.KMSKeyArn": true,
	"PauseDetails.ExecutionTimeoutPaused": true, "PauseDetails.PauseRequestTimestamp": true, "PauseDetails.Reason": true,
}

// TestDescribeKnowsTheSDK: every member of GetDurableExecution's answer
// that the pinned SDK knows is one the executions row takes (or needs
// not). A newer SDK that adds one (as v1.117.0 added PauseDetails and
// ExpectedExecutionTimeoutTimestamp, which the older one dropped
// unseen) fails here until Describe, the schema and a migration take it.
func TestDescribeKnowsTheSDK(t *testing.T) {
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			if !f.IsExported() {
				continue
			}
			if !described[rt.Name()+"."+f.Name] {
				t.Errorf("GetDurableExecution's %s.%s is not archived: add it to transform.Describe and the executions table", rt.Name(), f.Name)
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[types.ErrorObject]().PkgPath() {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeFor[lambda.GetDurableExecutionOutput]())
}

// TestGeneratorCoversTheSDK: the random events and operations the
// lossless tests draw set every details object of the SDK's types.Event
// and types.Operation, and every member of each, at least once. A newer
// SDK that adds either (as v1.117.0 added ExecutionPausedDetails) fails
// here until the generator, and so the property tests, cover it.
func TestGeneratorCoversTheSDK(t *testing.T) {
	g := optest.New(20261203)
	events, ops := map[string]bool{}, map[string]bool{}
	for range 20000 {
		detailsSet(reflect.ValueOf(g.Event()), events)
		detailsSet(reflect.ValueOf(g.Operation()), ops)
	}
	covers(t, reflect.TypeFor[types.Event](), events)
	covers(t, reflect.TypeFor[types.Operation](), ops)
}

// detailsSet notes in seen the *Details members of v that are set, and
// their members that are.
func detailsSet(v reflect.Value, seen map[string]bool) {
	for i := range v.NumField() {
		f, d := v.Type().Field(i), v.Field(i)
		if !f.IsExported() || !strings.HasSuffix(f.Name, "Details") || d.IsNil() {
			continue
		}
		seen[f.Name] = true
		for j := range d.Elem().NumField() {
			if m := d.Elem().Type().Field(j); m.IsExported() && !d.Elem().Field(j).IsZero() {
				seen[f.Name+"."+m.Name] = true
			}
		}
	}
}

// covers fails for each *Details member of rt, or member of one, that
// seen lacks.
func covers(t *testing.T, rt reflect.Type, seen map[string]bool) {
	t.Helper()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || !strings.HasSuffix(f.Name, "Details") {
			continue
		}
		if !seen[f.Name] {
			t.Errorf("the generator never sets %s.%s", rt.Name(), f.Name)
			continue
		}
		for j := range f.Type.Elem().NumField() {
			if m := f.Type.Elem().Field(j); m.IsExported() && !seen[f.Name+"."+m.Name] {
				t.Errorf("the generator never sets %s.%s.%s", rt.Name(), f.Name, m.Name)
			}
		}
	}
}
