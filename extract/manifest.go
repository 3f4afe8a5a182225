package extract

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/durable-etl/durable-etl/internal/scratch"
	"github.com/durable-etl/durable-etl/internal/spool"
)

// Entry is one execution to archive. Token is a credential: never log it.
// An entry without a Token is archived from GetDurableExecution and its
// history, which need none.
type Entry struct {
	ARN   string
	Token string
	// Started is the execution's start time as the manifest gives it
	// (JSON Lines' optional StartTimestamp; zero: not given). Its UTC date
	// is the partition the execution is expected in.
	Started time.Time
	// Line is the entry's line number in the manifest (0 for an entry given
	// on the command line).
	Line int
}

// String names the entry without its token.
func (e Entry) String() string { return e.ARN }

// ManifestError reports a malformed manifest line. It never quotes the line,
// which holds a checkpoint token.
type ManifestError struct {
	Source string
	Line   int
	Reason string
}

func (e *ManifestError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("manifest %s: %s", e.Source, e.Reason)
	}
	return fmt.Sprintf("manifest %s line %d: %s", e.Source, e.Line, e.Reason)
}

// CSVHeader is the header a CSV manifest starts with.
const CSVHeader = "durable_execution_arn,checkpoint_token"

// Manifest iterates over a manifest's entries, each ARN once (the first
// entry for an ARN wins; later ones are counted in Duplicates). Use it as
//
//	for m.Next() { e := m.Entry() ... }
//	if err := m.Err(); err != nil { ... }
type Manifest struct {
	source     string
	open       func() (io.ReadCloser, error)
	count      int
	duplicates int
	opts       manifestOptions
	skipped    []*ManifestError
	others     int // entries of other shards
	startDates map[string]int
	functions  map[string]bool // by ARN.Function; nil: an ARN did not parse
	// spans: by function, the earliest and latest start its entries give
	// (absent: one of them gives none).
	spans map[string][2]time.Time

	rc    io.ReadCloser
	p     *parser
	entry Entry
	err   error
	// spooled is SpooledManifest's file, released by Close.
	spooled *scratch.File

	// The duplicate check: check's pass keeps every ARN's key in seen and
	// notes in repeats the ordinal (among the entries that parse) and key
	// of each entry whose ARN came earlier; the passes after it skip those
	// ordinals and hold no set (at a million executions the set would be
	// tens of MB for the whole run). ord counts this pass's entries; next
	// is the first of repeats not yet passed.
	checked bool
	seen    map[arnkey.Key]struct{}
	repeats []repeat
	ord     int
	next    int
}

// repeat is an entry the check found to repeat an earlier entry's ARN.
type repeat struct {
	ord int
	key arnkey.Key
}

// ManifestOption configures how a manifest is read.
type ManifestOption func(*manifestOptions)

type manifestOptions struct {
	skipBad       bool
	shard, shards int
}

// TolerateBadLines skips malformed lines (each is listed by Skipped) instead of
// refusing the manifest (the default).
func TolerateBadLines() ManifestOption { return func(o *manifestOptions) { o.skipBad = true } }

// Shard keeps the entries of shard i of n (0 <= i < n): those whose ARN's
// FNV-1a hash is i modulo n. Every ARN belongs to exactly one shard, and the
// split depends on nothing but the ARN and n.
func Shard(i, n int) ManifestOption { return func(o *manifestOptions) { o.shard, o.shards = i, n } }

// InShard says whether arn belongs to shard i of n.
func InShard(arn string, i, n int) bool {
	h := fnv.New64a()
	h.Write([]byte(arn))
	return h.Sum64()%uint64(n) == uint64(i)
}

// OpenManifest opens the manifest at path ("-" is standard input, which is
// first copied to a temporary file) and checks every line. It returns a
// *ManifestError for the first bad line and an error naming path when the
// file cannot be read; nothing is fetched before it returns. Call Close when
// done.
func OpenManifest(path string, opts ...ManifestOption) (*Manifest, error) {
	if path == "-" {
		return SpooledManifest("(standard input)", func(w io.Writer) error {
			_, err := io.Copy(w, os.Stdin)
			return err
		}, opts...)
	}
	return openManifestFile(path, path, opts)
}

