package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
)

const arn = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c"

func getAll(t *testing.T, client *lambda.Client, arn, token string, pageSize int32) []types.Operation {
	t.Helper()
	p := lambda.NewGetDurableExecutionStatePaginator(client, &lambda.GetDurableExecutionStateInput{
		DurableExecutionArn: aws.String(arn), CheckpointToken: aws.String(token), MaxItems: pageSize})
	var ops []types.Operation
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, out.Operations...)
	}
	return ops
}

// TestWireRoundTripThroughSDK: random operations, served on the wire and
// parsed by the real SDK client, come back exactly.
func TestWireRoundTripThroughSDK(t *testing.T) {
	g := optest.New(7)
	ops := make([]types.Operation, 3000)
	for i := range ops {
		ops[i] = g.Operation()
	}
	srv := emulator.New()
	srv.Add(emulator.Fixed(arn, "tok", ops))
	_, client := emulatortest.Start(t, srv)
	got := getAll(t, client, arn, "tok", 1000)
	if len(got) != len(ops) {
		t.Fatalf("%d operations back, want %d", len(got), len(ops))
	}
	for i := range ops {
		if diff := optest.Diff(ops[i], got[i]); diff != "" {
			t.Fatalf("operation %d changed on the wire (-sent +parsed):\n%s", i, diff)
		}
	}
}

// TestGeneratedThroughSDK: generated executions survive the wire too, and
// generation is deterministic.
func TestGeneratedThroughSDK(t *testing.T) {
	execs := emulator.Generate(3, 20, emulator.GenerateOptions{LargePayloadEvery: 50})
	again := emulator.Generate(3, 20, emulator.GenerateOptions{LargePayloadEvery: 50})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	kinds := map[string]bool{}
	for k, e := range execs {
		if e.ARN != again[k].ARN || e.Token != again[k].Token || e.Len != again[k].Len {
			t.Fatalf("execution %d differs between two generations from one seed", k)
		}
		got := getAll(t, client, e.ARN, e.Token, 77)
		if len(got) != e.Len {
			t.Fatalf("%s: %d operations, want %d", e.ARN, len(got), e.Len)
		}
		for i := range got {
			want := e.Op(i)
			if diff := optest.Diff(want, got[i]); diff != "" {
				t.Fatalf("%s op %d (-want +got):\n%s", e.ARN, i, diff)
			}
			if diff := optest.Diff(want, again[k].Op(i)); diff != "" {
				t.Fatalf("generation not deterministic:\n%s", diff)
			}
			kinds[string(want.Type)] = true
			kinds["status:"+string(want.Status)] = true
			if want.ParentId != nil {
				kinds["child"] = true
			}
			if want.Type == types.OperationTypeContext {
				kinds["context:"+aws.ToString(want.SubType)] = true
			}
			if sd := want.StepDetails; sd != nil && sd.Attempt > 1 {
				kinds["retried"] = true
			}
			for _, e := range []*types.ErrorObject{errOf(want)} {
				if e != nil && len(e.StackTrace) > 0 {
					kinds["stack"] = true
				}
			}
		}
	}
	for _, k := range []string{"EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE", "child", "retried", "stack",
		"context:Dag", "context:WaitForCallback", "status:STARTED", "status:PENDING", "status:READY", "status:SUCCEEDED", "status:FAILED", "status:CANCELLED", "status:TIMED_OUT", "status:STOPPED"} {
		if !kinds[k] {
			t.Errorf("20 generated executions have no %s", k)
		}
	}
}

