package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Listing says what ListDurableExecutionsByFunction lists for a function
// named without a qualifier; the API's documentation gives both readings.
type Listing int

const (
	// ListAllVersions lists the executions of every version (the Go SDK's
	// reading; the default).
	ListAllVersions Listing = iota
	// ListLatestOnly lists those of $LATEST only (botocore's reading).
	ListLatestOnly
)

// WithListing sets what an unqualified listing returns.
func WithListing(l Listing) Option { return func(s *Server) { s.listing = l } }

// WithRejectedQualifier makes a listing with that Qualifier answer 400
// InvalidParameterValueException, as a service may for $LATEST.PUBLISHED
// when nothing is published.
func WithRejectedQualifier(q string) Option { return func(s *Server) { s.rejectQualifier = q } }

// WithDeniedListing makes ListDurableExecutionsByFunction of the
// function named answer 403 AccessDeniedException, whatever the
// qualifier, as a policy that does not allow it on that function does.
func WithDeniedListing(name string) Option { return func(s *Server) { s.deniedListing = name } }

// WithDeniedReads makes GetDurableExecution, GetDurableExecutionHistory
// and GetDurableExecutionState of the executions of the function named
// answer 403 AccessDeniedException, whatever the qualifier, as a policy
// that allows listing them but not reading them does.
func WithDeniedReads(name string) Option { return func(s *Server) { s.deniedReads = name } }

// WithBrokenQualifier makes a listing with that Qualifier answer 500
// ServiceException, every time.
func WithBrokenQualifier(q string) Option { return func(s *Server) { s.brokenQualifier = q } }

// WithoutFunctionOperations makes the server answer ListFunctions,
// ListVersionsByFunction and ListAliases with status (and its usual error
// name: 403 AccessDeniedException, 404 UnknownOperationException, else
// ServiceException), as a policy that does not allow them does, or an
// endpoint that serves only the durable-execution operations (AWS's Python
// testing server answers 500 to a path it does not route).
func WithoutFunctionOperations(status int) Option {
	return func(s *Server) { s.functionOpsStatus = status }
}

// WithIgnoredListingFilters makes ListDurableExecutionsByFunction ignore
// StartedAfter, StartedBefore and Statuses (it still checks them), as
// AWS's Python testing server does with Statuses (it reads StatusFilter).
func WithIgnoredListingFilters() Option { return func(s *Server) { s.ignoreListFilters = true } }

// WithAliases gives functions aliases: function name, alias name, version.
func WithAliases(aliases map[string]map[string]string) Option {
	return func(s *Server) { s.aliases = aliases }
}

// WithFunctions makes the server know functions that may have no
// executions (a function it does not know is a 404).
func WithFunctions(names ...string) Option {
	return func(s *Server) {
		if s.functions == nil {
			s.functions = map[string]bool{}
		}
		for _, n := range names {
			s.functions[n] = true
		}
	}
}

// functionOf parses an execution ARN into its function's unqualified ARN,
// name and qualifier.
func functionOf(arn string) (fnArn, name, qualifier string, ok bool) {
	parts := strings.SplitN(arn, ":", 8)
	if len(parts) != 8 || parts[5] != "function" {
		return "", "", "", false
	}
	q, _, found := strings.Cut(parts[7], "/durable-execution/")
	if !found {
		return "", "", "", false
	}
	return strings.Join(parts[:7], ":"), parts[6], q, true
}

// resolveFunction reads a FunctionName label (a name, a partial ARN
// ACCOUNT:function:NAME or an ARN, each with an optional :QUALIFIER) into
// the function's name and that qualifier.
func resolveFunction(label string) (name, qualifier string) {
	parts := strings.Split(label, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn": // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]
		name = parts[6]
		if len(parts) > 7 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function": // ACCOUNT:function:NAME[:Q]
		name = parts[2]
		if len(parts) > 3 {
			qualifier = parts[3]
		}
	default:
		name = parts[0]
		if len(parts) > 1 {
			qualifier = parts[1]
		}
	}
	return name, qualifier
}

func (s *Server) info(e *Execution) *Info { return InfoOf(*e) }

