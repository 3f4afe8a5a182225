package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/verify"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"etl"}, args...), &out, &errb)
	t.Logf("etl %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return cliResult{code, out.String(), errb.String()}
}

// tokenlessManifest writes a manifest of the executions' ARNs alone (so
// that each is archived through history) to a file of the test's.
func tokenlessManifest(t testing.TB, execs []emulator.Execution) string {
	t.Helper()
	var b strings.Builder
	for _, e := range execs {
		fmt.Fprintf(&b, "{\"DurableExecutionArn\":%q}\n", e.ARN)
	}
	path := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// manifestFile writes the executions' manifest to a file of the test's.
func manifestFile(t testing.TB, execs []emulator.Execution) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := emulator.WriteManifest(f, execs); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixture serves n generated executions and writes their manifest.
func fixture(t *testing.T, n int) (*emulator.Server, string, string, []emulator.Execution) {
	t.Helper()
	execs := emulator.Generate(21, n, emulator.GenerateOptions{MaxOps: 120})
	srv := emulator.New()
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	return srv, url, manifestFile(t, execs), execs
}

func readReport(t testing.TB, path string) pipeline.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s pipeline.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return s
}

func TestRunArchivesAndReports(t *testing.T) {
	srv, url, manifest, execs := fixture(t, 25)
	dest, report := filepath.Join(t.TempDir(), "archive"), filepath.Join(t.TempDir(), "report.json")
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report,
		"--log-format", "json", "--log-level", "debug", "--page-size", "50", "--run-id", "r1")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	s := readReport(t, report)
	if s.RunID != "r1" || s.ExecutionsOK != 25 || s.ExecutionsFailed != 0 || s.Operations == 0 || s.FilesWritten == 0 || s.RowsWritten != s.Operations+25 {
		t.Errorf("report %+v", s)
	}
	if !strings.Contains(r.stdout, "25 executions archived, 0 failed") {
		t.Errorf("summary missing from stdout")
	}
	files, _ := filepath.Glob(filepath.Join(dest, "operations", "dt=*", "part-r1-*.parquet"))
	if len(files) == 0 {
		t.Error("no operations files named after the run")
	}
	// Secrets: no checkpoint token anywhere the run wrote text.
	rep, _ := os.ReadFile(report)
	for _, e := range execs {
		for _, text := range []string{r.stdout, r.stderr, string(rep)} {
			if strings.Contains(text, e.Token) {
				t.Fatalf("a checkpoint token leaked into the output")
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("--log-format json wrote a non-JSON line: %q", line)
		}
		if m["run_id"] != "r1" {
			t.Errorf("log line without run_id: %q", line)
		}
	}
	if srv.Stats().Requests == 0 {
		t.Error("nothing was fetched")
	}
}

