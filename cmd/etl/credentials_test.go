package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestNoCredentials: with no credentials anywhere in the AWS chain, run,
// discover and verify stop before any call, exit 2, with one line saying
// so; no Parquet is written.
func TestNoCredentials(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 3)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dest := t.TempDir()
	for _, args := range [][]string{
		{"run", "--manifest", manifest, "--dest", dest},
		{"run", "--function", "orders", "--dest", dest},
		{"discover", "--function", "orders"},
		{"verify", "--manifest", manifest, "--dest", dest},
	} {
		r := runCLI(t, append(args, "--endpoint-url", url)...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "no usable AWS credentials") {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line about the credentials", args, r.code, msg)
		}
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
	if files, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet")); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

// TestCredentialsRefused: credentials the API refuses from the first call
// stop run, discover and verify at once (not one failure per execution),
// exit 2, with one line naming the API's reason; nothing is written.
func TestCredentialsRefused(t *testing.T) {
	var refusing atomic.Bool
	var refused atomic.Int64
	srv := emulator.New(emulator.WithCredentials(func(int64, string) (string, string) {
		if !refusing.Load() {
			return "", ""
		}
		refused.Add(1)
		return emulator.ExpiredToken()
	}))
	execs := emulator.Generate(21, 40, emulator.GenerateOptions{MaxOps: 30})
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	manifest, dest := manifestFile(t, execs), t.TempDir()
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url); r.code != exitOK {
		t.Fatalf("the first run: exit %d", r.code)
	}
	files, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet"))

	refusing.Store(true)
	report := filepath.Join(t.TempDir(), "report.json")
	for _, args := range [][]string{
		{"run", "--manifest", manifest, "--dest", dest, "--report", report, "--concurrency", "2", "--run-id", "second"},
		{"run", "--all-functions", "--dest", dest},
		{"discover", "--function", "orders"},
		{"verify", "--manifest", manifest, "--dest", dest, "--concurrency", "2"},
	} {
		before := refused.Load()
		r := runCLI(t, append(args, "--endpoint-url", url)...)
		if msg := lastLine(r.stderr); r.code != exitUsage || !strings.HasPrefix(msg, "etl: ") || !strings.Contains(msg, "ExpiredTokenException") || strings.Contains(r.stderr, "execution failed") {
			t.Errorf("%v: exit %d, stderr ends %q: want 2 and a line naming ExpiredTokenException, no execution failed", args, r.code, msg)
		}
		// Each worker's call in flight, and its page read ahead, at most.
		if n := refused.Load() - before; n == 0 || n > 4 {
			t.Errorf("%v: %d calls refused: want the first and those in flight with it", args, n)
		}
	}
	s := readReport(t, report)
	if !s.Interrupted || s.ExecutionsFailed != 0 || s.ExecutionsOK != 0 || len(s.Failures) != 0 {
		t.Errorf("report: interrupted %v, %d ok, %d failed (%v): want interrupted, no execution failed", s.Interrupted, s.ExecutionsOK, s.ExecutionsFailed, s.Failures)
	}
	if after, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet")); len(after) != len(files) {
		t.Errorf("%d files before, %d after: the refused runs wrote some", len(files), len(after))
	}
}

// TestCredentialsExpireMidRun: a session token that expires during a run
// stops it (exit 1, one line); what it archived stays archived, no
// execution counts as failed, and a rerun with new credentials archives
// the rest: the archive then verifies whole.
func TestCredentialsExpireMidRun(t *testing.T) {
	const expiresAfter = 25 // requests
	var refused atomic.Int64
	srv := emulator.New(emulator.WithCredentials(func(n int64, key string) (string, string) {
		if key == "old-key" && n > expiresAfter {
			refused.Add(1)
			return emulator.ExpiredToken()
		}
		return "", ""
	}))
	execs := emulator.Generate(21, 40, emulator.GenerateOptions{MaxOps: 30})
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	manifest, dest := manifestFile(t, execs), t.TempDir()
	report := filepath.Join(t.TempDir(), "report.json")

	t.Setenv("AWS_ACCESS_KEY_ID", "old-key")
	r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report, "--concurrency", "2", "--page-size", "10")
	if msg := lastLine(r.stderr); r.code != exitFailed || !strings.Contains(msg, "ExpiredTokenException") || !strings.Contains(msg, "rerun") {
		t.Fatalf("exit %d, stderr ends %q: want 1 and a line naming ExpiredTokenException and a rerun", r.code, msg)
	}
	first := readReport(t, report)
	if !first.Interrupted || first.ExecutionsFailed != 0 || first.ExecutionsOK == 0 || first.ExecutionsOK == len(execs) {
		t.Fatalf("report: interrupted %v, %d ok, %d failed: want interrupted partway, no failure", first.Interrupted, first.ExecutionsOK, first.ExecutionsFailed)
	}
	if n := refused.Load(); n > 4 {
		t.Errorf("%d calls refused: the run went on after the first", n)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "new-key")
	r = runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--report", report, "--concurrency", "2")
	if r.code != exitOK {
		t.Fatalf("rerun: exit %d", r.code)
	}
	second := readReport(t, report)
	if second.Interrupted || second.ExecutionsOK+second.SkippedTerminal+second.SkippedUnchanged != len(execs) {
		t.Errorf("rerun: %d archived, %d skipped terminal, %d unchanged: want all %d between them", second.ExecutionsOK, second.SkippedTerminal, second.SkippedUnchanged, len(execs))
	}
	if r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--all"); r.code != exitOK {
		t.Errorf("verify --all after the rerun: exit %d", r.code)
	}
}

