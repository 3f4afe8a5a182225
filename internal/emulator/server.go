package emulator

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/time/rate"
)

// Execution is one durable execution the emulator serves.
type Execution struct {
	ARN   string
	Token string
	// Len is the number of operations in the execution's state.
	Len int
	// Op returns operation i (0 <= i < Len). It is called once per page for
	// each operation served, so it may build operations on demand.
	Op func(i int) types.Operation
	// History is what GetDurableExecutionHistory serves (nil: no events).
	History *History
	// Info is what GetDurableExecution and the listing say; nil derives it
	// from the EXECUTION operation (Op(0)) and the pauses.
	Info *Info
	// pause is a generated execution's pauses (see pausePlan).
	pause pausePlan
}

// Fixed is an execution that serves the given operations.
func Fixed(arn, token string, ops []types.Operation) Execution {
	return Execution{ARN: arn, Token: token, Len: len(ops), Op: func(i int) types.Operation { return ops[i] }}
}

// Fault is what the emulator does to one request instead of (or while)
// answering it.
type Fault int

// The injectable faults.
const (
	NoFault Fault = iota
	// Throttle answers 429 TooManyRequestsException with Retry-After: 1.
	Throttle
	// ServerError answers 500 ServiceException.
	ServerError
	// Unavailable answers 503 with a non-JSON body, as a load balancer does.
	Unavailable
	// Reset sends the headers and half the body, then resets the connection.
	Reset
	// Cut sends the headers and half the body, then closes the connection
	// cleanly (the client sees an unexpected EOF).
	Cut
	// Slow answers after SlowDelay (default 2s), for request timeouts.
	Slow
	// Drop resets the connection without an answer, as a service gone
	// behind its load balancer does (the client sees a reset before any
	// response).
	Drop
	// RepeatMarker answers the page but hands back the Marker it was given as
	// the NextMarker, as a stuck service would (every paged operation).
	RepeatMarker
	// ExpireMarker refuses a request that carries a Marker with 400
	// InvalidParameterValueException, as the service does after 24 hours.
	ExpireMarker
)

// FaultFunc decides the fault for one request: n counts requests from 1,
// arn is the execution asked for.
type FaultFunc func(n int64, arn string) Fault

// Option configures a [Server].
type Option func(*Server)

// WithQuota holds the account to perSecond requests a second, burst at
// once, across every operation and caller, as AWS's per-account,
// per-region API quotas do: a request past it is answered 429
// TooManyRequestsException (Reason CallerRateLimitExceeded, Retry-After:
// 1) and costs nothing of the quota (default: no quota).
func WithQuota(perSecond float64, burst int) Option {
	return func(s *Server) { s.quota = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1)) }
}

// WithLatency delays every answer by d (default none).
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithFaults injects faults chosen by f (default none).
func WithFaults(f FaultFunc) Option {
	return WithOperationFaults(func(n int64, _, label string) Fault { return f(n, label) })
}

// OperationFaultFunc decides the fault for one request knowing its
// operation: op is the API operation's name (ListFunctions,
// ListVersionsByFunction, ListAliases, ListDurableExecutionsByFunction,
// GetDurableExecution, GetDurableExecutionState or
// GetDurableExecutionHistory), label the ARN or function name in its path
// ("" for ListFunctions).
type OperationFaultFunc func(n int64, op, label string) Fault

// WithOperationFaults injects faults chosen by f (default none); it
// replaces WithFaults' choice, and WithFaults replaces its.
func WithOperationFaults(f OperationFaultFunc) Option { return func(s *Server) { s.faults = f } }

// CredentialsFunc decides whether a request's credentials are taken: n
// counts requests from 1, accessKeyID is the key the request was signed
// with ("" when unsigned). A non-empty name refuses the request with 403
// and that error name (ExpiredTokenException, UnrecognizedClientException,
// ...) and message, as AWS answers credentials it will not take.
type CredentialsFunc func(n int64, accessKeyID string) (name, message string)

// WithCredentials checks every request's credentials with f (default: any
// credentials, signed or not, are taken).
func WithCredentials(f CredentialsFunc) Option { return func(s *Server) { s.credentials = f } }

// ExpiredToken is what AWS answers a request signed with a session token
// that has expired: a CredentialsFunc's refusal.
func ExpiredToken() (name, message string) {
	return "ExpiredTokenException", "The security token included in the request is expired"
}

// credential is the access key and the region of a SigV4 Authorization
// header's credential ("AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/
// SERVICE/aws4_request, ..."): "" for each when unsigned.
func credential(r *http.Request) (key, region string) {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return "", ""
	}
	parts := strings.SplitN(cred, "/", 4)
	if len(parts) == 4 {
		region = parts[2]
	}
	return parts[0], region
}

