package schema_test

import (
	"hash/maphash"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/durable-etl/durable-etl/schema"
)

// TestDiffRowFindsEachColumn: for every table and every column, two rows
// that differ in that column alone are told apart at that column (a set
// pointer against nil, an empty list against nil, another value), and
// alike when the column is skipped; HashRow hashes them apart, and alike
// when skipped.
func TestDiffRowFindsEachColumn(t *testing.T) {
	var h maphash.Hash
	check := func(table *schema.Table, diff func(a, b reflect.Value, skip []bool) (int, bool), typ reflect.Type) {
		for k := range typ.NumField() {
			a, b := reflect.New(typ).Elem(), reflect.New(typ).Elem()
			f := b.Field(k)
			switch f.Kind() {
			case reflect.Pointer:
				f.Set(reflect.New(f.Type().Elem())) // set, to its zero value, against nil
			case reflect.Slice:
				f.Set(reflect.MakeSlice(f.Type(), 0, 0)) // empty against nil
			case reflect.String:
				f.SetString("x")
			case reflect.Int32, reflect.Int64:
				f.SetInt(-1)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Struct: // time.Time
				f.Set(reflect.ValueOf(time.Unix(1, 0)))
			}
			if got, same := diff(a, b, nil); got != k || same {
				t.Errorf("%s: rows differing in %s: DiffRow says %d, hashes alike %v", table.Name, table.Columns[k].Name, got, same)
			}
			skip := make([]bool, len(table.Columns))
			skip[k] = true
			if got, same := diff(a, b, skip); got != -1 || !same {
				t.Errorf("%s: %s skipped, DiffRow says %d, hashes alike %v", table.Name, table.Columns[k].Name, got, same)
			}
		}
	}
	check(schema.Operations, func(a, b reflect.Value, skip []bool) (int, bool) {
		x, y := a.Addr().Interface().(*schema.Operation), b.Addr().Interface().(*schema.Operation)
		return schema.DiffRow(schema.Operations, x, y, skip), schema.HashRow(schema.Operations, &h, x, skip) == schema.HashRow(schema.Operations, &h, y, skip)
	}, reflect.TypeFor[schema.Operation]())
	check(schema.Executions, func(a, b reflect.Value, skip []bool) (int, bool) {
		x, y := a.Addr().Interface().(*schema.Execution), b.Addr().Interface().(*schema.Execution)
		return schema.DiffRow(schema.Executions, x, y, skip), schema.HashRow(schema.Executions, &h, x, skip) == schema.HashRow(schema.Executions, &h, y, skip)
	}, reflect.TypeFor[schema.Execution]())
	check(schema.Events, func(a, b reflect.Value, skip []bool) (int, bool) {
		x, y := a.Addr().Interface().(*schema.Event), b.Addr().Interface().(*schema.Event)
		return schema.DiffRow(schema.Events, x, y, skip), schema.HashRow(schema.Events, &h, x, skip) == schema.HashRow(schema.Events, &h, y, skip)
	}, reflect.TypeFor[schema.Event]())

	// Times compare as instants, whatever their location.
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	local := at.In(time.FixedZone("x", 3600))
	a, b := schema.Operation{StartTime: &at, ExtractedAt: at}, schema.Operation{StartTime: &local, ExtractedAt: local}
	if got := schema.DiffRow(schema.Operations, &a, &b, nil); got != -1 || schema.HashRow(schema.Operations, &h, &a, nil) != schema.HashRow(schema.Operations, &h, &b, nil) {
		t.Errorf("one instant in two locations differs at %d, or hashes apart", got)
	}
	b.ErrorStackTrace, a.ErrorStackTrace = []string{"a", "b"}, []string{"a", "c"}
	if got := schema.DiffRow(schema.Operations, &a, &b, nil); got < 0 || schema.Operations.Columns[got].Name != "error_stack_trace" ||
		schema.HashRow(schema.Operations, &h, &a, nil) == schema.HashRow(schema.Operations, &h, &b, nil) {
		t.Errorf("lists differing in an element: %d, or hashed alike", got)
	}
	// Strings are delimited: ["ab"] and ["a", "b"], "ab"+"" and "a"+"b" hash apart.
	a.ErrorStackTrace, b.ErrorStackTrace = []string{"ab"}, []string{"a", "b"}
	if schema.HashRow(schema.Operations, &h, &a, nil) == schema.HashRow(schema.Operations, &h, &b, nil) {
		t.Error("one list element and two hashed alike")
	}
	a.ErrorStackTrace, b.ErrorStackTrace = nil, nil
	a.OperationID, a.Name, b.OperationID, b.Name = "ab", aws.String(""), "a", aws.String("b")
	if schema.HashRow(schema.Operations, &h, &a, nil) == schema.HashRow(schema.Operations, &h, &b, nil) {
		t.Error("adjacent strings hashed alike across their boundary")
	}
}
