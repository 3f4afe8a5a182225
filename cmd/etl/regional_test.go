package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestExecutionsOfSeveralRegions: one manifest holds executions of two
// regions, half the run's (us-east-1) and half eu-west-1's, archived
// through state (with tokens) and through history (without). A regional
// endpoint knows only its region's executions (the emulator, as AWS,
// answers ResourceNotFoundException to a call signed for another region
// than the ARN's), so each execution's calls go to its ARN's region:
// before, every eu-west-1 execution failed "not found". verify reads them
// alike, and a --function given as an ARN of another region is listed there.
func TestExecutionsOfSeveralRegions(t *testing.T) {
	execs := emulator.Generate(61, 16, emulator.GenerateOptions{MaxOps: 40})
	for i := range execs {
		if i%2 == 1 {
			execs[i].ARN = strings.Replace(execs[i].ARN, ":us-east-1:", ":eu-west-1:", 1)
		}
	}
	srv := emulator.New()
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	t.Setenv("AWS_REGION", "us-east-1")
	for path, manifest := range map[string]string{"state": manifestFile(t, execs), "history": tokenlessManifest(t, execs)} {
		dir := t.TempDir()
		r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url)
		if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("%d executions archived, 0 failed", len(execs))) {
			t.Errorf("%s: exit %d", path, r.code)
		}
		if r := runCLI(t, "verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--all"); r.code != exitOK {
			t.Errorf("%s: verify: exit %d", path, r.code)
		}
	}
	fn := execs[1].ARN[:strings.Index(execs[1].ARN, "/")] // arn:aws:lambda:eu-west-1:ACCOUNT:function:NAME:QUALIFIER
	fn = fn[:strings.LastIndex(fn, ":")]
	r := runCLI(t, "discover", "--function", fn, "--endpoint-url", url)
	if r.code != exitOK || !strings.Contains(r.stdout, ":eu-west-1:") || strings.Contains(r.stdout, ":us-east-1:") {
		t.Errorf("discover --function %s: exit %d, want its region's executions alone", fn, r.code)
	}
	// The same function in a region where it does not exist is not found
	// (it listed no execution and said nothing, as if the function were idle).
	for _, fn := range []string{strings.Replace(fn, ":eu-west-1:", ":ap-south-1:", 1), strings.Replace(fn, ":eu-west-1:", ":ap-south-1:", 1) + ":7"} {
		r := runCLI(t, "discover", "--function", fn, "--endpoint-url", url)
		if r.code != exitUsage || !strings.Contains(r.stderr, "function "+fn+": not found") {
			t.Errorf("discover --function %s: exit %d, want %d and not found", fn, r.code, exitUsage)
		}
	}
}

// TestAllFunctionsOfTheRunsRegion: --all-functions lists the run's region's
// functions (ListFunctions is regional; the emulator's are us-east-1's): a
// run in a region without durable functions finds none and archives
// nothing, and says so (it said nothing: a wrong --region looked like a
// quiet night).
func TestAllFunctionsOfTheRunsRegion(t *testing.T) {
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(emulator.Generate(67, 6, emulator.GenerateOptions{MaxOps: 20})...)
	url, _ := emulatortest.Start(t, srv)
	t.Setenv("AWS_REGION", "ap-south-1")
	r := runCLI(t, "discover", "--all-functions", "--endpoint-url", url)
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "" || !strings.Contains(r.stderr, "found no durable function in the region") {
		t.Errorf("discover --all-functions in ap-south-1: exit %d, stdout %q: want none, and said", r.code, r.stdout)
	}
	if r := runCLI(t, "run", "--all-functions", "--endpoint-url", url, "--dest", t.TempDir()); r.code != exitOK || !strings.Contains(r.stderr, "found no durable function in the region") {
		t.Errorf("run --all-functions in ap-south-1: exit %d: want 0, and said", r.code)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	if r := runCLI(t, "discover", "--all-functions", "--endpoint-url", url); r.code != exitOK || strings.Count(r.stdout, "\n") != 6 {
		t.Errorf("discover --all-functions in us-east-1: exit %d, %d lines: want the 6", r.code, strings.Count(r.stdout, "\n"))
	}
}