// signingRegion is the region a request was signed for ("" unsigned).
func signingRegion(r *http.Request) string {
	_, region := credential(r)
	return region
}

// refuseCredentials answers a call whose credentials WithCredentials'
// check refuses, and reports whether it did.
func (s *Server) refuseCredentials(w http.ResponseWriter, n int64, r *http.Request) bool {
	if s.credentials == nil {
		return false
	}
	key, _ := credential(r)
	name, msg := s.credentials(n, key)
	if name != "" {
		writeError(w, http.StatusForbidden, name, msg)
	}
	return name != ""
}

// otherRegion answers a call signed for (sent to) another region than the
// ARN it names, and reports whether it did: a regional endpoint knows only
// its region's executions and functions.
func otherRegion(w http.ResponseWriter, r *http.Request, rt route) bool {
	signed, named := signingRegion(r), arnRegion(rt.label)
	if signed == "" || named == "" || signed == named {
		return false
	}
	what := "Durable execution"
	if rt.op == "list" || rt.op == "versions" || rt.op == "aliases" {
		what = "Function"
	}
	writeError(w, http.StatusNotFound, "ResourceNotFoundException", what+" not found: "+rt.label)
	return true
}

// arnRegion is the region of an ARN (arn:PARTITION:lambda:REGION:...),
// or "" for a name that is no ARN. The emulator's own, like extract's
// beside the client: the stand-in for AWS shares no parsing with the code
// it tests, so that a mistake in one is not mirrored in the other.
func arnRegion(label string) string {
	parts := strings.SplitN(label, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// WithMarkerTTL makes markers expire d after they were handed out (the
// service's is 24 hours, the default). An expired marker is refused with 400
// InvalidParameterValueException.
func WithMarkerTTL(d time.Duration) Option { return func(s *Server) { s.markerTTL = d } }

// WithSlowDelay sets how long a Slow fault waits (default 2s).
func WithSlowDelay(d time.Duration) Option { return func(s *Server) { s.slow = d } }

// WithPageCache keeps every page body served and serves it again from
// memory, so that a benchmark measures the client, not the emulator's JSON
// encoding (which the real service does on its own machines). Markers in a
// cached page keep the time they were issued.
func WithPageCache() Option { return func(s *Server) { s.cache = &sync.Map{} } }

// WithReverseOldestFirst makes GetDurableExecutionHistory's ReverseOrder
// list the oldest event first, and its default order the newest first: the
// other reading the documentation allows (by default ReverseOrder lists
// the newest first).
func WithReverseOldestFirst() Option { return func(s *Server) { s.reverseOldestFirst = true } }

// WithIgnoredReverseOrder makes GetDurableExecutionHistory list the oldest
// event first whatever ReverseOrder says, as AWS's Python testing server
// does.
func WithIgnoredReverseOrder() Option { return func(s *Server) { s.ignoreReverseOrder = true } }

// WithNewestFirstAlways makes GetDurableExecutionHistory list the newest
// event first whatever ReverseOrder says: a service that implemented the
// default order the Go SDK's documentation gives (ReverseOrder lists the
// oldest first) but not ReverseOrder itself.
func WithNewestFirstAlways() Option { return func(s *Server) { s.newestFirstAlways = true } }

// WithPageItems makes every page hold n items at most (history events,
// state operations, listed executions, functions, versions and aliases),
// whatever MaxItems asks for, as a service that pages by size does when
// its items are large: the pages run short of MaxItems, with a marker.
func WithPageItems(n int) Option { return func(s *Server) { s.pageItems = n } }

// WithFutureMembers makes the answers carry members the SDK's model does
// not know, as a service newer than the client does: every WaitStarted
// event a FutureDetails object (with a CheckpointToken in it, which an
// archive must not keep), every StepSucceededDetails a Cost, every
// GetDurableExecutionState StepDetails a Budget, GetDurableExecution's
// DurableConfig an ArchiveOnDelete. The SDK skips them all.
func WithFutureMembers() Option { return func(s *Server) { s.future = true } }

// WithUndecryptable makes the executions for which undecryptable is true
// hold data the service cannot decrypt (their function's KMS key
// disabled, say): GetDurableExecution and GetDurableExecutionHistory with
// IncludeExecutionData (the default), and GetDurableExecutionState, which
// always carries the payloads, answer 502 KMSAccessDeniedException, as
// the service's model says; without IncludeExecutionData they answer.
func WithUndecryptable(undecryptable func(arn string) bool) Option {
	return func(s *Server) { s.undecryptable = undecryptable }
}

// WithDataLeftOut makes GetDurableExecution and GetDurableExecutionHistory
// answer the executions for which leftOut is true without their payloads
// even when asked for them (ExecutionDataIncluded false, the events' Input,
// Result and Error marked Truncated), with no error: an answer the API's
// model allows, which a tool must not take for data it lacks for good
// (nil: never).
func WithDataLeftOut(leftOut func(arn string) bool) Option {
	return func(s *Server) { s.dataLeftOut = leftOut }
}

// withData says whether a call on arn that asks for the execution's data
// (q's IncludeExecutionData, true by default) gets it.
func (s *Server) withData(arn string, q url.Values) bool {
	return boolParam(q, "IncludeExecutionData", true) && (s.dataLeftOut == nil || !s.dataLeftOut(arn))
}

// kmsDenied answers 502 KMSAccessDeniedException when arn's data cannot
// be decrypted and the call would carry it.
func (s *Server) kmsDenied(w http.ResponseWriter, arn string, withData bool) bool {
	if !withData || s.undecryptable == nil || !s.undecryptable(arn) {
		return false
	}
	writeError(w, http.StatusBadGateway, "KMSAccessDeniedException", "Lambda couldn't decrypt the durable execution's data because KMS access was denied. Check the function's KMS key permissions.")
	return true
}

// WithClock replaces time.Now, for marker expiry in tests.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server serves, for a set of executions, the Lambda API's durable-execution
// operations: GetDurableExecutionState, GetDurableExecution,
// GetDurableExecutionHistory and ListDurableExecutionsByFunction, and for
// discovery ListVersionsByFunction and ListAliases, in the service's wire
// form (restJson1), with its errors, limits and markers. It is an
// http.Handler; it is safe for concurrent use.
type Server struct {
	mu         sync.RWMutex
	executions map[string]Execution
	gen        uint64 // counts the changes to executions

	listMu   sync.Mutex
	listings map[string]*functionListing // by function and qualifier (see functionListing)

	latency   time.Duration
	slow      time.Duration
	cache     *sync.Map // arn, offset, max items: body
	faults    OperationFaultFunc
	markerTTL time.Duration
	now       func() time.Time
	key       []byte

	listing Listing
	aliases map[string]map[string]string
	// functionOpsStatus, when set, answers the function operations
	// (versions, aliases, functions) with that status.
	functionOpsStatus int
	ignoreListFilters bool // ListDurableExecutionsByFunction lists as if unfiltered
	functions         map[string]bool
	fnList            []FunctionVersion
	rejectQualifier   string
	brokenQualifier   string
	deniedListing     string // WithDeniedListing
	deniedReads       string // WithDeniedReads
	// reverseOldestFirst: ReverseOrder lists the history oldest first.
	reverseOldestFirst bool
	ignoreReverseOrder bool // history is listed oldest first, always
	newestFirstAlways  bool // history is listed newest first, always
	future             bool // WithFutureMembers
	pageItems          int  // WithPageItems (0: MaxItems alone)
	credentials        CredentialsFunc
	undecryptable      func(arn string) bool
	dataLeftOut        func(arn string) bool
	perRoute           sync.Map      // op, label: *atomic.Int64
	quota              *rate.Limiter // WithQuota; nil: none

	requests  atomic.Int64
	throttled atomic.Int64 // answered 429 for the quota (WithQuota)
	served    atomic.Int64
	bytes     atomic.Int64
	bufs      sync.Pool
}

// New returns a server with no executions.
func New(opts ...Option) *Server {
	s := &Server{executions: map[string]Execution{}, markerTTL: 24 * time.Hour, now: time.Now, key: make([]byte, 32), slow: 2 * time.Second}
	if _, err := rand.Read(s.key); err != nil {
		panic(err)
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	for _, o := range opts {
		o(s)
	}
	return s
}

// Add makes the server serve the executions (a later one with the same ARN
// replaces an earlier one). The page cache, if on, starts again.
func (s *Server) Add(execs ...Execution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range execs {
		s.executions[e.ARN] = e
	}
	s.gen++
	if s.cache != nil {
		s.cache.Clear()
	}
}

// Stats are the server's counters.
type Stats struct {
	Requests  int64 // every request received
	PagesOK   int64 // 200 pages served in full
	BytesOK   int64 // bytes of those pages' bodies
	Throttled int64 // answered 429 for being past the quota (WithQuota)
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), PagesOK: s.served.Load(), BytesOK: s.bytes.Load(), Throttled: s.throttled.Load()}
}

const (
	pathPrefix = "/2025-12-01/durable-executions/"
	// DefaultMaxItems and MaxMaxItems are the service's page size limits.
	DefaultMaxItems = 100
	MaxMaxItems     = 1000
)

// route is one operation of the API: its name and the label in its path.
type route struct {
	op    string // state, history, get, list, versions, aliases
	label string // the unescaped ARN or function name
}

// routeOf matches a request path to an operation.
func routeOf(raw string) (route, bool) {
	if raw == "/2015-03-31/functions" || raw == "/2015-03-31/functions/" {
		return route{op: "functions"}, true
	}
	type pattern struct{ prefix, suffix, op string }
	for _, p := range []pattern{
		{pathPrefix, "/state", "state"},
		{pathPrefix, "/history", "history"},
		{"/2025-12-01/functions/", "/durable-executions", "list"},
		{"/2015-03-31/functions/", "/versions", "versions"},
		{"/2015-03-31/functions/", "/aliases", "aliases"},
		{pathPrefix, "", "get"},
	} {
		if !strings.HasPrefix(raw, p.prefix) || !strings.HasSuffix(raw, p.suffix) || len(raw) <= len(p.prefix)+len(p.suffix) {
			continue
		}
		label := raw[len(p.prefix) : len(raw)-len(p.suffix)]
		if strings.Contains(label, "/") { // a label is one escaped path segment
			continue
		}
		l, err := url.PathUnescape(label)
		if err != nil {
			return route{}, false
		}
		return route{p.op, l}, true
	}
	return route{}, false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	raw := r.URL.EscapedPath()
	rt, ok := routeOf(raw)
	if ok {
		v, _ := s.perRoute.LoadOrStore(rt.op+"\x00"+rt.label, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	if !ok {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "Unknown operation "+r.Method+" "+raw)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "Unknown operation "+r.Method+" "+raw)
		return
	}
	arn := rt.label
	if otherRegion(w, r, rt) || s.refuseCredentials(w, n, r) {
		return
	}
	if s.quota != nil && !s.quota.Allow() {
		s.throttled.Add(1)
		throttle(w)
		return
	}
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	fault := NoFault
	if s.faults != nil {
		fault = s.faults(n, operations[rt.op], arn)
	}
	switch fault {
	case Drop:
		dropConnection(w)
		return
	case Slow:
		select {
		case <-time.After(s.slow):
		case <-r.Context().Done():
			return
		}
	case Throttle:
		throttle(w)
		return
	case ServerError:
		writeError(w, http.StatusInternalServerError, "ServiceException", "The service encountered an internal error.")
		return
	case Unavailable:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html><body>503 Service Unavailable</body></html>")
		return
	}
	if st := s.functionOpsStatus; st != 0 && (rt.op == "versions" || rt.op == "aliases" || rt.op == "functions") {
		name := map[int]string{http.StatusForbidden: "AccessDeniedException", http.StatusNotFound: "UnknownOperationException"}[st]
		writeError(w, st, cmp.Or(name, "ServiceException"), "not served: "+r.Method+" "+raw)
		return
	}
	if _, name, _, _ := functionOf(arn); readActions[rt.op] != "" && name != "" && name == s.deniedReads {
		writeError(w, http.StatusForbidden, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/etl is not authorized to perform: lambda:"+readActions[rt.op]+" on resource: "+arn)
		return
	}
	q := r.URL.Query()
	// A function's listings are the region's of its ARN, else the
	// endpoint's (a name alone).
	fnRegion := cmp.Or(arnRegion(arn), signingRegion(r))
	switch rt.op {
	case "get":
		s.serveGet(w, n, arn, q)
	case "history":
		s.serveHistory(w, n, arn, q, fault)
	case "list":
		s.serveList(w, n, arn, fnRegion, q, fault)
	case "versions":
		s.serveVersions(w, n, arn, fnRegion, q, fault)
	case "aliases":
		s.serveAliases(w, n, arn, fnRegion, q, fault)
	case "functions":
		s.serveFunctions(w, n, signingRegion(r), q, fault)
	default:
		s.serveState(w, n, arn, q, fault)
	}
}

// operations names the API operation of each route.
var operations = map[string]string{
	"get": "GetDurableExecution", "history": "GetDurableExecutionHistory", "state": "GetDurableExecutionState",
	"list": "ListDurableExecutionsByFunction", "versions": "ListVersionsByFunction", "aliases": "ListAliases", "functions": "ListFunctions",
}

// readActions are the IAM actions of the routes that read one execution.
var readActions = map[string]string{"get": operations["get"], "history": operations["history"], "state": operations["state"]}

// serveState answers GetDurableExecutionState.
func (s *Server) serveState(w http.ResponseWriter, n int64, arn string, q url.Values, fault Fault) {
	maxItems, ok := s.maxItems(w, q, DefaultMaxItems, MaxMaxItems)
	if !ok {
		return
	}
	token := q.Get("CheckpointToken")
	if token == "" {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "CheckpointToken is required.")
		return
	}
	s.mu.RLock()
	exec, ok := s.executions[arn]
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Durable execution not found: "+arn)
		return
	}
	if !hmac.Equal([]byte(token), []byte(exec.Token)) {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Invalid checkpoint token.")
		return
	}
	if s.kmsDenied(w, arn, true) {
		return
	}
	offset := 0
	if m := q.Get("Marker"); m != "" && fault == ExpireMarker {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "The Marker has expired.")
		return
	}
	if m := q.Get("Marker"); m != "" {
		var err error
		if offset, err = s.openMarker(arn, m); err != nil {
			writeError(w, http.StatusBadRequest, "InvalidParameterValueException", err.Error())
			return
		}
	}
	offset = min(offset, exec.Len)
	cacheKey := fmt.Sprintf("%s\x00%d\x00%d", arn, offset, maxItems)
	if s.cache != nil && fault == NoFault {
		if body, ok := s.cache.Load(cacheKey); ok {
			s.writeOK(w, n, body.([]byte))
			return
		}
	}
	end := min(offset+maxItems, exec.Len)
	ops := make([]types.Operation, 0, end-offset)
	for i := offset; i < end; i++ {
		ops = append(ops, exec.Op(i))
	}
	next := s.nextMarker(arn, end, exec.Len, q, fault)
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := writePage(buf, ops, next, s.future); err != nil {
		writeError(w, http.StatusInternalServerError, "ServiceException", err.Error())
		return
	}
	if fault == Reset || fault == Cut {
		breakMidBody(w, buf.Bytes(), fault == Reset)
		return
	}
	if s.cache != nil && fault == NoFault {
		s.cache.Store(cacheKey, bytes.Clone(buf.Bytes()))
	}
	s.writeOK(w, n, buf.Bytes())
}