func TestRunPartialFailureExitsOne(t *testing.T) {
	_, url, manifest, _ := fixture(t, 3)
	f, _ := os.OpenFile(manifest, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"DurableExecutionArn":"arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/gone/1","CheckpointToken":"SECRET-T"}` + "\n")
	f.Close()
	report := filepath.Join(t.TempDir(), "report.json")
	r := runCLI(t, "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", url, "--report", report)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1", r.code)
	}
	s := readReport(t, report)
	if s.ExecutionsOK != 3 || len(s.Failures) != 1 || s.Failures[0].Code != "ResourceNotFoundException" || s.Failures[0].Line != 4 {
		t.Errorf("report %+v", s)
	}
	if strings.Contains(r.stderr+r.stdout, "SECRET-T") {
		t.Error("token leaked")
	}
	if !strings.Contains(r.stderr, "1 of 4 executions failed") {
		t.Errorf("stderr does not say what failed")
	}
}

// TestRunDestinationFailureSaysRerun: when the destination fails at
// publication, the summary does not call the executions archived, names the
// run id to resume with, and that rerun finishes the archive.
func TestRunDestinationFailureSaysRerun(t *testing.T) {
	_, url, manifest, execs := fixture(t, 6)
	dest := t.TempDir()
	obstacle := filepath.Join(dest, "operations") // a file where a table's folder goes
	if err := os.WriteFile(obstacle, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--run-id", "r9")
	if r.code != exitFailed || !strings.Contains(r.stderr, obstacle) {
		t.Fatalf("exit %d, stderr %q: want 1 naming %s", r.code, r.stderr, obstacle)
	}
	if strings.Contains(r.stdout, "executions archived") || !strings.Contains(r.stdout, "--run-id r9") {
		t.Errorf("summary after a destination failure: %q", r.stdout)
	}
	os.Remove(obstacle)
	if r = runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--run-id", "r9"); r.code != 0 {
		t.Fatalf("rerun: exit %d: %s", r.code, r.stderr)
	}
	seen := map[string]bool{}
	for _, row := range executionRows(t, dest) {
		seen[row.ExecutionArn] = true
	}
	for _, e := range execs {
		if !seen[e.ARN] {
			t.Errorf("%s not archived after the rerun", e.ARN)
		}
	}
}

// TestRunReusesConnections: a run keeps a connection per call in flight
// between calls, instead of closing those past the SDK's 10 idle ones after
// each call and opening them again (a TLS handshake each against AWS).
func TestRunReusesConnections(t *testing.T) {
	execs := emulator.Generate(5, 400, emulator.GenerateOptions{MaxOps: 50})
	srv := emulator.New()
	srv.Add(execs...)
	emulatortest.Env(t)
	var opened atomic.Int64
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	const concurrency = 16
	r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", t.TempDir(), "--endpoint-url", hs.URL, "--concurrency", fmt.Sprint(concurrency))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// At most two calls per worker are in flight (a page read ahead).
	if n, calls := opened.Load(), srv.Stats().Requests; n > 2*concurrency {
		t.Errorf("%d connections opened for %d calls at --concurrency %d: connections were closed between calls", n, calls, concurrency)
	}
}

func TestRunSingleExecutionFromEnvironment(t *testing.T) {
	_, url, _, execs := fixture(t, 1)
	dest := t.TempDir()
	t.Setenv("ETL_CHECKPOINT_TOKEN", execs[0].Token)
	t.Setenv("ETL_DEST", dest)
	t.Setenv("ETL_ENDPOINT_URL", url)
	r := runCLI(t, "run", "--execution", execs[0].ARN)
	if r.code != 0 || !strings.Contains(r.stdout, "1 executions archived") {
		t.Fatalf("exit %d", r.code)
	}
	if files, _ := filepath.Glob(filepath.Join(dest, "executions", "dt=*", "*.parquet")); len(files) != 1 {
		t.Errorf("ETL_DEST not honoured: %v", files)
	}
}

// TestUsageErrorsFetchNothing: every configuration problem is one line on
// stderr, exit 2, and not a single request reaches the API.
func TestUsageErrorsFetchNothing(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 2)
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\"}\nnot json\n"), 0o644)
	aFile := filepath.Join(tmp, "a-file")
	os.WriteFile(aFile, nil, 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no manifest", []string{}, "--manifest"},
		{"missing manifest file", []string{"--manifest", filepath.Join(tmp, "nope.jsonl")}, "nope.jsonl"},
		{"malformed manifest", []string{"--manifest", bad}, "bad.jsonl line 2"},
		{"function and manifest", []string{"--function", "orders", "--manifest", manifest}, "exclude --manifest"},
		{"bad status", []string{"--function", "orders", "--status", "RUNNING,DONE"}, "--status"},
		{"bad started-after", []string{"--function", "orders", "--started-after", "yesterday"}, "--started-after"},
		{"prefix without all-functions", []string{"--function", "orders", "--function-prefix", "o"}, "--all-functions"},
		{"bad exclude glob", []string{"--all-functions", "--exclude-function", "[x"}, "--exclude-function"},
		{"empty window", []string{"--function", "orders", "--started-after", "1d", "--started-before", "2d"}, "not before"},
		{"filter without function", []string{"--manifest", manifest, "--status", "RUNNING"}, "give one"},
		{"page size 0", []string{"--manifest", manifest, "--page-size", "0"}, "--page-size"},
		{"page size 1001", []string{"--manifest", manifest, "--page-size", "1001"}, "--page-size"},
		{"bad compression", []string{"--manifest", manifest, "--compression", "lzma"}, "--compression"},
		{"bad log format", []string{"--manifest", manifest, "--log-format", "xml"}, "--log-format"},
		{"bad log level", []string{"--manifest", manifest, "--log-level", "loud"}, "--log-level"},
		{"unwritable dest", []string{"--manifest", manifest, "--dest", filepath.Join(aFile, "sub")}, "a-file"},
		{"unknown dest scheme", []string{"--manifest", manifest, "--dest", "ftp://x/y"}, "unknown scheme"},
		{"bucket name S3 refuses", []string{"--manifest", manifest, "--dest", "s3://dm/archive"}, `"dm" is not a bucket name S3 allows`},
		{"postgres password never echoed", []string{"--manifest", manifest, "--dest", "postgres://u:hunter2@127.0.0.1:1/db"}, "postgres"},
		{"postgres password in the query never echoed", []string{"--manifest", manifest, "--dest", "postgres://u@127.0.0.1:1/db?password=hunter2"}, "postgres"},
		{"keyword connection string, not a directory", []string{"--manifest", manifest, "--dest", "host=127.0.0.1 port=1 dbname=db password=hunter2"}, "give it as a URL"},
		{"unwritable report", []string{"--manifest", manifest, "--report", filepath.Join(aFile, "r.json")}, "--report"},
		{"unknown flag", []string{"--manifest", manifest, "--frobnicate"}, "frobnicate"},
		{"bad size", []string{"--manifest", manifest, "--target-file-size", "big"}, "--target-file-size"},
		{"unreachable endpoint", []string{"--manifest", manifest, "--endpoint-url", "http://127.0.0.1:1"}, "unreachable"},
		{"endpoint password never echoed", []string{"--manifest", manifest, "--endpoint-url", "http://proxy:hunter2@127.0.0.1:1"}, "unreachable"},
		{"bad shard", []string{"--manifest", manifest, "--shard", "3/3"}, "--shard"},
		{"bad retry mode", []string{"--manifest", manifest, "--retry-mode", "eager"}, "--retry-mode"},
		{"bad memory limit", []string{"--manifest", manifest, "--memory-limit", "lots"}, "--memory-limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--endpoint-url", url, "--dest", filepath.Join(tmp, "archive")}, tc.args...)
			r := runCLI(t, args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want 2", r.code)
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") > 0 && !strings.Contains(msg, "Incorrect Usage") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q should be one line naming %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Error("password in the message")
			}
			if n := srv.Stats().Requests; n != 0 {
				t.Fatalf("%d requests reached the API", n)
			}
			if _, err := os.Lstat(filepath.Join(tmp, "archive")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the new destination is left behind (%v)", err)
				os.RemoveAll(filepath.Join(tmp, "archive")) // the next case is judged on its own
			}
		})
	}
}

// TestRefusedRunLeavesNoFolders: a run refused before it starts (here, a
// Postgres destination that cannot be reached) removes the folders it
// made for its new local destinations, and of an existing one only what
// it added and left empty.
func TestRefusedRunLeavesNoFolders(t *testing.T) {
	_, url, manifest, _ := fixture(t, 2)
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "existing")
	os.Mkdir(existing, 0o755)
	os.WriteFile(filepath.Join(existing, "keep.txt"), []byte("x"), 0o644)
	fresh := filepath.Join(tmp, "new", "deeper", "archive")
	r := runCLI(t, "run", "--manifest", manifest, "--endpoint-url", url, "--dest", existing, "--dest", fresh, "--dest", "postgres://u@127.0.0.1:1/db")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	var left []string
	filepath.WalkDir(tmp, func(p string, _ fs.DirEntry, err error) error {
		if err == nil && p != tmp {
			rel, _ := filepath.Rel(tmp, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return err
	})
	if want := []string{"existing", "existing/keep.txt"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// TestVerifyUsageErrors: etl verify's bad flags exit 2 with a line naming
// the flag, before any API call.
func TestVerifyUsageErrors(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 2)
	for _, args := range [][]string{
		{"--memory-limit", "lots"},
		{"--sample", "-1"},
		{"--retention-warning", "soon"},
	} {
		r := runCLI(t, append([]string{"verify", "--manifest", manifest, "--endpoint-url", url, "--dest", t.TempDir()}, args...)...)
		if msg := strings.TrimSpace(r.stderr); r.code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, args[0]) {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line naming %s", args, r.code, msg, args[0])
		}
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
}

func TestEmptyManifestSucceeds(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	emulatortest.Env(t)
	r := runCLI(t, "run", "--manifest", empty, "--dest", t.TempDir(), "--endpoint-url", "http://127.0.0.1:1")
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to do") {
		t.Fatalf("exit %d; an empty manifest should succeed and say so", r.code)
	}
}

func TestSchemaCommand(t *testing.T) {
	r := runCLI(t, "schema", "parquet")
	if r.code != 0 || !strings.Contains(r.stdout, "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)") || !strings.Contains(r.stdout, "message operations") {
		t.Errorf("schema parquet: %d", r.code)
	}
	r = runCLI(t, "schema", "athena", "--location", "s3://b/p")
	if r.code != 0 || !strings.Contains(r.stdout, "LOCATION 's3://b/p/operations/'") {
		t.Errorf("schema athena: %d", r.code)
	}
	for _, bad := range [][]string{{"--location", "/data/archive"}, {"--location", "s3://"}, {"--database", "my db"}} {
		if r := runCLI(t, append([]string{"schema", "athena"}, bad...)...); r.code != exitUsage || !strings.Contains(r.stderr, bad[0]) {
			t.Errorf("schema athena %v: exit %d, %q; want a usage error naming the flag", bad, r.code, r.stderr)
		}
	}
	// --out-dir: one statement a file, in the order to run them; together
	// what standard output gets; an earlier write's files, numbered
	// otherwise (without --database), gone; a user's own files kept.
	dir := filepath.Join(t.TempDir(), "ddl")
	os.MkdirAll(dir, 0o755)
	mine := filepath.Join(dir, "01-mine.sql")
	os.WriteFile(mine, []byte("SELECT 1;\n"), 0o644)
	if r = runCLI(t, "schema", "athena", "--location", "s3://b/p", "--out-dir", dir); r.code != 0 {
		t.Fatalf("schema athena --out-dir without --database: exit %d", r.code)
	}
	whole := runCLI(t, "schema", "athena", "--location", "s3://b/p", "--database", "durable").stdout
	if r = runCLI(t, "schema", "athena", "--location", "s3://b/p", "--database", "durable", "--out-dir", dir); r.code != 0 || r.stdout != "" {
		t.Fatalf("schema athena --out-dir: exit %d, stdout %q", r.code, r.stdout)
	}
	if err := os.Remove(mine); err != nil { // kept, and not a statement
		t.Errorf("a user's file in --out-dir: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	var joined []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		joined = append(joined, string(b))
	}
	if len(files) != 7 || !strings.HasSuffix(files[0], "01-database.sql") || strings.Join(joined, "\n") != whole {
		t.Errorf("schema athena --out-dir wrote %v; want 7 files that together are the statements printed", files)
	}
	r = runCLI(t, "schema", "postgres")
	if r.code != 0 || !strings.Contains(r.stdout, `"durable_archive"."operations"`) {
		t.Errorf("schema postgres: %d", r.code)
	}
	if r = runCLI(t, "schema", "sqlite"); r.code != exitUsage {
		t.Errorf("schema sqlite: exit %d", r.code)
	}
	if r = runCLI(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "etl ") {
		t.Errorf("version: %q", r.stdout)
	}
}

// TestFanOutAndStdin: a manifest from standard input, two destinations from
// one extraction, byte-identical files in both. The first has a comma in
// its path: a --dest value is one destination as given (a slice flag
// would split it in two, one of them relative).
func TestFanOutAndStdin(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 10)
	content, _ := os.ReadFile(manifest)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(content); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	a, b := filepath.Join(t.TempDir(), "a,1"), filepath.Join(t.TempDir(), "b")
	res := runCLI(t, "run", "--manifest", "-", "--dest", a, "--dest", "file://"+b, "--endpoint-url", url, "--run-id", "fan")
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if n := srv.Stats().Requests; n != 10 {
		t.Errorf("%d requests for 10 one-page executions: the fan-out fetched twice", n)
	}
	twins(t, a, b)
}

// twins fails the test unless every Parquet file of directory a is in b,
// byte for byte the same (and a has some).
func twins(t *testing.T, a, b string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(a, "*", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, fa := range files {
		rel, _ := filepath.Rel(a, fa)
		ba, _ := os.ReadFile(fa)
		bb, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(ba, bb) {
			t.Errorf("%s differs between the two destinations (%v)", rel, err)
		}
	}
}

// TestHugeManifestValueIsClipped: a manifest value of megabytes reaches no
// log line, summary or report whole; each shows a bounded prefix and the
// value's size.
// TestUnknownFunction: a --function the API does not know stops the run
// with exit 2, naming it, before anything is written.
func TestUnknownFunction(t *testing.T) {
	_, url, _, _ := fixture(t, 3)
	dest := filepath.Join(t.TempDir(), "archive")
	r := runCLI(t, "run", "--function", "no-such-fn", "--endpoint-url", url, "--dest", dest)
	if r.code != exitUsage || !strings.Contains(r.stderr, "no-such-fn") || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("exit %d", r.code)
	}
	if files, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*")); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
	r = runCLI(t, "discover", "--function", "no-such-fn", "--endpoint-url", url)
	if r.code != exitUsage {
		t.Errorf("discover: exit %d", r.code)
	}
}

// TestDiscoverCommand prints every execution as a manifest without tokens,
// which run archives like --function does.
func TestDiscoverCommand(t *testing.T) {
	srv, url, _, execs := fixture(t, 20)
	out := filepath.Join(t.TempDir(), "found.jsonl")
	args := []string{"discover", "--endpoint-url", url, "--output", out}
	fns := []string{"orders", "payments", "shipping", "notifications-ñ", "inventory"}
	for _, fn := range fns {
		args = append(args, "--function", fn)
	}
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	// A manifest needs no function's retention: discover lists versions
	// only where discovery itself must; a run takes a function's
	// retention from that listing, or lists its versions once for it.
	listed := map[string]int64{}
	for _, fn := range fns {
		listed[fn] = srv.Requests("versions", fn)
	}
	runArgs := []string{"run", "--dest", t.TempDir(), "--endpoint-url", url, "--log-level", "warn"}
	for _, fn := range fns {
		runArgs = append(runArgs, "--function", fn)
	}
	if r := runCLI(t, runArgs...); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	for _, fn := range fns {
		want := max(listed[fn], 1)
		if n := srv.Requests("versions", fn) - listed[fn]; n != want {
			t.Errorf("%s: ListVersionsByFunction %d times by discover, %d by a run: want %d", fn, listed[fn], n, want)
		}
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(execs) || strings.Contains(string(b), "CheckpointToken") {
		t.Fatalf("%d lines for %d executions:\n%s", len(lines), len(execs), b)
	}
	// Oldest first, each with its start time, as the API listed it.
	starts := map[string]time.Time{}
	for _, e := range execs {
		starts[e.ARN] = *e.Op(0).StartTimestamp
	}
	var last time.Time
	for _, line := range lines {
		var v struct {
			DurableExecutionArn string
			StartTimestamp      time.Time
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || !v.StartTimestamp.Equal(starts[v.DurableExecutionArn]) || v.StartTimestamp.Before(last) {
			t.Fatalf("line %s: start %v (%v), want %v, not before %v", line, v.StartTimestamp, err, starts[v.DurableExecutionArn], last)
		}
		last = v.StartTimestamp
	}
	report := filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", out, "--endpoint-url", url, "--dest", t.TempDir(), "--report", report); r.code != 0 {
		t.Fatalf("run of the discovered manifest: exit %d", r.code)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(execs) || s.Events == 0 {
		t.Errorf("report %+v", s)
	}
	// An --output that cannot take the file (a folder in its place) is a
	// one-line failure naming it, and leaves no partial file behind.
	taken := filepath.Join(t.TempDir(), "taken")
	if err := os.MkdirAll(filepath.Join(taken, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "discover", "--endpoint-url", url, "--output", taken, "--function", "orders")
	if r.code != exitFailed || !strings.Contains(r.stderr, "--output "+taken) {
		t.Errorf("--output onto a folder: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(taken + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("a failed --output left %s.tmp (%v)", taken, err)
	}
	// A temporary directory that cannot be written (where discovery keeps
	// its list's ARNs): TestUnwritableTempDirFetchesNothing.
}

// TestDiscoveryWithoutVersionListing: where ListVersionsByFunction and
// ListAliases fail (a policy without them, or an endpoint that serves only
// the durable operations), a run by --function still archives what the
// unqualified listing found, exits 0, and says, in its summary, log and
// report, that executions of published versions may have been missed;
// etl discover says it too.
func TestDiscoveryWithoutVersionListing(t *testing.T) {
	execs := emulator.Generate(21, 12, emulator.GenerateOptions{MaxOps: 40})
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := emulator.New(emulator.WithListing(emulator.ListLatestOnly), emulator.WithoutFunctionOperations(status))
			srv.Add(execs...)
			url, _ := emulatortest.Start(t, srv)
			latest := map[string]bool{} // what can be listed without versions
			fns := map[string]bool{}
			for _, e := range execs {
				parts := strings.Split(e.ARN, ":")
				fns[parts[6]] = true
				// $LATEST.PUBLISHED needs no version listing.
				if strings.HasPrefix(parts[7], "$LATEST/") || strings.HasPrefix(parts[7], "$LATEST.PUBLISHED/") {
					latest[e.ARN] = true
				}
			}
			args := []string{"--endpoint-url", url, "--max-attempts", "2"}
			for fn := range fns {
				args = append(args, "--function", fn)
			}
			dest, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
			r := runCLI(t, append([]string{"run", "--dest", dest, "--report", report}, args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			s := readReport(t, report)
			if s.ExecutionsOK != len(latest) {
				t.Errorf("%d executions archived, want the %d listed without versions", s.ExecutionsOK, len(latest))
			}
			if len(s.Functions) != len(fns) {
				t.Fatalf("the report lists %d functions, want %d", len(s.Functions), len(fns))
			}
			for _, f := range s.Functions {
				if !strings.Contains(f.QualifiersUnlisted, "ListVersionsByFunction") {
					t.Errorf("function %s: qualifiers_unlisted %q", f.Function, f.QualifiersUnlisted)
				}
			}
			if !strings.Contains(r.stdout, "warning: function") || !strings.Contains(r.stderr, "versions and aliases not listed") {
				t.Errorf("no warning in the summary or the log:\n%s\n%s", r.stdout, r.stderr)
			}
			// Nor can the functions' retention be read: the log says the
			// default is assumed, for each.
			if n := strings.Count(r.stderr, `level=WARN msg="history retention unknown`); n != len(fns) {
				t.Errorf("%d warnings of an unknown retention, want %d:\n%s", n, len(fns), r.stderr)
			}
			r = runCLI(t, append([]string{"verify", "--dest", dest}, args...)...)
			if r.code != 0 || strings.Count(r.stderr, `level=WARN msg="history retention unknown`) != len(fns) || !strings.Contains(r.stderr, "versions and aliases not listed") {
				t.Errorf("verify: exit %d, without the warnings:\n%s", r.code, r.stderr)
			}
			r = runCLI(t, append([]string{"discover"}, args...)...)
			if r.code != 0 || strings.Count(r.stdout, "\n") != len(latest) || !strings.Contains(r.stderr, "warning: function") {
				t.Errorf("discover: exit %d, %d lines, stderr %q", r.code, strings.Count(r.stdout, "\n"), r.stderr)
			}
		})
	}
}

