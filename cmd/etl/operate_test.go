package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

// executionsIn reads every executions row under dir: ARN to content hash,
// failing on an ARN seen twice.
func executionsIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range executionRows(t, dir) {
		if _, dup := out[r.ExecutionArn]; dup {
			t.Errorf("%s archived twice", r.ExecutionArn)
		}
		out[r.ExecutionArn] = r.ContentHash
	}
	return out
}

// executionRows reads every executions row of the Parquet archive in dir.
func executionRows(t *testing.T, dir string) []schema.Execution {
	t.Helper()
	var out []schema.Execution
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		rows, err := parquet.ReadFile[schema.Execution](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, rows...)
	}
	return out
}

// TestShardsTogetherEqualUnsharded: three shards run at once into one
// destination give exactly the unsharded archive, with no name collision.
func TestShardsTogetherEqualUnsharded(t *testing.T) {
	_, url, manifest, execs := fixture(t, 40)
	whole, sharded := t.TempDir(), t.TempDir()
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", whole, "--endpoint-url", url); r.code != 0 {
		t.Fatalf("unsharded: exit %d", r.code)
	}
	// Three processes, as three pods or array children would be.
	var cmds []*exec.Cmd
	for _, shard := range []string{"0/3", "1/3", "2/3"} {
		cmd := exec.Command(os.Args[0], "run", "--manifest", manifest, "--dest", sharded, "--endpoint-url", url, "--shard", shard, "--run-id", "same-run")
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	a, b := executionsIn(t, whole), executionsIn(t, sharded)
	if len(a) != len(execs) || len(b) != len(a) {
		t.Fatalf("%d executions unsharded, %d sharded, want %d", len(a), len(b), len(execs))
	}
	for arn, h := range a {
		if b[arn] != h {
			t.Errorf("%s differs between the sharded and unsharded archives", arn)
		}
	}
	for _, f := range []string{"0of3", "1of3", "2of3"} {
		if files, _ := filepath.Glob(filepath.Join(sharded, "*", "dt=*", "*-s"+f+"-*.parquet")); len(files) == 0 {
			t.Errorf("no files from shard %s", f)
		}
	}
}

func TestShardFromEnvironment(t *testing.T) {
	_, url, manifest, _ := fixture(t, 4)
	t.Setenv("AWS_BATCH_JOB_ARRAY_INDEX", "1")
	t.Setenv("AWS_BATCH_JOB_ARRAY_SIZE", "2")
	dir := t.TempDir()
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url)
	if r.code != 0 || !strings.Contains(r.stderr, "shard=1/2") {
		t.Fatalf("exit %d", r.code)
	}
	// The run id is the array's (the parent job's id), the same for a
	// child's retried attempt, which resumes; --run-id still wins.
	t.Setenv("AWS_BATCH_JOB_ID", "6d1c41f1-7f4b-4a55-a2c6-0a4d9b0d7e1a:1")
	dir = t.TempDir()
	for attempt := range 2 {
		report := filepath.Join(t.TempDir(), "r.json")
		r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--report", report)
		b, _ := os.ReadFile(report)
		if r.code != 0 || !strings.Contains(string(b), `"run_id": "6d1c41f1-7f4b-4a55-a2c6-0a4d9b0d7e1a"`) {
			t.Fatalf("in an AWS Batch array child: exit %d, report %s", r.code, b)
		}
		if attempt == 1 && (!strings.Contains(r.stdout, " 0 executions archived") || strings.Contains(r.stdout, " 0 already archived by this run")) {
			t.Errorf("the attempt retried did not resume the first: %s", r.stdout)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*6d1c41f1-7f4b-4a55-a2c6-0a4d9b0d7e1a*.parquet")); len(files) == 0 {
		t.Error("no file of the Batch job's run")
	}
	report := filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--run-id", "mine", "--report", report); r.code != 0 {
		t.Fatalf("--run-id in Batch: exit %d", r.code)
	}
	if b, _ := os.ReadFile(report); !strings.Contains(string(b), `"run_id": "mine"`) {
		t.Errorf("--run-id in Batch: report %s", b)
	}
	t.Setenv("AWS_BATCH_JOB_ARRAY_INDEX", "2")
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url); r.code != exitUsage {
		t.Errorf("index 2 of 2 accepted: exit %d", r.code)
	}
}

