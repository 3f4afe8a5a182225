package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/load"
)

func s3Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint-url", Usage: "the S3 endpoint `URL`, for S3-compatible stores (path-style addressing; also AWS_ENDPOINT_URL_S3)", EnvVars: env("s3-endpoint-url")},
		&cli.StringFlag{Name: "s3-region", Usage: "the `REGION` of the S3 buckets (destinations, manifest) (default: each bucket's own, as S3 names it, so that a run in one region can write to an archive bucket in another)", EnvVars: env("s3-region")},
		&cli.StringFlag{Name: "s3-sse", Usage: "server-side encryption of the objects: AES256 or aws:kms", EnvVars: env("s3-sse")},
		&cli.StringFlag{Name: "s3-kms-key-id", Usage: "the KMS key `ID` for --s3-sse aws:kms", EnvVars: env("s3-kms-key-id")},
		&cli.DurationFlag{Name: "s3-abort-uploads-older-than", Usage: "abort multipart uploads under the prefix begun longer ago than this (what a killed run left; a live run's file of a large partition is an upload open for hours); 0 never", EnvVars: env("s3-abort-uploads-older-than"), Value: load.DefaultStaleUploadAge},
		&cli.DurationFlag{Name: "s3-read-timeout", Usage: "how long an S3 connection may stay silent before its call is tried again on another (a part of an upload must go out within it: 5m holds 8 MiB at 30 KB/s); 0 waits for ever, as the SDK does", EnvVars: env("s3-read-timeout"), Value: defaultS3ReadTimeout},
		&cli.StringFlag{Name: "s3-storage-class", Usage: "the objects' storage `CLASS` (STANDARD, INTELLIGENT_TIERING, ...)", EnvVars: env("s3-storage-class")},
	}
}

// s3Clients builds the run's S3 clients on first use (the manifest and the
// destinations share them), from the standard AWS chain with the run's
// region (or --s3-region) and profile. With an endpoint (the flag or
// AWS_ENDPOINT_URL_S3), they use path-style addressing, as S3-compatible
// stores expect.
type s3Clients struct {
	c      *cli.Context
	logger *slog.Logger // the SDK's own lines, at debug level; nil drops them
	client *s3.Client
	// buckets are the clients forBucket gave, by bucket; regional those
	// made for other regions, by region.
	buckets, regional map[string]*s3.Client
}

// forBucket is the client for bucket: the run's, or, unless --s3-region
// sets the region, one made for the region S3 names for the bucket when it
// is not the run's (the SDK does not follow S3's region redirects: a run
// per region writing to one archive bucket failed on its first call).
// The error is a bucket that could not be asked (load.BucketRegion).
func (s *s3Clients) forBucket(ctx context.Context, bucket string) (*s3.Client, error) {
	client, err := s.get(ctx)
	if err != nil || s.c.String("s3-region") != "" || bucket == "" {
		return client, err // no bucket: the caller tells what is malformed
	}
	if c := s.buckets[bucket]; c != nil {
		return c, nil
	}
	region, err := load.BucketRegion(ctx, client, bucket)
	if err != nil {
		return nil, err
	}
	if region != "" && region != client.Options().Region {
		if s.logger != nil {
			s.logger.Info("S3 bucket in another region: its calls go there", "bucket", bucket, "region", region, "run_region", client.Options().Region)
		}
		if s.regional[region] == nil {
			s.regional = mapWith(s.regional, region, s3.New(client.Options(), func(o *s3.Options) { o.Region = region }))
		}
		client = s.regional[region]
	}
	s.buckets = mapWith(s.buckets, bucket, client)
	return client, nil
}

// mapWith is m (made if nil) with k set to v.
func mapWith[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[k] = v
	return m
}

func (s *s3Clients) get(ctx context.Context) (*s3.Client, error) {
	if s.client != nil {
		return s.client, nil
	}
	var more []func(*config.LoadOptions) error
	if s.logger != nil {
		more = append(more, config.WithLogger(extract.SDKLogger(s.logger)))
	}
	region := s.c.String("region")
	if r := s.c.String("s3-region"); r != "" {
		region = r
	}
	if d := s.c.Duration("s3-read-timeout"); d > 0 {
		more = append(more, config.WithHTTPClient(awshttp.NewBuildableClient().WithReadTimeout(d)))
	}
	cfg, err := extract.LoadConfig(ctx, region, s.c.String("profile"), more...)
	if err != nil {
		return nil, err
	}
	endpoint := s.c.String("s3-endpoint-url")
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
		retryer := s3Retryer()
		o.Retryer = retryer
		if s.logger != nil {
			o.Retryer = &toldRetryer{RetryerV2: retryer, logger: s.logger, every: s3RetryWarnEvery}
		}
	})
	return s.client, nil
}

// s3RetryWarnEvery is how often, at most, a run warns that S3 calls are
// being tried again.
const s3RetryWarnEvery = 30 * time.Second

// toldRetryer is a retryer that says, at most once every every, that calls
// fail and are tried again: a store that went away stalls the run for up
// to s3Retryer's minute or so, and without a word the log showed only its
// progress stopping.
type toldRetryer struct {
	aws.RetryerV2
	logger  *slog.Logger
	every   time.Duration
	mu      sync.Mutex
	last    time.Time // of the last warning
	retries int64     // so far
}

// RetryDelay is the wrapped retryer's, which the SDK asks once it has
// decided to try a call again.
func (r *toldRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	if derr != nil {
		return d, derr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries++
	if now := time.Now(); now.Sub(r.last) >= r.every {
		r.logger.Warn("S3 calls fail and are being tried again: the run waits for them, and stops if they keep failing", "retries_so_far", r.retries, "attempt_failed", attempt, "of", r.MaxAttempts(), "error", err.Error())
		r.last = now
	}
	return d, nil
}

// defaultS3ReadTimeout is --s3-read-timeout's default. The SDK sets none
// for S3 (nor a timeout of the whole call, which a large object's transfer
// could not live with): a connection that went silent, one a NAT or a
// proxy lost without a reset, held its call, and the run, for ever.
const defaultS3ReadTimeout = 5 * time.Minute

// s3Retryer tries a failed S3 call for about a minute (10 attempts, a
// jittered backoff up to 20 s: extract.BatchRetry). A run publishes its
// files through S3 calls that, failed, stop the run: with the SDK's
// defaults (3 attempts, a few seconds, and a quota of retries shared by
// the client that uploads failing side by side soon use up) a store
// unreachable for five seconds, or a burst of 503 SlowDown, stopped the
// nightly run.
func s3Retryer() aws.RetryerV2 {
	return retry.NewStandard(extract.BatchRetry(10, 20*time.Second))
}
