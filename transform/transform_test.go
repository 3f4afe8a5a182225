package transform_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

var meta = transform.RowMeta{
	ExecutionArn: "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c",
	RunID:        "run-1",
	ExtractedAt:  time.Date(2026, 2, 1, 10, 0, 0, 123456789, time.UTC),
}

func ts(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestOperationRowDetailsVariants(t *testing.T) {
	errObj := &types.ErrorObject{ErrorType: aws.String("Boom"), ErrorMessage: aws.String("it broke"), ErrorData: aws.String(`{"x":1}`), StackTrace: []string{"at a", "at b"}}
	base := func() types.Operation {
		return types.Operation{Id: aws.String("op-1"), Type: "STEP", Status: "FAILED", StartTimestamp: ts("2026-01-05T10:00:00.123Z")}
	}
	tests := []struct {
		name  string
		edit  func(*types.Operation)
		check func(*testing.T, schema.Operation)
	}{
		{"none", func(*types.Operation) {}, func(t *testing.T, r schema.Operation) {
			if r.DetailKind != nil || r.Result != nil || r.Attempt != nil {
				t.Errorf("want no details columns, got %+v", r)
			}
		}},
		{"execution", func(o *types.Operation) {
			o.ExecutionDetails = &types.ExecutionDetails{InputPayload: aws.String(`{"order":1}`)}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "execution")
			if r.InputPayload == nil || *r.InputPayload != `{"order":1}` {
				t.Errorf("input_payload %v", r.InputPayload)
			}
		}},
		{"context", func(o *types.Operation) {
			o.ContextDetails = &types.ContextDetails{ReplayChildren: aws.Bool(false), Result: aws.String("r"), Error: errObj}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "context")
			if r.ReplayChildren == nil || *r.ReplayChildren || *r.Result != "r" || *r.ErrorType != "Boom" || len(r.ErrorStackTrace) != 2 {
				t.Errorf("context columns %+v", r)
			}
		}},
		{"step", func(o *types.Operation) {
			o.StepDetails = &types.StepDetails{Attempt: 3, NextAttemptTimestamp: ts("2026-01-05T10:01:00.5Z"), Error: errObj}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "step")
			if r.Attempt == nil || *r.Attempt != 3 || !r.NextAttemptTime.Equal(*ts("2026-01-05T10:01:00.5Z")) || *r.ErrorMessage != "it broke" || r.Result != nil {
				t.Errorf("step columns %+v", r)
			}
		}},
		{"step attempt zero", func(o *types.Operation) { o.StepDetails = &types.StepDetails{} }, func(t *testing.T, r schema.Operation) {
			if r.Attempt == nil || *r.Attempt != 0 {
				t.Errorf("attempt of step details with Attempt 0: %v", r.Attempt)
			}
		}},
		{"wait", func(o *types.Operation) {
			o.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: ts("2026-01-06T00:00:00Z")}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "wait")
			if !r.ScheduledEndTime.Equal(*ts("2026-01-06T00:00:00Z")) {
				t.Errorf("scheduled_end_time %v", r.ScheduledEndTime)
			}
		}},
		{"callback", func(o *types.Operation) {
			o.CallbackDetails = &types.CallbackDetails{CallbackId: aws.String("cb-1"), Result: aws.String("")}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "callback")
			if *r.CallbackID != "cb-1" || r.Result == nil || *r.Result != "" || r.ErrorType != nil {
				t.Errorf("callback columns %+v", r)
			}
		}},
		{"chained invoke", func(o *types.Operation) {
			o.ChainedInvokeDetails = &types.ChainedInvokeDetails{Error: &types.ErrorObject{StackTrace: []string{}}}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "chained_invoke")
			if r.ErrorStackTrace == nil || len(r.ErrorStackTrace) != 0 {
				t.Errorf("an empty stack trace must stay empty, not null: %#v", r.ErrorStackTrace)
			}
		}},
		{"two details, one outcome", func(o *types.Operation) {
			o.WaitDetails = &types.WaitDetails{}
			o.CallbackDetails = &types.CallbackDetails{Result: aws.String("x")}
			o.ExecutionDetails = &types.ExecutionDetails{}
		}, func(t *testing.T, r schema.Operation) {
			wantKind(t, r, "callback,execution,wait")
		}},
		{"unknown type and status pass through", func(o *types.Operation) { o.Type, o.Status = "TELEPORT", "" }, func(t *testing.T, r schema.Operation) {
			if r.Type != "TELEPORT" || r.Status != "" {
				t.Errorf("type %q status %q", r.Type, r.Status)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := base()
			tc.edit(&op)
			row := transform.OperationRow(&op, 7, meta)
			if row.Seq != 7 || row.ExecutionArn != meta.ExecutionArn || row.RunID != "run-1" || row.OperationID != "op-1" {
				t.Errorf("common columns %+v", row)
			}
			if !row.ExtractedAt.Equal(time.Date(2026, 2, 1, 10, 0, 0, 123000000, time.UTC)) {
				t.Errorf("extracted_at not truncated to ms: %v", row.ExtractedAt)
			}
			tc.check(t, row)
			if diff := optest.DiffRow(op, &row); diff != "" {
				t.Errorf("reconstruct (-want +got):\n%s", diff)
			}
		})
	}
}