func TestMetricsFileAndSkippedLines(t *testing.T) {
	_, url, manifest, execs := fixture(t, 5)
	f, _ := os.OpenFile(manifest, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("this is not json\n")
	f.Close()
	metrics, report := filepath.Join(t.TempDir(), "etl.prom"), filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", url); r.code != exitUsage || !strings.Contains(r.stderr, "line 6") {
		t.Fatalf("a bad line must fail by default, naming it: exit %d", r.code)
	}
	r := runCLI(t, "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", url, "--on-bad-line", "skip", "--metrics-file", metrics, "--report", report)
	if r.code != 0 || !strings.Contains(r.stderr, "manifest line skipped") {
		t.Fatalf("skip: exit %d", r.code)
	}
	b, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"durable_etl_last_run_success 1", `durable_etl_last_run_executions{result="ok"} 5`, "durable_etl_last_run_api_calls 5", "# TYPE durable_etl_last_run_operations gauge"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	var s pipeline.Summary
	rb, _ := os.ReadFile(report)
	json.Unmarshal(rb, &s)
	if s.BadLinesSkipped != 1 || s.ExecutionsOK != len(execs) {
		t.Errorf("report %+v", s)
	}
}

// TestSIGTERM: a run stopped by SIGTERM publishes only complete files,
// writes its report, exits 1; a rerun archives the rest.
func TestSIGTERM(t *testing.T) {
	execs := emulator.Generate(81, 60, emulator.GenerateOptions{MaxOps: 100})
	emu := emulator.New(emulator.WithLatency(30 * time.Millisecond))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	dir, reportPath := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	manifest := manifestFile(t, execs)
	cmd := exec.Command(os.Args[0], "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--page-size", "10", "--concurrency", "2", "--report", reportPath, "--run-id", "stopped")
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for emu.Stats().PagesOK < 10 {
		time.Sleep(10 * time.Millisecond) // polling the emulator's counter for the condition
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("after SIGTERM: %v, want exit 1", err)
	}
	var s pipeline.Summary
	b, rerr := os.ReadFile(reportPath)
	if rerr != nil || json.Unmarshal(b, &s) != nil || !s.Interrupted || s.ExecutionsOK >= len(execs) || len(s.Failures) != 0 {
		t.Fatalf("report after SIGTERM: %v %s", rerr, b)
	}
	done := executionsIn(t, dir)
	if len(done) != s.ExecutionsOK {
		t.Errorf("%d executions published, the report says %d", len(done), s.ExecutionsOK)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "_incoming")); len(left) != 0 {
		t.Errorf("left in _incoming: %v", left)
	}
	if len(done) == len(execs) {
		t.Fatal("SIGTERM came too late to test anything")
	}
	// Resuming the run (same --run-id, same destination) archives the rest,
	// and nothing twice.
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--page-size", "10", "--run-id", "stopped", "--report", reportPath)
	if r.code != 0 {
		t.Fatalf("resume: exit %d", r.code)
	}
	if all := executionsIn(t, dir); len(all) != len(execs) {
		t.Errorf("after the resume %d executions are archived, want %d", len(all), len(execs))
	}
	if s2 := report(t, reportPath); s2.SkippedResumed != len(done) {
		t.Errorf("the resume skipped %d as already archived, want %d", s2.SkippedResumed, len(done))
	}
}