// TestExecutionIDsThatAreNotARNs: an execution named by something other
// than a durable execution ARN (AWS's Python testing server hands out
// "UUID/UUID"; the SDK takes any string) is archived through state and
// through history, verifies equal, and is skipped once terminal: only the
// executions row's ARN parts stay null.
func TestExecutionIDsThatAreNotARNs(t *testing.T) {
	gen := emulator.Generate(21, 4, emulator.GenerateOptions{MaxOps: 40})
	ids := []string{"3f2c9a1b-0d4e-4c55-9a1e-1b2c3d4e5f60/8a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d", "weird:arn:with:colons", "plain-id", "a b/c?d#e%f"}
	srv := emulator.New()
	var lines []byte
	for i, e := range gen {
		e.ARN = ids[i]
		if i%2 == 0 {
			e.Token = "" // through history
		}
		srv.Add(e)
		b, _ := json.Marshal(map[string]string{"DurableExecutionArn": e.ARN, "CheckpointToken": e.Token})
		lines = append(append(lines, b...), '\n')
	}
	url, _ := emulatortest.Start(t, srv)
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(manifest, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	dest, report := t.TempDir(), filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	if s := readReport(t, report); s.ExecutionsOK != len(ids) || s.Events == 0 {
		t.Errorf("run: %d archived, %d events", s.ExecutionsOK, s.Events)
	}
	r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--all")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d of %d executions complete", len(ids), len(ids))) {
		t.Errorf("verify: exit %d: %s", r.code, r.stdout)
	}
	terminal := 0
	for _, e := range gen {
		if st := e.Op(0).Status; st != "STARTED" && st != "PENDING" && st != "READY" {
			terminal++
		}
	}
	if terminal == 0 {
		t.Fatal("the fixture has no terminal execution: the rerun would test nothing")
	}
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report); r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	if s := readReport(t, report); s.SkippedTerminal != terminal {
		t.Errorf("rerun skipped %d terminal executions, want %d", s.SkippedTerminal, terminal)
	}
}

