package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/durable-etl/durable-etl/internal/scratch"
)

// S3API is what the S3 loader needs of an S3 client (*s3.Client has it).
type S3API interface {
	transfermanager.S3APIClient
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
}

// S3Options are the object settings S3 users expect.
type S3Options struct {
	// SSE is the server-side encryption: "", "AES256" or "aws:kms".
	SSE string
	// KMSKeyID is the KMS key for aws:kms (default: the account's S3 key).
	KMSKeyID string
	// StorageClass of the objects (default: the bucket's, STANDARD).
	StorageClass string
	// PartSize is the multipart part size (default 8 MiB). The memory one open
	// file takes is about PartSize times Concurrency.
	PartSize int64
	// Concurrency is the parts in flight per file (default 1: the open files
	// upload side by side already).
	Concurrency int
	// StaleUploadAge: multipart uploads under the prefix started longer ago
	// than this are aborted when the loader starts: what a killed run left
	// (default DefaultStaleUploadAge; negative: never). A run's file of a
	// large partition is an upload open from its first part to its
	// partition's end, hours into a long backfill, so a younger age would
	// abort a live run's files from a compaction or a shard started beside
	// it. A bucket lifecycle rule (AbortIncompleteMultipartUpload) is the
	// belt to these braces.
	StaleUploadAge time.Duration
	// Now is the clock the age is reckoned by (default time.Now).
	Now func() time.Time
}

// DefaultStaleUploadAge is S3Options.StaleUploadAge's default: a day, as
// for a local destination's leftovers (StaleIncomingAge).
const DefaultStaleUploadAge = StaleIncomingAge

// NewParquetS3 writes the Parquet layout under s3://bucket/prefix/. Each file
// streams to S3 as it is written, in a multipart upload (memory holds the
// parts in flight, never a whole file), and becomes visible only when the
// upload completes; a file that is discarded has its upload aborted. Before
// anything is fetched it checks the bucket and the credentials (HeadBucket)
// and aborts stale uploads (see S3Options.StaleUploadAge). Staged executions
// spill to spillDir (default: the system's temporary directory).
func NewParquetS3(ctx context.Context, client S3API, bucket, prefix, spillDir string, so S3Options, opts ...ParquetOption) (*Parquet, error) {
	dest := "s3://" + bucket + "/" + prefix
	if so.PartSize == 0 {
		so.PartSize = 8 << 20
	}
	if so.Concurrency == 0 {
		so.Concurrency = 1
	}
	if so.StaleUploadAge == 0 {
		so.StaleUploadAge = DefaultStaleUploadAge
	}
	if so.Now == nil {
		so.Now = time.Now
	}
	switch so.SSE {
	case "", "AES256", "aws:kms":
	default:
		return nil, fmt.Errorf("destination %s: server-side encryption %q: want AES256 or aws:kms", dest, so.SSE)
	}
	// The first call, which tells a misspelled endpoint or bucket, is
	// tried 3 times (seconds), not for the minute the run's calls are
	// (etl's S3 client): a wrong --s3-endpoint-url took two minutes to
	// be told.
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, func(o *s3.Options) { o.RetryMaxAttempts = 3 }); err != nil {
		return nil, fmt.Errorf("destination %s: %s", dest, describeS3Error(err))
	}
	sink := &s3Sink{client: client, bucket: bucket, prefix: strings.Trim(prefix, "/"), opts: so,
		tm: transfermanager.New(client, func(o *transfermanager.Options) {
			o.PartSizeBytes = so.PartSize
			o.MultipartUploadThreshold = so.PartSize
			o.Concurrency = so.Concurrency
		})}
	if so.StaleUploadAge > 0 {
		if err := sink.abortStale(ctx, so.Now().Add(-so.StaleUploadAge)); err != nil {
			return nil, fmt.Errorf("destination %s: abort stale uploads: %s", dest, describeS3Error(err))
		}
	}
	if spillDir == "" {
		spillDir = os.TempDir()
	}
	return newParquet(dest, sink, spillDir, opts), nil
}