// SpooledManifest is a manifest whose content write produces: it is
// written to a scratch file in the system's temporary folder (never held
// in memory: a manifest can list millions of executions) and read from
// there like a file. The file has no name from the start where the system
// allows (a run killed with SIGKILL leaves nothing behind); Close releases
// it. A failure of write or of the file is an error naming source, and
// leaves no file behind.
func SpooledManifest(source string, write func(io.Writer) error, opts ...ManifestOption) (*Manifest, error) {
	f, err := scratch.Create("", "etl-manifest-*")
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", source, err)
	}
	if err := spool.Fill(f, write); err != nil {
		f.Close()
		return nil, fmt.Errorf("manifest %s: %w", source, err)
	}
	m, err := newManifest(source, func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, 0, math.MaxInt64)), nil
	}, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.spooled = f
	return m, nil
}

// openManifestFile opens and checks the manifest in file, naming it source.
func openManifestFile(source, file string, opts []ManifestOption) (*Manifest, error) {
	return newManifest(source, func() (io.ReadCloser, error) { return os.Open(file) }, opts)
}

// NewManifest is a manifest over in-memory content, checked like a file.
func NewManifest(source string, content []byte, opts ...ManifestOption) (*Manifest, error) {
	return newManifest(source, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, opts)
}

// newManifest checks the manifest that open reads (each pass opens it
// again), naming it source.
func newManifest(source string, open func() (io.ReadCloser, error), opts []ManifestOption) (*Manifest, error) {
	m := &Manifest{source: source, open: open}
	for _, o := range opts {
		o(&m.opts)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// SingleEntry is a manifest of one execution, from the command line.
func SingleEntry(arn, token string, opts ...ManifestOption) (*Manifest, error) {
	b, err := json.Marshal(map[string]string{"DurableExecutionArn": arn, "CheckpointToken": token})
	if err != nil {
		return nil, err
	}
	return NewManifest("(command line)", b, opts...)
}

// check reads the whole manifest once, validating every line and counting
// entries and duplicates.
func (m *Manifest) check() error {
	m.startDates, m.functions, m.spans = map[string]int{}, map[string]bool{}, map[string][2]time.Time{}
	unknown := map[string]bool{} // functions an entry of which gives no start
	for m.Next() {
		m.count++
		if dt, ok := m.entry.StartDate(); ok {
			m.startDates[dt]++
		}
		a, ok := ParseARN(m.entry.ARN)
		if !ok || m.functions == nil {
			m.functions = nil
			continue
		}
		fn, at := a.Function(), m.entry.Started
		m.functions[fn] = true
		switch sp, seen := m.spans[fn]; {
		case unknown[fn]:
		case at.IsZero():
			unknown[fn] = true
			delete(m.spans, fn)
		case !seen:
			m.spans[fn] = [2]time.Time{at, at}
		default:
			m.spans[fn] = [2]time.Time{minTime(sp[0], at), maxTime(sp[1], at)}
		}
	}
	if m.p != nil {
		m.duplicates, m.skipped, m.others = m.p.dups, m.p.skipped, m.p.others
	}
	err := m.Err()
	m.resetIter()
	m.checked = true
	return err
}

// Skipped lists the malformed lines skipped (with TolerateBadLines).
func (m *Manifest) Skipped() []*ManifestError { return m.skipped }

// StartDates counts the distinct entries (of this shard) that give a start
// time, by the UTC date of that time.
func (m *Manifest) StartDates() map[string]int { return m.startDates }

// StartDate is the UTC date of the entry's start time (the partition it is
// expected in), ok false when the manifest gives none.
func (e Entry) StartDate() (dt string, ok bool) {
	if e.Started.IsZero() {
		return "", false
	}
	return e.Started.UTC().Format(time.DateOnly), true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// StartSpans are, for each function of Functions whose every entry gives
// its execution's start (discovery's do), the earliest and latest of
// those starts: no execution of the function outside that span is in the
// manifest. Nil when Functions is.
func (m *Manifest) StartSpans() map[string][2]time.Time {
	if m.functions == nil {
		return nil
	}
	return m.spans
}

// Functions are the functions whose executions the manifest lists (of
// this shard), as unqualified function ARNs ([ARN.Function]), sorted; nil
// when an execution ARN is not of the documented form.
func (m *Manifest) Functions() []string {
	if m.functions == nil {
		return nil
	}
	out := make([]string, 0, len(m.functions))
	for fn := range m.functions {
		out = append(out, fn)
	}
	slices.Sort(out)
	return out
}

// OtherShards is the number of distinct entries left to other shards.
func (m *Manifest) OtherShards() int { return m.others }

func (m *Manifest) resetIter() {
	if m.rc != nil {
		m.rc.Close()
	}
	m.rc, m.p, m.seen, m.err, m.ord, m.next = nil, nil, nil, nil, 0, 0
}

// Count is the number of distinct executions in the manifest.
func (m *Manifest) Count() int { return m.count }

// Duplicates is the number of entries skipped because their ARN came earlier.
func (m *Manifest) Duplicates() int { return m.duplicates }

// Source names the manifest for messages.
func (m *Manifest) Source() string { return m.source }

// Next advances to the next distinct entry; false at the end or on error.
func (m *Manifest) Next() bool {
	if m.err != nil {
		return false
	}
	if m.p == nil {
		rc, err := m.open()
		if err != nil {
			m.err = fmt.Errorf("manifest %s: %w", m.source, err)
			return false
		}
		m.rc, m.p = rc, newParser(m.source, rc)
		if !m.checked {
			m.seen = map[arnkey.Key]struct{}{}
		}
	}
	for {
		e, err := m.p.next()
		if err == io.EOF {
			return false
		}
		var bad *ManifestError
		if err != nil && m.opts.skipBad && errors.As(err, &bad) && bad.Line > 0 && m.p.resumable() {
			m.p.skipped = append(m.p.skipped, bad)
			continue
		}
		if err != nil {
			m.err = err
			return false
		}
		dup, err := m.repeated(e.ARN)
		if err != nil {
			m.err = err
			return false
		}
		if dup {
			m.p.dups++
			continue
		}
		if m.opts.shards > 0 && !InShard(e.ARN, m.opts.shard, m.opts.shards) {
			m.p.others++
			continue
		}
		m.entry = e
		return true
	}
}

// repeated says whether the entry just parsed repeats an earlier entry's
// ARN: in check's pass by the set of keys, after it by the ordinals the
// check noted. A noted entry whose ARN is not the one noted means the
// file changed since the check: an error, rather than skip an execution
// or archive one twice at once.
func (m *Manifest) repeated(arn string) (bool, error) {
	ord := m.ord
	m.ord++
	if !m.checked {
		key := arnkey.Of(arn)
		if _, dup := m.seen[key]; dup {
			m.repeats = append(m.repeats, repeat{ord, key})
			return true, nil
		}
		m.seen[key] = struct{}{}
		return false, nil
	}
	if m.next == len(m.repeats) || m.repeats[m.next].ord != ord {
		return false, nil
	}
	r := m.repeats[m.next]
	m.next++
	if arnkey.Of(arn) != r.key {
		return false, fmt.Errorf("manifest %s: changed since it was checked; do not write to a manifest a run reads", m.source)
	}
	return true, nil
}

// Entry is the current entry.
func (m *Manifest) Entry() Entry { return m.entry }

// Err is the error that stopped Next, if any.
func (m *Manifest) Err() error { return m.err }

// Close releases the manifest (and a spooled manifest's file).
func (m *Manifest) Close() error {
	m.resetIter()
	if m.spooled != nil {
		return m.spooled.Close()
	}
	return nil
}

// parser reads entries from JSON Lines or CSV, told apart by the first
// non-blank character ('{' is JSON Lines).
type parser struct {
	source string
	br     *bufio.Reader
	csv    *csv.Reader
	isJSON *bool
	line   int
	dups   int

	skipped []*ManifestError
	others  int
	fatal   bool // the last error leaves the reader unusable
}

// resumable says whether reading can go on after the last error: a bad JSON
// line or CSV record can be skipped; a broken header or I/O error cannot.
func (p *parser) resumable() bool { return !p.fatal && p.isJSON != nil }

func newParser(source string, r io.Reader) *parser {
	return &parser{source: source, br: bufio.NewReaderSize(r, 64<<10)}
}

func (p *parser) bad(line int, format string, args ...any) error {
	return &ManifestError{Source: p.source, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// detect skips a byte order mark and leading blank space, counting lines,
// and tells the format by the first character left.
func (p *parser) detect() error {
	if b, _ := p.br.Peek(3); bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		p.br.Discard(3)
	}
	for {
		b, err := p.br.Peek(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case '\n':
			p.line++
			fallthrough
		case ' ', '\t', '\r':
			p.br.Discard(1)
			continue
		}
		isJSON := b[0] == '{'
		p.isJSON = &isJSON
		if isJSON {
			return nil
		}
		p.csv = csv.NewReader(p.br)
		p.csv.FieldsPerRecord = -1
		p.csv.ReuseRecord = true
		header, err := p.csv.Read()
		if err != nil || len(header) != 2 ||
			!strings.EqualFold(strings.TrimSpace(header[0]), "durable_execution_arn") ||
			!strings.EqualFold(strings.TrimSpace(header[1]), "checkpoint_token") {
			return p.bad(p.line+1, "neither JSON Lines nor CSV with the header %q", CSVHeader)
		}
		return nil
	}
}

func (p *parser) next() (Entry, error) {
	if p.isJSON == nil {
		if err := p.detect(); err == io.EOF {
			return Entry{}, io.EOF
		} else if err != nil {
			p.fatal = true
			var merr *ManifestError
			if errors.As(err, &merr) {
				return Entry{}, err
			}
			return Entry{}, fmt.Errorf("manifest %s: %w", p.source, err)
		}
	}
	if *p.isJSON {
		return p.nextJSON()
	}
	return p.nextCSV()
}

func (p *parser) nextJSON() (Entry, error) {
	for {
		line, err := p.br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return Entry{}, io.EOF
		}
		if err != nil && err != io.EOF {
			p.fatal = true
			return Entry{}, fmt.Errorf("manifest %s: %w", p.source, err)
		}
		p.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var v struct {
			DurableExecutionArn *string
			CheckpointToken     *string
			StartTimestamp      json.RawMessage
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&v); err != nil {
			var syn *json.SyntaxError
			var typ *json.UnmarshalTypeError
			switch {
			case errors.As(err, &syn):
				return Entry{}, p.bad(p.line, "not a JSON object (syntax error at byte %d)", syn.Offset)
			case errors.As(err, &typ):
				return Entry{}, p.bad(p.line, "%s must be a string", typ.Field)
			default:
				return Entry{}, p.bad(p.line, "not a JSON object")
			}
		}
		if dec.More() {
			return Entry{}, p.bad(p.line, "more than one JSON value on the line")
		}
		e, err := p.entry(p.line, v.DurableExecutionArn, v.CheckpointToken, "DurableExecutionArn")
		if err == nil {
			var ok bool
			if e.Started, ok = startTimestamp(v.StartTimestamp); !ok {
				return Entry{}, p.bad(p.line, "StartTimestamp must be an RFC 3339 time or epoch seconds")
			}
		}
		return e, err
	}
}

// startTimestamp reads a manifest line's StartTimestamp: absent or null
// (the zero time), an RFC 3339 string (as etl discover and the AWS CLI
// print it), or a number of seconds since the epoch (the API's wire form).
func startTimestamp(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var secs float64
	if json.Unmarshal(raw, &secs) == nil && secs > 0 && secs < 1e11 {
		return time.UnixMilli(int64(math.Round(secs * 1000))).UTC(), true
	}
	return time.Time{}, false
}

func (p *parser) nextCSV() (Entry, error) {
	for {
		rec, err := p.csv.Read()
		if err == io.EOF {
			return Entry{}, io.EOF
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				return Entry{}, p.bad(p.line+perr.Line, "bad CSV: %v", perr.Err)
			}
			p.fatal = true
			return Entry{}, fmt.Errorf("manifest %s: %w", p.source, err)
		}
		line, _ := p.csv.FieldPos(0)
		line += p.line
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 2 {
			return Entry{}, p.bad(line, "expected 2 fields (%s), found %d", CSVHeader, len(rec))
		}
		arn, token := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		return p.entry(line, &arn, &token, "durable_execution_arn")
	}
}

func (p *parser) entry(line int, arn, token *string, arnName string) (Entry, error) {
	switch {
	case arn == nil || *arn == "":
		return Entry{}, p.bad(line, "%s is missing or empty", arnName)
	case strings.ContainsAny(*arn, "\x00\r\n"):
		return Entry{}, p.bad(line, "%s holds a control character", arnName)
	}
	// The token is optional: an entry without one is archived from history.
	var tok string
	if token != nil {
		tok = *token
	}
	return Entry{ARN: *arn, Token: tok, Line: line}, nil
}

// ManifestWriter writes manifest lines without a token, which a run reads
// through history: an execution's DurableExecutionArn, and its
// StartTimestamp (RFC 3339) when known. etl discover and etl verify
// --mend-manifest write their manifests with it.
type ManifestWriter struct{ enc *json.Encoder }

// NewManifestWriter writes lines to w.
func NewManifestWriter(w io.Writer) *ManifestWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &ManifestWriter{enc: enc}
}

// Write writes arn's line; a nil start leaves StartTimestamp out.
func (m *ManifestWriter) Write(arn string, start *time.Time) error {
	line := struct {
		DurableExecutionArn string
		StartTimestamp      string `json:",omitempty"`
	}{DurableExecutionArn: arn}
	if start != nil {
		line.StartTimestamp = start.Format(time.RFC3339Nano)
	}
	return m.enc.Encode(line)
}
