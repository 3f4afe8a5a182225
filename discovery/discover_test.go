package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/outage"
)

// TestDiscover: through the real SDK client against the emulator, every
// execution of every durable function is listed once, oldest first, with
// each function's count and history retention; a function whose listing
// is denied is noted (ListingFailed) while the others are listed; a named
// function that does not exist stops the discovery with
// *extract.FunctionNotFoundError and no list. logf is called from several
// goroutines (the race detector watches it).
func TestDiscover(t *testing.T) {
	const denied = "payments"
	ctx := context.Background()
	execs := emulator.Generate(41, 60, emulator.GenerateOptions{MaxOps: 10, Days: 30})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithDeniedListing(denied))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	client, err := extract.NewClient(ctx, extract.WithEndpointURL(url), extract.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	logged := 0
	logf := func(string, ...any) { mu.Lock(); logged++; mu.Unlock() }

	list, fns, err := discovery.Discover(ctx, client, discovery.Config{All: true, Workers: 3}, logf)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	want := map[string]int{} // function: executions
	for _, e := range execs {
		if fn := strings.Split(e.ARN, ":")[6]; fn != denied {
			want[fn]++
		}
	}
	seen := map[string]bool{}
	for i := range list.Len() {
		arn := list.ARN(i)
		if seen[arn] {
			t.Errorf("%s listed twice", arn)
		}
		seen[arn] = true
		if fn := strings.Split(arn, ":")[6]; fns[list.Function(i)].Name != fn {
			t.Errorf("%s listed under %s", arn, fns[list.Function(i)].Name)
		}
		if i > 0 && list.Start(i-1) != nil && list.Start(i) != nil && list.Start(i).Before(*list.Start(i - 1)) {
			t.Errorf("%d: started before the one listed before it", i)
		}
		if list.Find(arn) != i {
			t.Errorf("Find(%s) = %d, want %d", arn, list.Find(arn), i)
		}
	}
	total := 0
	for _, f := range fns {
		switch {
		case f.Name == denied:
			if f.ListingFailed == "" || !strings.Contains(f.ListingFailed, "AccessDeniedException") || f.Found != 0 {
				t.Errorf("denied function: %+v", f)
			}
		case f.Found != want[f.Name] || f.RetentionDays == 0 || f.ListingFailed != "":
			t.Errorf("function %+v: want %d executions and its retention", f, want[f.Name])
		}
		total += want[f.Name]
	}
	if list.Len() != total || total == 0 || len(discovery.ListingFailures(fns)) != 1 || logged == 0 {
		t.Errorf("%d listed, want %d; %d listing failures; %d lines logged", list.Len(), total, len(discovery.ListingFailures(fns)), logged)
	}

	l, fns, err := discovery.Discover(ctx, client, discovery.Config{Functions: []string{"orders", "no-such-function"}}, logf)
	var nf *extract.FunctionNotFoundError
	if !errors.As(err, &nf) || l != nil || fns != nil {
		t.Errorf("a named function that does not exist: %v (list %v)", err, l != nil)
	}
}

// TestListingsGivenUpUnanswered: the API takes connections and answers
// nothing from the first listing on (after ListFunctions): once twice
// Workers listings in a row (at least 8) had no answer, the functions
// left are not asked, each noted as not listed and why, instead of each
// failing after its attempts, Workers at a time. Discovery itself does
// not fail: the functions listed before are archived.
func TestListingsGivenUpUnanswered(t *testing.T) {
	const functions, workers, after = 30, 2, 8
	var fns []emulator.FunctionVersion
	for i := range functions {
		fns = append(fns, emulator.FunctionVersion{Name: fmt.Sprintf("fn-%02d", i), Version: "$LATEST",
			Durable: &types.DurableConfig{ExecutionTimeout: aws.Int32(3600), RetentionPeriodInDays: aws.Int32(30)}})
	}
	var proxy *outage.Proxy
	srv := emulator.New(emulator.WithFunctionList(fns), emulator.WithFaults(func(n int64, _ string) emulator.Fault {
		if n > 1 { // after ListFunctions; this request's answer is held too
			proxy.Hang()
		}
		return emulator.NoFault
	}))
	url, _ := emulatortest.Start(t, srv)
	proxy = outage.Start(t, strings.TrimPrefix(url, "http://"))
	client := emulatortest.Client(t, "http://"+proxy.Addr, extract.WithMaxAttempts(1), extract.WithRequestTimeout(time.Second))
	list, got, err := discovery.Discover(context.Background(), client, discovery.Config{All: true, Workers: workers}, func(string, ...any) {})
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	defer list.Close()
	timedOut, notAsked := 0, 0
	for _, f := range got {
		switch {
		case strings.Contains(f.ListingFailed, "not listed: the Lambda API answered none of 8 listings in a row (last: no answer within the request timeout)"):
			notAsked++
		case f.ListingFailed != "":
			timedOut++
		default:
			t.Errorf("%s listed, with the API answering nothing", f.Name)
		}
	}
	// The listings in flight when the eighth failed fail in their turn.
	if len(got) != functions || timedOut < after || timedOut > after+workers || notAsked != functions-timedOut {
		t.Errorf("%d functions, %d listings failed, %d not asked: want %d, at least %d failed, the rest not asked", len(got), timedOut, notAsked, functions, after)
	}
}