// InfoOf is what GetDurableExecution says of e: its Info, or else what its
// EXECUTION operation gives (a test may change a copy and set it as Info).
func InfoOf(e Execution) *Info {
	if e.Info != nil {
		return e.Info
	}
	_, _, q, _ := functionOf(e.ARN)
	var exec types.Operation
	if e.Len > 0 {
		exec = e.Op(0)
	}
	info := infoOf(e.ARN, exec, q)
	e.pause.describe(info)
	return info
}

// lookup finds the execution of an ARN label, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, arn string) (Execution, bool) {
	s.mu.RLock()
	e, ok := s.executions[arn]
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Durable execution not found: "+arn)
	}
	return e, ok
}

// maxItems is how many items a page holds: MaxItems, or fewer under
// WithPageItems.
func (s *Server) maxItems(w http.ResponseWriter, q url.Values, def, maxi int) (int, bool) {
	m, ok := maxItems(w, q, def, maxi)
	if ok && s.pageItems > 0 {
		m = min(m, s.pageItems)
	}
	return m, ok
}

// maxItems reads MaxItems (0 or absent: def; above max: 400).
func maxItems(w http.ResponseWriter, q url.Values, def, maxi int) (int, bool) {
	v := q.Get("MaxItems")
	if v == "" {
		return def, true
	}
	m, err := strconv.Atoi(v)
	if err != nil || m < 0 || m > maxi {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 0 and %d", v, maxi))
		return 0, false
	}
	if m == 0 {
		return def, true
	}
	return m, true
}

