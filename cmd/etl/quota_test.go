package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestAccountQuota: an account's API quota far below what the calls in
// flight ask (5 requests a second against --concurrency 16, a page read
// ahead by each) fails no execution: the client slows every call once
// throttled (the adaptive retry mode, the default) and the run archives
// everything, in about the time the quota allows; verify, under the same
// quota, checks everything. Each call alone retried (--retry-mode
// standard) ran out of attempts for half of them.
func TestAccountQuota(t *testing.T) {
	n := 30
	if testing.Short() { // the race detector's pass
		n = 15
	}
	const perSecond = 5
	execs := emulator.Generate(91, n, emulator.GenerateOptions{MaxOps: 30})
	srv := emulator.New(emulator.WithQuota(perSecond, perSecond))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dest := t.TempDir()
	manifest := tokenlessManifest(t, execs)
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--concurrency", "16", "--log-level", "warn")
	if want := fmt.Sprintf("%d executions archived, 0 failed", n); r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Errorf("run under a quota of %d requests a second: exit %d, %q: want %q", perSecond, r.code, lastLine(r.stdout), want)
	}
	throttled := srv.Stats().Throttled
	if throttled == 0 {
		t.Fatalf("no request was throttled: the quota never bound, the test proves nothing")
	}
	r = runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--concurrency", "16", "--all")
	if r.code != exitOK {
		t.Errorf("verify under the quota: exit %d, %q", r.code, lastLine(r.stderr))
	}
	t.Logf("%d requests, %d throttled", srv.Stats().Requests, srv.Stats().Throttled)
}

// TestTriedAgainAtTheEnd: an execution read through history whose calls
// run out of attempts against a 503 is tried once more at the end of the
// run (--retry-failed-after) and archived: exit 0, the summary, the report
// and the metrics say so; with --retry-failed-after 0 it fails.
func TestTriedAgainAtTheEnd(t *testing.T) {
	execs := emulator.Generate(92, 6, emulator.GenerateOptions{MaxOps: 20})
	unlucky := execs[2].ARN
	for _, c := range []struct {
		after string
		code  int
		again string
	}{{"100ms", exitOK, "1"}, {"0", exitFailed, "0"}} {
		t.Run("after "+c.after, func(t *testing.T) {
			var mu sync.Mutex
			faulted := 0
			srv := emulator.New(emulator.WithOperationFaults(func(_ int64, op, arn string) emulator.Fault {
				mu.Lock()
				defer mu.Unlock()
				if op == "GetDurableExecutionHistory" && arn == unlucky && faulted < 2 {
					faulted++
					return emulator.Unavailable
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			dir := t.TempDir()
			report, metrics := filepath.Join(dir, "report.json"), filepath.Join(dir, "metrics.prom")
			r := runCLI(t, "run", "--manifest", tokenlessManifest(t, execs), "--dest", filepath.Join(dir, "archive"), "--endpoint-url", url,
				"--max-attempts", "2", "--retry-failed-after", c.after, "--report", report, "--metrics-file", metrics)
			if r.code != c.code {
				t.Fatalf("exit %d, %q: want %d", r.code, lastLine(r.stdout), c.code)
			}
			var rep struct {
				TriedAgain int `json:"executions_tried_again"`
				Failed     int `json:"executions_failed"`
			}
			b, err := os.ReadFile(report)
			if err != nil || json.Unmarshal(b, &rep) != nil {
				t.Fatalf("report: %v %s", err, b)
			}
			m, err := os.ReadFile(metrics)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rep.TriedAgain) != c.again || rep.Failed != map[bool]int{true: 0, false: 1}[c.code == exitOK] ||
				!strings.Contains(string(m), "durable_etl_last_run_executions_tried_again "+c.again+"\n") ||
				(c.again == "1") != strings.Contains(r.stdout, "1 executions tried once more at the end") {
				t.Errorf("report %+v, summary %q, metrics:\n%s", rep, r.stdout, m)
			}
		})
	}
}
