package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Getter is what reading a manifest from S3 needs (*s3.Client has it).
type S3Getter interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// OpenS3Manifest streams the manifest at s3://bucket/key to a temporary file
// (never holding it in memory) and opens it like OpenManifest; Close removes
// the copy. Errors name the object.
func OpenS3Manifest(ctx context.Context, client S3Getter, uri string, opts ...ManifestOption) (*Manifest, error) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if !ok || bucket == "" || key == "" {
		return nil, fmt.Errorf("manifest %s: want s3://BUCKET/KEY", uri)
	}
	// Tried 3 times (seconds), not for the minute a run's S3 calls are: a
	// misspelled endpoint is told at once.
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, func(o *s3.Options) { o.RetryMaxAttempts = 3 })
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %s", uri, s3Reason(err))
	}
	defer out.Body.Close()
	return SpooledManifest(uri, func(w io.Writer) error {
		_, err := io.Copy(w, out.Body)
		return err
	}, opts...)
}

// s3Reason is a failed GetObject's reason, one line: S3's error code and
// message when it answered (not the SDK's request and host ids).
func s3Reason(err error) string {
	if api := smithy.APIError(nil); errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
