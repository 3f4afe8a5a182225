package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/time/rate"

	"github.com/durable-etl/durable-etl/extract/decode"
)

// ClientOption configures [NewClient].
type ClientOption func(*clientConfig)

type clientConfig struct {
	region, profile, endpoint string
	requestTimeout            time.Duration
	maxAttempts               int
	retryMode                 string
	maxBackoff                time.Duration
	limiter                   *rate.Limiter
	stats                     *CallStats
	logger                    *slog.Logger
	connections               int
	sdkDecoder                bool
}

// WithSDKDecoder decodes every response with the SDK's own decoder. By
// default the pages of GetDurableExecutionState and
// GetDurableExecutionHistory are decoded by package decode, which gives
// exactly the SDK's values about twice as fast and leaves any response it
// does not take exactly to the SDK; this option is for comparing the two
// (the benchmarks' baseline is the stock SDK).
func WithSDKDecoder() ClientOption { return func(c *clientConfig) { c.sdkDecoder = true } }

// WithConnections keeps up to n idle connections to the endpoint between
// calls (default, and at least, the SDK's 10). Set it to the calls a run
// has in flight: with fewer, connections past the limit are closed after
// each call and opened again (a TLS handshake each against AWS).
func WithConnections(n int) ClientOption { return func(c *clientConfig) { c.connections = n } }

// DefaultRetryMode is NewClient's retry mode without WithRetryMode.
const DefaultRetryMode = "adaptive"

// WithRetryMode selects the SDK's retry mode: "adaptive" (the default),
// which slows every call of the client down once the service throttles,
// or "standard", which only retries each call. Under an account's quota
// that the calls in flight overrun for long, standard's calls run out of
// attempts (half of 300 executions failed at 4 requests a second and
// --concurrency 16), where adaptive's keep to the rate the service takes
// (none failed, in the time the quota allows).
func WithRetryMode(m string) ClientOption { return func(c *clientConfig) { c.retryMode = m } }

// WithMaxBackoff caps the wait between attempts, Retry-After included
// (default 20s).
func WithMaxBackoff(d time.Duration) ClientOption { return func(c *clientConfig) { c.maxBackoff = d } }

// CallStats counts the client's API calls and attempts (retries are the
// difference), in all and per operation, and the attempts the service
// answered (Answered: an HTTP answer, whatever its status; it stands
// still while the service, or the way to it, answers nothing).
type CallStats struct {
	Calls, Attempts, Answered atomic.Int64
	perOp                     sync.Map // operation name: *atomic.Int64 calls
}

// ByOperation is the calls per API operation (GetDurableExecutionState, ...).
func (st *CallStats) ByOperation() map[string]int64 {
	out := map[string]int64{}
	st.perOp.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (st *CallStats) count(op string) {
	v, ok := st.perOp.Load(op)
	if !ok {
		v, _ = st.perOp.LoadOrStore(op, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
	st.Calls.Add(1)
}

// WithCallStats counts calls and attempts into st.
func WithCallStats(st *CallStats) ClientOption { return func(c *clientConfig) { c.stats = st } }

// WithRateLimit makes every attempt, retries included, wait for l; share
// one limiter to bound the calls of a whole run (default: no limit).
func WithRateLimit(l *rate.Limiter) ClientOption { return func(c *clientConfig) { c.limiter = l } }

// WithLogger routes the SDK's own log lines to l at debug level (see
// [SDKLogger]); by default they are dropped.
func WithLogger(l *slog.Logger) ClientOption { return func(c *clientConfig) { c.logger = l } }

// SDKLogger is a logger for the SDK's own lines (its warnings, such as a
// response body it could not drain after a fault that its retryer then
// handles) that hands them to l at debug level, in l's format: left to
// itself the SDK writes them raw to stderr, in the middle of a JSON log,
// and a run under faults would print one per retried attempt.
func SDKLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(class logging.Classification, format string, v ...any) {
		l.Debug("aws sdk: "+fmt.Sprintf(format, v...), "sdk_level", string(class))
	})
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

// CredentialsError is a failure to get AWS credentials from the
// configuration chain: none configured, an SSO session that expired, a
// role that cannot be assumed. No call can be signed without them.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string {
	return "no usable AWS credentials (environment, --profile and the shared files, SSO, an ECS or EC2 role): " + e.Err.Error()
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// markedCredentials makes a failure to get credentials a
// *CredentialsError, which a failed call carries: the caller can tell it
// from the API's own errors (ExecutionError.CredentialsRefused). It wraps
// the configuration's cache, and caches nothing itself.
type markedCredentials struct{ aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, &CredentialsError{Err: err}
	}
	return c, nil
}

// ProviderSources tells the SDK's user agent where the credentials came
// from, as the wrapped provider would.
func (m markedCredentials) ProviderSources() []aws.CredentialSource {
	if s, ok := m.CredentialsProvider.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// credentialsRenewal is how long before they expire credentials that
// can (SSO, roles, credential_process) are renewed: by default the SDK
// uses them to the last instant, and a call signed just before that can
// reach the service just after (ExpiredTokenException, which stops a run).
const credentialsRenewal = 5 * time.Minute

// LoadConfig loads the standard AWS configuration chain (environment, shared
// config and credentials files, SSO, IMDS and ECS roles), with region and
// profile overriding it when set; with no region set or in the chain, the
// EC2 instance's (instanceRegion). It returns a *ConfigError when the chain
// fails or yields no region. The SDK's own log lines are dropped unless
// more sets a logger (see [SDKLogger]).
func LoadConfig(ctx context.Context, region, profile string, more ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, more...)...)
	if err != nil {
		return cfg, &ConfigError{fmt.Errorf("aws configuration: %w", err)}
	}
	if cfg.Region == "" {
		cfg.Region = instanceRegion(ctx, cfg)
	}
	if cfg.Region == "" {
		return cfg, &ConfigError{errors.New("no AWS region: pass --region or set AWS_REGION (none in the environment, the shared config or the EC2 instance metadata)")}
	}
	return cfg, nil
}

