package schema_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/schema"
)

// TestDiffRowFindsEachColumn: for every table and every column, two rows
// that differ in that column alone are told apart at that column (a set
// pointer against nil, an empty list against nil, another value), and
// alike when the column is skipped.
func TestDiffRowFindsEachColumn(t *testing.T) {
	check := func(table *schema.Table, diff func(a, b reflect.Value, skip []bool) int, typ reflect.Type) {
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
			if got := diff(a, b, nil); got != k {
				t.Errorf("%s: rows differing in %s: DiffRow says %d", table.Name, table.Columns[k].Name, got)
			}
			skip := make([]bool, len(table.Columns))
			skip[k] = true
			if got := diff(a, b, skip); got != -1 {
				t.Errorf("%s: %s skipped, DiffRow says %d", table.Name, table.Columns[k].Name, got)
			}
		}
	}
	check(schema.Operations, func(a, b reflect.Value, skip []bool) int {
		return schema.DiffRow(schema.Operations, a.Addr().Interface().(*schema.Operation), b.Addr().Interface().(*schema.Operation), skip)
	}, reflect.TypeFor[schema.Operation]())
	check(schema.Executions, func(a, b reflect.Value, skip []bool) int {
		return schema.DiffRow(schema.Executions, a.Addr().Interface().(*schema.Execution), b.Addr().Interface().(*schema.Execution), skip)
	}, reflect.TypeFor[schema.Execution]())
	check(schema.Events, func(a, b reflect.Value, skip []bool) int {
		return schema.DiffRow(schema.Events, a.Addr().Interface().(*schema.Event), b.Addr().Interface().(*schema.Event), skip)
	}, reflect.TypeFor[schema.Event]())

	// Times compare as instants, whatever their location.
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	local := at.In(time.FixedZone("x", 3600))
	a, b := schema.Operation{StartTime: &at, ExtractedAt: at}, schema.Operation{StartTime: &local, ExtractedAt: local}
	if got := schema.DiffRow(schema.Operations, &a, &b, nil); got != -1 {
		t.Errorf("one instant in two locations differs at %d", got)
	}
	b.ErrorStackTrace, a.ErrorStackTrace = []string{"a", "b"}, []string{"a", "c"}
	if got := schema.DiffRow(schema.Operations, &a, &b, nil); got < 0 || schema.Operations.Columns[got].Name != "error_stack_trace" {
		t.Errorf("lists differing in an element: %d", got)
	}
}