func TestHugeManifestValueIsClipped(t *testing.T) {
	_, url, manifest, _ := fixture(t, 2)
	huge := "arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/" + strings.Repeat("n", 5<<20) + "/1"
	f, _ := os.OpenFile(manifest, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"DurableExecutionArn":"` + huge + `","CheckpointToken":"tok"}` + "\n")
	f.Close()
	report := filepath.Join(t.TempDir(), "report.json")
	var out, errb bytes.Buffer
	code := run([]string{"etl", "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", url, "--report", report,
		"--log-format", "json", "--log-level", "debug", "--max-attempts", "1", "--retry-failed-after", "1ms"}, &out, &errb)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (the huge ARN fails, the others archive)\n%.2000s", code, errb.String())
	}
	rep, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	needle := strings.Repeat("n", 4096)
	for name, text := range map[string]string{"stdout": out.String(), "stderr": errb.String(), "report": string(rep)} {
		if len(text) > 64<<10 || strings.Contains(text, needle) {
			t.Errorf("%s holds %d bytes: the value was not clipped", name, len(text))
		}
	}
	s := readReport(t, report)
	if len(s.Failures) != 1 || !strings.HasSuffix(s.Failures[0].ExecutionArn, fmt.Sprintf("[%d bytes]", len(huge))) {
		t.Errorf("failures %.1000v", s.Failures)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("[%d bytes]", len(huge))) {
		t.Errorf("the summary does not name the clipped value's size")
	}
}

// archivedByRuns serves execs as executions of the demo functions and
// archives them into a new directory once per run ID (with --force: each
// run adds a file per table to each partition); it returns the
// emulator's URL and the directory.
func archivedByRuns(t *testing.T, execs []emulator.Execution, runIDs ...string) (url, dest string) {
	t.Helper()
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	url, _ = emulatortest.Start(t, srv)
	dest = filepath.Join(t.TempDir(), "archive")
	for _, id := range runIDs {
		if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--force", "--run-id", id, "--log-level", "warn"); r.code != 0 {
			t.Fatalf("run %s: exit %d", id, r.code)
		}
	}
	return url, dest
}

// TestCompactAndVerifyLog: compact and verify log as run does, in the
// format and at the level their flags say. Before, compact dropped its
// warnings (a file a killed run left apart went unsaid) and verify's were
// fixed text at info.
func TestCompactAndVerifyLog(t *testing.T) {
	execs := emulator.Generate(23, 6, emulator.GenerateOptions{MaxOps: 60})
	url, dest := archivedByRuns(t, execs, "k1", "k2")
	// k2 killed between its operations and executions files in one
	// partition: compaction leaves that operations file apart, and says so.
	execFiles, _ := filepath.Glob(filepath.Join(dest, "executions", "dt=*", "part-k2-*.parquet"))
	if len(execFiles) == 0 {
		t.Fatal("no executions file of run k2")
	}
	dt := filepath.Base(filepath.Dir(execFiles[0]))
	if err := os.Remove(execFiles[0]); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dest, "operations", dt, "part-k2-*.parquet"))
	if len(left) != 1 {
		t.Fatalf("%d operations files of run k2 in %s, want 1", len(left), dt)
	}
	dts, _ := filepath.Glob(filepath.Join(dest, "operations", "dt=*"))
	r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--log-format", "json", "--progress-interval", "1ns")
	if r.code != 0 {
		t.Fatalf("compact: exit %d", r.code)
	}
	warned, progress := false, 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var rec struct {
			Level, Msg, File string
			PartitionsDone   int `json:"partitions_done"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("compact --log-format json: a line that is not JSON: %q", line)
		}
		warned = warned || rec.Level == "WARN" && strings.HasSuffix(rec.File, filepath.Base(left[0])) && strings.Contains(rec.Msg, "left apart")
		if rec.Msg == "compacting" {
			progress++ // with --progress-interval 1ns, one line a partition
			if rec.PartitionsDone != progress || !strings.Contains(line, fmt.Sprintf(`"partitions_total":%d`, len(dts))) {
				t.Errorf("progress line %d: %s (%d partitions)", progress, line, len(dts))
			}
		}
	}
	if !warned {
		t.Errorf("compact did not warn of %s left apart:\n%s", left[0], r.stderr)
	}
	if progress != len(dts) || len(dts) == 0 {
		t.Errorf("%d progress lines for %d partitions", progress, len(dts))
	}
	if r := runCLI(t, "compact", "--dest", dest, "--log-level", "loud"); r.code != exitUsage || !strings.Contains(r.stderr, "--log-level") {
		t.Errorf("compact --log-level loud: exit %d, want %d naming the flag", r.code, exitUsage)
	}

	r = runCLI(t, "verify", "--all-functions", "--dest", dest, "--endpoint-url", url, "--sample", fmt.Sprint(len(execs)), "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("verify: exit %d", r.code)
	}
	if !strings.HasPrefix(r.stderr, "{") || !strings.Contains(r.stderr, `"msg":"durable function"`) {
		t.Errorf("verify --log-format json: its discovery lines are not JSON:\n%s", r.stderr)
	}
	if r := runCLI(t, "verify", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 || r.stderr != "" {
		t.Errorf("verify --log-level warn: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, "verify", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-format", "xml"); r.code != exitUsage || !strings.Contains(r.stderr, "--log-format") {
		t.Errorf("verify --log-format xml: exit %d, want %d naming the flag", r.code, exitUsage)
	}
}

// TestDiscoveryListsFunctionsAtOnce: discovery lists several functions at
// once (the first listing waits, here, until another is in flight: were
// they listed one after another it would wait in vain), and what it finds
// comes out in one order whatever the interleaving: oldest first, those
// of one start by function in the order named, then as listed (the
// emulator lists by start, then ARN). A function the API does not know
// among others is named, exit 2.
func TestDiscoveryListsFunctionsAtOnce(t *testing.T) {
	starts := []time.Time{time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 2, 2, 9, 30, 0, 0, time.UTC)}
	var execs []emulator.Execution
	startOf := map[string]time.Time{}
	for i, e := range emulator.Generate(23, 60, emulator.GenerateOptions{MaxOps: 5}) {
		start := starts[i%len(starts)] // the same few starts across every function
		info := *emulator.InfoOf(e)
		info.Start = &start
		e.Info = &info
		startOf[e.ARN] = start
		execs = append(execs, e)
	}
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	overlapped := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	inFlight, first := 0, true
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/functions/") && strings.HasSuffix(r.URL.Path, "/durable-executions") {
			mu.Lock()
			inFlight++
			wait := first
			first = false
			if inFlight >= 2 {
				once.Do(func() { close(overlapped) })
			}
			mu.Unlock()
			if wait {
				select {
				case <-overlapped:
				case <-time.After(20 * time.Second):
					t.Error("no second function was listed while the first was: discovery lists one function at a time")
				}
			}
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	emulatortest.Env(t)
	fnIndex := map[string]int{}
	args := []string{"discover", "--endpoint-url", hs.URL}
	for i, fn := range emulator.FunctionNames {
		fnIndex[fn] = i
		args = append(args, "--function", fn)
	}
	r := runCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var v struct{ DurableExecutionArn string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, v.DurableExecutionArn)
	}
	fnOf := func(arn string) int { return fnIndex[strings.Split(arn, ":")[6]] }
	want := make([]string, 0, len(execs))
	for _, e := range execs {
		want = append(want, e.ARN)
	}
	slices.SortFunc(want, func(a, b string) int {
		return cmp.Or(startOf[a].Compare(startOf[b]), cmp.Compare(fnOf(a), fnOf(b)), strings.Compare(a, b))
	})
	if !slices.Equal(got, want) {
		k := 0
		for k < min(len(got), len(want)) && got[k] == want[k] {
			k++
		}
		t.Errorf("discovered %d executions, want %d; from line %d in another order", len(got), len(want), k+1)
	}
	r = runCLI(t, "discover", "--endpoint-url", hs.URL, "--function", "orders", "--function", "no-such-fn", "--function", "payments")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no-such-fn") {
		t.Errorf("an unknown function among others: exit %d, %q", r.code, r.stderr)
	}
}