func boolParam(q url.Values, name string, def bool) bool {
	switch q.Get(name) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// serveGet answers GetDurableExecution.
func (s *Server) serveGet(w http.ResponseWriter, n int64, arn string, q url.Values) {
	e, ok := s.lookup(w, arn)
	if !ok || s.kmsDenied(w, arn, boolParam(q, "IncludeExecutionData", true)) {
		return
	}
	in := s.info(&e)
	out := struct {
		DurableExecutionArn   string
		DurableExecutionName  string
		FunctionArn           string
		StartTimestamp        *time.Time
		Status                types.ExecutionStatus
		EndTimestamp          *time.Time
		Error                 *types.ErrorObject
		InputPayload          *string
		Result                *string
		Version               *string
		TraceHeader           *types.TraceHeader
		DurableConfig         *types.DurableConfig
		ExecutionDataIncluded *bool
		// ExpectedExecutionTimeoutTimestamp and PauseDetails: since the
		// pause and resume of November 2026.
		ExpectedExecutionTimeoutTimestamp *time.Time
		PauseDetails                      *types.PauseDetails
	}{DurableExecutionArn: arn, DurableExecutionName: in.Name, FunctionArn: in.FunctionArn, StartTimestamp: in.Start, Status: in.Status,
		EndTimestamp: in.End, Error: in.Error, InputPayload: in.InputPayload, Result: in.Result, Version: in.Version, DurableConfig: in.DurableConfig,
		ExpectedExecutionTimeoutTimestamp: in.ExpectedTimeout}
	if p := in.Pause; p != nil {
		out.PauseDetails = &types.PauseDetails{ExecutionTimeoutPaused: p.ExecutionTimeoutPaused, PauseRequestTimestamp: p.PauseRequestTimestamp}
		if p.Reason != nil {
			out.PauseDetails.Reason = p.Reason.Payload
		}
	}
	if in.TraceID != nil {
		out.TraceHeader = &types.TraceHeader{XAmznTraceId: in.TraceID}
	}
	included := s.withData(arn, q)
	out.ExecutionDataIncluded = &included
	if !included {
		out.InputPayload, out.Result = nil, nil
		if out.PauseDetails != nil {
			out.PauseDetails.Reason = nil
		}
	}
	s.writeValue(w, n, out)
}

func (s *Server) writeValue(w http.ResponseWriter, n int64, v any) {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	writeWire(buf, reflect.ValueOf(v), s.future)
	s.writeOK(w, n, buf.Bytes())
}

// serveHistory answers GetDurableExecutionHistory: MaxItems (default 100,
// at most 1000), Marker, ReverseOrder (newest first), IncludeExecutionData.
func (s *Server) serveHistory(w http.ResponseWriter, n int64, arn string, q url.Values, fault Fault) {
	limit, ok := s.maxItems(w, q, DefaultMaxItems, MaxMaxItems)
	if !ok {
		return
	}
	e, ok := s.lookup(w, arn)
	if !ok || s.kmsDenied(w, arn, boolParam(q, "IncludeExecutionData", true)) {
		return
	}
	h := e.History
	total := h.Len()
	offset, ok := s.pageStart(w, "history\x00"+arn, q, fault)
	if !ok {
		return
	}
	offset = min(offset, total)
	reverse := boolParam(q, "ReverseOrder", false) != s.reverseOldestFirst && !s.ignoreReverseOrder || s.newestFirstAlways
	withData := s.withData(arn, q)
	cacheKey := fmt.Sprintf("history\x00%s\x00%d\x00%d\x00%v\x00%v", arn, offset, limit, reverse, withData)
	if s.cache != nil && fault == NoFault {
		if body, ok := s.cache.Load(cacheKey); ok {
			s.writeOK(w, n, body.([]byte))
			return
		}
	}
	end := min(offset+limit, total)
	events := make([]types.Event, 0, end-offset)
	for k := offset; k < end; k++ {
		i := k
		if reverse {
			i = total - 1 - k
		}
		ev := h.Event(i)
		if !withData {
			withoutData(&ev)
		}
		events = append(events, ev)
	}
	next := s.nextMarker("history\x00"+arn, end, total, q, fault)
	s.writePage(w, n, struct {
		Events     []types.Event
		NextMarker string
	}{events, next}, fault, cacheKey)
}

// withoutData leaves the payloads out of an event, as the service does
// without IncludeExecutionData: the members stay, marked Truncated.
func withoutData(ev *types.Event) {
	t := true
	mapPayloads(ev, func(p reflect.Value) reflect.Value {
		c := reflect.New(p.Elem().Type())
		c.Elem().FieldByName("Truncated").Set(reflect.ValueOf(&t))
		return c
	})
}

// mapPayloads replaces each payload member (a non-nil input, result,
// error, pause or resume reason: a pointer to a struct with a Payload and
// a Truncated *bool) of the details ev carries with f's answer, a pointer
// of the same type. The details objects are copied first, so an event
// that shares them with the stored history leaves the history as it was;
// f must not change the member it is given, but return a new one.
func mapPayloads(ev *types.Event, f func(p reflect.Value) reflect.Value) {
	v := reflect.ValueOf(ev).Elem()
	for i := range v.NumField() {
		d := v.Field(i)
		if !v.Type().Field(i).IsExported() || d.Kind() != reflect.Pointer || d.IsNil() || d.Elem().Kind() != reflect.Struct {
			continue
		}
		c := reflect.New(d.Type().Elem())
		c.Elem().Set(d.Elem())
		for j := range c.Elem().NumField() {
			m := c.Elem().Field(j)
			if !c.Elem().Type().Field(j).IsExported() || m.Kind() != reflect.Pointer || m.IsNil() {
				continue // the SDK's noSmithyDocumentSerde marker, or absent
			}
			switch m.Interface().(type) {
			case *types.EventInput, *types.EventResult, *types.EventError, *types.EventPauseReason, *types.EventResumeReason:
				m.Set(f(m))
			}
		}
		d.Set(c)
	}
}

// pageStart reads the Marker of a paged request on resource (0 without
// one), or answers 400 for an invalid or expired one.
func (s *Server) pageStart(w http.ResponseWriter, resource string, q url.Values, fault Fault) (int, bool) {
	m := q.Get("Marker")
	if m == "" {
		return 0, true
	}
	if fault == ExpireMarker {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "The Marker has expired.")
		return 0, false
	}
	offset, err := s.openMarker(resource, m)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", err.Error())
		return 0, false
	}
	return offset, true
}

