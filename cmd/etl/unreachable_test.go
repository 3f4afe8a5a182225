package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/outage"
	"github.com/durable-etl/durable-etl/verify"
)

// TestAPIGoneMidway: from some request on, the Lambda API cannot be
// reached (its connections cut, new ones refused), or takes connections
// and answers nothing (a stopped service, a proxy whose upstream went
// away without a word: each execution would fail only after its attempts
// of --request-timeout, ten minutes with the defaults). Run and verify
// stop after the executions (calls) in a row their rule allows, instead
// of trying every one left, with one line naming the cause and exit 1;
// the run's report says interrupted, and what it archived stays: once
// the API answers again a rerun archives the rest and verify --all
// passes.
func TestAPIGoneMidway(t *testing.T) {
	for _, c := range []struct {
		name string
		// gone breaks the way to the API at the request it is called
		// at (the fault that request gets), back undoes it.
		gone func(*outage.Proxy) emulator.Fault
		back func(*outage.Proxy)
		// flags beside the common ones; the runs' and verify's last
		// lines hold these.
		flags  []string
		run    []string
		verify []string
	}{
		{"unreachable", func(p *outage.Proxy) emulator.Fault { p.Down(); return emulator.Drop }, (*outage.Proxy).Up, nil,
			[]string{"could not be reached for 8 executions in a row (last: dial tcp", "rerun once it is reachable"},
			[]string{"could not be reached for 8 calls in a row (last: dial tcp", "verify again once it is reachable"}},
		// A call that takes 2 s on loopback is one the service does not
		// answer. This request's answer is held too.
		{"answering nothing", func(p *outage.Proxy) emulator.Fault { p.Hang(); return emulator.NoFault }, (*outage.Proxy).Answer, []string{"--request-timeout", "2s"},
			[]string{"answered no call for 8 executions in a row (last: ", "timed out", "rerun once it answers"},
			[]string{"answered none of 8 calls in a row (last: no answer within the request timeout)", "verify again once it answers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			execs := emulator.Generate(53, 120, emulator.GenerateOptions{MaxOps: 40})
			var goneAt, requests atomic.Int64 // goneAt 0: reachable
			var proxy *outage.Proxy
			srv := emulator.New(emulator.WithFaults(func(n int64, _ string) emulator.Fault {
				requests.Store(n)
				if at := goneAt.Load(); at > 0 && n >= at {
					return c.gone(proxy)
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			emuURL, _ := emulatortest.Start(t, srv)
			proxy = outage.Start(t, strings.TrimPrefix(emuURL, "http://"))
			manifest := manifestFile(t, execs)
			dest := t.TempDir()
			report := filepath.Join(t.TempDir(), "r.json")
			const rule = 8 // twice --concurrency 4; at least 8
			flags := append([]string{"--endpoint-url", "http://" + proxy.Addr, "--concurrency", "4", "--max-attempts", "1"}, c.flags...)
			run := append([]string{"run", "--manifest", manifest, "--dest", dest, "--report", report}, flags...)

			goneAt.Store(31)
			r := runCLI(t, run...)
			s := readReport(t, report)
			if msg := lastLine(r.stderr); r.code != exitFailed || !containsAll(msg, c.run...) {
				t.Errorf("run: exit %d, stderr ends %q: want 1, the count and the cause", r.code, msg)
			}
			// An execution asked before the API went may settle late,
			// archived (or, answering nothing, fail while answers had
			// come since the count began), and start the count again (up
			// to three times --concurrency more failures, as many as the
			// tried bound allows: seen 17 once); without the rule every
			// one of the 120 would be tried.
			if tried := s.ExecutionsOK + s.ExecutionsFailed + s.Abandoned; !s.Interrupted || s.ExecutionsOK == 0 || s.ExecutionsFailed < rule || s.ExecutionsFailed > rule+3*4 || tried > 30+rule+3*4 {
				t.Errorf("run: %d archived, %d failed, %d abandoned, interrupted %v: want stopped after %d failed in a row, the rest untried",
					s.ExecutionsOK, s.ExecutionsFailed, s.Abandoned, s.Interrupted, rule)
			}

			goneAt.Store(0)
			c.back(proxy)
			if r := runCLI(t, run...); r.code != exitOK {
				t.Fatalf("rerun once the API answers: exit %d", r.code)
			}
			verify := append([]string{"verify", "--manifest", manifest, "--dest", dest, "--all"}, flags...)
			if r := runCLI(t, verify...); r.code != exitOK {
				t.Fatalf("verify: exit %d", r.code)
			}

			goneAt.Store(requests.Load() + 11)
			r = runCLI(t, verify...)
			if msg := lastLine(r.stderr); r.code != exitFailed || !containsAll(msg, c.verify...) {
				t.Errorf("verify: exit %d, stderr ends %q: want 1, the count and the cause", r.code, msg)
			}
		})
	}
}

// containsAll reports whether s holds every one of parts.
func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestVerifyCouldNotCheck: an execution whose calls fail (a 500 after
// the retries, twice) is one verify could not check: its last line says
// so, not that the archive differs. One whose GetDurableExecution, or
// whose content's comparison, failed once is checked again after the
// others (--retry-failed-after) and counted once: complete, compared.
// With --retry-failed-after 0 each failure is an error.
func TestVerifyCouldNotCheck(t *testing.T) {
	execs := emulator.Generate(59, 12, emulator.GenerateOptions{MaxOps: 30})
	broken, describedOnce, comparedOnce := execs[3].ARN, execs[5].ARN, execs[7].ARN
	for _, c := range []struct {
		after  string
		errors []string
	}{
		{"50ms", []string{broken}},
		{"0", []string{broken, describedOnce, comparedOnce}},
	} {
		t.Run("after "+c.after, func(t *testing.T) {
			var failing atomic.Bool
			var mu sync.Mutex
			asked := map[string]int{}
			srv := emulator.New(emulator.WithOperationFaults(func(_ int64, op, arn string) emulator.Fault {
				if !failing.Load() {
					return emulator.NoFault
				}
				mu.Lock()
				defer mu.Unlock()
				asked[op+arn]++
				switch {
				case arn == broken,
					arn == describedOnce && op == "GetDurableExecution" && asked[op+arn] == 1,
					arn == comparedOnce && op != "GetDurableExecution" && asked[op+arn] == 1:
					return emulator.ServerError
				}
				return emulator.NoFault
			}))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			manifest := manifestFile(t, execs)
			dest := t.TempDir()
			if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url); r.code != exitOK {
				t.Fatalf("run: exit %d", r.code)
			}
			failing.Store(true)
			report := filepath.Join(t.TempDir(), "verify.json")
			r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--all", "--max-attempts", "1",
				"--retry-failed-after", c.after, "--report", report)
			if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, fmt.Sprintf("could not check %d of the executions", len(c.errors))) || strings.Contains(msg, "differs") {
				t.Errorf("verify: exit %d, stderr ends %q: want 1, saying %d executions could not be checked", r.code, msg, len(c.errors))
			}
			var v verify.Report
			if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &v) != nil {
				t.Fatalf("verify report: %v", err)
			}
			var errs []string
			for _, e := range v.Errors {
				errs = append(errs, e.ExecutionArn)
			}
			slices.Sort(errs)
			slices.Sort(c.errors)
			// The comparison that failed had its GetDurableExecution
			// answered: complete all the same.
			complete := len(execs) - len(c.errors) + map[bool]int{true: 1}[c.after == "0"]
			if !slices.Equal(errs, c.errors) || v.Complete != complete || v.Sampled+v.NotSampleable+len(c.errors) != len(execs) {
				t.Errorf("errors %v, %d complete, %d compared, %d not comparable: want errors %v, %d complete, the rest compared or not comparable, each once",
					errs, v.Complete, v.Sampled, v.NotSampleable, c.errors, complete)
			}
		})
	}
}