// TestSummaryCountsFailuresByCode: past the ten failures it lists, the
// summary counts them all by code, the most common first, so that a run
// failing by the thousand for one reason says so in a line.
func TestSummaryCountsFailuresByCode(t *testing.T) {
	var fs []pipeline.Failure
	for i := range 14 {
		code := "AccessDeniedException"
		if i%5 == 0 {
			code = "ResourceNotFoundException"
		}
		fs = append(fs, pipeline.Failure{ExecutionArn: fmt.Sprint("arn-", i), Code: code, Reason: "r"})
	}
	var b strings.Builder
	printSummary(&b, &pipeline.Summary{RunID: "r", ExecutionsFailed: len(fs), Failures: fs}, []string{"dest"}, nil)
	if want := "... and 4 more failures (in all: 11 AccessDeniedException, 3 ResourceNotFoundException)"; !strings.Contains(b.String(), want) {
		t.Errorf("summary:\n%s\nwant a line with %q", b.String(), want)
	}
	if hint := deniedHint(fs); !strings.Contains(hint, "11 denied") || !strings.Contains(hint, "iam-policy.json") || deniedHint(fs[:1]) != "" {
		t.Errorf("hint %q (and %q for a ResourceNotFoundException alone)", hint, deniedHint(fs[:1]))
	}
}