// TestProgressLines: without a terminal, progress comes as log lines with
// fixed keys, every --progress-interval, among them the API calls tried
// again so far (two early calls fail once here); verify's lines too.
func TestProgressLines(t *testing.T) {
	execs := emulator.Generate(5, 20, emulator.GenerateOptions{MaxOps: 50})
	emu := emulator.New(emulator.WithLatency(20*time.Millisecond), emulator.WithFaults(func(n int64, _ string) emulator.Fault {
		if n == 3 || n == 7 {
			return emulator.ServerError
		}
		return emulator.NoFault
	}))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	manifest, dir := manifestFile(t, execs), t.TempDir()
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--concurrency", "1",
		"--progress-interval", "50ms", "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	lines, retries := progressLines(t, r.stderr, "progress", "run_id", "executions_done", "executions_total", "operations", "ops_per_sec", "eta_s", "api_retries")
	if lines == 0 {
		t.Error("no progress line in a run of 400 ms or more")
	}
	if retries != 2 {
		t.Errorf("the progress lines say at most %v API retries, want 2", retries)
	}
	r = runCLI(t, "verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--concurrency", "1", "--all",
		"--progress-interval", "50ms", "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("verify: exit %d", r.code)
	}
	if lines, _ := progressLines(t, r.stderr, "verifying", "executions_done", "executions_total", "api_retries"); lines == 0 {
		t.Error("no progress line in a verify of 400 ms or more")
	}
}

// progressLines counts the lines of stderr whose msg is msg, checking
// that each has keys, and returns the most API retries they say.
func progressLines(t *testing.T, stderr, msg string, keys ...string) (lines int, retries float64) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg {
			continue
		}
		lines++
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s line without %s: %s", msg, k, line)
			}
		}
		n, _ := m["api_retries"].(float64)
		retries = max(retries, n)
	}
	return lines, retries
}

// TestDeadline: --deadline stops the run: complete files only, the report
// says interrupted, the executions in flight are abandoned (not failed),
// exit 1.
func TestDeadline(t *testing.T) {
	execs := emulator.Generate(83, 40, emulator.GenerateOptions{MaxOps: 60})
	emu := emulator.New(emulator.WithLatency(40 * time.Millisecond))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	dir, rep := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", dir, "--endpoint-url", url,
		"--concurrency", "1", "--deadline", "400ms", "--report", rep)
	if r.code != exitFailed || !strings.Contains(r.stderr, "interrupted") || !strings.Contains(r.stderr, "--deadline 400ms reached") {
		t.Fatalf("exit %d, stderr ends %q", r.code, lastLine(r.stderr))
	}
	s := report(t, rep)
	if !s.Interrupted || s.ExecutionsOK == 0 || s.ExecutionsOK >= len(execs) || len(s.Failures) != 0 {
		t.Errorf("report after the deadline: %+v", s)
	}
	if got := executionsIn(t, dir); len(got) != s.ExecutionsOK {
		t.Errorf("%d executions published, the report says %d", len(got), s.ExecutionsOK)
	}
}

// TestSummaryNamesLargeHistoryWaits: the summary line says how many large
// histories waited at the memory gate, and says nothing when none did;
// destinations are named without their passwords.
func TestSummaryNamesLargeHistoryWaits(t *testing.T) {
	for _, waits := range []int64{0, 3} {
		var out strings.Builder
		printSummary(&out, &pipeline.Summary{RunID: "r", ExecutionsOK: 5, LargeHistoryWaits: waits}, []string{"postgres://u:secret@db/x"}, nil)
		got := out.String()
		if has := strings.Contains(got, "3 large histories waited for memory"); has != (waits == 3) {
			t.Errorf("%d waits: the summary says %q", waits, got)
		}
		if strings.Contains(got, "secret") {
			t.Errorf("the summary shows a password: %q", got)
		}
	}
}

