package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/outage"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/schema"
)

func putObject(t *testing.T, srv s3test.Server, bucket, key, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f}); err != nil {
		t.Fatal(err)
	}
}

// TestS3ManifestAndDestination: the manifest comes from S3, the archive goes
// to S3, under the layout Athena reads.
func TestS3ManifestAndDestination(t *testing.T) {
	_, url, manifest, _ := fixture(t, 12)
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	putObject(t, srv3, bucket, "in/manifest.jsonl", manifest)
	r := runCLI(t, "run", "--manifest", "s3://"+bucket+"/in/manifest.jsonl", "--dest", "s3://"+bucket+"/archive", "--endpoint-url", url, "--run-id", "s3run",
		"--s3-sse", "AES256", "--s3-storage-class", "STANDARD")
	if r.code != 0 || !strings.Contains(r.stdout, "12 executions archived") {
		t.Fatalf("exit %d", r.code)
	}
	keys := s3test.Keys(t, srv3, bucket, "archive/")
	var rows int64
	for _, k := range keys {
		if !strings.HasPrefix(k, "archive/operations/dt=") && !strings.HasPrefix(k, "archive/executions/dt=") || !strings.HasSuffix(k, ".parquet") {
			t.Errorf("unexpected key %s", k)
		}
		rows += int64(parquetRows(t, srv3, bucket, k))
		head, err := srv3.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil || head.ServerSideEncryption != "AES256" {
			t.Errorf("%s: server-side encryption %q (%v), --s3-sse asked AES256", k, head.ServerSideEncryption, err)
		}
	}
	if len(keys) == 0 || !strings.Contains(r.stdout, "rows in") || rows == 0 {
		t.Errorf("keys %v, %d rows", keys, rows)
	}
}

func parquetRows(t *testing.T, srv s3test.Server, bucket, key string) int {
	t.Helper()
	b := s3Object(t, srv, bucket, key)
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s is not a complete Parquet file: %v", key, err)
	}
	return int(f.NumRows())
}

// s3Rows reads the rows of the Parquet object key.
func s3Rows[T any](t *testing.T, srv s3test.Server, bucket, key string) []T {
	t.Helper()
	b := s3Object(t, srv, bucket, key)
	rows, err := parquet.Read[T](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return rows
}

func s3Object(t *testing.T, srv s3test.Server, bucket, key string) []byte {
	t.Helper()
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3BucketInAnotherRegion: the archive bucket, and the manifest in it,
// are in eu-central-1 and the run in us-east-1, as for a run per region
// writing to one central bucket. The SDK does not follow S3's region
// redirects (every call failed, "BadRequest: Bad Request"): run, verify and
// compact find the bucket's region and call it there. A wrong --s3-region
// is one line, before the API is called.
func TestS3BucketInAnotherRegion(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 6)
	srv3 := s3test.StartInRegion(t, "eu-central-1")
	srv3.Env(t) // the run's region: us-east-1
	bucket := srv3.NewBucket(t)
	putObject(t, srv3, bucket, "in/manifest.jsonl", manifest)
	dest := "s3://" + bucket + "/archive"
	r := runCLI(t, "run", "--manifest", "s3://"+bucket+"/in/manifest.jsonl", "--dest", dest, "--endpoint-url", url)
	if r.code != exitOK || !strings.Contains(r.stdout, "6 executions archived") {
		t.Fatalf("run: exit %d", r.code)
	}
	if n := s3test.ParquetRows(t, srv3, bucket, "archive/"); n == 0 {
		t.Errorf("no rows in the bucket")
	}
	if r := runCLI(t, "verify", "--manifest", "s3://"+bucket+"/in/manifest.jsonl", "--dest", dest, "--endpoint-url", url, "--all"); r.code != exitOK {
		t.Errorf("verify: exit %d", r.code)
	}
	r = runCLI(t, "verify", "--manifest", "s3://"+bucket+"/in/missing.jsonl", "--dest", dest, "--endpoint-url", url)
	if want := "etl: manifest s3://" + bucket + "/in/missing.jsonl: NoSuchKey: "; r.code != exitUsage || !strings.HasPrefix(lastLine(r.stderr), want) || strings.Contains(r.stderr, "RequestID") {
		t.Errorf("a missing manifest: exit %d, stderr %q, want a last line %q... (and no request ids)", r.code, r.stderr, want)
	}
	if n := strings.Count(r.stderr, "another region"); n != 1 {
		t.Errorf("the bucket's region was told %d times, want once", n)
	}
	if r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s"); r.code != exitOK {
		t.Errorf("compact: exit %d", r.code)
	}
	calls := srv.Stats().Requests
	r = runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--s3-region", "us-west-2")
	if r.code != exitUsage || !strings.Contains(lastLine(r.stderr), "the bucket is in region eu-central-1") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("--s3-region us-west-2: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := srv.Stats().Requests; n != calls {
		t.Errorf("%d requests reached the API", n-calls)
	}
	// The region set outright: no lookup, and the calls go there.
	if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--s3-region", "eu-central-1"); r.code != exitOK {
		t.Errorf("--s3-region eu-central-1: exit %d", r.code)
	}
}

