package main

import (
	"fmt"
	"strings"
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