func (s *Server) writeOK(w http.ResponseWriter, n int64, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-Requestid", requestID(n))
	w.WriteHeader(http.StatusOK)
	// Counted before the write, so that a client holding the whole page
	// finds it counted (counted after, a test reading Stats as soon as its
	// drain ended could miss its last page); taken back if the write fails.
	s.served.Add(1)
	s.bytes.Add(int64(len(body)))
	if _, err := w.Write(body); err != nil {
		s.served.Add(-1)
		s.bytes.Add(-int64(len(body)))
	}
}

// breakMidBody sends the status line, headers and half the body, then ends
// the connection: with an RST when reset, else with a clean FIN.
func breakMidBody(w http.ResponseWriter, body []byte, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("emulator: the connection cannot be hijacked for a mid-body fault")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	rw.Write(body[:len(body)/2])
	rw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0) // close sends RST
	}
}

// dropConnection resets the request's connection, unanswered.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("emulator: the connection cannot be hijacked to drop it")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST
	}
	conn.Close()
}

// throttle answers 429 TooManyRequestsException as the service does
// past a rate: Retry-After: 1 (the model's retryAfterSeconds) and Reason
// CallerRateLimitExceeded.
func throttle(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate exceeded", "Reason", "CallerRateLimitExceeded")
}

func writeError(w http.ResponseWriter, status int, name, message string, members ...string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", name)
	w.WriteHeader(status)
	w.Write(errorBody(name, message, members...))
}

func requestID(n int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], uint64(n))
	rand.Read(b[:8])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// A marker is base64url(offset | issued-at ms | HMAC(key, arn | offset |
// issued-at)[:16]): opaque to clients, bound to its ARN, and expiring.
func (s *Server) sealMarker(arn string, offset int) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(offset))
	b = binary.BigEndian.AppendUint64(b, uint64(s.now().UnixMilli()))
	b = append(b, s.mac(arn, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) openMarker(arn, marker string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil || len(b) != 32 || !hmac.Equal(b[16:], s.mac(arn, b[:16])) {
		return 0, errors.New("Invalid Marker.") //lint:ignore ST1005 the service's message, sent as it is
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(b[8:16])))
	if s.now().Sub(issued) > s.markerTTL {
		return 0, errors.New("The Marker has expired.") //lint:ignore ST1005 the service's message, sent as it is
	}
	return int(binary.BigEndian.Uint64(b[:8])), nil
}

func (s *Server) mac(arn string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(arn))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:16]
}
