package transform_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// FuzzFromTheWire is the lossless property from the other end: whatever
// body the service answers, every operation and every event the real SDK
// client hands over (through the decoder a run uses) maps to a row that
// gives it back exactly, the events fold, and GetDurableExecution's
// answer describes the executions row. The property tests draw their shapes from a
// generator; here the fuzzer draws the wire's: odd numbers, strings,
// escapes, timestamps, members twice, members of the wrong details object.
func FuzzFromTheWire(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "pages", "*", "page-*.json")) // recorded state pages
	if len(files) == 0 {
		f.Fatal("no recorded pages")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"Events":[{"EventId":1,"EventType":"ExecutionStarted","EventTimestamp":1767607200.123456,"Id":"e","ExecutionStartedDetails":{"Input":{"Payload":"{}","Truncated":false},"ExecutionTimeout":900}}]}`,
		`{"Events":[{"EventId":2,"EventType":"StepFailed","EventTimestamp":1.5e9,"Id":"s","StepFailedDetails":{"Error":{"Payload":{"ErrorType":"","StackTrace":[]}},"RetryDetails":{"CurrentAttempt":1,"NextAttemptDelaySeconds":0}}}]}`,
		// Times the SDK wraps around int64 nanoseconds (see transform.SubMillis).
		`{"Events":[{"EventId":3,"EventType":"InvocationCompleted","EventTimestamp":-62135596800,"InvocationCompletedDetails":{"RequestId":"r","StartTimestamp":253402300800,"Error":{}}}]}`,
		`{"Operations":[{"Id":"s","Type":"STEP","Status":"PENDING","StartTimestamp":1767571200123,"StepDetails":{"Attempt":1,"NextAttemptTimestamp":9.9e11}}]}`,
		`{"DurableExecutionArn":"a","DurableExecutionName":"x","FunctionArn":"f","Status":"FAILED","StartTimestamp":1767607200.5,"EndTimestamp":253402300800,"Error":{},"PauseDetails":{},"DurableConfig":{"RetentionPeriodInDays":7}}`,
		`{"Events":[{"EventId":4,"EventType":"WaitStarted","Id":"w","WaitStartedDetails":{"Duration":5},"StepStartedDetails":{}},{"EventType":"Nope"}]}`,
	} {
		f.Add([]byte(s))
	}
	// And what the emulator serves: every event type, odd shapes,
	// members the SDK does not know.
	execs := emulator.Generate(7, 3, emulator.GenerateOptions{MinOps: 8, MaxOps: 15})
	for _, srv := range []*emulator.Server{emulator.New(), emulator.New(emulator.WithFutureMembers())} {
		srv.Add(execs...)
		hs := httptest.NewServer(srv)
		for _, e := range execs {
			for _, path := range []string{"/history?MaxItems=60", "/state?MaxItems=60&CheckpointToken=" + url.QueryEscape(e.Token), ""} {
				resp, err := http.Get(hs.URL + "/2025-12-01/durable-executions/" + url.PathEscape(e.ARN) + path)
				if err != nil {
					f.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					f.Fatalf("%s%s: %d %v %.200s", e.ARN, path, resp.StatusCode, err, b)
				}
				f.Add(b)
			}
		}
		hs.Close()
	}
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("Marker") != "" { // one page: the fuzzer's
			w.Write([]byte(`{}`))
			return
		}
		w.Write(*body.Load())
	}))
	defer srv.Close()
	emulatortest.Env(f)
	client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(srv.URL), extract.WithMaxAttempts(1))
	if err != nil {
		f.Fatal(err)
	}
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/x/1"
	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(&b)
		ctx := context.Background()
		// A body the SDK refuses is an error for the execution, not a row.
		_ = extract.Drain(ctx, client, extract.Entry{ARN: arn, Token: "tok"}, 1000, func(_ context.Context, p extract.Page) error {
			snap := transform.NewSnapshot(meta)
			rows := snap.Add(nil, p.Operations)
			for i := range p.Operations {
				if diff := optest.DiffRow(p.Operations[i], &rows[i]); diff != "" {
					t.Fatalf("operation %d does not reconstruct (-want +got):\n%s", i, diff)
				}
			}
			return nil
		})
		_ = extract.DrainHistory(ctx, client, arn, 1000, func(_ context.Context, p extract.HistoryPage) error {
			var keys transform.EventKeys
			var rows []schema.Event
			for i := range p.Events {
				rows = transform.AppendEventRow(rows, &p.Events[i], keys.Next(&p.Events[i]), meta)
				if diff := optest.DiffEventRow(p.Events[i], &rows[i]); diff != "" {
					t.Fatalf("event %d does not reconstruct (-want +got):\n%s", i, diff)
				}
			}
			// And they fold, whatever they are: an operation per Id at most.
			fold := transform.NewFolder()
			defer fold.Close()
			fold.Add(p.Events)
			ops, err := fold.AddTo(transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, Source: transform.SourceHistory}), nil)
			if err != nil || len(ops) > len(p.Events) {
				t.Fatalf("%d events folded into %d operations: %v", len(p.Events), len(ops), err)
			}
			return nil
		})
		// And GetDurableExecution's answer, whatever it is, describes the
		// executions row: its status and times as the answer gives them.
		if d, err := extract.Describe(ctx, client, arn); err == nil {
			row := schema.Execution{Source: transform.SourceHistory}
			transform.Describe(&row, d)
			if row.Status == nil || *row.Status != string(d.Status) || !sameMillis(row.StartTime, d.StartTimestamp) || !sameMillis(row.EndTime, d.EndTimestamp) {
				t.Fatalf("executions row status %v, start %v, end %v; the answer's %q, %v, %v", row.Status, row.StartTime, row.EndTime, d.Status, d.StartTimestamp, d.EndTimestamp)
			}
		}
	})
}

// sameMillis says whether a row's time is t to the millisecond.
func sameMillis(got, t *time.Time) bool {
	if got == nil || t == nil {
		return got == t
	}
	return got.Equal(t.Truncate(time.Millisecond))
}
