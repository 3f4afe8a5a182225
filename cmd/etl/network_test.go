package main

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestThroughAProxyOnly: on a network that lets only its proxy out
// (HTTP_PROXY; the endpoint's name resolves nowhere here), the run
// reaches the API through the proxy, as every call of the SDK's client
// does. The check before the run dialled the endpoint itself and
// refused the run (exit 2, "unreachable"). An unreachable proxy is named
// instead. The CLI runs as a process of its own: net/http reads the
// proxy variables once a process.
func TestThroughAProxyOnly(t *testing.T) {
	execs := emulator.Generate(93, 6, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New()
	srv.Add(execs...)
	emuURL, _ := emulatortest.Start(t, srv)
	target, _ := url.Parse(emuURL)
	var proxied atomic.Int64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		proxied.Add(1)
		r.SetURL(target) // a forward proxy's upstream: the request named lambda.proxied.invalid
		r.Out.Host = r.In.Host
	}}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	endpoint := "http://lambda.proxied.invalid:" + target.Port()
	manifest, dest := tokenlessManifest(t, execs), t.TempDir()
	etl := func(proxyURL string, args ...string) (int, string, string) {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1", "HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL, "NO_PROXY=", "no_proxy=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Logf("etl %s (HTTP_PROXY=%s) -> %d\n%s%s", strings.Join(args, " "), proxyURL, cmd.ProcessState.ExitCode(), out.String(), errb.String())
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	code, stdout, _ := etl(proxy.URL, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", endpoint, "--log-level", "warn")
	if want := fmt.Sprintf("%d executions archived, 0 failed", len(execs)); code != exitOK || !strings.Contains(stdout, want) || proxied.Load() == 0 {
		t.Errorf("run through the proxy: exit %d, %d requests proxied: want %q", code, proxied.Load(), want)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // its port now refuses
	code, _, stderr := etl(gone.URL, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", endpoint)
	if msg := strings.TrimSpace(stderr); code != exitUsage || !strings.Contains(msg, "proxy "+gone.URL) || strings.Contains(msg, "\n") {
		t.Errorf("through a proxy that is gone: exit %d, %q: want %d naming the proxy, one line", code, msg, exitUsage)
	}
}

// TestUntrustedCertificate: an endpoint whose TLS certificate the client
// does not trust (a network whose proxy inspects TLS, without its CA
// given) stops the run before any request, exit 2, in one line that
// says so and names AWS_CA_BUNDLE: each execution failed after its
// retries instead. With AWS_CA_BUNDLE, the run archives.
func TestUntrustedCertificate(t *testing.T) {
	execs := emulator.Generate(94, 5, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New()
	srv.Add(execs...)
	emulatortest.Env(t)
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake, expected
	hs.StartTLS()
	t.Cleanup(hs.Close)
	manifest := tokenlessManifest(t, execs)
	r := runCLI(t, "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", hs.URL)
	if msg := strings.TrimSpace(r.stderr); r.code != exitUsage || !strings.Contains(msg, "not trusted") || !strings.Contains(msg, "AWS_CA_BUNDLE") || strings.Contains(msg, "\n") || srv.Stats().Requests != 0 {
		t.Fatalf("run against an untrusted certificate: exit %d, %d requests, %q: want %d before any request, one line", r.code, srv.Stats().Requests, msg, exitUsage)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", ca)
	r = runCLI(t, "run", "--manifest", manifest, "--dest", t.TempDir(), "--endpoint-url", hs.URL)
	if want := fmt.Sprintf("%d executions archived, 0 failed", len(execs)); r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Errorf("run with AWS_CA_BUNDLE: exit %d, %q", r.code, lastLine(r.stderr))
	}
}
