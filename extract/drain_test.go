package extract_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/extract/decode"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

const testARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c"
const testToken = "secret-token/with+special=chars"

func fixedOps(n int) []types.Operation {
	ops := make([]types.Operation, n)
	for i := range ops {
		ops[i] = types.Operation{Id: aws.String(fmt.Sprintf("op-%05d", i)), Type: "STEP", Status: "SUCCEEDED"}
	}
	return ops
}

func drainAll(t *testing.T, api extract.StateAPI, e extract.Entry, pageSize int32) ([]types.Operation, int, error) {
	t.Helper()
	var got []types.Operation
	pages := 0
	err := extract.Drain(context.Background(), api, e, pageSize, func(_ context.Context, p extract.Page) error {
		pages++
		if p.Number != pages {
			t.Errorf("page number %d, want %d", p.Number, pages)
		}
		got = append(got, p.Operations...)
		return nil
	})
	return got, pages, err
}

func TestDrainPaginationEdges(t *testing.T) {
	for _, n := range []int{0, 1, 999, 1000, 1001, 5000} {
		for _, ps := range []int32{1, 1000} {
			t.Run(fmt.Sprintf("ops=%d/page=%d", n, ps), func(t *testing.T) {
				srv := emulator.New()
				srv.Add(emulator.Fixed(testARN, testToken, fixedOps(n)))
				_, client := emulatortest.Start(t, srv)
				got, pages, err := drainAll(t, client, extract.Entry{ARN: testARN, Token: testToken}, ps)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n {
					t.Fatalf("got %d operations, want %d", len(got), n)
				}
				for i, op := range got {
					if want := fmt.Sprintf("op-%05d", i); *op.Id != want {
						t.Fatalf("operation %d is %s, want %s", i, *op.Id, want)
					}
				}
				wantPages := max(1, (n+int(ps)-1)/int(ps))
				if pages != wantPages || srv.Stats().Requests != int64(wantPages) {
					t.Errorf("%d pages in %d requests, want %d", pages, srv.Stats().Requests, wantPages)
				}
			})
		}
	}
}

func TestDrainErrors(t *testing.T) {
	srv := emulator.New(emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		switch {
		case strings.HasSuffix(arn, "/throttled"):
			return emulator.Throttle
		case strings.HasSuffix(arn, "/broken"):
			return emulator.ServerError
		case strings.HasSuffix(arn, "/unavailable"):
			return emulator.Unavailable
		}
		return emulator.NoFault
	}))
	for _, name := range []string{"ok", "throttled", "broken", "unavailable"} {
		srv.Add(emulator.Fixed(testARN+"/"+name, testToken, fixedOps(3)))
	}
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(2), extract.WithMaxBackoff(50*time.Millisecond))
	tests := []struct {
		name, arn, token string
		pageSize         int32
		code, reason     string
	}{
		{"unknown ARN", testARN + "/missing", testToken, 100, "ResourceNotFoundException", "not found"},
		{"wrong token", testARN + "/ok", "wrong", 100, "InvalidParameterValueException", "Invalid checkpoint token"},
		{"page size over the limit", testARN + "/ok", testToken, 1001, "InvalidParameterValueException", "maxItems"},
		{"429 until retries run out", testARN + "/throttled", testToken, 100, "TooManyRequestsException", "failed after retries"},
		{"500 until retries run out", testARN + "/broken", testToken, 100, "ServiceException", "failed after retries"},
		{"503 until retries run out", testARN + "/unavailable", testToken, 100, "", "failed after retries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().Requests
			_, _, err := drainAll(t, client, extract.Entry{ARN: tc.arn, Token: tc.token}, tc.pageSize)
			var ee *extract.ExecutionError
			if !errors.As(err, &ee) {
				t.Fatalf("want *ExecutionError, got %v", err)
			}
			if tc.code != "" && ee.Code != tc.code {
				t.Errorf("code %q, want %q (%v)", ee.Code, tc.code, err)
			}
			if !strings.Contains(ee.Reason, tc.reason) || strings.Contains(ee.Reason, "\n") || ee.ARN != tc.arn {
				t.Errorf("reason %q should name %q on one line", ee.Reason, tc.reason)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(ee.Reason, testToken) {
				t.Errorf("the token leaked into %q", ee.Reason)
			}
			attempts := srv.Stats().Requests - before
			retried := strings.Contains(tc.reason, "retries")
			if retried && attempts != 2 || !retried && attempts != 1 {
				t.Errorf("%d attempts; 4xx other than 429 must be final, faults retried", attempts)
			}
		})
	}
}