// TestGenerateSettled checks the benchmarks' production-like data: most
// operations SUCCEEDED, few steps retried, about 2.5 history events an
// operation (the tests' default: about 4.8), and the odd shapes kept.
func TestGenerateSettled(t *testing.T) {
	count := func(o emulator.GenerateOptions) (ops, succeeded, steps, retried, events int, kinds map[string]bool) {
		kinds = map[string]bool{}
		for _, e := range emulator.Generate(98, 200, o) {
			events += e.History.Len()
			for i := range e.Len {
				op := e.Op(i)
				ops++
				if op.Status == types.OperationStatusSucceeded {
					succeeded++
				}
				if sd := op.StepDetails; sd != nil {
					steps++
					if sd.Attempt > 1 {
						retried++
					}
				}
				kinds[string(op.Type)], kinds["status:"+string(op.Status)] = true, true
			}
		}
		return
	}
	ops, succeeded, steps, retried, events, kinds := count(emulator.GenerateOptions{Settled: true, Days: 90})
	if f := float64(succeeded) / float64(ops); f < 0.9 {
		t.Errorf("settled: %.2f of the operations SUCCEEDED, want at least 0.9", f)
	}
	if f := float64(retried) / float64(steps); f > 0.1 {
		t.Errorf("settled: %.2f of the steps retried, want at most 0.1", f)
	}
	if f := float64(events) / float64(ops); f < 2 || f > 3 {
		t.Errorf("settled: %.2f events an operation, want 2 to 3", f)
	}
	for _, k := range []string{"SCHEDULED_TASK", "status:PAUSED", "status:FAILED", "status:PENDING"} {
		if !kinds[k] {
			t.Errorf("settled: no %s among %d operations", k, ops)
		}
	}
	ops, _, _, _, events, _ = count(emulator.GenerateOptions{Days: 90})
	if f := float64(events) / float64(ops); f < 4 {
		t.Errorf("default: %.2f events an operation, want the tests' heavy retrying (over 4)", f)
	}
}

func errOf(op types.Operation) *types.ErrorObject {
	switch {
	case op.StepDetails != nil:
		return op.StepDetails.Error
	case op.ContextDetails != nil:
		return op.ContextDetails.Error
	case op.CallbackDetails != nil:
		return op.CallbackDetails.Error
	case op.ChainedInvokeDetails != nil:
		return op.ChainedInvokeDetails.Error
	}
	return nil
}