// TestS3BadDestinationFetchesNothing: a missing bucket, wrong credentials
// or an endpoint that is not there are exit 2 before any request to the
// API; the last is told after the SDK's usual 3 attempts, not the minute
// a run's S3 calls are tried for.
func TestS3BadDestinationFetchesNothing(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 2)
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	for name, tc := range map[string]struct {
		dest, secret, endpoint, want string
	}{
		"missing bucket":    {"s3://" + bucket + "-missing/x", srv3.SecretKey, srv3.Endpoint, "no such bucket"},
		"wrong credentials": {"s3://" + bucket + "/x", "not-the-secret", srv3.Endpoint, "access denied"},
		"no store there":    {"s3://" + bucket + "/x", srv3.SecretKey, "http://127.0.0.1:1", "attempts, 3,"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			t.Setenv("AWS_ENDPOINT_URL_S3", tc.endpoint)
			r := runCLI(t, "run", "--manifest", manifest, "--dest", tc.dest, "--endpoint-url", url)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "not-the-secret") {
				t.Errorf("exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
}

// TestS3UploadKilledMidway: etl is killed (SIGKILL) while a multipart upload
// is in progress. No partial object is visible; every visible object is a
// whole Parquet file; the next run's cleanup aborts the dangling upload and
// completes the archive.
func TestS3UploadKilledMidway(t *testing.T) {
	execs := emulator.Generate(61, 30, emulator.GenerateOptions{MinOps: 60, MaxOps: 80, LargePayloadEvery: 1, RandomPayloads: true})
	emu := emulator.New(emulator.WithLatency(50 * time.Millisecond))
	emu.Add(execs...)
	url, _ := emulatortest.Start(t, emu)
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	manifest := manifestFile(t, execs)

	args := []string{"run", "--manifest", manifest, "--dest", "s3://" + bucket + "/arch", "--endpoint-url", url,
		"--row-group-size", "1MiB", "--concurrency", "2", "--page-size", "5", "--log-level", "warn"}
	cmd := exec.Command(os.Args[0], append(args, "--run-id", "killed")...)
	tmp := t.TempDir() // where an S3 destination spills: empty after the kill
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1", "TMPDIR="+tmp)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for len(s3test.Uploads(t, srv3, bucket)) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("etl ended (%v) before a multipart upload was seen:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no multipart upload began:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling MinIO for the condition, bounded by the deadline
	}
	cmd.Process.Kill()
	<-exited
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("the killed run left %d files in its TMPDIR (%v)", len(left), err)
	}

	dangling := s3test.Uploads(t, srv3, bucket)
	if len(dangling) == 0 {
		t.Fatal("the kill left no upload in progress; the test proves nothing")
	}
	visible := map[string]bool{}
	for _, k := range s3test.Keys(t, srv3, bucket, "arch/") {
		visible[k] = true
		if !strings.HasPrefix(k, "arch/_runs/") { // the killed run's record
			parquetRows(t, srv3, bucket, k) // whole files only
		}
	}
	for _, k := range dangling {
		if visible[k] {
			t.Errorf("%s is visible while its upload is unfinished", k)
		}
	}

	r := runCLI(t, append(args, "--run-id", "rerun", "--s3-abort-uploads-older-than", "1ns")...)
	if r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	if up := s3test.Uploads(t, srv3, bucket); len(up) != 0 {
		t.Errorf("uploads left after the rerun's cleanup: %v", up)
	}
	// The killed run's record named a process of this host that is gone:
	// the rerun went ahead and removed it.
	if left := s3test.Keys(t, srv3, bucket, "arch/_runs/"); len(left) != 0 {
		t.Errorf("run records left: %v", left)
	}
	var execRows int
	for _, k := range s3test.Keys(t, srv3, bucket, "arch/executions/") {
		if strings.Contains(k, "part-rerun-") {
			execRows += parquetRows(t, srv3, bucket, k)
		}
	}
	if execRows != len(execs) {
		t.Errorf("the rerun archived %d executions, want %d", execRows, len(execs))
	}
}

