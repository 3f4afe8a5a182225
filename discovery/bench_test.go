package discovery

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
)

// BenchmarkDiscoveredBytes: the heap a run keeps for each execution
// discovery lists, to the end of the run (List with the retention
// Watch's state; the ARNs it keeps on disk are not counted), against a
// plain baseline built in the same run: the
// listed values as they come (extract.Found, the ARN copied out of the
// page, two *time.Time) with the function's name and an index by ARN.
// 200,000 executions of five functions, two versions each, with ARNs of
// the documented form (execution names of 20-odd characters, UUID ids),
// every tenth still running (no end).
func BenchmarkDiscoveredBytes(b *testing.B) {
	const n = 200_000
	listed := make([]extract.Found, n)
	for i := range listed {
		start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second)
		f := extract.Found{Status: types.ExecutionStatusSucceeded, Start: &start}
		f.ARN = fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:%s:%d/durable-execution/order-%08d-retry/%08x-%04x-4%03x-8%03x-%012x",
			emulator.FunctionNames[i%5], 1+i%2, i, i*7919, i%65536, i%4096, (i*31)%4096, i*104729)
		if i%10 > 0 {
			end := start.Add(90 * time.Second)
			f.End = &end
		}
		listed[i] = f
	}
	heap := func(build func() any) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		kept := build()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(kept)
		return float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	var ours, plain float64
	for i := 0; i < b.N; i++ {
		var l *List
		ours = heap(func() any {
			var err error
			if l, err = NewList(); err != nil {
				b.Fatal(err)
			}
			for j, f := range listed {
				f.ARN = strings.Clone(f.ARN) // as the page's buffer gives it
				if err := l.Add(f, j%5); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Seal(nil); err != nil {
				b.Fatal(err)
			}
			return NewWatch(l, make([]Function, 5))
		})
		l.Close()
		plain = heap(func() any {
			type entry struct {
				extract.Found
				function string
			}
			out := make([]entry, 0, n)
			index := make(map[string]int32, n)
			for j, f := range listed {
				f.ARN = strings.Clone(f.ARN)
				s, e := *f.Start, f.End
				f.Start = &s
				if e != nil {
					v := *e
					f.End = &v
				}
				out = append(out, entry{f, emulator.FunctionNames[j%5]})
				index[f.ARN] = int32(j)
			}
			return []any{out, index}
		})
	}
	b.ReportMetric(ours, "bytes/execution")
	b.ReportMetric(plain, "plain-bytes/execution")
	b.ReportMetric(ours/plain, "ratio")
}