func rawGet(t *testing.T, base, arn string, q url.Values) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(base + "/2025-12-01/durable-executions/" + url.PathEscape(arn) + "/state?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestWireForm checks the bytes on the wire: epoch-second numbers with
// milliseconds, absent members omitted (never null), an empty StackTrace
// kept as [], the default page size, and the error form.
func TestWireForm(t *testing.T) {
	start := time.Date(2026, 1, 5, 10, 0, 0, 123e6, time.UTC)
	ops := []types.Operation{{Id: aws.String("a"), Type: "STEP", Status: "FAILED", StartTimestamp: &start,
		StepDetails: &types.StepDetails{Attempt: 2, Error: &types.ErrorObject{ErrorType: aws.String("E"), StackTrace: []string{}}}}}
	ops = append(ops, make([]types.Operation, 150)...)
	for i := 1; i < len(ops); i++ {
		ops[i] = types.Operation{Id: aws.String(fmt.Sprint(i)), Type: "WAIT", Status: "STARTED"}
	}
	srv := emulator.New()
	srv.Add(emulator.Fixed(arn, "tok", ops))
	base, _ := emulatortest.Start(t, srv)

	resp, body := rawGet(t, base, arn, url.Values{"CheckpointToken": {"tok"}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(string(body), "null") {
		t.Errorf("body holds null: %.300s", body)
	}
	want := `{"Id":"a","Type":"STEP","StartTimestamp":1767607200.123,"Status":"FAILED","StepDetails":{"Attempt":2,"Error":{"ErrorType":"E","StackTrace":[]}}}`
	var page struct {
		Operations []json.RawMessage
		NextMarker *string
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(page.Operations[0])); got != want {
		t.Errorf("operation on the wire:\n got %s\nwant %s", got, want)
	}
	if len(page.Operations) != emulator.DefaultMaxItems || page.NextMarker == nil {
		t.Errorf("default page: %d operations, marker %v", len(page.Operations), page.NextMarker)
	}

	// The last page has no NextMarker member at all.
	_, body = rawGet(t, base, arn, url.Values{"CheckpointToken": {"tok"}, "Marker": {*page.NextMarker}})
	if strings.Contains(string(body), "NextMarker") {
		t.Errorf("last page names NextMarker: %.200s", body)
	}

	for _, tc := range []struct {
		name   string
		arn    string
		q      url.Values
		status int
		errTyp string
	}{
		{"unknown ARN", arn + "x", url.Values{"CheckpointToken": {"tok"}}, 404, "ResourceNotFoundException"},
		{"wrong token", arn, url.Values{"CheckpointToken": {"nope"}}, 400, "InvalidParameterValueException"},
		{"no token", arn, url.Values{}, 400, "InvalidParameterValueException"},
		{"MaxItems 1001", arn, url.Values{"CheckpointToken": {"tok"}, "MaxItems": {"1001"}}, 400, "InvalidParameterValueException"},
		{"MaxItems -1", arn, url.Values{"CheckpointToken": {"tok"}, "MaxItems": {"-1"}}, 400, "InvalidParameterValueException"},
		{"forged marker", arn, url.Values{"CheckpointToken": {"tok"}, "Marker": {"AAAA"}}, 400, "InvalidParameterValueException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawGet(t, base, tc.arn, tc.q)
			if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-Errortype") != tc.errTyp {
				t.Errorf("status %d errortype %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), tc.status, tc.errTyp)
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil || (m["message"] == "" && m["Message"] == "") {
				t.Errorf("error body %s", body)
			}
		})
	}
}

func TestMarkers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := emulator.New(emulator.WithMarkerTTL(time.Hour), emulator.WithClock(func() time.Time { return now }))
	srv.Add(emulator.Fixed(arn, "tok", make([]types.Operation, 10)), emulator.Fixed(arn+"2", "tok2", make([]types.Operation, 10)))
	_, client := emulatortest.Start(t, srv)
	ctx := context.Background()
	first, err := client.GetDurableExecutionState(ctx, &lambda.GetDurableExecutionStateInput{DurableExecutionArn: aws.String(arn), CheckpointToken: aws.String("tok"), MaxItems: 3})
	if err != nil || first.NextMarker == nil {
		t.Fatal(err, first)
	}
	_, err = client.GetDurableExecutionState(ctx, &lambda.GetDurableExecutionStateInput{DurableExecutionArn: aws.String(arn + "2"), CheckpointToken: aws.String("tok2"), Marker: first.NextMarker})
	var ipv *types.InvalidParameterValueException
	if !errors.As(err, &ipv) {
		t.Errorf("another ARN's marker: want InvalidParameterValueException, got %v", err)
	}
	now = now.Add(2 * time.Hour)
	_, err = client.GetDurableExecutionState(ctx, &lambda.GetDurableExecutionStateInput{DurableExecutionArn: aws.String(arn), CheckpointToken: aws.String("tok"), Marker: first.NextMarker})
	if !errors.As(err, &ipv) || !strings.Contains(ipv.ErrorMessage(), "expired") {
		t.Errorf("expired marker: want InvalidParameterValueException, got %v", err)
	}
	var nf *types.ResourceNotFoundException
	_, err = client.GetDurableExecutionState(ctx, &lambda.GetDurableExecutionStateInput{DurableExecutionArn: aws.String("arn:nope"), CheckpointToken: aws.String("tok")})
	if !errors.As(err, &nf) || nf.ErrorMessage() == "" {
		t.Errorf("unknown ARN through the SDK: %v", err)
	}
}

func TestPageCacheServesTheSamePages(t *testing.T) {
	execs := emulator.Generate(9, 3, emulator.GenerateOptions{MaxOps: 50})
	srv := emulator.New(emulator.WithPageCache())
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	for _, e := range execs {
		first := getAll(t, client, e.ARN, e.Token, 7)
		second := getAll(t, client, e.ARN, e.Token, 7)
		if diff := optest.Diff(first, second); diff != "" || len(first) != e.Len {
			t.Fatalf("cached pages differ:\n%s", diff)
		}
	}
}

// TestPageCacheStartsAgainOnAdd: an execution added again (as one that
// went on) is served as added, not from the pages cached before.
func TestPageCacheStartsAgainOnAdd(t *testing.T) {
	execs := emulator.Generate(9, 1, emulator.GenerateOptions{MinOps: 20, MaxOps: 50})
	srv := emulator.New(emulator.WithPageCache())
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	e := execs[0]
	if got := getAll(t, client, e.ARN, e.Token, 7); len(got) != e.Len {
		t.Fatalf("%d operations served, want %d", len(got), e.Len)
	}
	e.Len--
	srv.Add(e)
	if got := getAll(t, client, e.ARN, e.Token, 7); len(got) != e.Len {
		t.Errorf("after Add: %d operations served, want %d", len(got), e.Len)
	}
}

// TestHistoryAsTheServiceWritesIt: AWS's service marks every payload it
// returns in a history Truncated false (transform/testdata/histories/
// cloud-java-*), where AWS's test servers leave the member out; the
// emulator serves one execution in four the service's way, through the
// real SDK: every input, result, error and pause or resume reason of such
// a history marked, none of the others' but their inputs. And every chained invoke names the
// execution it started (DurableExecutionArn), as AWS's conformance
// requirements expect.
func TestHistoryAsTheServiceWritesIt(t *testing.T) {
	execs := emulator.Generate(9, 40, emulator.GenerateOptions{MinOps: 20, MaxOps: 60})
	srv := emulator.New()
	srv.Add(execs...)
	_, client := emulatortest.Start(t, srv)
	marked, unmarked, invokes := 0, 0, 0
	for _, e := range execs {
		var set, unset int
		for _, ev := range history(t, client, e.ARN, true) {
			if d := ev.ChainedInvokeStartedDetails; d != nil {
				invokes++
				if !strings.Contains(aws.ToString(d.DurableExecutionArn), ":function:billing:3/durable-execution/") {
					t.Errorf("%s: event %d: a chained invoke started %q", e.ARN, aws.ToInt32(ev.EventId), aws.ToString(d.DurableExecutionArn))
				}
			}
			for _, p := range payloadsOf(t, ev) {
				if p == nil {
					unset++
				} else if *p {
					t.Fatalf("%s: event %d marked truncated with its data read", e.ARN, aws.ToInt32(ev.EventId))
				} else {
					set++
				}
			}
		}
		switch {
		case set > 1 && unset == 0: // more than the ExecutionStarted input, which is always marked
			marked++
		case unset > 0 && set <= 1:
			unmarked++
		default:
			t.Errorf("%s: %d payloads marked, %d not: a history marks every payload or only its input", e.ARN, set, unset)
		}
	}
	if marked < 4 || unmarked < 4 || invokes == 0 {
		t.Errorf("%d of 40 histories marked the service's way, %d not, %d chained invokes: want both, and invokes", marked, unmarked, invokes)
	}
}

// payloadsOf is the Truncated member of each payload (input, result,
// error, a pause's or a resume's reason) ev carries.
func payloadsOf(t *testing.T, ev types.Event) []*bool {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []*bool
	for k, d := range m {
		det, ok := d.(map[string]any)
		if !ok || !strings.HasSuffix(k, "Details") {
			continue
		}
		for _, member := range []string{"Input", "Result", "Error", "Reason"} {
			p, ok := det[member].(map[string]any)
			if !ok {
				continue
			}
			tr, ok := p["Truncated"].(bool)
			if !ok {
				out = append(out, nil)
				continue
			}
			out = append(out, &tr)
		}
	}
	return out
}

// TestQuota: past the account's quota, a request is answered as AWS
// answers it, and the SDK reads it so: TooManyRequestsException with its
// Reason and retryAfterSeconds (the Retry-After header); the requests of
// a burst within it are served. The Throttle fault answers the same.
func TestQuota(t *testing.T) {
	srv := emulator.New(emulator.WithQuota(0.001, 2)) // refills a token in 1,000 s: none within the test
	e := emulator.Generate(3, 1, emulator.GenerateOptions{MaxOps: 5})[0]
	srv.Add(e)
	url, _ := emulatortest.Start(t, srv)
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: aws.AnonymousCredentials{}})
	get := func() error {
		_, err := client.GetDurableExecution(context.Background(), &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(e.ARN)})
		return err
	}
	for i := range 2 { // the burst
		if err := get(); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	err := get()
	checkThrottled(t, err)
	if st := srv.Stats(); st.Throttled != 1 || st.Requests != 3 {
		t.Errorf("stats %+v: want 3 requests, 1 throttled", st)
	}
	// The Throttle fault answers alike.
	faulty := emulator.New(emulator.WithFaults(func(int64, string) emulator.Fault { return emulator.Throttle }))
	faulty.Add(e)
	furl, _ := emulatortest.Start(t, faulty)
	_, err = lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(furl), RetryMaxAttempts: 1, Credentials: aws.AnonymousCredentials{}}).
		GetDurableExecution(context.Background(), &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(e.ARN)})
	checkThrottled(t, err)
}

// checkThrottled fails the test unless err is the SDK's reading of a
// throttle as the service answers it.
func checkThrottled(t *testing.T, err error) {
	t.Helper()
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonCallerRateLimitExceeded || aws.ToString(tm.RetryAfterSeconds) != "1" {
		t.Fatalf("throttled: %v (%+v): want TooManyRequestsException, CallerRateLimitExceeded, retry after 1 s", err, tm)
	}
}