// BucketRegion is the region S3 says bucket is in, from a HeadBucket's
// answer (the header X-Amz-Bucket-Region): one that succeeded, or one
// refused, as AWS refuses a call sent to or signed for another region
// (301, or 400 AuthorizationHeaderMalformed), and as it refuses one the
// credentials may not make (403). "" when the answer names none (a
// missing bucket; a store that does not say). The error is a call that
// got no answer (3 attempts: seconds), one line.
//
// The SDK does not follow S3's region redirects: a run in one region
// writing to an archive bucket in another fails on its first call unless
// its client is made for the bucket's region.
func BucketRegion(ctx context.Context, client S3API, bucket string) (string, error) {
	out, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, func(o *s3.Options) { o.RetryMaxAttempts = 3 })
	if err == nil {
		return aws.ToString(out.BucketRegion), nil
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil {
		return resp.Response.Header.Get("X-Amz-Bucket-Region"), nil
	}
	return "", errors.New(describeS3Error(err))
}

// describeS3Error is a one-line reason for the errors users meet.
func describeS3Error(err error) string {
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil && resp.HTTPStatusCode() != 403 {
		if r := resp.Response.Header.Get("X-Amz-Bucket-Region"); r != "" && isRegionRefusal(err, resp.HTTPStatusCode()) {
			return fmt.Sprintf("the bucket is in region %s, which the call was not made for (HTTP %d)", r, resp.HTTPStatusCode())
		}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchBucket":
			return "no such bucket"
		case "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return "access denied (" + api.ErrorCode() + "): check the AWS credentials and the bucket policy"
		}
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// isRegionRefusal reports whether err, an answer of HTTP status code, is
// S3 refusing a call for its region: a redirect to the bucket's region, or a
// signature for another region (AWS and MinIO alike).
func isRegionRefusal(err error, code int) bool {
	if code == 301 || code == 307 {
		return true
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return true
	case "BadRequest": // a HEAD's answer has no body to name the code by
		return code == 400
	}
	return false
}

// getError is a failed GetObject's error, one line; a missing key is
// fs.ErrNotExist (a file removed since it was listed).
func getError(err error) error {
	if nsk := (*types.NoSuchKey)(nil); errors.As(err, &nsk) {
		return fmt.Errorf("%s: %w", describeS3Error(err), fs.ErrNotExist)
	}
	return errors.New(describeS3Error(err))
}

type s3Sink struct {
	client S3API
	tm     *transfermanager.Client
	bucket string
	prefix string
	opts   S3Options
}

func (s *s3Sink) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// abortStale aborts the multipart uploads under the prefix begun before
// cutoff. It lists the bucket's uploads and filters them here: some
// S3-compatible stores (MinIO) match the listing's Prefix only against
// whole keys.
func (s *s3Sink) abortStale(ctx context.Context, cutoff time.Time) error {
	prefix := s.key("")
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return err
		}
		for _, u := range out.Uploads {
			if strings.HasPrefix(aws.ToString(u.Key), prefix) && u.Initiated != nil && u.Initiated.Before(cutoff) {
				if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
					return err
				}
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		if aws.ToString(out.NextKeyMarker) == aws.ToString(in.KeyMarker) && aws.ToString(out.NextUploadIdMarker) == aws.ToString(in.UploadIdMarker) {
			// Asked again, the store would answer the same page for ever.
			return fmt.Errorf("list the multipart uploads of s3://%s: the store handed back the markers it was given; the listing would never end", s.bucket)
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (s *s3Sink) create(name string) (sinkFile, error) {
	pr, pw := io.Pipe()
	f := &s3File{pw: pw, done: make(chan error, 1)}
	in := &transfermanager.UploadObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.key(path.Clean(name))),
		Body:        pr,
		ContentType: aws.String("application/vnd.apache.parquet"),
	}
	if s.opts.SSE != "" {
		in.ServerSideEncryption = tmtypes.ServerSideEncryption(s.opts.SSE)
	}
	if s.opts.KMSKeyID != "" {
		in.SSEKMSKeyID = aws.String(s.opts.KMSKeyID)
	}
	if s.opts.StorageClass != "" {
		in.StorageClass = tmtypes.StorageClass(s.opts.StorageClass)
	}
	go func() {
		// Not the run's context: a stopping run still completes the files it
		// publishes. A failed upload is aborted by the transfer manager.
		_, err := s.tm.UploadObject(context.Background(), in)
		pr.CloseWithError(err)
		f.done <- err
	}()
	return f, nil
}

// s3File streams into a multipart upload through a pipe.
type s3File struct {
	pw   *io.PipeWriter
	size atomic.Int64
	done chan error
}

func (f *s3File) Write(p []byte) (int, error) {
	n, err := f.pw.Write(p)
	f.size.Add(int64(n))
	return n, err
}

func (f *s3File) publish() (int64, error) {
	f.pw.Close()
	if err := <-f.done; err != nil {
		return 0, errors.New(describeS3Error(err))
	}
	return f.size.Load(), nil
}

var errDiscarded = errors.New("file discarded")

func (f *s3File) discard() {
	f.pw.CloseWithError(errDiscarded)
	<-f.done
}

func (s *s3Sink) withObject(ctx context.Context, key string, fn func(io.ReaderAt, int64) error) error {
	f, size, err := s.fetch(ctx, key)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f, size)
}

