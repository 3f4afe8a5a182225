package decode_test

import (
	"context"
	"runtime"

	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/durable-etl/durable-etl/extract/decode"
	"github.com/durable-etl/durable-etl/internal/emulator"
)

// BenchmarkDecode decodes the state and history pages of 40 executions of
// 250 operations (one operation in 500 with a 256 KiB payload, start dates
// over 90 days), with the SDK's decoder and with this package's, in one
// run, and reports both rates and their ratio (sdk-time/ours).
func BenchmarkDecode(b *testing.B) {
	execs := emulator.Generate(97, 40, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: 90, LargePayloadEvery: 500})
	srv := emulator.New()
	srv.Add(execs...)
	for _, op := range []operation{stateOp, historyOp} {
		bodies := pages(b, srv, execs, op, 1000)
		var size int64
		for _, body := range bodies {
			size += int64(len(body))
		}
		b.Run(op.name, func(b *testing.B) {
			sdk, ours := restjson1.New(schemas.AWSGirApiService), newProtocol(b)
			run := func(p interface {
				DeserializeResponse(context.Context, *smithy.OperationSchema, *smithy.TypeRegistry, *smithyhttp.Response, smithy.Deserializable) error
			}) time.Duration {
				runtime.GC() // each decoder pays the collector for its own garbage only
				start := time.Now()
				for _, body := range bodies {
					if err := p.DeserializeResponse(context.Background(), op.schema, lambda.TypeRegistry, response(200, body), op.output()); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			var ts, to time.Duration
			for i := 0; i < b.N; i++ {
				ts += run(sdk)
				to += run(ours)
			}
			if ours.Declined() != 0 {
				b.Fatalf("%d pages declined", ours.Declined())
			}
			mb := float64(size) * float64(b.N) / 1e6
			b.ReportMetric(mb/ts.Seconds(), "sdk-MB/s")
			b.ReportMetric(mb/to.Seconds(), "ours-MB/s")
			b.ReportMetric(ts.Seconds()/to.Seconds(), "speedup")

		})
	}
}

// BenchmarkUnknownMembers decodes the history pages of 40 production-like
// executions of 250 operations (settled: about 2.5 events an operation;
// start dates over 90 days; a 256 KiB result in one operation in about
// 4,000, as the history benchmarks), as a service that adds members the SDK
// does not know serves them (WithFutureMembers: one on every
// StepSucceededDetails, a details object on every WaitStarted), and as
// served today, each without asking for the unknown members and with
// (decode.WithUnknown, as every run asks), in one run: "asked/not" is the
// time with over the time without.
func BenchmarkUnknownMembers(b *testing.B) {
	execs := emulator.Generate(3, 40, emulator.GenerateOptions{MinOps: 250, MaxOps: 250, Days: 90, LargePayloadEvery: 4000, Settled: true})
	for _, future := range []bool{false, true} {
		var opts []emulator.Option
		name := "today"
		if future {
			opts, name = append(opts, emulator.WithFutureMembers()), "future"
		}
		srv := emulator.New(opts...)
		srv.Add(execs...)
		bodies := pages(b, srv, execs, historyOp, 1000)
		b.Run(name, func(b *testing.B) {
			p := newProtocol(b)
			run := func(ask bool) time.Duration {
				runtime.GC()
				start := time.Now()
				for _, body := range bodies {
					ctx := context.Background()
					var u decode.Unknown
					if ask {
						ctx = decode.WithUnknown(ctx, &u)
					}
					if err := p.DeserializeResponse(ctx, historyOp.schema, lambda.TypeRegistry, response(200, body), historyOp.output()); err != nil {
						b.Fatal(err)
					}
					if ask && future && len(u.Records) == 0 {
						b.Fatal("no unknown member found")
					}
				}
				return time.Since(start)
			}
			var not, asked time.Duration
			for i := 0; i < b.N; i++ {
				not += run(false)
				asked += run(true)
			}
			b.ReportMetric(asked.Seconds()/not.Seconds(), "asked/not")
		})
	}
}