// TestDrainCredentialsRefused: credentials the API will not take fail
// the call at once (no retry) with an error that says so
// (CredentialsRefused, RefusedCredentials); an access denied by policy is
// refused too, but is not about the credentials: another function's
// executions may be allowed.
func TestDrainCredentialsRefused(t *testing.T) {
	srv := emulator.New(emulator.WithCredentials(func(_ int64, key string) (string, string) {
		switch key {
		case "expired":
			return emulator.ExpiredToken()
		case "denied":
			return "AccessDeniedException", "User: arn:aws:iam::1:user/u is not authorized to perform: lambda:GetDurableExecutionState"
		}
		return "", ""
	}))
	srv.Add(emulator.Fixed(testARN, testToken, fixedOps(3)))
	url, _ := emulatortest.Start(t, srv)
	for _, tc := range []struct {
		key, code, reason string
		credentials       bool
	}{
		{"expired", "ExpiredTokenException", "the AWS credentials were refused (ExpiredTokenException)", true},
		{"denied", "AccessDeniedException", "refused (AccessDeniedException): User:", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.key)
			client := emulatortest.Client(t, url)
			before := srv.Stats().Requests
			_, _, err := drainAll(t, client, extract.Entry{ARN: testARN, Token: testToken}, 100)
			var ee *extract.ExecutionError
			if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(ee.Reason, tc.reason) {
				t.Fatalf("error %v: want code %s, reason with %q", err, tc.code, tc.reason)
			}
			_, told := extract.RefusedCredentials(err)
			if ee.CredentialsRefused() != tc.credentials || told != tc.credentials {
				t.Errorf("CredentialsRefused %v, RefusedCredentials %v: want %v", ee.CredentialsRefused(), told, tc.credentials)
			}
			if n := srv.Stats().Requests - before; n != 1 {
				t.Errorf("%d attempts: a refusal is final", n)
			}
		})
	}
}

// TestDrainRetriesTransientFaults: every kind of fault on the first attempt
// of every page, and the drain still returns every operation once.
func TestDrainRetriesTransientFaults(t *testing.T) {
	for _, fault := range []emulator.Fault{emulator.Throttle, emulator.ServerError, emulator.Unavailable, emulator.Reset, emulator.Cut} {
		t.Run(fmt.Sprint(fault), func(t *testing.T) {
			srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault {
				if n%2 == 1 {
					return fault
				}
				return emulator.NoFault
			}))
			srv.Add(emulator.Fixed(testARN, testToken, fixedOps(25)))
			_, client := emulatortest.Start(t, srv, extract.WithMaxBackoff(50*time.Millisecond))
			got, pages, err := drainAll(t, client, extract.Entry{ARN: testARN, Token: testToken}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 25 || pages != 3 || srv.Stats().Requests != 6 {
				t.Errorf("%d operations in %d pages, %d requests; want 25, 3, 6", len(got), pages, srv.Stats().Requests)
			}
		})
	}
}

func TestDrainCallbackErrorStops(t *testing.T) {
	srv := emulator.New()
	srv.Add(emulator.Fixed(testARN, testToken, fixedOps(30)))
	_, client := emulatortest.Start(t, srv)
	boom := errors.New("disk full")
	err := extract.Drain(context.Background(), client, extract.Entry{ARN: testARN, Token: testToken}, 10, func(_ context.Context, p extract.Page) error {
		if p.Number == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || srv.Stats().Requests != 2 {
		t.Fatalf("err %v after %d requests; want the callback's error after 2", err, srv.Stats().Requests)
	}
}

// TestRetryAfterHonoured: a 429 with Retry-After: 1 makes the client wait a
// second before the next attempt (the SDK's own backoff ignores the header).
func TestRetryAfterHonoured(t *testing.T) {
	var times []time.Time
	srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault {
		times = append(times, time.Now())
		if n == 1 {
			return emulator.Throttle
		}
		return emulator.NoFault
	}))
	srv.Add(emulator.Fixed(testARN, testToken, fixedOps(3)))
	_, client := emulatortest.Start(t, srv, extract.WithMaxBackoff(5*time.Second))
	if _, _, err := drainAll(t, client, extract.Entry{ARN: testARN, Token: testToken}, 10); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[1].Sub(times[0]) < time.Second {
		t.Fatalf("%d attempts, %v apart; want 2, at least the 1s Retry-After asked", len(times), times[len(times)-1].Sub(times[0]))
	}
}

