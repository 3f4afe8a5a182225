package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/verify"
)

// TestFunctionListingRepeatsItsMarker: a function whose listing hands
// back the marker it was asked with (a stuck service; its pages short, as
// a service that pages by size makes them) is a listing that failed,
// reported as one (summary, report, exit 1), not a listing that ended:
// the executions of the other functions are archived all the same, and
// so are those its first page listed.
func TestFunctionListingRepeatsItsMarker(t *testing.T) {
	const stuck = "payments"
	execs := emulator.Generate(37, 40, emulator.GenerateOptions{MaxOps: 10})
	srv := emulator.New(emulator.WithPageItems(3), emulator.WithFaults(func(_ int64, label string) emulator.Fault {
		if label == stuck { // its listings' calls, not its executions'
			return emulator.RepeatMarker
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	others, theirs := 0, 0
	for _, e := range execs {
		if strings.Split(e.ARN, ":")[6] == stuck {
			theirs++
		} else {
			others++
		}
	}
	if theirs <= 3 || others == 0 {
		t.Fatalf("%d executions of %s, %d of the others: the test needs more than a page of each", theirs, stuck, others)
	}
	report := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, append([]string{"run", "--dest", t.TempDir(), "--endpoint-url", url, "--report", report}, functionArgs()...)...)
	if r.code != exitFailed || !strings.Contains(r.stdout, "not listed, left out") {
		t.Errorf("exit %d, summary:\n%s\nwant 1, naming the function left out", r.code, r.stdout)
	}
	s := readReport(t, report)
	if s.ExecutionsOK != others+3 || s.ExecutionsFailed != 0 {
		t.Errorf("%d archived, %d failed: want the other functions' %d and the first page's 3 archived", s.ExecutionsOK, s.ExecutionsFailed, others)
	}
	for _, fn := range s.Functions {
		if failed := strings.Contains(fn.ListingFailed, "marker"); failed != (fn.Function == stuck) {
			t.Errorf("function %s: listing_failed %q", fn.Function, fn.ListingFailed)
		}
	}
}

// TestOneFunctionNotListed: a function whose executions cannot be listed
// (its ListDurableExecutionsByFunction denied by policy) does not keep the
// others' from being archived before their history expires. discover,
// run and verify each go on with the other functions, name the one left
// out (log, summary, report) and exit 1.
func TestOneFunctionNotListed(t *testing.T) {
	const denied = "payments"
	execs := emulator.Generate(37, 40, emulator.GenerateOptions{MaxOps: 30})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithDeniedListing(denied))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	others := map[string]bool{}
	for _, e := range execs {
		if strings.Split(e.ARN, ":")[6] != denied {
			others[e.ARN] = true
		}
	}
	if len(others) == 0 || len(others) == len(execs) {
		t.Fatalf("%d of %d executions are not the denied function's: the test needs both", len(others), len(execs))
	}
	notListed := func(what string, r cliResult) {
		t.Helper()
		if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, "1 of") || !strings.Contains(msg, denied) || !strings.Contains(msg, "AccessDeniedException") {
			t.Errorf("%s: exit %d, stderr ends %q: want 1, naming the function not listed and why", what, r.code, msg)
		}
	}

	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	r := runCLI(t, "discover", "--all-functions", "--endpoint-url", url, "--output", manifest)
	notListed("discover", r)
	listed := map[string]bool{}
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var line struct{ DurableExecutionArn string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		listed[line.DurableExecutionArn] = true
	}
	if len(listed) != len(others) {
		t.Errorf("discover listed %d executions, want the other functions' %d", len(listed), len(others))
	}

	dest, report, metrics := t.TempDir(), filepath.Join(t.TempDir(), "r.json"), filepath.Join(t.TempDir(), "etl.prom")
	r = runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--report", report, "--metrics-file", metrics)
	notListed("run", r)
	prom, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"durable_etl_last_run_success 0", "durable_etl_last_run_functions_not_listed 1"} {
		if !strings.Contains(string(prom), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(r.stdout, "not listed, left out") {
		t.Errorf("the summary does not name the function left out:\n%s", r.stdout)
	}
	s := readReport(t, report)
	if s.ExecutionsOK != len(others) || s.ExecutionsFailed != 0 {
		t.Errorf("run: %d archived, %d failed: want the other functions' %d archived", s.ExecutionsOK, s.ExecutionsFailed, len(others))
	}
	for _, fn := range s.Functions {
		if (fn.Function == denied) != (fn.ListingFailed != "") {
			t.Errorf("function %s: listing_failed %q", fn.Function, fn.ListingFailed)
		}
	}

	verifyReport := filepath.Join(t.TempDir(), "v.json")
	r = runCLI(t, "verify", "--all-functions", "--all", "--dest", dest, "--endpoint-url", url, "--report", verifyReport)
	if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, "could not be listed") {
		t.Errorf("verify: exit %d, stderr ends %q: want 1, saying a function could not be listed", r.code, msg)
	}
	var v verify.Report
	b, err := os.ReadFile(verifyReport)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.FunctionsNotListed) != 1 || !strings.Contains(v.FunctionsNotListed[0], denied) || v.Differs() || v.Complete != len(others) {
		t.Errorf("verify report: not listed %v, differs %v, %d complete: want the denied function only, the others' %d complete", v.FunctionsNotListed, v.Differs(), v.Complete, len(others))
	}
}

// TestNotListedIsOneLine: however many functions could not be listed
// (a policy without the action denies them all), the message names three
// and counts the rest.
func TestNotListedIsOneLine(t *testing.T) {
	var fns []discovery.Function
	for i := range 200 {
		fns = append(fns, discovery.Function{Name: fmt.Sprint("f", i), ListingFailed: fmt.Sprintf("discover function f%d: refused (AccessDeniedException)", i)})
	}
	fns = append(fns, discovery.Function{Name: "listed"})
	msg := notListed(fns)
	if !strings.HasPrefix(msg, "the executions of 200 of 201 functions") || strings.Count(msg, "AccessDeniedException") != 3 || !strings.Contains(msg, "and 197 more") {
		t.Errorf("message %q", msg)
	}
	if notListed(fns[200:]) != "" {
		t.Error("a message with every function listed")
	}
}
