package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/durable-etl/durable-etl/extract/decode"
	"github.com/durable-etl/durable-etl/internal/clip"
)

// StateAPI is the one call the extractor makes; *lambda.Client has it.
type StateAPI = lambda.GetDurableExecutionStateAPIClient

// Page is one response page of an execution's state.
type Page struct {
	// Number counts the execution's pages from 1.
	Number     int
	Operations []types.Operation
	// Unknown are the members of Operations[i] that the SDK's model does
	// not know, by i, as a JSON object (see decode.Unknown); nil when
	// none had any, or when the client's protocol is not decode's.
	Unknown map[int]json.RawMessage
}

// ExecutionError reports an execution that could not be archived. Reason is
// one line, safe to log: the checkpoint token is never in it.
type ExecutionError struct {
	ARN string
	// Code is the API's error name (ResourceNotFoundException, ...) or a word
	// for failures outside the API (timeout, network, malformed, transform,
	// load).
	Code   string
	Reason string
	Err    error
	// passing is set by classify for a failure a later call may not meet
	// (Passing).
	passing bool
}

func (e *ExecutionError) Error() string {
	return fmt.Sprintf("execution %s: %s", clip.String(e.ARN), clip.String(e.Reason))
}

func (e *ExecutionError) Unwrap() error { return e.Err }

// The API's error names this package's callers act on.
const (
	codeNotFound = "ResourceNotFoundException"
	codeRejected = "InvalidParameterValueException"
	codeCanceled = "canceled"
	codeTimeout  = "timeout"
	// codeNetwork: no answer after the retries (a connection refused,
	// reset or cut, a name that did not resolve).
	codeNetwork = "network"
	// codeMalformed: a whole answer that does not match the API's model (a
	// number where a string belongs, say), which the SDK cannot hand over.
	// AWS's service validates what it stores; a test server may not.
	codeMalformed = "malformed"
	// codeChanged: a history read backwards changed between its two
	// passes (drainBackwards).
	codeChanged = "HistoryChanged"
)

// NotFound reports that the API does not know the execution (404): final
// for it; for verification, the service may have forgotten it.
func (e *ExecutionError) NotFound() bool { return e.Code == codeNotFound }

// Rejected reports a 400 InvalidParameterValueException: a wrong token, or,
// after a first page the same call fetched, an expired marker.
func (e *ExecutionError) Rejected() bool { return e.Code == codeRejected }

// Changed reports a history that changed while it was read backwards
// (from a service that lists the newest event first whatever ReverseOrder
// says): reading it again from the start may succeed.
func (e *ExecutionError) Changed() bool { return e.Code == codeChanged }

// Undecryptable reports a KMS error (KMSAccessDeniedException,
// KMSDisabledException, KMSInvalidStateException, KMSNotFoundException):
// the service cannot decrypt the execution's data with the function's key
// (disabled, deleted, or no longer granted to Lambda). No retry changes
// that; read without the payloads ([WithoutExecutionData]), the rest of
// the execution can still be archived.
func (e *ExecutionError) Undecryptable() bool { return isKMSCode(e.Code) }

// isKMSCode tells the API's KMS error names.
func isKMSCode(code string) bool {
	return strings.HasPrefix(code, "KMS") && strings.HasSuffix(code, "Exception")
}

// CredentialsRefused reports a call that could not be made with the run's
// AWS credentials: none could be had from the configuration chain
// ([CredentialsError]), or the API refused them (an unknown key, a wrong
// secret, an expired session token). No other execution will fare
// better: the run should stop.
func (e *ExecutionError) CredentialsRefused() bool {
	_, ok := RefusedCredentials(e.Err)
	return ok
}