// TestRateLimitHolds: with a limit of 20 calls/s shared by 4 goroutines, no
// window of the server's arrival times holds more calls than the limit
// allows (burst 1).
func TestRateLimitHolds(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := emulator.New(emulator.WithFaults(func(int64, string) emulator.Fault {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return emulator.NoFault
	}))
	for i := range 4 {
		srv.Add(emulator.Fixed(fmt.Sprint(testARN, i), testToken, fixedOps(10)))
	}
	_, client := emulatortest.Start(t, srv, extract.WithRateLimit(rate.NewLimiter(20, 1)))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := drainAll(t, client, extract.Entry{ARN: fmt.Sprint(testARN, i), Token: testToken}, 1); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(times) != 40 {
		t.Fatalf("%d requests, want 40", len(times))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	const window = 500 * time.Millisecond
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < window; j++ {
			n++
		}
		// The limit allows burst 1 + 20/s × window; one more for jitter between
		// the client's sending and the server's clock. Without the limiter all
		// 40 arrive within milliseconds.
		if limit := 2 + int(20*window.Seconds()); n > limit {
			t.Fatalf("%d requests within %v (limit 20/s allows %d)", n, window, limit)
		}
	}
}

// TestClientDecodesPages: the client decodes state and history pages with
// package decode by default, with the SDK's own decoder when asked.
func TestClientDecodesPages(t *testing.T) {
	srv := emulator.New()
	url, client := emulatortest.Start(t, srv)
	if _, ok := client.Options().Protocol.(*decode.Protocol); !ok {
		t.Errorf("default client's protocol is %T, want *decode.Protocol", client.Options().Protocol)
	}
	sdk := emulatortest.Client(t, url, extract.WithSDKDecoder())
	if _, ok := sdk.Options().Protocol.(*decode.Protocol); ok {
		t.Error("WithSDKDecoder: the client still decodes pages itself")
	}
}

// TestDrainMalformedAnswer: a 200 whose body does not match the API's model
// (AWS's Python testing server writes a step name given as a number as a
// JSON number) fails the execution with code "malformed" and a reason that
// says so, after one call: it is no network failure, and asking again
// gets the same answer.
func TestDrainMalformedAnswer(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"Events":[{"EventId":1,"EventType":"ExecutionStarted","Id":"e"},{"EventId":2,"EventType":"CallbackStarted","Id":"c","Name":3}]}`)
	}))
	t.Cleanup(srv.Close)
	emulatortest.Env(t)
	for _, opt := range []extract.ClientOption{extract.WithMaxAttempts(3), extract.WithSDKDecoder()} {
		client := emulatortest.Client(t, srv.URL, extract.WithMaxAttempts(3), opt)
		calls.Store(0)
		err := extract.DrainHistory(context.Background(), client, testARN, 1000, func(context.Context, extract.HistoryPage) error { return nil })
		var ee *extract.ExecutionError
		if !errors.As(err, &ee) {
			t.Fatalf("want *ExecutionError, got %v", err)
		}
		if ee.Code != "malformed" || !strings.Contains(ee.Reason, "does not match the API's model") || strings.Contains(ee.Reason, "\n") {
			t.Errorf("code %q, reason %q", ee.Code, ee.Reason)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d calls for a malformed answer, want 1", n)
		}
	}
}

// TestUnreachable: a call that could make no connection (refused) is
// Unreachable; one whose connection was made is not, whatever became of
// it (reset before any answer or mid-body, answered with an error, or
// slower than the request timeout): that can be one execution's.
func TestUnreachable(t *testing.T) {
	srv := emulator.New(emulator.WithSlowDelay(2*time.Second), emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		return map[string]emulator.Fault{"dropped": emulator.Drop, "reset": emulator.Reset, "broken": emulator.ServerError, "slow": emulator.Slow}[arn[strings.LastIndex(arn, "/")+1:]]
	}))
	for _, name := range []string{"ok", "dropped", "reset", "broken", "slow"} {
		srv.Add(emulator.Fixed(testARN+"/"+name, testToken, fixedOps(3)))
	}
	_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(1), extract.WithRequestTimeout(200*time.Millisecond))
	refused, err := extract.NewClient(context.Background(), extract.WithEndpointURL("http://127.0.0.1:1"), extract.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		client extract.StateAPI
		want   bool
	}{
		{"ok", refused, true}, // the endpoint refuses the connection
		{"dropped", client, false},
		{"reset", client, false},
		{"broken", client, false},
		{"slow", client, false},
		{"missing", client, false},
	} {
		_, _, err := drainAll(t, c.client, extract.Entry{ARN: testARN + "/" + c.name, Token: testToken}, 100)
		var ee *extract.ExecutionError
		told, ok := extract.Unreachable(err)
		if !errors.As(err, &ee) || ee.Unreachable() != c.want || ok != c.want || ok && !strings.HasPrefix(told, "dial tcp 127.0.0.1:1: ") {
			t.Errorf("%s: %v: want Unreachable %v, told as the dial's failure (%q)", c.name, err, c.want, told)
		}
	}
}
