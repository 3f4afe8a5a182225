package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// ClientOption configures [NewClient].
type ClientOption func(*clientConfig)

type clientConfig struct {
	region, profile, endpoint string
	requestTimeout            time.Duration
	maxAttempts               int
}

// WithRegion sets the AWS region (default: the standard chain's, e.g.
// AWS_REGION or the profile's).
func WithRegion(r string) ClientOption { return func(c *clientConfig) { c.region = r } }

// WithProfile selects a shared-config profile (default: AWS_PROFILE or
// "default").
func WithProfile(p string) ClientOption { return func(c *clientConfig) { c.profile = p } }

// WithEndpointURL sends requests to url instead of the SDK's resolved
// endpoint (which also honours AWS_ENDPOINT_URL_LAMBDA).
func WithEndpointURL(url string) ClientOption { return func(c *clientConfig) { c.endpoint = url } }

// WithRequestTimeout bounds each HTTP attempt (default 60s); a timed-out
// attempt is retried.
func WithRequestTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.requestTimeout = d }
}

// WithMaxAttempts sets the attempts per call, the first included (default 5).
func WithMaxAttempts(n int) ClientOption { return func(c *clientConfig) { c.maxAttempts = n } }

// ConfigError is a client configuration problem found before any call, such
// as no region.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// NewClient builds a Lambda client from the standard AWS configuration chain
// (environment, shared config and credentials files, SSO, IMDS and ECS
// roles). Its retryer retries throttling, 5xx, connection errors, timed-out
// attempts and bodies cut short (which the SDK's default does not), without
// the client-wide retry quota that would fail a long batch job under a burst
// of faults.
func NewClient(ctx context.Context, opts ...ClientOption) (*lambda.Client, error) {
	c := clientConfig{requestTimeout: 60 * time.Second, maxAttempts: 5}
	for _, o := range opts {
		o(&c)
	}
	var loadOpts []func(*config.LoadOptions) error
	if c.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(c.region))
	}
	if c.profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(c.profile))
	}
	loadOpts = append(loadOpts,
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.requestTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.maxAttempts
				o.RateLimiter = ratelimit.None
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					if errors.Is(err, io.ErrUnexpectedEOF) {
						return aws.TrueTernary
					}
					return aws.UnknownTernary
				})}, o.Retryables...)
			})
		}))
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("aws configuration: %w", err)}
	}
	if cfg.Region == "" {
		return nil, &ConfigError{errors.New("no AWS region: pass --region or set AWS_REGION")}
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	}), nil
}