// instanceRegion is the region of the EC2 instance this runs on, from
// its instance metadata (IMDSv2, where the other AWS SDKs' default region
// chains end; Go's leaves it out), or "" off EC2, with the
// metadata disabled (AWS_EC2_METADATA_DISABLED) or unanswered within
// imdsRegionTimeout. AWS_EC2_METADATA_SERVICE_ENDPOINT and the shared
// config's ec2_metadata_service_endpoint are honoured. Asked only when
// nothing else names a region: a cron job on an instance with a role
// needs no AWS_REGION, as it needs no keys.
func instanceRegion(ctx context.Context, cfg aws.Config) string {
	ctx, cancel := context.WithTimeout(ctx, imdsRegionTimeout)
	defer cancel()
	client := imds.NewFromConfig(cfg, func(o *imds.Options) {
		o.HTTPClient, o.Retryer = nil, nil // the metadata client's own short timeouts and retries, not the run's
	})
	out, err := client.GetRegion(ctx, nil)
	if err != nil {
		return ""
	}
	return out.Region
}

// imdsRegionTimeout bounds asking the instance metadata for the region.
// Its client gives up a connection after 250 ms and an answer after 500
// ms, three attempts.
const imdsRegionTimeout = 3 * time.Second

// NewClient builds a Lambda client from the standard AWS configuration chain
// (environment, shared config and credentials files, SSO, IMDS and ECS
// roles). Its retryer retries throttling, 5xx, connection errors, timed-out
// attempts and bodies cut short (which the SDK's default does not), without
// the client-wide retry quota that would fail a long batch job under a burst
// of faults.
func NewClient(ctx context.Context, opts ...ClientOption) (*lambda.Client, error) {
	c := clientConfig{requestTimeout: 60 * time.Second, maxAttempts: 5, retryMode: DefaultRetryMode, maxBackoff: 20 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	logger := logging.Logger(logging.Nop{})
	if c.logger != nil {
		logger = SDKLogger(c.logger)
	}
	cfg, err := LoadConfig(ctx, c.region, c.profile, config.WithLogger(logger),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.requestTimeout).WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, c.connections)
			tr.MaxIdleConns = max(tr.MaxIdleConns, c.connections)
		})),
		config.WithRetryer(c.retryer),
		config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = credentialsRenewal }))
	if err != nil {
		return nil, err
	}
	if c.retryMode != "standard" && c.retryMode != "adaptive" {
		return nil, &ConfigError{fmt.Errorf("retry mode %q: want standard or adaptive", c.retryMode)}
	}
	// Credentials are got once before any call (the SDK caches them), so
	// that a run without any stops before it begins, naming the cause.
	if cfg.Credentials == nil {
		return nil, &ConfigError{&CredentialsError{Err: errors.New("the AWS configuration chain gave no credentials provider")}}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, &ConfigError{&CredentialsError{Err: err}}
	}
	cfg.Credentials = markedCredentials{cfg.Credentials}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if !c.sdkDecoder {
			decodePages(o, logger, c.logger)
		}
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		if st := c.stats; st != nil {
			o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
				if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("etl.CountCalls",
					func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
						st.count(middleware.GetOperationName(ctx))
						return next.HandleInitialize(ctx, in)
					}), middleware.Before); err != nil {
					return err
				}
				return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("etl.CountAttempts",
					func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
						st.Attempts.Add(1)
						out, md, err := next.HandleFinalize(ctx, in)
						// The SDK hands an empty response (status 0) to a call
						// that had none.
						if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && r != nil && r.Response != nil && r.StatusCode != 0 {
							st.Answered.Add(1)
						}
						return out, md, err
					}), middleware.After)
			})
		}
		if c.limiter != nil {
			o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
				// After the retry middleware, so each attempt waits its turn.
				return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("etl.RateLimit",
					func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
						if err := c.limiter.Wait(ctx); err != nil {
							return middleware.FinalizeOutput{}, middleware.Metadata{}, err
						}
						return next.HandleFinalize(ctx, in)
					}), middleware.After)
			})
		}
	}), nil
}