// TestCompactCommand: four forced runs leave four files per table per
// partition, locally and on S3; etl compact --keep latest leaves one, with
// one executions row per execution, and --keep all keeps every row.
func TestCompactCommand(t *testing.T) {
	_, url, manifest, execs := fixture(t, 15)
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	for _, dest := range []string{filepath.Join(t.TempDir(), "archive"), "s3://" + bucket + "/archive"} {
		t.Run(dest[:2], func(t *testing.T) {
			for i := range 4 {
				if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--force", "--run-id", fmt.Sprint("c", i), "--log-level", "warn"); r.code != 0 {
					t.Fatalf("run %d: exit %d", i, r.code)
				}
			}
			files := func() (perDT map[string]int, execRows int) {
				perDT = map[string]int{}
				if strings.HasPrefix(dest, "s3://") {
					for _, k := range s3test.Keys(t, srv3, bucket, "archive/") {
						parts := strings.Split(k, "/")
						perDT[parts[1]+"/"+parts[2]]++
						if parts[1] == "executions" {
							execRows += parquetRows(t, srv3, bucket, k)
						}
					}
					return perDT, execRows
				}
				all, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet"))
				for _, f := range all {
					perDT[filepath.Base(filepath.Dir(filepath.Dir(f)))+"/"+filepath.Base(filepath.Dir(f))]++
					if strings.Contains(f, "/executions/") {
						rows, _ := parquet.ReadFile[schema.Execution](f)
						execRows += len(rows)
					}
				}
				return perDT, execRows
			}
			before, rows := files()
			if rows != 4*len(execs) {
				t.Fatalf("%d executions rows after four forced runs, want %d", rows, 4*len(execs))
			}
			r := runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--keep", "all", "--row-group-size", "16KiB")
			if r.code != 0 {
				t.Fatalf("compact: exit %d", r.code)
			}
			if _, rows = files(); rows != 4*len(execs) {
				t.Errorf("--keep all: %d executions rows, want %d", rows, 4*len(execs))
			}
			// A fifth run's files beside the merged ones: compacted again,
			// the merged row groups are copied whole, every row kept.
			if r := runCLI(t, "run", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--force", "--run-id", "c4", "--log-level", "warn"); r.code != 0 {
				t.Fatalf("run 4: exit %d", r.code)
			}
			r = runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--keep", "all", "--row-group-size", "16KiB")
			if r.code != 0 || !strings.Contains(r.stdout, "row groups copied whole") {
				t.Fatalf("compact again: exit %d: %s", r.code, r.stdout)
			}
			if _, rows = files(); rows != 5*len(execs) {
				t.Errorf("--keep all again: %d executions rows, want %d", rows, 5*len(execs))
			}
			if r = runCLI(t, "compact", "--dest", dest, "--min-age", "0s", "--keep", "latest"); r.code != 0 {
				t.Fatalf("compact --keep latest: exit %d", r.code)
			}
			after, rows := files()
			if rows != len(execs) || len(after) != len(before) {
				t.Errorf("--keep latest: %d executions rows (want %d), %d table partitions (had %d)", rows, len(execs), len(after), len(before))
			}
			for p, n := range after {
				if n != 1 {
					t.Errorf("%s: %d files after compaction", p, n)
				}
			}
		})
	}
	dbURL := "postgres://u@127.0.0.1:1/db"
	if r := runCLI(t, "compact", "--dest", dbURL); r.code != exitUsage || !strings.Contains(r.stderr, "no compaction") {
		t.Errorf("compact of Postgres: exit %d", r.code)
	}
}