// nextMarker is the NextMarker of a page of resource that ends before
// item end of total: a marker to that item, or none after the last; under
// RepeatMarker, the Marker the page was asked with.
func (s *Server) nextMarker(resource string, end, total int, q url.Values, fault Fault) string {
	if m := q.Get("Marker"); m != "" && fault == RepeatMarker {
		return m
	}
	if end < total {
		return s.sealMarker(resource, end)
	}
	return ""
}

// writePage writes a page body (or breaks it, for Reset and Cut) and
// caches it under cacheKey when the page cache is on.
func (s *Server) writePage(w http.ResponseWriter, n int64, v any, fault Fault, cacheKey string) {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	writeWire(buf, reflect.ValueOf(v), s.future)
	if fault == Reset || fault == Cut {
		breakMidBody(w, buf.Bytes(), fault == Reset)
		return
	}
	if s.cache != nil && fault == NoFault && cacheKey != "" {
		s.cache.Store(cacheKey, bytes.Clone(buf.Bytes()))
	}
	s.writeOK(w, n, buf.Bytes())
}

// functionListing is functionExecutions' answer for one function and
// qualifier, kept until the executions change.
type functionListing struct {
	gen   uint64 // Server.gen when made
	fnArn string
	execs []*Execution
	infos []*Info // by execs' index
	found bool
	// regions and qualifiers are those of every execution of the
	// function, whatever q.
	regions, qualifiers map[string]bool
}

// functionExecutions are the executions of the named function whose
// qualifier is q ("" for an unqualified listing, read per s.listing),
// sorted by start time, then ARN, with their Info. The answer is kept
// until Add changes the executions, so that paging through a function of
// many thousands of executions costs each page its own items, not a sort
// of them all.
func (s *Server) functionExecutions(name, q string) (fnArn string, out []*Execution, found bool) {
	l := s.functionListing(name, q)
	return l.fnArn, l.execs, l.found
}

func (s *Server) functionListing(name, q string) *functionListing {
	if alias, ok := s.aliases[name][q]; ok {
		q = alias
	}
	key := name + "\x00" + q
	s.mu.RLock()
	gen := s.gen
	s.mu.RUnlock()
	s.listMu.Lock()
	defer s.listMu.Unlock()
	if l, ok := s.listings[key]; ok && l.gen == gen {
		return l
	}
	l := &functionListing{gen: gen, regions: map[string]bool{}, qualifiers: map[string]bool{}}
	l.fnArn, l.execs, l.found = s.listExecutions(name, q, l)
	l.infos = make([]*Info, len(l.execs))
	for i, e := range l.execs {
		l.infos[i] = s.info(e)
	}
	if s.listings == nil {
		s.listings = map[string]*functionListing{}
	}
	s.listings[key] = l
	return l
}

// listExecutions is functionExecutions made afresh; it also notes in l
// the regions and qualifiers of the function's executions.
func (s *Server) listExecutions(name, q string, l *functionListing) (fnArn string, out []*Execution, found bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for arn := range s.executions {
		fa, fn, eq, ok := functionOf(arn)
		if !ok || fn != name {
			continue
		}
		found, fnArn = true, fa
		l.regions[arnRegion(arn)], l.qualifiers[eq] = true, true
		switch {
		case q == "" && s.listing == ListLatestOnly && eq != "$LATEST":
			continue
		case q != "" && eq != q:
			continue
		}
		e := s.executions[arn]
		out = append(out, &e)
	}
	starts := make(map[string]time.Time, len(out))
	for _, e := range out {
		if st := s.info(e).Start; st != nil {
			starts[e.ARN] = *st
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := starts[out[i].ARN], starts[out[j].ARN]
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].ARN < out[j].ARN
	})
	return fnArn, out, found
}

