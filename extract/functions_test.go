package extract_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestFunctionRetention: a function's history retention is the shortest
// its versions give (ListVersionsByFunction), however the function is
// named; a function without a durable version has none, and one the
// service does not know is an error naming the call.
func TestFunctionRetention(t *testing.T) {
	durable := func(days int32) *types.DurableConfig {
		return &types.DurableConfig{ExecutionTimeout: aws.Int32(3600), RetentionPeriodInDays: aws.Int32(days)}
	}
	srv := emulator.New(emulator.WithFunctionList([]emulator.FunctionVersion{
		{Name: "orders", Version: "$LATEST", Durable: durable(90)},
		{Name: "orders", Version: "7", Durable: durable(14)},
		{Name: "orders", Version: "12", Durable: durable(60)},
		{Name: "inventory", Version: "$LATEST"},
		{Name: "inventory", Version: "7", Durable: durable(3)},
		{Name: "thumbnailer", Version: "$LATEST"},
	}))
	srv.Add(emulator.Generate(5, 120, emulator.GenerateOptions{MaxOps: 5})...) // executions on versions 7 and 12
	_, client := emulatortest.Start(t, srv)
	for fn, want := range map[string]int32{
		"orders": 14, "orders:12": 14, "arn:aws:lambda:us-east-1:123456789012:function:orders": 14,
		"arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST": 14, "123456789012:function:orders:7": 14,
		"inventory": 3, "thumbnailer": 0,
	} {
		if got, err := extract.FunctionRetention(context.Background(), client, fn); err != nil || got != want {
			t.Errorf("%s: %d days, %v; want %d", fn, got, err, want)
		}
	}
	if _, err := extract.FunctionRetention(context.Background(), client, "nosuch"); err == nil || !strings.Contains(err.Error(), "ListVersionsByFunction") {
		t.Errorf("an unknown function: %v", err)
	}
}

// TestListingsFailOnRepeatedMarker: a page of ListFunctions,
// ListVersionsByFunction or ListAliases that hands back the marker it was
// asked with (on which the SDK's paginators ask again for ever) fails
// the listing, naming the call and the marker, instead of hanging the
// run; discovery then lists what the unqualified listing found and says
// the versions or aliases went unlisted. Pages of one item, so that
// every listing has a second page.
func TestListingsFailOnRepeatedMarker(t *testing.T) {
	execs := emulator.Generate(5, 60, emulator.GenerateOptions{MaxOps: 5})
	// client's calls of the operation op hand back their marker.
	repeating := func(op string) *lambda.Client {
		srv := emulator.New(emulator.WithListing(emulator.ListLatestOnly), emulator.WithAliases(emulator.DemoAliases), emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithPageItems(1),
			emulator.WithOperationFaults(func(_ int64, called, _ string) emulator.Fault {
				if called == op {
					return emulator.RepeatMarker
				}
				return emulator.NoFault
			}))
		srv.Add(execs...)
		_, client := emulatortest.Start(t, srv)
		return client
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a loop would meet it
	defer cancel()
	repeats := func(err error, call string) bool {
		var ee *extract.ExecutionError
		return errors.As(err, &ee) && ee.Code == "RepeatedMarker" && strings.Contains(err.Error(), call) && strings.Contains(err.Error(), "marker")
	}
	if _, err := extract.DurableFunctions(ctx, repeating("ListFunctions"), extract.FunctionFilter{}); !repeats(err, "ListFunctions") {
		t.Errorf("ListFunctions: %v", err)
	}
	if _, err := extract.FunctionRetention(ctx, repeating("ListVersionsByFunction"), "orders"); !repeats(err, "ListVersionsByFunction") {
		t.Errorf("FunctionRetention: %v", err)
	}
	for _, call := range []string{"ListVersionsByFunction", "ListAliases"} {
		found := 0
		st, err := extract.Discover(ctx, repeating(call), "orders", extract.Filter{}, func(extract.Found) error { found++; return nil })
		if err != nil || found == 0 || !strings.Contains(st.Unlisted, call) || !strings.Contains(st.Unlisted, "marker") {
			t.Errorf("discovery with %s repeating: %v, %d found, unlisted %q", call, err, found, st.Unlisted)
		}
	}
	if ctx.Err() != nil {
		t.Error("a listing looped until the test's deadline")
	}
}