// TestSummaryCountsFilesOfFileDestinations: the summary counts files and
// bytes where a destination writes files, and says only the rows where
// every destination is a database (it said "in 0 files, 0 B").
func TestSummaryCountsFilesOfFileDestinations(t *testing.T) {
	s := &pipeline.Summary{RunID: "r", ExecutionsOK: 5, RowsWritten: 40, FilesWritten: 3, BytesWritten: 2048}
	for dests, want := range map[string]string{
		"POSTGRESQL://db/x":         "  40 rows into postgresql://db/x\n",
		"postgres://db/x ./archive": "  40 rows in 3 files, 2.0 KiB, under postgres://db/x, ./archive\n",
		"s3://b/p":                  "  40 rows in 3 files, 2.0 KiB, under s3://b/p\n",
		"postgres://u:secret@db/x":  "  40 rows into postgres://u:xxxxx@db/x\n",
	} {
		var out strings.Builder
		printSummary(&out, s, strings.Fields(dests), nil)
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: the summary says\n%s\nwant the line %q", dests, out.String(), want)
		}
	}
}

// TestFilesWrittenWhenStdoutIsGone: a run and a verify whose standard
// output is a pipe nobody reads any more (a scheduler's logger that
// died) still write their report and metrics (and verify its mend
// manifest), and exit with the status of what they did, saying on stderr
// that the summary was lost; discover, whose output is its manifest,
// fails (exit 1) naming standard output, as it and schema do on a full
// disk.
func TestFilesWrittenWhenStdoutIsGone(t *testing.T) {
	_, url, manifest, execs := fixture(t, 12)
	dir, out := t.TempDir(), t.TempDir()
	fn := strings.Split(execs[0].ARN, ":")[6] // the function's name
	closed := func() *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close() // nobody reads
		return w
	}
	full := func() *os.File {
		f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		cmd    []string
		stdout *os.File
		code   int
		stderr string
	}{
		{[]string{"run", "--manifest", manifest, "--dest", dir, "--endpoint-url", url}, closed(), 0, "etl: warning: the summary was not printed: standard output: write /dev/stdout: broken pipe"},
		{[]string{"verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--all", "--mend-manifest", filepath.Join(out, "verify-mend.jsonl"), "--log-format", "json"}, closed(), 0,
			`"level":"WARN","msg":"the summary was not printed","error":"write /dev/stdout: broken pipe"}`},
		{[]string{"discover", "--function", fn, "--endpoint-url", url}, closed(), 1, "etl: standard output: write /dev/stdout: broken pipe"},
		{[]string{"discover", "--function", fn, "--endpoint-url", url}, full(), 1, "etl: standard output: write /dev/stdout: no space left on device"},
		{[]string{"schema", "athena"}, full(), 1, "etl: standard output: write /dev/stdout: no space left on device"},
	} {
		var files []string
		args := tc.cmd
		if tc.cmd[0] == "run" || tc.cmd[0] == "verify" {
			report, metrics := filepath.Join(out, tc.cmd[0]+"-report.json"), filepath.Join(out, tc.cmd[0]+".prom")
			files, args = []string{report, metrics}, append(tc.cmd, "--report", report, "--metrics-file", metrics)
		}
		c := exec.Command(os.Args[0], args...)
		c.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
		var stderr strings.Builder
		c.Stdout, c.Stderr = tc.stdout, &stderr
		err := c.Run()
		tc.stdout.Close()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s: %v", tc.cmd[0], err)
		}
		if code := c.ProcessState.ExitCode(); code != tc.code || !strings.Contains(stderr.String(), tc.stderr+"\n") {
			t.Errorf("%s with its output %s gone: exit %d (%v), stderr\n%s\nwant exit %d and the line %q", tc.cmd[0], tc.stdout.Name(), code, c.ProcessState, stderr.String(), tc.code, tc.stderr)
		}
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s with its output gone: %v", tc.cmd[0], err)
			}
		}
	}
	if s := readReport(t, filepath.Join(out, "run-report.json")); s.ExecutionsOK != len(execs) {
		t.Errorf("run report: %d archived, want %d", s.ExecutionsOK, len(execs))
	}
	if rep := readVerify(t, filepath.Join(out, "verify-report.json")); rep.Complete != len(execs) {
		t.Errorf("verify report: %d complete, want %d", rep.Complete, len(execs))
	}
	if _, err := os.Stat(filepath.Join(out, "verify-mend.jsonl")); err != nil {
		t.Errorf("verify's mend manifest: %v", err)
	}
}