// TestAtRiskLogIsBounded: the log names the first thousand executions at
// risk one by one, then counts the rest in one line (the report has them
// all).
func TestAtRiskLogIsBounded(t *testing.T) {
	now := time.Now()
	var atRisk []pipeline.AtRisk
	for i := range atRiskLogged + 5 {
		atRisk = append(atRisk, pipeline.AtRisk{ExecutionArn: fmt.Sprint("arn-", i), HistoryExpiresAt: now.Add(time.Hour), Reason: "not archived by this run"})
	}
	var b bytes.Buffer
	logAtRisk(slog.New(slog.NewJSONHandler(&b, nil)), atRisk, now)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != atRiskLogged+1 || !strings.Contains(lines[atRiskLogged], `"more":5`) {
		t.Errorf("%d lines, the last %q: want %d, then one counting 5 more", len(lines), lines[len(lines)-1], atRiskLogged+1)
	}
}

// TestDamagedFileInTheArchive: a published file that is not Parquet (a
// damaged copy, a stray file) is named with what to do; a run leaves it
// out of what it knows (exit 1) and archives again what it held, rather
// than refuse to run while histories expire; verify and compact stop on it
// (no "rerun": a rerun does not mend it); once it is moved away, compact
// finishes and the archive verifies whole.
func TestDamagedFileInTheArchive(t *testing.T) {
	_, url, manifest, execs := fixture(t, 3)
	dest := t.TempDir()
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--history"); r.code != exitOK {
		t.Fatalf("first run: exit %d", r.code)
	}
	damaged, _ := filepath.Glob(filepath.Join(dest, "executions", "dt=*", "*.parquet"))
	if len(damaged) != 1 {
		t.Fatalf("executions files %v: want one", damaged)
	}
	b, err := os.ReadFile(damaged[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged[0], b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(damaged[0])
	report := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report, "--history")
	if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, name) || !strings.Contains(msg, "move it out of the archive") {
		t.Errorf("run: exit %d, stderr ends %q: want 1, naming the file and what to do", r.code, msg)
	}
	// The events file beside the damaged one is whole: its events are
	// not written again (they land once), the rest of the executions is.
	if s := readReport(t, report); s.ExecutionsOK != len(execs) || s.Events == 0 || s.EventsNew != 0 || len(s.UnreadableFiles) != 1 || !strings.HasSuffix(s.UnreadableFiles[0], name) {
		t.Errorf("run: %d archived again, %d events read, %d written, unreadable %v: want all %d (the damaged file held them), no event again, the file named",
			s.ExecutionsOK, s.Events, s.EventsNew, s.UnreadableFiles, len(execs))
	}
	files := func() []string {
		fs, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet"))
		return fs
	}
	before := files()
	vreport := filepath.Join(t.TempDir(), "v.json")
	for _, args := range [][]string{
		{"verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--all", "--report", vreport},
		{"compact", "--dest", dest, "--min-age", "0s"},
	} {
		r := runCLI(t, args...)
		if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, name) || !strings.Contains(msg, "move it out of the archive") || strings.Contains(msg, "rerun") {
			t.Errorf("%s: exit %d, stderr ends %q: want 1, naming the file and what to do", args[0], r.code, msg)
		}
	}
	// Verify went on past the file: it names it, and finds every
	// execution in the files beside it (the run archived them again).
	var v verify.Report
	if b, err := os.ReadFile(vreport); err != nil || json.Unmarshal(b, &v) != nil {
		t.Fatalf("verify report: %v", err)
	}
	if len(v.UnreadableFiles) != 1 || !strings.HasSuffix(v.UnreadableFiles[0], name) || len(v.Missing) != 0 || v.Complete != len(execs) {
		t.Errorf("verify: unreadable %v, missing %v, %d complete: want the file named, none missing, all %d complete", v.UnreadableFiles, v.Missing, v.Complete, len(execs))
	}
	// The partition's other tables come before executions: their merged
	// files, published beside the files they replace, would have shown
	// every row twice in the tables until the file is moved away.
	if after := files(); !slices.Equal(before, after) {
		t.Errorf("compact that stopped left the archive's files\n%v\nwant as they were\n%v", after, before)
	}
	if err := os.Rename(damaged[0], filepath.Join(t.TempDir(), name)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"compact", "--dest", dest, "--min-age", "0s"},
		{"verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--all"},
		{"run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--history"},
	} {
		if r := runCLI(t, args...); r.code != exitOK {
			t.Errorf("%s once the file is moved away: exit %d", args[0], r.code)
		}
	}
}

