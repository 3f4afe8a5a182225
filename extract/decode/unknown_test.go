package decode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/durable-etl/durable-etl/extract/decode"
)

var describeOp = operation{"describe", smithy.NewOperationSchema(schemas.GetDurableExecution, schemas.GetDurableExecutionRequest, schemas.GetDurableExecutionResponse),
	func() smithy.Deserializable { return &lambda.GetDurableExecutionOutput{} }}

// TestUnknownMembers holds what a response carries that the SDK's model
// does not know: reported by record, nested under the known members that
// hold it, in canonical form, tokens redacted; the output itself decoded
// exactly as the SDK decodes it.
func TestUnknownMembers(t *testing.T) {
	p := newProtocol(t)
	cases := []struct {
		name    string
		op      operation
		body    string
		records map[int]string
		output  string
		members []string
	}{{
		name: "history",
		op:   historyOp,
		body: `{"Events":[` +
			`{"EventId":1,"EventType":"ExecutionStarted","Future":{"b":2, "a":[1,2.50,1e400]}},` +
			`{"EventId":2,"EventType":"StepSucceeded","StepSucceededDetails":{"Result":{"Payload":"r"},"Cost":3}},` +
			`{"EventId":3,"EventType":"FutureThing","FutureDetails":{"Note":"<x>&","CheckpointToken":"secret","Inner":{"nextToken":"s2"}}},` +
			`{"EventId":4,"EventType":"StepSucceeded"},` +
			`{"EventId":5,"EventType":"StepFailed","StepFailedDetails":{"Error":{"Payload":{"ErrorType":"T","Extra":null},"Truncated":false}}},` +
			`{"EventId":6,"Fu\u0074ure2":"x"},` +
			// AWS's JavaScript testing runner (1.1.4) writes an Input the
			// model's CallbackStartedDetails lacks, as an empty object.
			`{"EventId":7,"EventType":"CallbackStarted","CallbackStartedDetails":{"CallbackId":"c","Timeout":600,"Input":{}}}` +
			`],"TotalEvents":6}`,
		records: map[int]string{
			0: `{"Future":{"a":[1,2.50,1e400],"b":2}}`,
			1: `{"StepSucceededDetails":{"Cost":3}}`,
			2: `{"FutureDetails":{"CheckpointToken":"[redacted]","Inner":{"nextToken":"[redacted]"},"Note":"<x>&"}}`,
			4: `{"StepFailedDetails":{"Error":{"Payload":{"Extra":null}}}}`,
			5: `{"Future2":"x"}`,
			6: `{"CallbackStartedDetails":{"Input":{}}}`,
		},
		output: `{"TotalEvents":6}`,
		members: []string{"Events[].CallbackStartedDetails.Input", "Events[].Future", "Events[].Future2", "Events[].FutureDetails", "Events[].StepFailedDetails.Error.Payload.Extra",
			"Events[].StepSucceededDetails.Cost", "TotalEvents"},
	}, {
		name:    "state",
		op:      stateOp,
		body:    `{"Operations":[{"Id":"a","Type":"STEP"},{"Id":"b","Type":"STEP","StepDetails":{"Attempt":2,"Budget":{"Left":1}}}],"NextMarker":"m"}`,
		records: map[int]string{1: `{"StepDetails":{"Budget":{"Left":1}}}`},
		members: []string{"Operations[].StepDetails.Budget"},
	}, {
		name:    "describe",
		op:      describeOp,
		body:    `{"DurableExecutionArn":"arn","Status":"SUCCEEDED","Tags":{"team":"x"},"DurableConfig":{"RetentionPeriodInDays":7,"Archive":true}}`,
		output:  `{"DurableConfig":{"Archive":true},"Tags":{"team":"x"}}`,
		members: []string{"DurableConfig.Archive", "Tags"},
	}, {
		name:    "declined, a member given twice",
		op:      historyOp,
		body:    `{"Events":[{"EventId":1,"EventId":2,"New":1}]}`,
		records: map[int]string{0: `{"New":1}`},
		members: []string{"Events[].New"},
	}, {
		name: "none",
		op:   historyOp,
		body: `{"Events":[{"EventId":1,"EventType":"StepStarted","StepStartedDetails":{}}],"NextMarker":"m"}`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.op.name != describeOp.name {
				compare(t, p, c.op, 200, []byte(c.body)) // the output is the SDK's
			}
			u := decode.Unknown{Records: map[int]json.RawMessage{9: json.RawMessage(`{"stale":1}`)}, Output: json.RawMessage(`{}`)}
			out := c.op.output()
			if err := p.DeserializeResponse(decode.WithUnknown(context.Background(), &u), c.op.schema, lambda.TypeRegistry, response(200, []byte(c.body)), out); err != nil {
				t.Fatal(err)
			}
			got := map[int]string{}
			for i, raw := range u.Records {
				got[i] = string(raw)
			}
			if len(c.records) == 0 {
				c.records = map[int]string{}
			}
			if !maps.Equal(got, c.records) {
				t.Errorf("records:\n got %v\nwant %v", got, c.records)
			}
			if string(u.Output) != c.output {
				t.Errorf("output: got %s, want %s", u.Output, c.output)
			}
			if !slices.Equal(u.Members, c.members) {
				t.Errorf("members: got %q, want %q", u.Members, c.members)
			}
		})
	}
	t.Run("without a context asking", func(t *testing.T) {
		out := describeOp.output()
		if err := p.DeserializeResponse(context.Background(), describeOp.schema, lambda.TypeRegistry, response(200, []byte(cases[2].body)), out); err != nil {
			t.Fatal(err)
		}
		if got := out.(*lambda.GetDurableExecutionOutput); got.DurableConfig == nil || *got.DurableConfig.RetentionPeriodInDays != 7 {
			t.Fatalf("decoded %+v", got)
		}
	})
	t.Run("describe decoded as the SDK does", func(t *testing.T) {
		var u decode.Unknown
		out := describeOp.output()
		if err := p.DeserializeResponse(decode.WithUnknown(context.Background(), &u), describeOp.schema, lambda.TypeRegistry, response(200, []byte(cases[2].body)), out); err != nil {
			t.Fatal(err)
		}
		got := out.(*lambda.GetDurableExecutionOutput)
		if got.DurableConfig == nil || *got.DurableConfig.RetentionPeriodInDays != 7 || string(got.Status) != "SUCCEEDED" {
			t.Fatalf("decoded %+v", got)
		}
	})
}