// behindProxy is a run's setting with S3 behind an outage proxy: a
// bucket, the emulator serving execs (with opts) whose nth request calls
// at once, the SDK's chain pointed at the store, the manifest, the
// destination and the --s3-endpoint-url that goes through the proxy.
type behindProxy struct {
	proxy                         *outage.Proxy
	url, manifest, dest, endpoint string
}

func s3BehindProxy(t *testing.T, execs []emulator.Execution, n int64, at func(*outage.Proxy), opts ...emulator.Option) behindProxy {
	t.Helper()
	srv3, bucket := s3test.Bucket(t)
	proxy := outage.Start(t, strings.TrimPrefix(srv3.Endpoint, "http://"))
	var once sync.Once
	srv := emulator.New(append(opts, emulator.WithFaults(func(i int64, _ string) emulator.Fault {
		if i == n {
			once.Do(func() { at(proxy) })
		}
		return emulator.NoFault
	}))...)
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	srv3.Env(t) // after the emulator's
	return behindProxy{proxy: proxy, url: url, manifest: manifestFile(t, execs), dest: "s3://" + bucket + "/archive", endpoint: "http://" + proxy.Addr}
}

// TestS3ConnectionGoesSilent: mid-run, the S3 connections open go silent
// (the network lost them without a reset: a NAT's state dropped). A call
// that meets one is tried again on another once --s3-read-timeout passes,
// and the run succeeds. The SDK sets no such timeout for S3: such a call
// waited for ever (here, until the run's --deadline).
func TestS3ConnectionGoesSilent(t *testing.T) {
	b := s3BehindProxy(t, emulator.Generate(53, 30, emulator.GenerateOptions{MaxOps: 60}), 10, (*outage.Proxy).Silence)
	r := runCLI(t, "run", "--manifest", b.manifest, "--dest", b.dest, "--s3-endpoint-url", b.endpoint, "--endpoint-url", b.url,
		"--s3-read-timeout", "1s", "--deadline", "60s")
	if r.code != exitOK || b.proxy.Held() == 0 {
		t.Fatalf("run: exit %d, %d calls met a silent connection (want some), stderr ends %q: want 0", r.code, b.proxy.Held(), lastLine(r.stderr))
	}
	if r := runCLI(t, "verify", "--manifest", b.manifest, "--dest", b.dest, "--s3-endpoint-url", b.endpoint, "--endpoint-url", b.url, "--all"); r.code != exitOK {
		t.Errorf("verify: exit %d, stderr ends %q", r.code, lastLine(r.stderr))
	}
}

// TestS3UnreachableForAMoment: the S3 store becomes unreachable for five
// seconds in the middle of a run (its uploads cut, new connections
// refused). The run tries its calls again for long enough and succeeds,
// and the archive matches the API. With the SDK's default retryer (3
// attempts, jittered backoffs of up to 2 then 4 s) it failed. The log
// says, once in the five seconds, why the run waits (it said nothing: an
// operator saw its progress stop).
func TestS3UnreachableForAMoment(t *testing.T) {
	b := s3BehindProxy(t, emulator.Generate(47, 40, emulator.GenerateOptions{MaxOps: 80}), 20, func(p *outage.Proxy) { p.DownFor(5 * time.Second) })
	r := runCLI(t, "run", "--manifest", b.manifest, "--dest", b.dest, "--s3-endpoint-url", b.endpoint, "--endpoint-url", b.url)
	if r.code != exitOK {
		t.Fatalf("run: exit %d, stderr ends %q: want 0", r.code, lastLine(r.stderr))
	}
	if n := strings.Count(r.stderr, "S3 calls fail and are being tried again"); n != 1 {
		t.Errorf("the log says %d times that S3 calls are tried again, want once", n)
	}
	if r := runCLI(t, "verify", "--manifest", b.manifest, "--dest", b.dest, "--s3-endpoint-url", b.endpoint, "--endpoint-url", b.url, "--all"); r.code != exitOK {
		t.Errorf("verify: exit %d, stderr ends %q", r.code, lastLine(r.stderr))
	}
}