// RefusedCredentials tells a failed call (err) that no call with the
// same AWS credentials would succeed, in one line: the API refused them,
// or none could be had. ok is false for any other error.
func RefusedCredentials(err error) (told string, ok bool) {
	var none *CredentialsError
	var api smithy.APIError
	switch {
	case errors.As(err, &none):
		return none.Error(), true
	case errors.As(err, &api) && refusedCredentials[api.ErrorCode()]:
		return fmt.Sprintf("the Lambda API refused the AWS credentials (%s: %s)", api.ErrorCode(), api.ErrorMessage()), true
	}
	return "", false
}

// codeCredentials: no credentials could be had (CredentialsError).
const codeCredentials = "credentials"

// refusedCredentials are the error names AWS answers credentials with
// that it will not take, whatever the call: an access key it does not
// know, a signature that does not match (a wrong secret), an expired or
// missing session token. (AccessDeniedException is not among them: an IAM
// policy may allow some functions and not others.)
var refusedCredentials = map[string]bool{
	"UnrecognizedClientException": true, "InvalidClientTokenId": true,
	"InvalidSignatureException": true, "SignatureDoesNotMatch": true,
	"IncompleteSignatureException": true, "IncompleteSignature": true,
	"ExpiredTokenException": true, "ExpiredToken": true,
	"MissingAuthenticationTokenException": true, "MissingAuthenticationToken": true,
}

// Unreachable reports a call that could not reach the service, after the
// client's retries: no connection could be made (refused, timed out, the
// name unresolved). Alone, a bad moment; many executions in a row, the
// service, or the way to it, is gone. A connection made and then reset,
// cut or left without an answer is not one: that can be one execution's
// (a proxy that drops its oversized answers, a page slow to come), and
// counting it would stop every run that meets a few such executions,
// night after night, before it gets past them.
func (e *ExecutionError) Unreachable() bool {
	_, ok := Unreachable(e.Err)
	return ok
}

// Unreachable tells a failed call (err, after the client's retries) that
// could not reach the service, as [ExecutionError.Unreachable] does, in
// one line: the connection's failure (dial tcp HOST: connect: connection
// refused), where the SDK's chain says it at length. ok is false for any
// other error.
func Unreachable(err error) (told string, ok bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || errors.Is(err, context.Canceled) {
		return "", false
	}
	return op.Error(), true
}

// TimedOut reports a call that had no answer in the client's time (its
// request timeout, after its retries): alone, a slow page or a connection
// the network lost; with every call of a run alike, the service (or a
// proxy in the way) takes connections and answers nothing.
func (e *ExecutionError) TimedOut() bool { return e.Code == codeTimeout }

// NoAnswer tells a failed call (err, after the client's retries) that had
// no answer: one that could not reach the service ([Unreachable]), or
// that timed out waiting for its answer; told is the cause in one line.
// ok is false for any other error, and for a call its context stopped.
func NoAnswer(err error) (told string, ok bool) {
	if told, ok := Unreachable(err); ok {
		return told, true
	}
	var netErr net.Error
	if errors.Is(err, context.Canceled) || !(errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()) {
		return "", false
	}
	return "no answer within the request timeout", true
}

// NoAnswerRow counts the failures in a row that had no answer
// ([NoAnswer]), none answered between; it is safe for concurrent use.
// Verify counts its calls so, discovery its listings: past After of them,
// every one left would fail alike, each after its retries.
type NoAnswerRow struct {
	mu    sync.Mutex
	n     int
	after int
}

// NewNoAnswerRow counts up to after.
func NewNoAnswerRow(after int) *NoAnswerRow { return &NoAnswerRow{after: after} }

