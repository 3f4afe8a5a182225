package transform_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

const unknownRaw = `{"FutureDetails":{"Note":"x","Levels":[1,2.50]}}`

// checkUnknown fails unless overflow is valid JSON whose last member is
// "Unknown", holding unknownRaw byte for byte.
func checkUnknown(t *testing.T, what string, overflow *string) {
	t.Helper()
	if overflow == nil || !strings.HasSuffix(*overflow, `"Unknown":`+unknownRaw+`}`) || !json.Valid([]byte(*overflow)) {
		t.Fatalf("%s: overflow_json %v", what, overflow)
	}
}

// TestUnknownMembersKept: members unknown to the SDK join any overflow an
// event, operation or execution has, as its last member, and leave the
// rest as it was: the rows still read back as what the SDK handed over,
// verify's normal form keeps them, and the snapshot's hash sees them.
func TestUnknownMembersKept(t *testing.T) {
	g := optest.New(20261203)
	for i := range 2000 {
		ev := g.Event()
		before := transform.EventRow(&ev, transform.EventKey{ID: int32(i + 1)}, meta).OverflowJSON
		page := extract.HistoryPage{Events: []types.Event{ev}, Unknown: map[int]json.RawMessage{0: json.RawMessage(unknownRaw)}}
		row := transform.AppendHistoryEvent(nil, &page, 0, transform.EventKey{ID: int32(i + 1)}, meta)[0]
		checkUnknown(t, "event", row.OverflowJSON)
		if before != nil && !strings.HasPrefix(*row.OverflowJSON, strings.TrimSuffix(*before, "}")) {
			t.Fatalf("event: overflow %s became %s", *before, *row.OverflowJSON)
		}
		if d := optest.DiffEventRow(ev, &row); d != "" {
			t.Fatalf("event %d reads back otherwise:\n%s", i, d)
		}
		// What an archive made before the members were kept holds.
		if w := transform.WithoutUnknown(row.OverflowJSON); !samePtr(w, before) || !samePtr(transform.WithoutUnknown(before), before) {
			t.Fatalf("event %d: without Unknown %v, want %v", i, show(w), show(before))
		}
		normal := row
		transform.NormalizeEventOverflow(&normal)
		if *normal.OverflowJSON != *row.OverflowJSON {
			t.Fatalf("normal form %s, row %s", *normal.OverflowJSON, *row.OverflowJSON)
		}
	}

	ops := []types.Operation{g.Operation(), g.Operation(), g.Operation()}
	plain := transform.NewSnapshot(meta)
	plain.Add(nil, ops)
	snap := transform.NewSnapshot(meta)
	rows := snap.AddPage(nil, extract.Page{Operations: ops, Unknown: map[int]json.RawMessage{1: json.RawMessage(unknownRaw)}})
	checkUnknown(t, "operation", rows[1].OverflowJSON)
	for i := range ops {
		if d := optest.DiffRow(ops[i], &rows[i]); d != "" {
			t.Fatalf("operation %d reads back otherwise:\n%s", i, d)
		}
	}
	h := snap.Finish().ContentHash
	if plain.Finish().ContentHash == h {
		t.Error("the content hash does not see the unknown members")
	}
	if transform.ContentHash(rows) != h {
		t.Error("ContentHash of the rows differs from the snapshot's")
	}

	for _, e := range []*types.ErrorObject{nil, {}, {ErrorType: g.OptStr()}} {
		row := schema.Execution{Source: transform.SourceHistory}
		transform.Describe(&row, &extract.Description{GetDurableExecutionOutput: &lambda.GetDurableExecutionOutput{Error: e}, Unknown: json.RawMessage(unknownRaw)})
		checkUnknown(t, "execution", row.OverflowJSON)
		got, err := transform.ReconstructExecutionError(row.ErrorType, row.ErrorMessage, row.ErrorData, row.ErrorStackTrace, row.OverflowJSON)
		if err != nil || optest.Diff(e, got) != "" {
			t.Fatalf("execution error %+v reads back as %+v (%v)", e, got, err)
		}
	}
}

// TestDescribeEmptyObjects: an Error or a PauseDetails with no members,
// which the columns would read back as none, is kept in overflow_json,
// before any unknown members.
func TestDescribeEmptyObjects(t *testing.T) {
	reason := "r"
	for _, c := range []struct {
		err     *types.ErrorObject
		pause   *types.PauseDetails
		unknown string
		want    string
	}{
		{nil, nil, "", ""},
		{&types.ErrorObject{}, nil, "", `{"Error":{}}`},
		{nil, &types.PauseDetails{}, "", `{"PauseDetails":{}}`},
		{&types.ErrorObject{}, &types.PauseDetails{}, `{"X":1}`, `{"Error":{},"PauseDetails":{},"Unknown":{"X":1}}`},
		{nil, &types.PauseDetails{Reason: &reason}, "", ""},
	} {
		row := schema.Execution{}
		transform.Describe(&row, &extract.Description{GetDurableExecutionOutput: &lambda.GetDurableExecutionOutput{Error: c.err, PauseDetails: c.pause}, Unknown: json.RawMessage(c.unknown)})
		got := ""
		if row.OverflowJSON != nil {
			got = *row.OverflowJSON
		}
		if got != c.want {
			t.Errorf("error %+v, pause %+v: overflow_json %q, want %q", c.err, c.pause, got, c.want)
		}
	}
}

func samePtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func show(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