// TestUnwritableTempDirFetchesNothing: a temporary folder that cannot be
// written (a container with a read-only root file system) is a usage
// error naming TMPDIR, before any API call; a run found it once discovery
// began, and stopped with exit 1.
func TestUnwritableTempDirFetchesNothing(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 2)
	dest := filepath.Join(t.TempDir(), "archive")
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	for _, args := range [][]string{
		{"run", "--endpoint-url", url, "--all-functions", "--dest", dest},
		{"run", "--endpoint-url", url, "--manifest", manifest, "--dest", dest},
		{"verify", "--endpoint-url", url, "--all-functions", "--dest", dest},
		{"discover", "--endpoint-url", url, "--all-functions"},
		{"compact", "--dest", "s3://no-such-bucket/archive"}, // reads objects there; checked before any S3 call
	} {
		r := runCLI(t, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "point TMPDIR at a writable folder") || !strings.Contains(r.stderr, os.Getenv("TMPDIR")) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q", args[0], r.code, r.stderr)
		}
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
}

// TestBuiltVersion: a build without -X main.version says what it was built
// from: a module version, else a commit, else dev.
func TestBuiltVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	for _, tc := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: rev}, true, "v1.2.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, true, "dev-0123456789ab"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, true, "dev-0123456789ab-dirty"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev"},
		{nil, false, "dev"},
	} {
		if got := builtVersion(tc.info, tc.ok); got != tc.want {
			t.Errorf("builtVersion(%+v) = %q, want %q", tc.info, got, tc.want)
		}
	}
}

// TestEveryFlagHasItsVariable holds the contract's "every flag also reads
// an ETL_-prefixed environment variable" for every command's flags:
// --dest from ETL_DEST, --s3-read-timeout from ETL_S3_READ_TIMEOUT.
func TestEveryFlagHasItsVariable(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				name := f.Names()[0]
				if name == "help" {
					continue
				}
				want := env(name)[0]
				e, ok := f.(interface{ GetEnvVars() []string })
				if !ok || !slices.Contains(e.GetEnvVars(), want) {
					t.Errorf("%s %s --%s does not read %s", path, c.Name, name, want)
				}
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("etl", newApp(io.Discard, io.Discard).Commands)
}

// TestJSONLogsOnly: under --log-format json every line etl writes on
// stderr is a JSON record, the final error (with its exit code) and
// discover's per-function lines included, for a log pipeline that parses
// each line; in text form the final line stays "etl: ...".
func TestJSONLogsOnly(t *testing.T) {
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(emulator.Generate(3, 6, emulator.GenerateOptions{MaxOps: 20})...)
	url, _ := emulatortest.Start(t, srv)
	records := func(r cliResult) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a line on stderr is not JSON: %q", line)
			}
			out = append(out, rec)
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--all-functions", "--endpoint-url", url, "--dest", "/proc/no/such/dir"}, exitUsage, "/proc/no/such/dir"},
		{[]string{"run", "--all-functions", "--endpoint-url", url, "--dest", t.TempDir(), "--started-after", "yesterday-ish"}, exitUsage, "--started-after"},
		{[]string{"verify", "--all-functions", "--endpoint-url", "http://127.0.0.1:1", "--dest", t.TempDir()}, exitUsage, "unreachable"},
		{[]string{"compact", "--dest", t.TempDir(), "--keep", "some"}, exitUsage, "--keep"},
		{[]string{"verify", "--all-functions", "--manifest", "m.jsonl", "--endpoint-url", url, "--dest", t.TempDir()}, exitUsage, "not both"},
	} {
		r := runCLI(t, append(tc.args, "--log-format", "json")...)
		recs := records(r)
		last := recs[len(recs)-1]
		if r.code != tc.code || last["level"] != "ERROR" || last["exit_code"] != float64(tc.code) || !strings.Contains(fmt.Sprint(last["msg"]), tc.want) {
			t.Errorf("etl %v: exit %d, last record %v; want exit %d, an ERROR record naming %q with its exit code", tc.args, r.code, last, tc.code, tc.want)
		}
		if r := runCLI(t, tc.args...); !strings.HasPrefix(lastLine(r.stderr), "etl: ") {
			t.Errorf("etl %v in text: last line %q", tc.args, lastLine(r.stderr))
		}
	}
	r := runCLI(t, "discover", "--all-functions", "--endpoint-url", url, "--log-format", "json")
	found := 0
	for _, rec := range records(r) {
		if strings.HasPrefix(fmt.Sprint(rec["msg"]), "function ") {
			found++
		}
	}
	if r.code != 0 || found == 0 {
		t.Errorf("discover: exit %d, %d per-function records", r.code, found)
	}
}

// TestEndpointOfTheProfile: an endpoint given by the AWS configuration
// alone (a profile's endpoint_url, as a VPC endpoint without private DNS
// needs) is where run, discover and verify check the API is reachable,
// not the region's public endpoint, which such a network may not reach.
func TestEndpointOfTheProfile(t *testing.T) {
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(emulator.Generate(9, 5, emulator.GenerateOptions{MaxOps: 20})...)
	url, _ := emulatortest.Start(t, srv)
	cfg := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\nendpoint_url = "+url+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfg)
	dest := t.TempDir()
	for _, args := range [][]string{
		{"run", "--dest", dest},
		{"discover"},
		{"verify", "--dest", dest},
	} {
		args = append(args, "--all-functions")
		if r := runCLI(t, args...); r.code != 0 {
			t.Errorf("etl %v with the profile's endpoint_url: exit %d, %q", args, r.code, lastLine(r.stderr))
		}
	}
}