// Note counts err (nil, or any failure with an answer, starts the count
// again). Once after failures in a row had no answer, it returns the
// count, the last one's cause told in one line, and whether the service
// could be reached (it then took the calls and answered none); ok is
// false before, and after (a row reported once).
func (r *NoAnswerRow) Note(err error) (n int, told string, reached, ok bool) {
	told, none := NoAnswer(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !none {
		r.n = 0
		return 0, "", false, false
	}
	if r.n++; r.n != r.after {
		return 0, "", false, false
	}
	_, unreachable := Unreachable(err)
	return r.n, told, !unreachable, true
}

// Passing reports a failure that a later call may not meet: the client
// ran out of attempts against the API's throttling (429,
// TooManyRequestsException), an error answer its retryer retries (a 5xx,
// a request timeout), a call with no answer in time, or a connection
// that failed. An account's quota that other clients spend too, a
// service's bad minutes or a network's fail executions so, that a try
// some time later archives. A refusal (not found, a wrong token, access
// denied, data the service cannot decrypt, credentials refused), an
// answer that does not match the API's model and a repeated marker are
// not passing: trying again meets them again. A call stopped by its
// context's deadline is timed out, and passing too: a caller asks its
// context first (see Interrupted).
func (e *ExecutionError) Passing() bool { return e.passing }

// Interrupted reports a call stopped by its context (a signal, a deadline)
// or by the client's timeout after its retries.
func (e *ExecutionError) Interrupted() bool { return e.Code == codeCanceled || e.Code == codeTimeout }

// MaxPageSize is the API's largest MaxItems.
const MaxPageSize = 1000

// Drain reads every page of one execution's state, in order, calling fn for
// each. pageSize is MaxItems (1..1000). A repeated NextMarker stops the walk
// instead of looping. When a call fails (after the client's retries) or fn
// returns an error, Drain stops and returns an *ExecutionError; pages already
// handed to fn stay handed, so the caller decides what to keep.
func Drain(ctx context.Context, api StateAPI, e Entry, pageSize int32, fn func(context.Context, Page) error) error {
	p := lambda.NewGetDurableExecutionStatePaginator(api, &lambda.GetDurableExecutionStateInput{
		DurableExecutionArn: aws.String(e.ARN),
		CheckpointToken:     aws.String(e.Token),
		MaxItems:            pageSize,
	}, func(o *lambda.GetDurableExecutionStatePaginatorOptions) { o.StopOnDuplicateToken = true })
	return drainPages(ctx, e, "snapshot", p, func(out *lambda.GetDurableExecutionStateOutput) *string { return out.NextMarker },
		func(n int, out *lambda.GetDurableExecutionStateOutput, u *decode.Unknown) error {
			return fn(ctx, Page{Number: n, Operations: out.Operations, Unknown: u.Records})
		})
}

// markers notices a page that hands back the marker it was asked with:
// the SDK's paginators ask for it again for ever, or, with
// StopOnDuplicateToken, stop quietly, so that what comes after it goes
// unread, unsaid. Every listing fails on it instead.
type markers struct{ last *string }

// repeated reports whether next, a page's NextMarker, is the marker the
// page before handed over (the one the page was asked with).
func (m *markers) repeated(next *string) bool {
	r := m.last != nil && next != nil && *next == *m.last
	m.last = next
	return r
}

// repeatedMarkerReason says why a listing of what fails on a repeated
// marker on its page'th page.
func repeatedMarkerReason(page int, what string) string {
	return fmt.Sprintf("page %d: the API handed back the marker it was given; the %s would be incomplete", page, what)
}

// paginator is what drainPages needs of an SDK paginator.
type paginator[O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*lambda.Options)) (O, error)
}

// drainPages walks p, calling use for each page with its number (from 1)
// and what it carried that the SDK does not know.
// The SDK's paginator stops quietly on a repeated marker; quietly would
// archive a truncated snapshot (or history), so the execution fails with
// "RepeatedMarker" instead. A failed call or an error from use stops it with
// an *ExecutionError.
func drainPages[O any](ctx context.Context, e Entry, what string, p paginator[O], next func(O) *string, use func(int, O, *decode.Unknown) error) error {
	var m markers
	for n := 1; p.HasMorePages(); n++ {
		var u decode.Unknown
		out, err := p.NextPage(decode.WithUnknown(ctx, &u))
		if err != nil {
			return classify(e, fmt.Sprintf("page %d", n), err)
		}
		if m.repeated(next(out)) {
			return &ExecutionError{ARN: e.ARN, Code: "RepeatedMarker", Reason: repeatedMarkerReason(n, what)}
		}
		if err := use(n, out, &u); err != nil {
			return useError(e, err)
		}
	}
	return nil
}