// download fetches the published file name whole into a scratch file,
// which the caller closes.
func (s *s3Sink) download(ctx context.Context, name string) (*scratch.File, int64, error) {
	return s.fetch(ctx, s.key(name))
}

// fetch downloads the object key whole into a scratch file, which the
// caller closes (on failure, there is none).
func (s *s3Sink) fetch(ctx context.Context, key string) (*scratch.File, int64, error) {
	var f *scratch.File
	var size int64
	err := s.get(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}, func(body io.Reader) error {
		if f == nil {
			var err error
			if f, err = scratch.Create("", "etl-archived-*"); err != nil {
				return err
			}
		} else if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var err error
		size, err = io.Copy(f, body)
		return err
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, 0, err
	}
	return f, size, nil
}

// getAttempts is how many GETs read one object (or range) whose body
// breaks off before its end (a connection reset or cut mid-download):
// the SDK's retryer is done once the headers came.
const getAttempts = 4

// get calls use with the body of a GET of in, and again with a new GET's
// when use fails (reading the body broke off), up to getAttempts times
// (not once ctx is done). use must start over each time. A failed GET
// itself, which the SDK's retryer has already tried again, is final.
func (s *s3Sink) get(ctx context.Context, in *s3.GetObjectInput, use func(io.Reader) error) error {
	for attempt := 1; ; attempt++ {
		out, err := s.client.GetObject(ctx, in)
		if err != nil {
			return getError(err)
		}
		err = use(out.Body)
		out.Body.Close()
		if err == nil || attempt == getAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (s *s3Sink) list(ctx context.Context, table string) ([]publishedFile, error) {
	var out []publishedFile
	err := s.eachObject(ctx, table, func(o types.Object) error {
		if key := aws.ToString(o.Key); strings.HasSuffix(key, ".parquet") {
			out = append(out, publishedFile{name: strings.TrimPrefix(key, s.key("")), modified: aws.ToTime(o.LastModified), size: aws.ToInt64(o.Size)})
		}
		return nil
	})
	return out, err
}

// eachObject calls fn with every object listed under the prefix (a name
// under the destination).
func (s *s3Sink) eachObject(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.key(prefix))})
	var last *string
	for n := 1; p.HasMorePages(); n++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			return errors.New(describeS3Error(err))
		}
		// A store that hands back the token it was given would be asked
		// for the same page for ever (the paginator does not check).
		if next := page.NextContinuationToken; last != nil && next != nil && *next == *last {
			return fmt.Errorf("list s3://%s/%s: page %d: the store handed back the continuation token it was given; the listing would be incomplete", s.bucket, s.key(prefix), n)
		}
		last = page.NextContinuationToken
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *s3Sink) read(ctx context.Context, name string, fn func(io.ReaderAt, int64) error) error {
	return s.withObject(ctx, s.key(name), fn)
}

func (s *s3Sink) putRecord(ctx context.Context, name string, body []byte) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name)), Body: bytes.NewReader(body), ContentType: aws.String("application/json")}
	if s.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	}
	if s.opts.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.opts.KMSKeyID)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return errors.New(describeS3Error(err))
	}
	return nil
}

func (s *s3Sink) records(ctx context.Context, dir string) ([]record, error) {
	var out []record
	err := s.eachObject(ctx, dir, func(o types.Object) error {
		got, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: o.Key})
		if err != nil {
			if err = getError(err); errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		defer got.Body.Close()
		body, err := io.ReadAll(io.LimitReader(got.Body, 1<<20))
		if err != nil {
			return err
		}
		out = append(out, record{name: strings.TrimPrefix(aws.ToString(o.Key), s.key("")), modified: aws.ToTime(o.LastModified), body: body})
		return nil
	})
	return out, err
}

func (s *s3Sink) remove(ctx context.Context, name string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))}); err != nil {
		return errors.New(describeS3Error(err))
	}
	return nil
}