// serveList answers ListDurableExecutionsByFunction: the function's
// executions in region (the ARN's, else the one the call was signed for;
// "": any), as a regional endpoint knows only its own.
func (s *Server) serveList(w http.ResponseWriter, n int64, label, region string, q url.Values, fault Fault) {
	limit, ok := s.maxItems(w, q, DefaultMaxItems, MaxMaxItems)
	if !ok {
		return
	}
	name, qual := resolveFunction(label)
	if qq := q.Get("Qualifier"); qq != "" {
		qual = qq
	}
	if qual != "" && qual == s.brokenQualifier {
		writeError(w, http.StatusInternalServerError, "ServiceException", "The service encountered an internal error.")
		return
	}
	if name != "" && name == s.deniedListing {
		writeError(w, http.StatusForbidden, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/etl is not authorized to perform: lambda:ListDurableExecutionsByFunction on resource: "+label)
		return
	}
	if qual != "" && qual == s.rejectQualifier {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Invalid Qualifier: "+qual)
		return
	}
	after, before, statuses, ok := s.listFilters(w, q)
	if !ok {
		return
	}
	fl := s.functionListing(name, qual)
	if !s.knownIn(name, region) || !s.knownQualifier(fl, name, qual) {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+label)
		return
	}
	var listed []types.Execution
	for i, e := range fl.execs {
		in := fl.infos[i]
		if region != "" && arnRegion(e.ARN) != region {
			continue
		}
		if (after != nil && (in.Start == nil || !in.Start.After(*after))) || (before != nil && (in.Start == nil || !in.Start.Before(*before))) {
			continue
		}
		if len(statuses) > 0 && !statuses[string(in.Status)] {
			continue
		}
		listed = append(listed, types.Execution{DurableExecutionArn: &e.ARN, DurableExecutionName: &in.Name, FunctionArn: &in.FunctionArn,
			Status: in.Status, StartTimestamp: in.Start, EndTimestamp: in.End})
	}
	if boolParam(q, "ReverseOrder", false) {
		for i, j := 0, len(listed)-1; i < j; i, j = i+1, j-1 {
			listed[i], listed[j] = listed[j], listed[i]
		}
	}
	resource := "list\x00" + label + "\x00" + q.Get("Qualifier") + "\x00" + region
	offset, ok := s.pageStart(w, resource, q, fault)
	if !ok {
		return
	}
	offset = min(offset, len(listed))
	end := min(offset+limit, len(listed))
	next := s.nextMarker(resource, end, len(listed), q, fault)
	s.writePage(w, n, struct {
		DurableExecutions []types.Execution
		NextMarker        string
	}{listed[offset:end], next}, fault, "")
}

// listFilters reads a listing's StartedAfter, StartedBefore and Statuses
// (400 on a bad one; all nil when the server ignores them).
func (s *Server) listFilters(w http.ResponseWriter, q url.Values) (after, before *time.Time, statuses map[string]bool, ok bool) {
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"StartedAfter", &after}, {"StartedBefore", &before}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("Invalid %s: %s", p.name, v))
				return nil, nil, nil, false
			}
			*p.dst = &t
		}
	}
	statuses = map[string]bool{}
	for _, st := range q["Statuses"] {
		if !slices.Contains(types.ExecutionStatus("").Values(), types.ExecutionStatus(st)) {
			writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Invalid status: "+st)
			return nil, nil, nil, false
		}
		statuses[st] = true
	}
	if s.ignoreListFilters {
		return nil, nil, nil, true
	}
	return after, before, statuses, true
}

// knownIn reports a function that region's endpoint knows (region "":
// any): one with executions there, or one of the emulator's own functions
// (WithFunctions, WithAliases, WithFunctionList), which are
// functionsRegion's.
func (s *Server) knownIn(name, region string) bool {
	if region == "" {
		return s.knownFunction(name)
	}
	if s.functionListing(name, "").regions[region] {
		return true
	}
	s.mu.RLock()
	own := s.functions[name]
	s.mu.RUnlock()
	_, aliased := s.aliases[name]
	return region == functionsRegion && (own || aliased)
}

// regionalFunction is the unqualified ARN of the function name as
// region's endpoint knows it (region "": any), and whether it knows it.
func (s *Server) regionalFunction(name, region string) (string, bool) {
	if !s.knownIn(name, region) {
		return "", false
	}
	fnArn, _, found := s.functionExecutions(name, "\x00every") // no qualifier matches: only the ARN
	if !found {
		fnArn = functionARN(name)
	}
	if parts := strings.SplitN(fnArn, ":", 5); region != "" && len(parts) == 5 {
		parts[3] = region // the executions' ARN may be another region's
		fnArn = strings.Join(parts, ":")
	}
	return fnArn, true
}

