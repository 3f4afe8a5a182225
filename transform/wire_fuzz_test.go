package transform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/extract/decode"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// FuzzFromTheWire is the lossless property from the other end: whatever
// body the service answers, every operation and every event the SDK hands
// over (decoded as a run's client decodes it: package decode's protocol
// over the SDK's) maps to a row that gives it back exactly, the events
// fold, and GetDurableExecution's answer describes the executions row. The
// property tests draw their shapes from a generator; here the fuzzer draws
// the wire's: odd numbers, strings, escapes, bytes that are not UTF-8,
// timestamps, members twice, members of the wrong details object. No
// network: a target with a server's and a client's goroutines has coverage
// that does not repeat, and the fuzzer spent its time minimizing it
// (TestFromTheWireThroughTheClient runs the same checks over HTTP).
func FuzzFromTheWire(f *testing.F) {
	for _, b := range wireBodies(f) {
		f.Add(b)
	}
	p, err := decode.NewProtocol(restjson1.New(schemas.AWSGirApiService), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkWire(t, func(ctx context.Context, op *smithy.OperationSchema, out smithy.Deserializable) error {
			return p.DeserializeResponse(ctx, op, lambda.TypeRegistry, wireResponse(b), out)
		})
	})
}

var (
	stateSchema    = smithy.NewOperationSchema(schemas.GetDurableExecutionState, schemas.GetDurableExecutionStateRequest, schemas.GetDurableExecutionStateResponse)
	historySchema  = smithy.NewOperationSchema(schemas.GetDurableExecutionHistory, schemas.GetDurableExecutionHistoryRequest, schemas.GetDurableExecutionHistoryResponse)
	describeSchema = smithy.NewOperationSchema(schemas.GetDurableExecution, schemas.GetDurableExecutionRequest, schemas.GetDurableExecutionResponse)
)

func wireResponse(body []byte) *smithyhttp.Response {
	return &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}}
}

// checkWire decodes one body as a state page, a history page and
// GetDurableExecution's answer (with their unknown members, as a run asks)
// and fails unless each transforms losslessly. A body the SDK refuses is
// an error for the execution, not a row: nothing to check.
func checkWire(t *testing.T, decodeAs func(context.Context, *smithy.OperationSchema, smithy.Deserializable) error) {
	t.Helper()
	var u decode.Unknown
	ctx := decode.WithUnknown(context.Background(), &u)
	var state lambda.GetDurableExecutionStateOutput
	if decodeAs(ctx, stateSchema, &state) == nil {
		snap := transform.NewSnapshot(meta)
		rows := snap.Add(nil, state.Operations)
		for i := range state.Operations {
			if diff := optest.DiffRow(state.Operations[i], &rows[i]); diff != "" {
				t.Fatalf("operation %d does not reconstruct (-want +got):\n%s", i, diff)
			}
		}
	}
	u = decode.Unknown{}
	var history lambda.GetDurableExecutionHistoryOutput
	if decodeAs(ctx, historySchema, &history) == nil {
		page := extract.HistoryPage{Number: 1, Events: history.Events, Unknown: u.Records}
		var keys transform.EventKeys
		var rows []schema.Event
		for i := range page.Events {
			rows = transform.AppendHistoryEvent(rows, &page, i, keys.Next(&page.Events[i]), meta)
			if diff := optest.DiffEventRow(page.Events[i], &rows[i]); diff != "" {
				t.Fatalf("event %d does not reconstruct (-want +got):\n%s", i, diff)
			}
			if o := rows[i].OverflowJSON; o != nil && !json.Valid([]byte(*o)) {
				t.Fatalf("event %d: overflow_json %q is not JSON", i, *o)
			}
		}
		// And they fold, whatever they are: an operation per Id at most;
		// served newest first, the same operations, when EventIds tell
		// the order and each operation's events are of its type.
		fold := transform.NewFolder()
		defer fold.Close()
		fold.Add(page.Events)
		want, err := fold.Operations()
		if err != nil || len(want) > len(page.Events) {
			t.Fatalf("%d events folded into %d operations: %v", len(page.Events), len(want), err)
		}
		if ordered(page.Events) {
			back := transform.NewFolder()
			defer back.Close()
			for i := len(page.Events) - 1; i >= 0; i-- {
				back.Add(page.Events[i : i+1])
			}
			got, err := back.Operations()
			if err != nil {
				t.Fatal(err)
			}
			if diff := optest.Diff(want, got); diff != "" {
				t.Fatalf("the events folded newest first give other operations (-oldest first +newest first):\n%s", diff)
			}
		}
		if _, err := fold.AddTo(transform.NewSnapshot(transform.RowMeta{ExecutionArn: wireARN, Source: transform.SourceHistory}), nil); err != nil {
			t.Fatal(err)
		}
	}
	// And GetDurableExecution's answer, whatever it is, describes the
	// executions row: its status and times as the answer gives them.
	u = decode.Unknown{}
	var out lambda.GetDurableExecutionOutput
	if decodeAs(ctx, describeSchema, &out) == nil {
		d := &extract.Description{GetDurableExecutionOutput: &out, Unknown: u.Output}
		row := schema.Execution{Source: transform.SourceHistory}
		transform.Describe(&row, d)
		if row.Status == nil || *row.Status != string(d.Status) || !sameMillis(row.StartTime, d.StartTimestamp) || !sameMillis(row.EndTime, d.EndTimestamp) {
			t.Fatalf("executions row status %v, start %v, end %v; the answer's %q, %v, %v", row.Status, row.StartTime, row.EndTime, d.Status, d.StartTimestamp, d.EndTimestamp)
		}
		e, err := transform.ReconstructExecutionError(row.ErrorType, row.ErrorMessage, row.ErrorData, row.ErrorStackTrace, transform.WithoutUnknown(row.OverflowJSON))
		if err != nil {
			t.Fatal(err)
		}
		if diff := optest.Diff(out.Error, e); diff != "" {
			t.Fatalf("the execution's Error does not reconstruct (-want +got):\n%s", diff)
		}
	}
}

