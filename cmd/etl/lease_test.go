package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
)

// TestOverlappingRuns: a run started while another run of the same
// function is archiving into the destination (last night's, still going)
// stops before it fetches or writes anything, exit 2, naming the other
// run; so does a manifest's run that lists one of its executions. A run
// of another function goes on beside it. Without that, both runs would read the archive, then
// both write what it lacked: every event twice.
func TestOverlappingRuns(t *testing.T) {
	execs := emulator.Generate(61, 40, emulator.GenerateOptions{MaxOps: 15})
	entered, proceed := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	srv := emulator.New(emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		// The first run's first read of an execution waits for the test.
		if strings.Contains(arn, ":function:orders:") && held.CompareAndSwap(false, true) {
			close(entered)
			<-proceed
		}
		return emulator.NoFault
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	run := func(id string, args ...string) cliResult {
		return runCLI(t, append([]string{"run", "--dest", dir, "--endpoint-url", url, "--run-id", id}, args...)...)
	}
	// The first run archives the orders executions that started before a
	// time between two of theirs; a run of those that started after it
	// may go beside it.
	var starts []time.Time
	for _, e := range execs {
		if strings.Contains(e.ARN, ":function:orders:") {
			starts = append(starts, *e.Op(0).StartTimestamp)
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	k := len(starts) / 2
	if len(starts) < 4 || !starts[k-1].Before(starts[k]) {
		t.Fatalf("orders starts %v: want two halves", starts)
	}
	split := starts[k-1].Add(starts[k].Sub(starts[k-1]) / 2).Format(time.RFC3339Nano)
	first := make(chan cliResult)
	go func() { first <- run("first", "--function", "orders", "--started-before", split) }()
	<-entered

	manifest := manifestFile(t, execs)
	for _, args := range [][]string{
		{"--function", "arn:aws:lambda:us-east-1:123456789012:function:orders"},
		{"--manifest", manifest},
	} {
		r := run("second", args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "run first ") || !strings.Contains(r.stderr, load.RunsDir+"/first.json") {
			t.Errorf("beside a live run of the same function, %v: exit %d, want %d naming run first and its record", args, r.code, exitUsage)
		}
	}
	if r := run("third", "--function", "inventory"); r.code != 0 {
		t.Errorf("a run of another function beside it: exit %d", r.code)
	}
	if r := run("fourth", "--function", "orders", "--started-after", split); r.code != 0 {
		t.Errorf("a run of the same function's executions started after the first run's: exit %d\n%s", r.code, r.stderr)
	}
	close(proceed)
	if r := <-first; r.code != 0 {
		t.Fatalf("the first run: exit %d", r.code)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, load.RunsDir)); len(left) != 0 {
		t.Errorf("records left after the runs: %v", left)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "dt=*", "*second*"))
	if len(files) != 0 {
		t.Errorf("refused runs wrote %v", files)
	}
	// Every event of the two functions once (readEvents fails on a key
	// seen twice), and a rerun of the refused run writes none again.
	if r := run("second", "--function", "orders", "--function", "inventory"); r.code != 0 {
		t.Fatalf("the refused run, again: exit %d", r.code)
	}
	events := readEvents(t, dir)
	for _, e := range execs {
		fn := strings.Split(e.ARN, ":")[6]
		want := 0
		if fn == "orders" || fn == "inventory" {
			want = e.History.Len()
		}
		if got := len(events[e.ARN]); got != want {
			t.Errorf("%s: %d events archived, want %d", e.ARN, got, want)
		}
	}
}
