package extract_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