// ordered reports events whose EventIds are distinct and increasing, and
// whose operations' events are each of one type (its prefix): a history
// whose order the fold can tell from the events alone.
func ordered(events []types.Event) bool {
	types := map[string]string{}
	var last int32
	for _, ev := range events {
		if ev.EventId == nil || *ev.EventId <= last {
			return false
		}
		last = *ev.EventId
		typ, _, _ := transform.SplitEventType(string(ev.EventType))
		id := ""
		if ev.Id != nil {
			id = *ev.Id
		}
		if t, seen := types[id]; seen && t != typ {
			return false
		}
		types[id] = typ
	}
	return true
}

const wireARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/x/1"

// TestFromTheWireThroughTheClient runs FuzzFromTheWire's checks over its
// seed bodies as a run reads them: the real SDK client, over HTTP.
func TestFromTheWireThroughTheClient(t *testing.T) {
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(*body.Load())
	}))
	defer srv.Close()
	emulatortest.Env(t)
	client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(srv.URL), extract.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	bodies := wireBodies(t)
	for _, b := range bodies {
		body.Store(&b)
		checkWire(t, func(ctx context.Context, op *smithy.OperationSchema, out smithy.Deserializable) error {
			switch out := out.(type) {
			case *lambda.GetDurableExecutionStateOutput:
				o, err := client.GetDurableExecutionState(ctx, &lambda.GetDurableExecutionStateInput{DurableExecutionArn: aws.String(wireARN), CheckpointToken: aws.String("tok")})
				return into(out, o, err)
			case *lambda.GetDurableExecutionHistoryOutput:
				o, err := client.GetDurableExecutionHistory(ctx, &lambda.GetDurableExecutionHistoryInput{DurableExecutionArn: aws.String(wireARN)})
				return into(out, o, err)
			case *lambda.GetDurableExecutionOutput:
				o, err := client.GetDurableExecution(ctx, &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(wireARN)})
				return into(out, o, err)
			}
			return fmt.Errorf("no call answers %T", out)
		})
	}
}

// into copies a call's output o to out, unless the call failed.
func into[T any](out, o *T, err error) error {
	if err == nil {
		*out = *o
	}
	return err
}