// useError is the ExecutionError of a page's use that failed: its own, or
// one with the code "load".
func useError(e Entry, err error) *ExecutionError {
	var ee *ExecutionError
	if errors.As(err, &ee) {
		return ee
	}
	return &ExecutionError{ARN: e.ARN, Code: "load", Reason: redact(err.Error(), e.Token), Err: err}
}

// classify turns an SDK error into an ExecutionError with a one-line
// reason, which starts with where it happened ("page 3", or the call).
func classify(e Entry, where string, err error) *ExecutionError {
	ee := &ExecutionError{ARN: e.ARN, Err: err}
	ee.Code, ee.Reason, ee.passing = errorReason(err)
	ee.Reason = redact(where+": "+ee.Reason, e.Token)
	return ee
}

// errorReason is a failed call's code and one-line reason, after the
// client's retries, and whether a later call may not meet it (see
// ExecutionError.Passing).
func errorReason(err error) (code, reason string, passing bool) {
	var api smithy.APIError
	var netErr net.Error
	var deser *smithy.DeserializationError
	var status interface{ HTTPStatusCode() int }
	var creds *CredentialsError
	switch {
	case errors.As(err, &creds):
		code, reason = codeCredentials, creds.Error()
	case errors.As(err, &api):
		code = api.ErrorCode()
		switch {
		case code == codeNotFound:
			reason = "not found (ResourceNotFoundException)"
		case code == codeRejected:
			reason = "rejected (InvalidParameterValueException)"
		case isKMSCode(code):
			reason = fmt.Sprintf("the service cannot decrypt the execution's data (%s)", code)
		case refusedCredentials[code]:
			reason = fmt.Sprintf("the AWS credentials were refused (%s)", code)
		case code == codeDenied:
			// The API's 403, or Denials' answer to a call it did not make.
			reason = fmt.Sprintf("refused (%s)", code)
		case errors.As(err, &status) && status.HTTPStatusCode()/100 == 4 && !retried4xx(status.HTTPStatusCode(), code):
			reason = fmt.Sprintf("refused (%s)", code)
		default:
			reason, passing = fmt.Sprintf("failed after retries (%s)", code), true
		}
		if msg := api.ErrorMessage(); msg != "" {
			reason += ": " + msg
		}
	case errors.Is(err, context.Canceled):
		code, reason = codeCanceled, "canceled"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		code, reason, passing = codeTimeout, "timed out after retries", true
	case errors.As(err, &deser) && errors.As(err, &status) && status.HTTPStatusCode()/100 == 2 &&
		!errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &netErr):
		// A successful answer, read whole, that the SDK could not decode: no
		// retry changes it, and it is no network failure. (An error answer
		// the SDK cannot decode, a proxy's HTML 503, is retried as its
		// status says.)
		code, reason = codeMalformed, "the answer does not match the API's model: "+lastLine(deser.Error())
	default:
		code, reason, passing = codeNetwork, "failed after retries: "+lastLine(err.Error()), true
	}
	return code, reason, passing
}

// retried4xx reports a 4xx answer the client's retryer retries:
// throttling and request timeouts (the SDK's default codes); any other is
// final at once.
func retried4xx(status int, code string) bool {
	_, throttle := retry.DefaultThrottleErrorCodes[code]
	_, retryable := retry.DefaultRetryableErrorCodes[code]
	return status == 429 || throttle || retryable
}

// redact removes the token from s, should a message ever echo it, and keeps
// s to one line.
func redact(s, token string) string {
	if token != "" {
		for _, t := range []string{token, url.QueryEscape(token), url.PathEscape(token)} {
			s = strings.ReplaceAll(s, t, "[redacted]")
		}
	}
	return strings.Join(strings.Fields(s), " ")
}

func lastLine(s string) string {
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