// BatchRetry sets up the SDK's standard retryer for a batch job: attempts
// tries with a jittered backoff of at most maxBackoff, no retry quota
// (calls failing side by side would use it up and fail with attempts
// left), and a body cut short (io.ErrUnexpectedEOF, which the SDK does
// not retry) taken as worth trying again. The Lambda client's retryer
// starts from it; etl's S3 client is it.
func BatchRetry(attempts int, maxBackoff time.Duration) func(*retry.StandardOptions) {
	return func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.MaxBackoff = maxBackoff
		o.Backoff = retry.NewExponentialJitterBackoff(maxBackoff)
		o.RateLimiter = ratelimit.None
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary
		})}, o.Retryables...)
	}
}

// retryer is the client's retryer: see NewClient. BatchRetry's, which
// also honours Retry-After, and for which a KMS error is final.
func (c clientConfig) retryer() aws.Retryer {
	standard := func(o *retry.StandardOptions) {
		BatchRetry(c.maxAttempts, c.maxBackoff)(o)
		o.Backoff = retryAfter{base: o.Backoff, max: c.maxBackoff}
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			// A KMS error is a 502 that no retry changes: the key
			// is disabled, deleted or not granted (Undecryptable).
			if api := smithy.APIError(nil); errors.As(err, &api) && isKMSCode(api.ErrorCode()) {
				return aws.FalseTernary
			}
			return aws.UnknownTernary
		})}, o.Retryables...)
	}
	if c.retryMode == "adaptive" {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, standard)
		})
	}
	return retry.NewStandard(standard)
}

// decodePages has the state and history pages decoded by package decode
// (see WithSDKDecoder). Should a new SDK's types outgrow the decoder, the
// SDK decodes everything, as it always could. A member the service sends
// that the SDK does not know is logged once, at warning level, to l (when
// given): the archive keeps it in overflow_json, and an etl built with a
// newer SDK would give it a column.
func decodePages(o *lambda.Options, logger logging.Logger, l *slog.Logger) {
	declined := func(err error) {
		logger.Logf(logging.Debug, "a page left to the SDK's decoder: %v", err)
	}
	unknown := func(op, member string, kept bool) {
		if l == nil {
			return
		}
		if kept {
			l.Warn("the Lambda API sent a member this etl's SDK does not know: it is archived in overflow_json under Unknown (an etl with a newer SDK gives it a column)", "operation", op, "member", member)
		} else {
			l.Warn("the Lambda API sent a page member this etl's SDK does not know: no row holds it, and it is not archived", "operation", op, "member", member)
		}
	}
	if p, err := decode.NewProtocol(o.Protocol, declined, decode.OnUnknown(unknown)); err == nil {
		o.Protocol = p
	} else {
		logger.Logf(logging.Debug, "state and history pages decoded by the SDK: %v", err)
	}
}

// retryAfter waits as long as the service's Retry-After header asks (capped
// at max); without one, it defers to base. The SDK's own backoff ignores
// the header.
type retryAfter struct {
	base retry.BackoffDelayer
	max  time.Duration
}

func (b retryAfter) BackoffDelay(attempt int, err error) (time.Duration, error) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if v := re.Response.Header.Get("Retry-After"); v != "" {
			if secs, perr := strconv.Atoi(strings.TrimSpace(v)); perr == nil && secs >= 0 {
				return min(time.Duration(secs)*time.Second, b.max), nil
			}
			if at, perr := http.ParseTime(v); perr == nil {
				return min(max(time.Until(at), 0), b.max), nil
			}
		}
	}
	return b.base.BackoffDelay(attempt, err)
}