// wireBodies are the seeds: recorded state pages, odd bodies, and what the
// emulator serves (every event type, odd shapes, members the SDK does not
// know).
func wireBodies(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "pages", "*", "page-*.json")) // recorded state pages
	if len(files) == 0 {
		t.Fatal("no recorded pages")
	}
	var bodies [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	for _, s := range []string{
		`{"Events":[{"EventId":1,"EventType":"ExecutionStarted","EventTimestamp":1767607200.123456,"Id":"e","ExecutionStartedDetails":{"Input":{"Payload":"{}","Truncated":false},"ExecutionTimeout":900}}]}`,
		`{"Events":[{"EventId":2,"EventType":"StepFailed","EventTimestamp":1.5e9,"Id":"s","StepFailedDetails":{"Error":{"Payload":{"ErrorType":"","StackTrace":[]}},"RetryDetails":{"CurrentAttempt":1,"NextAttemptDelaySeconds":0}}}]}`,
		// Times the SDK wraps around int64 nanoseconds (see transform.SubMillis).
		`{"Events":[{"EventId":3,"EventType":"InvocationCompleted","EventTimestamp":-62135596800,"InvocationCompletedDetails":{"RequestId":"r","StartTimestamp":253402300800,"Error":{}}}]}`,
		`{"Operations":[{"Id":"s","Type":"STEP","Status":"PENDING","StartTimestamp":1767571200123,"StepDetails":{"Attempt":1,"NextAttemptTimestamp":9.9e11}}]}`,
		`{"DurableExecutionArn":"a","DurableExecutionName":"x","FunctionArn":"f","Status":"FAILED","StartTimestamp":1767607200.5,"EndTimestamp":253402300800,"Error":{},"PauseDetails":{},"DurableConfig":{"RetentionPeriodInDays":7}}`,
		`{"Events":[{"EventId":4,"EventType":"WaitStarted","Id":"w","WaitStartedDetails":{"Duration":5},"StepStartedDetails":{}},{"EventType":"Nope"}]}`,
		// Bytes that are not UTF-8, which the SDK hands over as they are
		// (see transform.NotUTF8): in a second details object, in a
		// second event details object, in the typed columns.
		"{\"Operations\":[{\"Id\":\"x3\",\"Type\":\"STEP\",\"Status\":\"SUCCEEDED\",\"StepDetails\":{\"Attempt\":1,\"Result\":\"ok\xff\"},\"CallbackDetails\":{\"CallbackId\":\"cb\",\"Error\":{\"ErrorType\":\"Lat\xe0\",\"StackTrace\":[\"\x80\",\"a\"]}}}]}",
		"{\"Events\":[{\"EventId\":5,\"EventType\":\"StepFailed\",\"Id\":\"s\xc3\",\"StepFailedDetails\":{\"Error\":{\"Payload\":{\"ErrorMessage\":\"\xed\xa0\x80\"}}},\"WaitStartedDetails\":{\"Duration\":1}}]}",
	} {
		bodies = append(bodies, []byte(s))
	}
	execs := emulator.Generate(7, 3, emulator.GenerateOptions{MinOps: 8, MaxOps: 15})
	for _, srv := range []*emulator.Server{emulator.New(), emulator.New(emulator.WithFutureMembers())} {
		srv.Add(execs...)
		hs := httptest.NewServer(srv)
		for _, e := range execs {
			for _, path := range []string{"/history?MaxItems=60", "/state?MaxItems=60&CheckpointToken=" + url.QueryEscape(e.Token), ""} {
				resp, err := http.Get(hs.URL + "/2025-12-01/durable-executions/" + url.PathEscape(e.ARN) + path)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s%s: %d %v %.200s", e.ARN, path, resp.StatusCode, err, b)
				}
				bodies = append(bodies, b)
			}
		}
		hs.Close()
	}
	return bodies
}

// sameMillis says whether a row's time is t to the millisecond.
func sameMillis(got, t *time.Time) bool {
	if got == nil || t == nil {
		return got == t
	}
	return got.Equal(t.Truncate(time.Millisecond))
}
