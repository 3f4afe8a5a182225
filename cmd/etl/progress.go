package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/pipeline"
)

// showProgress reports p until ctx ends: a progress bar on stderr when it is
// a terminal (executions done of total, operations/s, errors, ETA), else a
// log line every interval. With calls (nil: none), both also say how many
// API calls were tried again so far (throttling, faults): a run slowed by
// them shows why. It returns a function that stops it and waits.
func showProgress(ctx context.Context, w io.Writer, log *slog.Logger, p *pipeline.Progress, calls *extract.CallStats, total int, interval time.Duration, label string) func() {
	retries := func() int64 {
		if calls == nil {
			return 0
		}
		return calls.Attempts.Load() - calls.Calls.Load()
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	go func() {
		defer close(done)
		if tty {
			bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(200*time.Millisecond))
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				n := p.Done.Load() + p.Failed.Load() + p.Skipped.Load()
				desc := fmt.Sprintf("%s (%.0f ops/s, %d errors", label, float64(p.Operations.Load())/time.Since(start).Seconds(), p.Failed.Load())
				if r := retries(); r > 0 {
					desc += fmt.Sprintf(", %d API retries", r)
				}
				bar.Describe(desc + ")")
				bar.Set64(n)
				select {
				case <-ctx.Done():
					bar.Finish()
					return
				case <-tick.C:
				}
			}
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				elapsed := time.Since(start)
				n := p.Done.Load() + p.Failed.Load() + p.Skipped.Load()
				eta := time.Duration(0)
				if n > 0 {
					eta = time.Duration(float64(elapsed) * float64(int64(total)-n) / float64(n)).Round(time.Second)
				}
				attrs := []any{"executions_done", p.Done.Load(), "executions_failed", p.Failed.Load(), "executions_skipped", p.Skipped.Load(),
					"executions_total", total, "operations", p.Operations.Load(), "ops_per_sec", int64(float64(p.Operations.Load()) / elapsed.Seconds()),
					"eta_s", int64(eta.Seconds())}
				if calls != nil {
					attrs = append(attrs, "api_retries", retries())
				}
				log.Info(label, attrs...)
			}
		}
	}()
	return func() { cancel(); <-done }
}