// knownQualifier reports whether name has the qualifier q ("" for none):
// $LATEST and $LATEST.PUBLISHED, an alias, or a version some execution ran
// on or the function list names; the service answers 404 to a listing of
// any other, as to an unknown function.
func (s *Server) knownQualifier(fl *functionListing, name, q string) bool {
	if q == "" || q == "$LATEST" || q == "$LATEST.PUBLISHED" || fl.qualifiers[q] {
		return true
	}
	if _, ok := s.aliases[name][q]; ok {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.fnList {
		if f.Name == name && f.Version == q {
			return true
		}
	}
	return false
}

// knownFunction reports a function with executions or aliases.
func (s *Server) knownFunction(name string) bool {
	s.mu.RLock()
	known := s.functions[name]
	s.mu.RUnlock()
	if _, ok := s.aliases[name]; ok || known {
		return true
	}
	_, _, found := s.functionExecutions(name, "")
	return found
}

// serveVersions answers ListVersionsByFunction: $LATEST and every numbered
// version some execution ran on, each with its DurableConfig when the
// function list (WithFunctionList) gives one.
func (s *Server) serveVersions(w http.ResponseWriter, n int64, label, region string, q url.Values, fault Fault) {
	name, _ := resolveFunction(label)
	fnArn, ok := s.regionalFunction(name, region)
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+label)
		return
	}
	seen := map[string]bool{"$LATEST": true}
	versions := []string{"$LATEST"}
	s.mu.RLock()
	for arn := range s.executions {
		if _, fn, v, ok := functionOf(arn); ok && fn == name && !seen[v] && v != "$LATEST.PUBLISHED" {
			if _, err := strconv.Atoi(v); err == nil {
				seen[v] = true
				versions = append(versions, v)
			}
		}
	}
	s.mu.RUnlock()
	sort.Slice(versions[1:], func(i, j int) bool {
		a, _ := strconv.Atoi(versions[1+i])
		b, _ := strconv.Atoi(versions[1+j])
		return a < b
	})
	type fnConfig struct {
		FunctionName  string
		FunctionArn   string
		Version       string
		DurableConfig *types.DurableConfig `json:",omitempty"`
	}
	durable := map[string]*types.DurableConfig{} // by version, as the function list says
	s.mu.RLock()
	for _, f := range s.fnList {
		if f.Name == name {
			durable[f.Version] = f.Durable
		}
	}
	s.mu.RUnlock()
	var out []fnConfig
	for _, v := range versions {
		out = append(out, fnConfig{name, fnArn + ":" + v, v, durable[v]})
	}
	s.writePaged(w, n, "versions\x00"+label, q, fault, len(out), func(a, b int, next string) any {
		return struct {
			Versions   []fnConfig
			NextMarker string
		}{out[a:b], next}
	})
}