// TestCredentialsRenewedBeforeTheyExpire: credentials that expire (here
// from a credential_process, as SSO and roles give them) are renewed
// before they come within minutes of their expiry, not used to the last
// instant, when a call signed with them could reach the service late.
func TestCredentialsRenewedBeforeTheyExpire(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	srv := emulator.New(emulator.WithCredentials(func(_ int64, key string) (string, string) {
		mu.Lock()
		keys[key] = true
		mu.Unlock()
		return "", ""
	}))
	execs := emulator.Generate(21, 5, emulator.GenerateOptions{MaxOps: 30})
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)

	// Each call of the process gives a key of its own, expiring in two
	// minutes: within the renewal window, so each use renews it.
	dir := t.TempDir()
	script := filepath.Join(dir, "credentials.sh")
	expires := time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`#!/bin/sh
n=$(( $(cat %[1]s/n 2>/dev/null || echo 0) + 1 )); echo $n > %[1]s/n
echo '{"Version":1,"AccessKeyId":"key-'$n'","SecretAccessKey":"s","SessionToken":"t","Expiration":"%[2]s"}'
`, dir, expires)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("[default]\ncredential_process = "+script+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	r := runCLI(t, "run", "--manifest", manifestFile(t, execs), "--dest", t.TempDir(), "--endpoint-url", url, "--concurrency", "1")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) < 2 {
		t.Errorf("keys used: %v: credentials two minutes from their expiry were not renewed", keys)
	}
}

// lastLine is the last line of s, where etl's one-line error goes.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

// TestRegionFromInstanceMetadata: with no region in the flags, the
// environment or the shared config, the EC2 instance's is taken from its
// instance metadata (IMDSv2: a token, then the region), as the other AWS
// SDKs' chains do (Go's reads it from the instance identity document): a cron job on an instance with a role needs no
// AWS_REGION. A region set anywhere else wins, and the metadata is not
// asked; metadata disabled, or without a region, leaves the one-line
// error, before any call to the API.
func TestRegionFromInstanceMetadata(t *testing.T) {
	srv, url, _, execs := fixture(t, 12)
	var region atomic.Value // what the metadata says; "" answers 404
	var asked atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			io.WriteString(w, "imds-token")
		case r.Method == http.MethodGet && r.URL.Path == "/latest/dynamic/instance-identity/document" && r.Header.Get("X-Aws-Ec2-Metadata-Token") == "imds-token":
			asked.Add(1)
			if region.Load().(string) == "" {
				http.NotFound(w, r)
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"accountId": "123456789012", "instanceId": "i-0123456789abcdef0", "region": region.Load().(string)})
		default:
			http.Error(w, "unexpected", http.StatusBadRequest)
		}
	}))
	t.Cleanup(imds.Close)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	fn := strings.SplitN(strings.SplitN(execs[0].ARN, ":function:", 2)[1], ":", 2)[0]
	n := 0
	for _, e := range execs {
		if strings.Contains(e.ARN, ":function:"+fn+":") {
			n++
		}
	}
	archived := fmt.Sprintf("%d executions archived, 0 failed", n)
	for _, c := range []struct {
		name, env, imds, metadataOff string
		args                         []string
		code                         int
		want                         string // in stdout (exit 0) or stderr's one line
		asked                        bool
	}{
		{"the instance's region", "", "us-east-1", "", []string{"run", "--function", fn}, exitOK, archived, true},
		// The emulator's functions are us-east-1's: listed in another
		// region, the function is not found, so the metadata's region is the one
		// the calls are signed for.
		{"the instance's region, another", "", "eu-west-1", "", []string{"run", "--function", fn}, exitUsage, "function " + fn + ": not found", true},
		{"AWS_REGION first", "us-east-1", "eu-west-1", "", []string{"run", "--function", fn}, exitOK, archived, false},
		{"no region in the metadata", "", "", "", []string{"run", "--function", fn}, exitUsage, "no AWS region", true},
		{"metadata disabled", "", "us-east-1", "true", []string{"run", "--function", fn}, exitUsage, "no AWS region", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", c.env)
			t.Setenv("AWS_DEFAULT_REGION", "")
			t.Setenv("AWS_EC2_METADATA_DISABLED", c.metadataOff)
			region.Store(c.imds)
			asked.Store(0)
			before := srv.Stats().Requests
			r := runCLI(t, append(c.args, "--dest", t.TempDir(), "--endpoint-url", url)...)
			out := r.stdout
			if c.code != exitOK {
				out = strings.TrimSpace(r.stderr)
				if strings.Contains(out, "\n") {
					t.Errorf("stderr %q: want one line", out)
				}
			}
			if r.code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, %q: want %d and %q", r.code, out, c.code, c.want)
			}
			if got := asked.Load() > 0; got != c.asked {
				t.Errorf("the metadata's region asked: %v, want %v", got, c.asked)
			}
			if c.want == "no AWS region" && srv.Stats().Requests != before {
				t.Errorf("%d requests reached the API without a region", srv.Stats().Requests-before)
			}
		})
	}
}