// TestToldRetryerWarnsAtMostEveryInterval: S3 calls tried again are told
// once per interval, with the retries so far, whatever their number.
func TestToldRetryerWarnsAtMostEveryInterval(t *testing.T) {
	for every, want := range map[time.Duration]int{time.Hour: 1, 0: 5} {
		var b bytes.Buffer
		r := &toldRetryer{RetryerV2: s3Retryer(), logger: slog.New(slog.NewTextHandler(&b, nil)), every: every}
		for range 5 {
			if _, err := r.RetryDelay(1, errors.New("connection refused")); err != nil {
				t.Fatal(err)
			}
		}
		if n := strings.Count(b.String(), "S3 calls fail and are being tried again"); n != want {
			t.Errorf("every %s: %d warnings for 5 retries, want %d:\n%s", every, n, want, b.String())
		}
		if every == 0 && !strings.Contains(b.String(), "retries_so_far=5") {
			t.Errorf("the retries so far are not counted:\n%s", b.String())
		}
	}
}

// TestSecondInterruptQuitsAtOnce: an interrupted run stops cleanly, which
// can take long (here its files wait on an S3 connection gone silent, with
// --s3-read-timeout 0: for ever), and says that a second interrupt quits
// at once; the second does. Before, the second was swallowed. A run past
// its --deadline stops alike, says so (it said nothing while it published
// its files), and the first interrupt then quits at once.
func TestSecondInterruptQuitsAtOnce(t *testing.T) {
	for name, c := range map[string]struct {
		args  []string
		first bool   // interrupt once before waiting for said
		said  string // what the run says before an interrupt quits at once
	}{
		"interrupted":         {first: true, said: "interrupt again to quit at once"},
		"past its --deadline": {args: []string{"--deadline", "3s"}, said: "--deadline 3s reached: abandoning the executions in flight, publishing the complete files (this can take a while); interrupt to quit at once"},
	} {
		t.Run(name, func(t *testing.T) { testInterruptQuitsAtOnce(t, c.args, c.first, c.said) })
	}
}

func testInterruptQuitsAtOnce(t *testing.T, args []string, first bool, want string) {
	silenced := make(chan struct{})
	b := s3BehindProxy(t, emulator.Generate(59, 40, emulator.GenerateOptions{MaxOps: 60}), 10,
		func(p *outage.Proxy) { p.Silence(); close(silenced) }, emulator.WithLatency(20*time.Millisecond))
	cmd := exec.Command(os.Args[0], append([]string{"run", "--manifest", b.manifest, "--dest", b.dest,
		"--s3-endpoint-url", b.endpoint, "--endpoint-url", b.url, "--s3-read-timeout", "0", "--concurrency", "2", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	said := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	select {
	case <-silenced:
	case err := <-exited:
		t.Fatalf("the run ended (%v) before its S3 connections went silent:\n%s", err, said())
	}
	if first {
		cmd.Process.Signal(os.Interrupt)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(said(), want) {
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) without waiting on its silent S3 connection: nothing to test:\n%s", err, said())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not say %q:\n%s", want, said())
		}
		time.Sleep(20 * time.Millisecond) // polling its output for the condition, bounded by the deadline
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("after the interrupt: %v, want the process ended by SIGINT", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the interrupt did not end the run:\n%s", said())
	}
}
