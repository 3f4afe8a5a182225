package s3test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/tether"
)

// Server is an S3 endpoint with its credentials.
type Server struct {
	Endpoint, AccessKey, SecretKey string
	// Region is its buckets' region, which its Client signs for (""
	// takes any: Client signs for us-east-1).
	Region string
}

var (
	once     sync.Once
	server   Server
	startErr error
	stop     func()
)

// Main runs the tests, then stops the server if one was started.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// RunFunc adapts a function to Main's argument, to chain harnesses:
// s3test.Main(s3test.RunFunc(func() int { return pgtest.Main(m) })).
type RunFunc func() int

// Run calls f.
func (f RunFunc) Run() int { return f() }

// Start returns the server, starting MinIO on first use.
func Start(t testing.TB) Server {
	t.Helper()
	once.Do(func() {
		if ep := os.Getenv("ETL_TEST_S3_ENDPOINT"); ep != "" {
			server = Server{Endpoint: ep, AccessKey: os.Getenv("ETL_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("ETL_TEST_S3_SECRET_KEY")}
			return
		}
		server, stop, startErr = startMinIO("")
	})
	if startErr != nil {
		t.Fatalf("s3test: no S3 server (set ETL_TEST_S3_ENDPOINT or ETL_TEST_MINIO_BIN, or run .ci/run, which builds MinIO): %v", startErr)
	}
	return server
}

// StartInRegion starts a MinIO of the test's own whose buckets are in
// region, as an AWS bucket outside the caller's region is: a call signed
// for another region is refused (400) with the header X-Amz-Bucket-Region
// naming it. It needs the MinIO binary (a server from ETL_TEST_S3_ENDPOINT
// has one region, which the test cannot set), and stops when the test ends.
// Its Client signs for region; Env still sets us-east-1, as for Start's.
func StartInRegion(t testing.TB, region string) Server {
	t.Helper()
	s, stop, err := startMinIO(region)
	if err != nil {
		t.Fatalf("s3test: no MinIO in region %s (set ETL_TEST_MINIO_BIN, or run .ci/run, which builds it): %v", region, err)
	}
	t.Cleanup(stop)
	return s
}

// Env points the AWS SDK's standard chain at the server (for code that
// builds its own client, such as the CLI).
func (s Server) Env(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", s.Endpoint)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Client is an S3 client for the server.
func (s Server) Client() *s3.Client {
	region := s.Region
	if region == "" {
		region = "us-east-1"
	}
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Bucket creates a bucket for the test on the server Start gives.
func Bucket(t testing.TB) (Server, string) {
	t.Helper()
	s := Start(t)
	return s, s.NewBucket(t)
}

// NewBucket creates a bucket for the test on s.
func (s Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "etl-test-" + randHex(5)
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket: %v", err)
	}
	return name
}

// objects lists the objects under prefix.
func objects(t testing.TB, s Server, bucket, prefix string) []types.Object {
	t.Helper()
	var out []types.Object
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Contents...)
	}
	return out
}

// Keys lists the object keys under prefix.
func Keys(t testing.TB, s Server, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for _, o := range objects(t, s, bucket, prefix) {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// Size is the total size of the objects under prefix.
func Size(t testing.TB, s Server, bucket, prefix string) int64 {
	t.Helper()
	var n int64
	for _, o := range objects(t, s, bucket, prefix) {
		n += aws.ToInt64(o.Size)
	}
	return n
}

// ParquetRows is the rows of the Parquet objects under prefix (those whose
// key ends in .parquet), by their footers, read with ranged GETs.
func ParquetRows(t testing.TB, s Server, bucket, prefix string) int64 {
	t.Helper()
	var n int64
	for _, o := range objects(t, s, bucket, prefix) {
		key := aws.ToString(o.Key)
		if !strings.HasSuffix(key, ".parquet") {
			continue
		}
		r := rangedObject{c: s.Client(), bucket: bucket, key: key}
		f, err := parquet.OpenFile(r, aws.ToInt64(o.Size), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		n += f.NumRows()
	}
	return n
}

// rangedObject reads an object with a ranged GET per call.
type rangedObject struct {
	c           *s3.Client
	bucket, key string
}

func (r rangedObject) ReadAt(p []byte, off int64) (int, error) {
	out, err := r.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &r.bucket, Key: &r.key,
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	return io.ReadFull(out.Body, p)
}

// Uploads lists the multipart uploads in progress in bucket.
func Uploads(t testing.TB, s Server, bucket string) []string {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, *u.Key)
	}
	return keys
}

func minioBinary() (string, error) {
	if b := os.Getenv("ETL_TEST_MINIO_BIN"); b != "" {
		return b, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if b := filepath.Join(home, ".cache", "durable-etl", "minio-bin", "minio"); fileExists(b) {
			return b, nil
		}
	}
	return exec.LookPath("minio")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startMinIO starts MinIO; its buckets are in region ("": MinIO's default,
// which takes a call signed for any region).
func startMinIO(region string) (Server, func(), error) {
	bin, err := minioBinary()
	if err != nil {
		return Server{}, nil, fmt.Errorf("no minio binary: %w", err)
	}
	dir, err := tether.TempDir("etl-s3test")
	if err != nil {
		return Server{}, nil, err
	}
	port, err := freePort()
	if err != nil {
		return Server{}, nil, err
	}
	var key [32]byte
	rand.Read(key[:])
	s := Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: "etl" + randHex(6), SecretKey: randHex(16), Region: region}
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", fmt.Sprintf("127.0.0.1:%d", port), "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_KMS_SECRET_KEY=etl-test-key:"+base64.StdEncoding.EncodeToString(key[:]),
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if region != "" {
		cmd.Env = append(cmd.Env, "MINIO_SITE_REGION="+region)
	}
	logf, _ := os.Create(filepath.Join(dir, "minio.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := tether.Start(cmd, syscall.SIGKILL); err != nil {
		return Server{}, nil, err
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	if err := waitReady(s.Endpoint, 60*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
		stop()
		return Server{}, nil, fmt.Errorf("minio did not become ready: %w: %s", err, strings.TrimSpace(string(log)))
	}
	return s, stop, nil
}

// waitReady returns once MinIO at endpoint serves S3 calls: its health
// endpoint answers 200 without the header that says its object layer is
// not up yet (MinIO answers 200 before that, and a bucket created then is
// refused, XMinioServerNotInitialized). It gives up after timeout.
func waitReady(endpoint string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("X-Minio-Server-Status") != "offline" {
				return nil
			}
			err = fmt.Errorf("health: %s, server status %q", resp.Status, resp.Header.Get("X-Minio-Server-Status"))
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