func wantKind(t *testing.T, r schema.Operation, kind string) {
	t.Helper()
	if r.DetailKind == nil || *r.DetailKind != kind {
		t.Errorf("detail_kind %v, want %q", r.DetailKind, kind)
	}
}

// TestOperationRowOddShapes: the shapes the typed columns cannot hold are
// archived all the same, the typed columns keep what they can, and
// overflow_json holds the rest in the API's member names.
func TestOperationRowOddShapes(t *testing.T) {
	full := &types.ErrorObject{ErrorType: aws.String("x"), StackTrace: []string{}}
	tests := []struct {
		name         string
		op           types.Operation
		wantOverflow string
		check        func(*testing.T, schema.Operation)
	}{
		{"no id", types.Operation{Type: "STEP"}, `{"IdAbsent":true}`, func(t *testing.T, r schema.Operation) {
			if r.OperationID != "" {
				t.Errorf("operation_id %q", r.OperationID)
			}
		}},
		{"empty error object", types.Operation{Id: aws.String("a"), StepDetails: &types.StepDetails{Attempt: 2, Result: aws.String("r"), Error: &types.ErrorObject{}}},
			`{"StepDetails":{"Error":{}}}`, func(t *testing.T, r schema.Operation) {
				if r.ErrorType != nil || r.ErrorStackTrace != nil || r.Result == nil || *r.Result != "r" || *r.Attempt != 2 {
					t.Errorf("typed columns %+v", r)
				}
			}},
		{"empty error object on a chained invoke", types.Operation{Id: aws.String("a"), ChainedInvokeDetails: &types.ChainedInvokeDetails{Error: &types.ErrorObject{}}},
			`{"ChainedInvokeDetails":{"Error":{}}}`, nil},
		{"two outcomes", types.Operation{Id: aws.String("a"), StepDetails: &types.StepDetails{Result: aws.String("1")},
			CallbackDetails: &types.CallbackDetails{CallbackId: aws.String("cb"), Result: aws.String("<&>"), Error: full}},
			`{"CallbackDetails":{"Result":"<&>","Error":{"ErrorType":"x","StackTrace":[]}}}`, func(t *testing.T, r schema.Operation) {
				wantKind(t, r, "step,callback")
				if *r.Result != "1" || r.ErrorType != nil || *r.CallbackID != "cb" {
					t.Errorf("typed columns %+v", r)
				}
			}},
		{"bytes that are not UTF-8 on a second details object", types.Operation{Id: aws.String("a"), StepDetails: &types.StepDetails{Result: aws.String("1\xff")},
			CallbackDetails: &types.CallbackDetails{Result: aws.String("a\xff"), Error: &types.ErrorObject{ErrorType: aws.String("T"), StackTrace: []string{"\x80", "\ufffd"}}}},
			`{"CallbackDetails":{"Result":"a\ufffd","Error":{"ErrorType":"T","StackTrace":["\ufffd","�"]}},"NotUTF8":{"CallbackDetails.Error.StackTrace.0":"gA==","CallbackDetails.Result":"Yf8="}}`,
			func(t *testing.T, r schema.Operation) {
				if *r.Result != "1\xff" { // the typed columns keep the bytes as they are
					t.Errorf("result %q", *r.Result)
				}
			}},
		{"every details object, empty errors", types.Operation{Id: aws.String("a"),
			ExecutionDetails:     &types.ExecutionDetails{},
			ContextDetails:       &types.ContextDetails{Error: &types.ErrorObject{}},
			StepDetails:          &types.StepDetails{Result: aws.String("")},
			WaitDetails:          &types.WaitDetails{},
			CallbackDetails:      &types.CallbackDetails{Error: &types.ErrorObject{ErrorData: aws.String("")}},
			ChainedInvokeDetails: &types.ChainedInvokeDetails{Result: aws.String("z"), Error: &types.ErrorObject{}}},
			`{"ContextDetails":{"Error":{}},"StepDetails":{"Result":""},"CallbackDetails":{"Error":{"ErrorData":""}},"ChainedInvokeDetails":{"Result":"z","Error":{}}}`,
			func(t *testing.T, r schema.Operation) {
				wantKind(t, r, "context,execution,step,wait,callback,chained_invoke")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := transform.OperationRow(&tc.op, 0, meta)
			if row.OverflowJSON == nil || *row.OverflowJSON != tc.wantOverflow {
				t.Errorf("overflow_json %v, want %s", deref(row.OverflowJSON), tc.wantOverflow)
			}
			if tc.check != nil {
				tc.check(t, row)
			}
			if diff := optest.DiffRow(tc.op, &row); diff != "" {
				t.Errorf("reconstruct (-want +got):\n%s", diff)
			}
		})
	}
	// The normal shapes leave overflow_json null.
	row := transform.OperationRow(&types.Operation{Id: aws.String("a"), StepDetails: &types.StepDetails{Error: full}}, 0, meta)
	if row.OverflowJSON != nil {
		t.Errorf("overflow_json %s for a representable operation", *row.OverflowJSON)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestExecutionError(t *testing.T) {
	for name, e := range map[string]*types.ErrorObject{
		"none": nil, "empty": {}, "empty stack": {StackTrace: []string{}},
		"full": {ErrorType: aws.String("T"), ErrorMessage: aws.String(""), ErrorData: aws.String("d"), StackTrace: []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			typ, msg, data, stack, over := transform.ExecutionError(e)
			if (over != nil) != (name == "empty") {
				t.Errorf("overflow %v", deref(over))
			}
			got, err := transform.ReconstructExecutionError(typ, msg, data, stack, over)
			if err != nil {
				t.Fatal(err)
			}
			if diff := optest.Diff(e, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestLossless is the property test: random operations (unicode, control
// characters, 256 KiB strings, every type and status and unknown ones, nil
// and empty everywhere) map to rows that give back the same operations.
func TestLossless(t *testing.T) {
	g := optest.New(20261125)
	g.NotUTF8 = true // the bytes of a body that is not UTF-8, as the SDK hands them over
	n := 20000
	if testing.Short() {
		n = 2000
	}
	overflows := 0
	for i := range n {
		op := g.Operation()
		row := transform.OperationRow(&op, int64(i), meta)
		if row.OverflowJSON != nil {
			overflows++
		}
		if diff := optest.DiffRow(op, &row); diff != "" {
			t.Fatalf("operation %d lost something (-want +got):\n%s", i, diff)
		}
	}
	// The odd shapes come at a real rate: an empty Error object, several
	// details objects with outcomes, no Id.
	if overflows < n/20 {
		t.Errorf("only %d of %d operations needed overflow_json: the generator no longer makes the odd shapes", overflows, n)
	}
}

// TestContentHashCoversEveryColumn changes each column of a row in turn: the
// hash must change, except for the columns that say where, how and when a
// row was read. A column added to schema/ but left out of the hash fails it.
func TestContentHashCoversEveryColumn(t *testing.T) {
	notContent := map[string]bool{"execution_arn": true, "source": true, "run_id": true, "extracted_at": true}
	base := func() schema.Operation {
		s := func(v string) *string { return &v }
		tm := ts("2026-01-05T10:00:00Z")
		b, a := true, int32(1)
		return schema.Operation{ExecutionArn: "arn", OperationID: "id", Seq: 1, ParentID: s("p"), Name: s("n"), Type: "STEP", SubType: s("st"),
			Status: "FAILED", StartTime: tm, EndTime: tm, DetailKind: s("step"), InputPayload: s("in"), ReplayChildren: &b, Attempt: &a,
			NextAttemptTime: tm, ScheduledEndTime: tm, CallbackID: s("cb"), Result: s("r"), ErrorType: s("et"), ErrorMessage: s("em"),
			ErrorData: s("ed"), ErrorStackTrace: []string{"x"}, OverflowJSON: s("{}"), Source: "state", RunID: "run", ExtractedAt: *tm}
	}
	want := transform.ContentHash([]schema.Operation{base()})
	for i, c := range schema.Operations.Columns {
		for _, change := range []string{"other", "null"} {
			row := base()
			f := reflect.ValueOf(&row).Elem().Field(i)
			if f.IsZero() {
				t.Fatalf("base row leaves %s unset", c.Name)
			}
			switch {
			case change == "null" && !c.Nullable:
				continue
			case change == "null":
				f.SetZero()
			case f.Kind() == reflect.Pointer:
				v := reflect.New(f.Type().Elem())
				v.Elem().Set(otherValue(f.Elem()))
				f.Set(v)
			default:
				f.Set(otherValue(f))
			}
			got := transform.ContentHash([]schema.Operation{row})
			if (got == want) != notContent[c.Name] {
				t.Errorf("column %s set to %s: hash changed = %v, want %v", c.Name, change, got != want, !notContent[c.Name])
			}
		}
	}
}

// otherValue is a value of v's type that differs from v.
func otherValue(v reflect.Value) reflect.Value {
	o := reflect.New(v.Type()).Elem()
	switch x := v.Interface().(type) {
	case string:
		o.SetString(x + "'")
	case int64, int32:
		o.SetInt(v.Int() + 1)
	case bool:
		o.SetBool(!x)
	case time.Time:
		o.Set(reflect.ValueOf(x.Add(time.Millisecond)))
	case []string:
		o.Set(reflect.ValueOf(append(append([]string(nil), x...), "y")))
	default:
		panic(fmt.Sprintf("no other value for %T", x))
	}
	return o
}

func TestSnapshot(t *testing.T) {
	ops := []types.Operation{
		{Id: aws.String("w"), Type: "WAIT", Status: "SUCCEEDED", StartTimestamp: ts("2026-01-04T23:59:59.999Z")},
		{Id: aws.String("e"), Type: "EXECUTION", Status: "FAILED", StartTimestamp: ts("2026-01-05T00:00:00.001Z"), EndTimestamp: ts("2026-01-05T01:00:00Z"),
			ExecutionDetails: &types.ExecutionDetails{InputPayload: aws.String("{}")}},
		{Id: aws.String("s"), Type: "STEP", Status: "TIMED_OUT", StepDetails: &types.StepDetails{Attempt: 2}},
		{Id: aws.String("f"), Type: "STEP", Status: "FAILED"},
	}
	s := transform.NewSnapshot(meta)
	rows := s.Add(nil, ops[:1])
	if dt, final := s.Partition(meta.ExtractedAt); dt != "2026-01-04" || final {
		t.Errorf("before the EXECUTION operation: dt %s final %v, want the earliest start, not final", dt, final)
	}
	rows = s.Add(rows, ops[1:])
	if dt, final := s.Partition(meta.ExtractedAt); dt != "2026-01-05" || !final {
		t.Errorf("dt %s final %v, want the EXECUTION operation's start date", dt, final)
	}
	for i, r := range rows {
		if r.Seq != int64(i) {
			t.Errorf("row %d has seq %d", i, r.Seq)
		}
	}
	ex := s.Finish()
	if ex.OperationCount != 4 || ex.FailedOperationCount != 3 || *ex.Status != "FAILED" || *ex.InputPayload != "{}" ||
		!ex.StartTime.Equal(*ops[1].StartTimestamp) || !ex.EndTime.Equal(*ops[1].EndTimestamp) {
		t.Errorf("execution row %+v", ex)
	}
	if *ex.FunctionName != "orders" || *ex.FunctionQualifier != "$LATEST" || *ex.ExecutionName != "o-1" || *ex.ExecutionID != "7f9c" || *ex.Region != "us-east-1" || *ex.AccountID != "123456789012" {
		t.Errorf("parsed ARN %+v", ex)
	}

	// Equal snapshots hash equal whatever the run; any change changes it.
	again := transform.NewSnapshot(transform.RowMeta{ExecutionArn: meta.ExecutionArn, RunID: "other", ExtractedAt: time.Now()})
	again.Add(nil, ops)
	if again.Finish().ContentHash != ex.ContentHash {
		t.Error("equal snapshots hash differently")
	}
	changed := append([]types.Operation(nil), ops...)
	changed[2].StepDetails = &types.StepDetails{Attempt: 3}
	other := transform.NewSnapshot(meta)
	other.Add(nil, changed)
	if other.Finish().ContentHash == ex.ContentHash {
		t.Error("a changed attempt left the hash unchanged")
	}
	// nil and empty strings hash differently.
	a, b := transform.NewSnapshot(meta), transform.NewSnapshot(meta)
	a.Add(nil, []types.Operation{{Id: aws.String("x"), Name: nil}})
	b.Add(nil, []types.Operation{{Id: aws.String("x"), Name: aws.String("")}})
	if a.Finish().ContentHash == b.Finish().ContentHash {
		t.Error("nil and empty name hash the same")
	}
}

func TestSnapshotWithoutStarts(t *testing.T) {
	s := transform.NewSnapshot(meta)
	s.Add(nil, []types.Operation{{Id: aws.String("x"), Type: "STEP"}})
	if dt, _ := s.Partition(meta.ExtractedAt); dt != "2026-02-01" {
		t.Errorf("dt %s, want the run date", dt)
	}
	ex := s.Finish()
	if ex.Status != nil || ex.StartTime != nil {
		t.Errorf("no EXECUTION operation, yet %+v", ex)
	}
}

// TestOperationRowAllocations: a row costs the allocations its values
// need, not the mapping's scratch: a step that succeeded allocates nothing
// (its attempt number and detail_kind value are shared, the overflow made
// only when the row has one to carry).
func TestOperationRowAllocations(t *testing.T) {
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	op := types.Operation{Id: aws.String("op-1"), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded, Name: aws.String("charge"),
		StartTimestamp: &start, EndTimestamp: &start, StepDetails: &types.StepDetails{Attempt: 1, Result: aws.String(`{"ok":true}`)}}
	rows := make([]schema.Operation, 0, 1)
	n := testing.AllocsPerRun(100, func() {
		rows = append(rows[:0], transform.OperationRow(&op, 0, meta))
	})
	if n > 0 {
		t.Errorf("%v allocations a row, want none", n)
	}
}
