package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/s3test"
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
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	f, err := parquet.OpenFile(strings.NewReader(string(b)), int64(len(b)))
	if err != nil {
		t.Fatalf("%s is not a complete Parquet file: %v", key, err)
	}
	return int(f.NumRows())
}

// TestS3BadDestinationFetchesNothing: a missing bucket or wrong credentials
// are exit 2 before any request to the API.
func TestS3BadDestinationFetchesNothing(t *testing.T) {
	srv, url, manifest, _ := fixture(t, 2)
	srv3, bucket := s3test.Bucket(t)
	srv3.Env(t)
	for name, tc := range map[string]struct {
		dest, secret, want string
	}{
		"missing bucket":    {"s3://" + bucket + "-missing/x", srv3.SecretKey, "no such bucket"},
		"wrong credentials": {"s3://" + bucket + "/x", "not-the-secret", "access denied"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
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
	cmd.Env = append(os.Environ(), "ETL_TEST_EXEC_MAIN=1")
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

	dangling := s3test.Uploads(t, srv3, bucket)
	if len(dangling) == 0 {
		t.Fatal("the kill left no upload in progress; the test proves nothing")
	}
	visible := map[string]bool{}
	for _, k := range s3test.Keys(t, srv3, bucket, "arch/") {
		visible[k] = true
		parquetRows(t, srv3, bucket, k) // whole files only
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