// TestConfigValidate: each fault of a Config is named by its field, and
// Discover returns it before any call (its API here is nil); a Config
// without fault validates.
func TestConfigValidate(t *testing.T) {
	day := func(d int) *time.Time { t := time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC); return &t }
	long := strings.Repeat("f", 257)
	for _, c := range []struct {
		cfg   discovery.Config
		field string
	}{
		{discovery.Config{Functions: []string{"orders"}, Filter: extract.Filter{StartedAfter: day(1), StartedBefore: day(2), Statuses: []types.ExecutionStatus{"RUNNING", "SUCCEEDED"}}}, ""},
		{discovery.Config{All: true, FunctionFilter: extract.FunctionFilter{Prefix: []string{"o"}, Exclude: []string{"o*"}}}, ""},
		{discovery.Config{Functions: []string{"orders", ""}}, "Functions"},
		{discovery.Config{Functions: []string{long}}, "Functions"},
		{discovery.Config{All: true, FunctionFilter: extract.FunctionFilter{Exclude: []string{"[x"}}}, "FunctionFilter.Exclude"},
		{discovery.Config{Functions: []string{"orders"}, FunctionFilter: extract.FunctionFilter{Prefix: []string{"o"}}}, "FunctionFilter"},
		{discovery.Config{All: true, Filter: extract.Filter{StartedAfter: day(2), StartedBefore: day(2)}}, "Filter.StartedAfter"},
		{discovery.Config{All: true, Filter: extract.Filter{Statuses: []types.ExecutionStatus{"running"}}}, "Filter.Statuses"},
		{discovery.Config{All: true, Filter: extract.Filter{Statuses: slices.Repeat([]types.ExecutionStatus{"RUNNING"}, 11)}}, "Filter.Statuses"},
		{discovery.Config{Filter: extract.Filter{Statuses: []types.ExecutionStatus{"RUNNING"}}}, "Filter"},
		{discovery.Config{All: true, Workers: -1}, "Workers"},
	} {
		err := c.cfg.Validate()
		var ce *discovery.ConfigError
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.cfg, err)
			}
			continue
		}
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: %v, want a fault of %s", c.cfg, err, c.field)
			continue
		}
		if l, fns, err := discovery.Discover(context.Background(), nil, c.cfg, func(string, ...any) {}); !errors.As(err, &ce) || l != nil || fns != nil {
			t.Errorf("Discover with %+v: %v", c.cfg, err)
		}
	}
}

// TestListingTriedAgain: a function whose listing fails for a passing
// reason (a 500 on its second page, after its first page's executions
// were found) is listed again from the start after the others, no sooner
// than RetryFailedAfter after it failed: every execution listed once, its
// count right, no listing failure. A denied listing is not listed again;
// with RetryFailedAfter 0, the failed one is not either.
func TestListingTriedAgain(t *testing.T) {
	const flaky, denied, after = "orders", "payments", 200 * time.Millisecond
	execs := emulator.Generate(43, 80, emulator.GenerateOptions{MaxOps: 5, Days: 10})
	want := map[string]int{}
	for _, e := range execs {
		want[strings.Split(e.ARN, ":")[6]]++
	}
	if want[flaky] <= 5 {
		t.Fatalf("%d executions of %s: the test needs more than a page of 5", want[flaky], flaky)
	}
	for _, retry := range []time.Duration{after, 0} {
		t.Run(fmt.Sprint("after ", retry), func(t *testing.T) {
			var mu sync.Mutex
			var listed []time.Time // each listing request of flaky
			srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithDeniedListing(denied), emulator.WithPageItems(5),
				emulator.WithOperationFaults(func(_ int64, op, label string) emulator.Fault {
					if op != "ListDurableExecutionsByFunction" || !strings.Contains(label, flaky) {
						return emulator.NoFault
					}
					mu.Lock()
					defer mu.Unlock()
					if listed = append(listed, time.Now()); len(listed) == 2 {
						return emulator.ServerError
					}
					return emulator.NoFault
				}))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			client := emulatortest.Client(t, url, extract.WithMaxAttempts(1))
			list, fns, err := discovery.Discover(context.Background(), client, discovery.Config{All: true, Workers: 3, RetryFailedAfter: retry}, func(string, ...any) {})
			if err != nil {
				t.Fatal(err)
			}
			defer list.Close()
			seen := map[string]int{}
			for i := range list.Len() {
				seen[strings.Split(list.ARN(i), ":")[6]]++
			}
			for _, f := range fns {
				switch {
				case f.Name == denied:
					if f.ListingFailed == "" || srv.Requests("list", denied) != 1 {
						t.Errorf("denied: %+v, %d listings asked: want one, failed", f, srv.Requests("list", denied))
					}
				case f.Name == flaky && retry == 0:
					if f.ListingFailed == "" || !strings.Contains(f.ListingFailed, "ServiceException") {
						t.Errorf("%+v: want its listing failed", f)
					}
				case f.ListingFailed != "" || f.Found != want[f.Name] || seen[f.Name] != want[f.Name]:
					t.Errorf("%+v: %d listed, want %d, and no failure", f, seen[f.Name], want[f.Name])
				}
			}
			if retry > 0 && (len(listed) < 3 || listed[2].Sub(listed[1]) < retry) {
				t.Errorf("%s's listing asked again %d times: want its first page again, %v after the failure", flaky, len(listed)-2, retry)
			}
		})
	}
}