// serveAliases answers ListAliases.
func (s *Server) serveAliases(w http.ResponseWriter, n int64, label, region string, q url.Values, fault Fault) {
	name, _ := resolveFunction(label)
	fnArn, ok := s.regionalFunction(name, region)
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+label)
		return
	}
	type alias struct {
		AliasArn        string
		Name            string
		FunctionVersion string
	}
	var out []alias
	for a, v := range s.aliases[name] {
		out = append(out, alias{fnArn + ":" + a, a, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	s.writePaged(w, n, "aliases\x00"+label, q, fault, len(out), func(a, b int, next string) any {
		return struct {
			Aliases    []alias
			NextMarker string
		}{out[a:b], next}
	})
}

// writePaged pages a list of total items by MaxItems (default 50, at most
// 10000, as the Lambda control plane's list operations do) and Marker.
func (s *Server) writePaged(w http.ResponseWriter, n int64, resource string, q url.Values, fault Fault, total int, page func(a, b int, next string) any) {
	limit, ok := s.maxItems(w, q, 50, 10000)
	if !ok {
		return
	}
	offset, ok := s.pageStart(w, resource, q, fault)
	if !ok {
		return
	}
	offset = min(offset, total)
	end := min(offset+limit, total)
	s.writePage(w, n, page(offset, end, s.nextMarker(resource, end, total, q, fault)), fault, "")
}

// FunctionVersion is one version of a function as ListFunctions reports it;
// Durable is its DurableConfig (nil for a function that is not durable).
type FunctionVersion struct {
	Name, Version string
	Durable       *types.DurableConfig
}

// WithFunctionList sets what ListFunctions lists (each name is also known
// to the other operations).
func WithFunctionList(fns []FunctionVersion) Option {
	return func(s *Server) { s.AddFunctions(fns...) }
}

// AddFunctions adds functions (versions) to what ListFunctions lists.
func (s *Server) AddFunctions(fns ...FunctionVersion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.functions == nil {
		s.functions = map[string]bool{}
	}
	for _, f := range fns {
		s.functions[f.Name] = true
		s.fnList = append(s.fnList, f)
	}
}

// DemoFunctions are the generated executions' functions as ListFunctions
// reports them, with two functions that are not durable, and one
// (inventory) whose $LATEST is not durable while its published versions are.
func DemoFunctions() []FunctionVersion {
	retention := map[string]int32{"orders": 90, "payments": 30, "shipping": 7, "notifications-ñ": 14, "inventory": 30}
	var out []FunctionVersion
	for _, fn := range FunctionNames {
		for _, v := range []string{"$LATEST", "7", "12"} {
			cfg := &types.DurableConfig{ExecutionTimeout: aws.Int32(86400), RetentionPeriodInDays: aws.Int32(retention[fn])}
			if fn == "inventory" && v == "$LATEST" {
				cfg = nil
			}
			out = append(out, FunctionVersion{Name: fn, Version: v, Durable: cfg})
		}
	}
	out = append(out, FunctionVersion{Name: "thumbnailer", Version: "$LATEST"}, FunctionVersion{Name: "legacy-cron", Version: "$LATEST"},
		FunctionVersion{Name: "legacy-cron", Version: "3"})
	return out
}

// functionsRegion is where the emulator's functions (WithFunctions) are.
const functionsRegion = "us-east-1"

// functionARN is the unqualified ARN of the emulator's function name.
func functionARN(name string) string {
	return "arn:aws:lambda:" + functionsRegion + ":123456789012:function:" + name
}

// serveFunctions answers ListFunctions: $LATEST of each function, or every
// version with FunctionVersion=ALL; MaxItems default 50, at most 10000.
// Only those of region (the one the call was signed for; "": any), as a
// regional endpoint lists its own.
func (s *Server) serveFunctions(w http.ResponseWriter, n int64, region string, q url.Values, fault Fault) {
	all := q.Get("FunctionVersion") == "ALL"
	if v := q.Get("FunctionVersion"); v != "" && v != "ALL" {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Invalid FunctionVersion: "+v)
		return
	}
	type fnConfig struct {
		FunctionName  string
		FunctionArn   string
		Version       string
		DurableConfig *types.DurableConfig
	}
	s.mu.RLock()
	var out []fnConfig
	for _, f := range s.fnList {
		if !all && f.Version != "$LATEST" || region != "" && region != functionsRegion {
			continue
		}
		arn := functionARN(f.Name)
		if f.Version != "$LATEST" {
			arn += ":" + f.Version
		}
		out = append(out, fnConfig{f.Name, arn, f.Version, f.Durable})
	}
	s.mu.RUnlock()
	s.writePaged(w, n, "functions\x00"+q.Get("FunctionVersion"), q, fault, len(out), func(a, b int, next string) any {
		return struct {
			Functions  []fnConfig
			NextMarker string
		}{out[a:b], next}
	})
}

// Requests is how many requests of an operation (state, history, get,
// list, versions, aliases, functions) named label (an ARN or function
// name; "" for ListFunctions).
func (s *Server) Requests(op, label string) int64 {
	v, ok := s.perRoute.Load(op + "\x00" + label)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}