// TestCompactStoppedSaysSo: a compaction that fails part way says in its
// summary that it stopped and how far it got (its counts alone read as a
// finished one's), names the culprit, exits 1; once the culprit is gone a
// rerun compacts every partition.
func TestCompactStoppedSaysSo(t *testing.T) {
	_, dest := archivedByRuns(t, emulator.Generate(29, 40, emulator.GenerateOptions{MaxOps: 20, Days: 8}), "d1", "d2")
	parts, _ := filepath.Glob(filepath.Join(dest, "operations", "dt=*"))
	if len(parts) < 6 {
		t.Fatalf("%d partitions, want at least 6", len(parts))
	}
	// A folder where a file is expected: listed as a file, unreadable.
	culprit := filepath.Join(parts[3], "zz.parquet")
	if err := os.Mkdir(culprit, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s")
	var done, total int
	if _, err := fmt.Sscanf(r.stdout, "compact "+dest+" stopped after %d of %d partitions:", &done, &total); err != nil || r.code != exitFailed ||
		done >= total || total != len(parts) || !strings.Contains(r.stderr, "zz.parquet") {
		t.Fatalf("compact with %s: exit %d, %q (%v), %q: want exit %d, the summary saying it stopped short of %d partitions, the folder named",
			culprit, r.code, r.stdout, err, lastLine(r.stderr), exitFailed, len(parts))
	}
	if err := os.Remove(culprit); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "compact", "--dest", dest, "--min-age", "0s")
	if r.code != 0 || strings.Contains(r.stdout, "stopped") || !strings.HasPrefix(r.stdout, "compact "+dest+": ") {
		t.Fatalf("compact again: exit %d, %q", r.code, r.stdout)
	}
	for _, p := range parts {
		if files, _ := filepath.Glob(filepath.Join(p, "*.parquet")); len(files) != 1 {
			t.Errorf("%s: %d operations files after the rerun, want 1", filepath.Base(p), len(files))
		}
	}
}

// TestCompactDates: --dt compacts only the partitions it names (one
// date, FROM..TO, FROM.., ..TO, inclusive), and a malformed range is a
// usage error naming the flag, with nothing compacted.
func TestCompactDates(t *testing.T) {
	_, dest := archivedByRuns(t, emulator.Generate(29, 40, emulator.GenerateOptions{MaxOps: 20, Days: 8}), "d1", "d2")
	// filesPer is the number of operations files of each partition.
	filesPer := func() map[string]int {
		files, _ := filepath.Glob(filepath.Join(dest, "operations", "dt=*", "*.parquet"))
		n := map[string]int{}
		for _, f := range files {
			n[strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "dt=")]++
		}
		return n
	}
	before := filesPer()
	dates := slices.Sorted(maps.Keys(before))
	if len(dates) < 6 {
		t.Fatalf("%d start dates, want at least 6", len(dates))
	}
	for _, bad := range []string{"2026-1-5", "2026-02-30", "2026-03-02..2026-03-01", "yesterday..", "2026-01-01...2026-01-02"} {
		if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--dt", bad); r.code != exitUsage || !strings.Contains(r.stderr, "--dt") {
			t.Errorf("--dt %s: exit %d, want %d naming the flag: %s", bad, r.code, exitUsage, r.stderr)
		}
	}
	if got := filesPer(); !maps.Equal(got, before) {
		t.Fatalf("a refused --dt compacted: %v, before %v", got, before)
	}
	compacted := map[string]bool{}
	for _, c := range []struct {
		dt   string
		want []string // the dates it compacts
	}{
		{dates[1], dates[1:2]},
		{dates[2] + ".." + dates[3], dates[2:4]},
		{".." + dates[0], dates[:1]},
		{dates[len(dates)-2] + "..", dates[len(dates)-2:]},
	} {
		if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--dt", c.dt); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf(": %d partitions,", len(c.want))) {
			t.Fatalf("--dt %s: exit %d, %q; want %d partitions", c.dt, r.code, r.stdout, len(c.want))
		}
		for _, d := range c.want {
			compacted[d] = true
		}
		for d, n := range filesPer() {
			if want := map[bool]int{true: 1, false: before[d]}[compacted[d]]; n != want {
				t.Errorf("after --dt %s: %s has %d operations files, want %d", c.dt, d, n, want)
			}
		}
	}
	if len(compacted) == len(dates) {
		t.Fatal("every date compacted: the test leaves none out")
	}
	if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--dt", dates[1]); r.code != 0 || !strings.Contains(r.stdout, ": 0 partitions,") || !strings.Contains(r.stdout, "; 1 partitions already compact") {
		t.Errorf("--dt %s again: exit %d, %q; want it said already compact", dates[1], r.code, r.stdout)
	}

	// Beside a live compaction of some partitions (its record, of a
	// process alive on this host), a compaction that meets them is
	// refused, exit 2, compacting nothing; one that does not is not.
	host, _ := os.Hostname()
	rec, _ := json.Marshal(map[string]any{"run_id": "compact-other", "compaction": true, "dts": []string{dates[4], dates[5]}, "host": host, "pid": os.Getppid(), "started": time.Now()})
	os.MkdirAll(filepath.Join(dest, load.CompactionsDir), 0o755)
	if err := os.WriteFile(filepath.Join(dest, load.CompactionsDir, "compact-other.json"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	before = filesPer()
	if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s"); r.code != exitUsage || !strings.Contains(r.stderr, "compaction compact-other ") {
		t.Errorf("beside a live compaction: exit %d, want %d naming it: %s", r.code, exitUsage, r.stderr)
	}
	if got := filesPer(); !maps.Equal(got, before) {
		t.Errorf("a refused compaction compacted: %v, before %v", got, before)
	}
	if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--dt", dates[4]); r.code != exitUsage {
		t.Errorf("--dt %s beside a live compaction of it: exit %d, want %d", dates[4], r.code, exitUsage)
	}
	if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--dt", ".."+dates[3]); r.code != 0 {
		t.Errorf("--dt ..%s beside a live compaction of %s..%s: exit %d", dates[3], dates[4], dates[5], r.code)
	}
	if left, _ := filepath.Glob(filepath.Join(dest, load.CompactionsDir, "*.json")); len(left) != 1 {
		t.Errorf("records left: %v, want the other compaction's alone", left)
	}
}