// TestUnknownMembersCanonical: two bodies with the same content in other
// orders and spacing report the same bytes, so a rerun or etl verify
// compares equal.
func TestUnknownMembersCanonical(t *testing.T) {
	p := newProtocol(t)
	bodies := []string{
		`{"Events":[{"EventId":1,"X":{"b":[1,{"d":1,"c":2}],"a":"\u00e9<"}}]}`,
		"{ \"Events\" : [ { \"X\" : { \"a\" : \"é<\" , \"b\" : [ 1 , { \"c\" : 2 , \"d\" : 1 } ] } , \"EventId\" : 1 } ] }",
	}
	var seen []string
	for _, b := range bodies {
		var u decode.Unknown
		if err := p.DeserializeResponse(decode.WithUnknown(context.Background(), &u), historyOp.schema, lambda.TypeRegistry, response(200, []byte(b)), historyOp.output()); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, string(u.Records[0]))
	}
	if seen[0] != seen[1] || seen[0] != `{"X":{"a":"é<","b":[1,{"c":2,"d":1}]}}` {
		t.Fatalf("got %q", seen)
	}
}

// TestOnUnknownTellsOnce: the hook hears of each member once per operation,
// however many responses carry it, kept or not as a row can hold it.
func TestOnUnknownTellsOnce(t *testing.T) {
	var told []string
	p, err := decode.NewProtocol(restjson1.New(schemas.AWSGirApiService), nil, decode.OnUnknown(func(op, member string, kept bool) {
		told = append(told, fmt.Sprint(op, " ", member, " ", kept))
	}))
	if err != nil {
		t.Fatal(err)
	}
	call := func(op operation, body string) {
		var u decode.Unknown
		if err := p.DeserializeResponse(decode.WithUnknown(context.Background(), &u), op.schema, lambda.TypeRegistry, response(200, []byte(body)), op.output()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		call(historyOp, `{"Events":[{"EventId":1,"New":1},{"EventId":2,"New":2}],"Total":2}`)
		call(describeOp, `{"DurableExecutionArn":"a","New":1}`)
	}
	call(historyOp, `{"Events":[{"EventId":1}]}`) // nothing unknown: nothing told
	want := []string{"GetDurableExecutionHistory Events[].New true", "GetDurableExecutionHistory Total false", "GetDurableExecution New true"}
	if !slices.Equal(told, want) {
		t.Errorf("told %q, want %q", told, want)
	}
	// Not without a context that asks.
	told = nil
	if err := p.DeserializeResponse(context.Background(), stateOp.schema, lambda.TypeRegistry, response(200, []byte(`{"Operations":[{"Id":"a","New":1}]}`)), stateOp.output()); err != nil || told != nil {
		t.Errorf("told %q without asking (%v)", told, err)
	}
}
