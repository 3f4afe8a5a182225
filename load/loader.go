package load

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/durable-etl/durable-etl/schema"
)

// Loader is a destination for archived executions. Its methods may be called
// from several goroutines.
type Loader interface {
	// Begin starts one execution's rows.
	Begin(ctx context.Context, arn string) (Execution, error)
	// Close publishes everything committed and releases the destination. It
	// must be called even after a failure; what was committed before it is
	// kept, what was not is dropped.
	Close(ctx context.Context) error
}

// Execution receives one execution's rows. It is used by one goroutine.
type Execution interface {
	// Write adds rows of one of the child tables (schema.ChildTables:
	// operations, events), in order; a destination writes any table from
	// its declaration. The loader may keep rows, so the caller must not
	// modify them after the call. A row whose key the destination holds
	// is a newer snapshot of it: a table destination updates the row
	// (when its content differs), a file destination adds it and readers
	// take the newest (the _latest views); the caller writes the events
	// it lacks, and an event again only to give it the payloads it was
	// first archived without.
	Write(ctx context.Context, rows schema.Rows) error
	// Commit ends the execution with its executions row, partitioned by dt.
	// On error nothing of the execution is kept.
	Commit(ctx context.Context, dt string, row schema.Execution) error
	// Abort drops everything written.
	Abort(ctx context.Context) error
}

// TableEnder is an Execution that can be told that a child table's rows
// are all written, before Commit: a Parquet destination then ends that
// table's spill file, if it has one, so that what it holds for it (a
// helper's encoder, a writer's buffers) is free for the rest of the
// execution. It returns once that is done; the error is the spill file's,
// and the execution must then be aborted. Writing rows of the table after
// it is an error. Optional: a caller asks for it and does without.
type TableEnder interface {
	EndTable(ctx context.Context, t *schema.Table) error
}

// Stats counts what a loader wrote.
type Stats struct {
	Files int   // files (or objects) published
	Bytes int64 // their size
	Rows  int64 // rows in them, every table
	// SpillRuns is how many times rows waiting for their files went to
	// local disk to keep memory within the buffer budget (Parquet).
	SpillRuns int
}

// StatsReporter is a loader that counts what it wrote.
type StatsReporter interface{ Stats() Stats }

// FileLedger is a destination whose published files are its own ledger of
// what it holds (Parquet): Fanout commits to it after the transactional
// destinations, and, with two or more, gives them every call in one order
// (twins).
type FileLedger interface {
	ArchivedReader
	// FilesAreLedger reports that what is published is what is archived.
	FilesAreLedger() bool
}

func isFileLedger(l Loader) bool {
	fl, ok := l.(FileLedger)
	return ok && fl.FilesAreLedger()
}

// FilesAreLedger: a Parquet destination's published executions files are
// its ledger.
func (d *Parquet) FilesAreLedger() bool { return true }

// Fanout is a loader that writes every execution to all of ls. Executions
// commit in the same order in every destination, so that two Parquet
// destinations get byte-identical files. With two file ledgers or more,
// their writes, commits and aborts all go through one lock, so that each
// sees every execution's calls in one order: a Parquet destination decides
// from the executions in flight whether a stage spills (the shared stage
// budget), and twins must decide alike. Transactional destinations are
// written outside it, so their writes (a COPY a page) still overlap.
//
// Transactional destinations (Postgres) commit before file ledgers
// (Parquet), so that an execution visible in a Parquet file is always
// committed in the others: what the Parquet files hold can then tell a
// resumed run what is done. A destination says which it is through
// [FileLedger].
func Fanout(ls ...Loader) Loader {
	if len(ls) == 1 {
		return ls[0]
	}
	ordered := make([]Loader, 0, len(ls))
	for _, l := range ls {
		if !isFileLedger(l) {
			ordered = append(ordered, l)
		}
	}
	for _, l := range ls {
		if isFileLedger(l) {
			ordered = append(ordered, l)
		}
	}
	f := &fanout{loaders: ordered}
	for _, l := range ordered {
		if isFileLedger(l) {
			f.ledgers++
		}
	}
	return f
}

// Archived asks every destination that can tell what it holds; an
// execution is skipped only if none of them needs it. So a destination
// added beside an archive (or restored from an older backup) gets what it
// lacks: those executions are read again. A kill leaves the destinations
// apart too: Postgres commits before Parquet publishes, and each Parquet
// destination publishes on its own. Once [AloneFiller.FillAlone] is
// called, no destination is given what it holds: the executions one holds
// done for good, or archived by the run being resumed, go to the
// destinations that need them alone (Alone counts them), and those it
// holds still running (Ahead) to every destination, each given only the
// events past those it holds. A destination is not committed a snapshot
// it holds as its newest and was given no event of (see Commit and
// ahead.state: those ended through state alone, still running, or ended
// without the payloads the service still cannot give), so that it is not
// given a second, identical one; but for
// the executions a destination holds without their payloads (Twice),
// which a run that reads them with their payloads rewrites (it then does
// not call [LackingEventsWriter.WritesLackingEvents]): each destination
// gets every event written (in Parquet the _latest views and compaction
// keep one of each; Postgres keeps one by its key).
func (f *fanout) Archived(ctx context.Context, runID string) (*Archived, error) {
	var lists []*Archived
	var of []int // the loader of each list
	for i, l := range f.loaders {
		r, ok := l.(ArchivedReader)
		if !ok {
			continue
		}
		a, err := r.Archived(ctx, runID)
		if err != nil {
			return nil, err
		}
		lists, of = append(lists, a), append(of, i)
	}
	switch len(lists) {
	case 0:
		return newArchived(), nil
	case 1:
		return lists[0], nil
	}
	f.ahead = make([]ahead, len(f.loaders)) // a loader that cannot tell holds nothing ahead
	var out *Archived
	if len(lists) == 2 {
		// What each holds ahead of the other is what it holds ahead of
		// both, and the intersection is made in the first's place: no
		// third list.
		f.ahead[of[0]], f.ahead[of[1]] = lists[0].aheadOf(lists[1]), lists[1].aheadOf(lists[0])
		out = lists[0].intersect(lists[1])
	} else {
		out = lists[0].clone()
		for _, a := range lists[1:] {
			out = out.intersect(a)
		}
		for k, a := range lists {
			f.ahead[of[k]] = a.aheadOf(out)
			lists[k] = nil
		}
	}
	out.Alone, out.Ahead, out.Twice = aheadCounts(f.ahead)
	if !slices.ContainsFunc(f.ahead, func(h ahead) bool { return !h.empty() }) {
		f.ahead = nil // Begin need not look
	}
	return out, nil
}

// AloneFiller is a loader that can archive the executions one of its
// destinations holds done for good, and others lack (Archived.Alone),
// into those others alone. A run calls FillAlone after Archived and
// before its first Begin, unless it archives everything again into every
// destination (etl run --force).
type AloneFiller interface {
	FillAlone()
}

// FillAlone makes Begin leave each destination out of the executions it
// holds done and another destination needs, and give it only the events
// it lacks of those it holds unfinished (see Archived).
func (f *fanout) FillAlone() { f.alone = true }

type fanout struct {
	loaders []Loader   // the others first, then the file ledgers
	ledgers int        // file ledgers among loaders (the last ones)
	commit  sync.Mutex // one execution's commits at a time, in one order; with twins, the file ledgers' writes and aborts too
	// ahead is what each destination holds that another lacks (by its
	// place in loaders; nil when none does); with alone, Begin uses it
	// (see Archived). Both are set before the first Begin and read-only
	// after.
	ahead []ahead
	alone bool
}

// twinLock takes the commit lock when two file ledgers or more must see
// every call in one order, and returns its release.
func (f *fanout) twinLock() func() {
	if f.ledgers < 2 {
		return func() {}
	}
	f.commit.Lock()
	return f.commit.Unlock
}

func (f *fanout) Begin(ctx context.Context, arn string) (Execution, error) {
	ex := &fanoutExec{f: f}
	ahead := f.alone && f.ahead != nil
	var k arnkey.Key
	if ahead {
		k = arnkey.Of(arn)
	}
	others := len(f.loaders) - f.ledgers
	for i, l := range f.loaders {
		var held heldEvents
		var unless heldContent
		if ahead {
			h := &f.ahead[i]
			if holds(h.done, k) {
				continue // it holds the execution: to the others alone
			}
			held, unless = h.eventsOf(k), h.contentOf(k)
		}
		e, err := l.Begin(ctx, arn)
		if err != nil {
			ex.Abort(ctx)
			return nil, err
		}
		ex.execs = append(ex.execs, spared{Execution: e, held: held, unless: unless})
		if i >= others {
			ex.ledgers++
		}
	}
	return ex, nil
}

func (f *fanout) Close(ctx context.Context) error {
	var errs []error
	for _, l := range f.loaders {
		errs = append(errs, l.Close(ctx))
	}
	return errors.Join(errs...)
}

// PartitionFinisher is a loader that can finish a partition before Close:
// no more executions of dt are coming (see [Parquet.FinishPartition]).
type PartitionFinisher interface {
	FinishPartition(ctx context.Context, dt string) error
}

// FinishPartition tells every destination that can take the hint, in the
// order commits reach them (so that twins write the same files).
func (f *fanout) FinishPartition(ctx context.Context, dt string) error {
	f.commit.Lock()
	defer f.commit.Unlock()
	var errs []error
	for _, l := range f.loaders {
		if p, ok := l.(PartitionFinisher); ok {
			errs = append(errs, p.FinishPartition(ctx, dt))
		}
	}
	return errors.Join(errs...)
}

func (f *fanout) Stats() Stats {
	var s Stats
	for _, l := range f.loaders {
		if r, ok := l.(StatsReporter); ok {
			t := r.Stats()
			s.Files, s.Bytes, s.Rows = s.Files+t.Files, s.Bytes+t.Bytes, s.Rows+t.Rows
		}
	}
	return s
}

type fanoutExec struct {
	f     *fanout
	execs []spared
	// ledgers counts the file ledgers among execs (the last ones): none
	// when the execution goes to the others alone.
	ledgers int
}

// spared is one destination's execution, and what it holds of it ahead of
// the others.
type spared struct {
	Execution
	held heldEvents // the events it holds and another destination lacks
	skip int64      // those of them not yet dropped from its writes (set by WritesLackingEvents)
	// unless is the content of the newest snapshot it holds that another
	// destination does not (ahead.state; the zero value: none): a commit
	// of that snapshot with no event is not made in it (see Commit).
	unless heldContent
	events bool // it was given events
}

// holds reports that the destination holds, as its newest, the snapshot
// whose executions row is row, and was given no event of it: it need not
// commit it again (a run of an execution another destination lacks or
// holds behind: see ahead.state).
func (s *spared) holds(row *schema.Execution) bool {
	// One held without its payloads is that snapshot only if the read
	// lacks them too: one that carries them now gives it the payloads.
	sameData := !s.unless.noData || row.ExecutionDataIncluded != nil && !*row.ExecutionDataIncluded
	return s.unless.content != 0 && !s.events && contentPrefix(row.ContentHash) == s.unless.content && sameData
}

// rows is what of rows goes to the destination: all of them, but for the
// first events it holds (see WritesLackingEvents).
func (s *spared) rows(rows schema.Rows) schema.Rows {
	if s.skip == 0 || rows.Table() != schema.Events {
		return rows
	}
	n := min(s.skip, int64(rows.Len()))
	s.skip -= n
	return schema.Tail(rows, int(n))
}

// LackingEventsWriter is an Execution told that the events its caller
// writes are exactly those past the ones the archive holds
// (EventsArchived.Count), oldest first: none written again (as it would
// to give events the payloads they were archived without, or under
// --force the values of columns added since), and whether they carry the
// execution's payloads. The caller says so before writing the
// execution's first event. A fanout then gives each destination only
// those past the ones it holds, unless it holds them without the payloads
// they now carry; without the call, every one.
type LackingEventsWriter interface {
	WritesLackingEvents(withPayloads bool)
}

// LostEventsWriter is an Execution that can write events only where its
// destination lacks them as they are: what etl run --force writes the
// events with members the SDK does not know or values in columns added
// since through (an older etl archived them without), and what etl run
// --force --rewrite-events writes every event it reads through, to mend
// those lost from the archive (a file deleted, an executions row lost
// with its events kept), altered in it, or archived without the
// payloads they have now, so that each still lands once and none held as
// it is gains a second row. Optional: without it the caller writes them
// with Write. A Parquet destination implements it; Postgres need not
// (its upsert leaves an unchanged row as it is).
type LostEventsWriter interface {
	// ReadHeldEvents learns which of the execution's events the
	// destination holds in partition dt, the execution's, and as what.
	// Called once, before the execution's first WriteLost (Writes may
	// come before it) and its commit. A failure is the caller's to
	// report; the execution is then not archived.
	ReadHeldEvents(ctx context.Context, dt string) error
	// WriteLost writes those of rows (events) the destination did not
	// hold as they are when ReadHeldEvents read: by key, and by the
	// content of the newest row held of that key (the one the _latest
	// views read), but for the columns that say how a row was read;
	// without that call, every one. It returns how many it wrote (of
	// several destinations, the most any was given); on an error, the
	// execution is not archived (the caller aborts it).
	WriteLost(ctx context.Context, rows schema.Rows) (int, error)
}

// ReadHeldEvents asks every destination that can tell (see
// [LostEventsWriter]).
func (f *fanoutExec) ReadHeldEvents(ctx context.Context, dt string) error {
	for _, e := range f.execs {
		if lw, ok := e.Execution.(LostEventsWriter); ok {
			if err := lw.ReadHeldEvents(ctx, dt); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteLost gives rows to each destination as [LostEventsWriter.WriteLost]
// where it can, else as Write: so two Parquet destinations that lost
// different files each get their own. It returns the most rows any was
// given.
func (f *fanoutExec) WriteLost(ctx context.Context, rows schema.Rows) (int, error) {
	return f.write(ctx, rows, true)
}

// WritesLackingEvents: the events written are a count from the first
// another destination lacks, so each destination can be spared those it
// holds (see Archived), if it holds them as the read gives them.
func (f *fanoutExec) WritesLackingEvents(withPayloads bool) {
	for i := range f.execs {
		if e := &f.execs[i]; !withPayloads || !e.held.noData {
			e.skip = e.held.skip
		}
	}
}

func (f *fanoutExec) Write(ctx context.Context, rows schema.Rows) error {
	_, err := f.write(ctx, rows, false)
	return err
}

// write gives rows to every destination: the transactional ones, then the
// file ledgers under the twin lock; lost: as WriteLost. It returns the
// most rows any destination was given.
func (f *fanoutExec) write(ctx context.Context, rows schema.Rows, lost bool) (int, error) {
	others := len(f.execs) - f.ledgers
	n, err := writeEach(ctx, f.execs[:others], rows, lost)
	if err != nil || f.ledgers == 0 {
		return n, err
	}
	defer f.f.twinLock()()
	m, err := writeEach(ctx, f.execs[others:], rows, lost)
	return max(n, m), err
}

// writeEach gives rows to each of execs, as much as it lacks; lost: to
// those that can tell through WriteLost (see [LostEventsWriter]). It
// returns the most rows any was given.
func writeEach(ctx context.Context, execs []spared, rows schema.Rows, lost bool) (most int, err error) {
	for i := range execs {
		e := &execs[i]
		given := e.rows(rows)
		n := given.Len()
		e.events = e.events || n > 0 && given.Table() == schema.Events
		if lw, ok := e.Execution.(LostEventsWriter); ok && lost {
			n, err = lw.WriteLost(ctx, given)
		} else {
			err = e.Write(ctx, given)
		}
		if err != nil {
			return most, err
		}
		most = max(most, n)
	}
	return most, nil
}

// EndTable tells every destination that can be told (see [TableEnder]).
func (f *fanoutExec) EndTable(ctx context.Context, t *schema.Table) error {
	for _, e := range f.execs {
		if te, ok := e.Execution.(TableEnder); ok {
			if err := te.EndTable(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// Commit commits in every destination in turn, but for one that holds the
// snapshot as its newest already and was given no event of it
// (spared.holds): the execution is aborted there. Should a later one
// fail, the earlier ones keep the execution: each destination is whole
// on its own, and a rerun completes the others.
func (f *fanoutExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	f.f.commit.Lock()
	defer f.f.commit.Unlock()
	for i := range f.execs {
		e := &f.execs[i]
		var err error
		if e.holds(&row) {
			err = e.Abort(ctx)
		} else {
			err = e.Commit(ctx, dt, row)
		}
		if err != nil {
			for _, rest := range f.execs[i+1:] {
				rest.Abort(ctx)
			}
			return err
		}
	}
	return nil
}

func (f *fanoutExec) Abort(ctx context.Context) error {
	defer f.f.twinLock()()
	var errs []error
	for _, e := range f.execs {
		errs = append(errs, e.Abort(ctx))
	}
	return errors.Join(errs...)
}

// DestKind is the kind of a --dest.
type DestKind int

// The destination kinds.
const (
	DestLocal DestKind = iota
	DestS3
	DestPostgres
)

// Dest is a parsed --dest.
type Dest struct {
	Kind DestKind
	// Path is the local directory (DestLocal).
	Path string
	// Bucket and Prefix locate an S3 destination.
	Bucket, Prefix string
	// URL is the connection URL (Postgres).
	URL string
}

// String names the destination without secrets (a Postgres password is
// masked).
func (d Dest) String() string {
	switch d.Kind {
	case DestS3:
		return "s3://" + d.Bucket + "/" + d.Prefix
	case DestPostgres:
		return Redact(d.URL)
	}
	return d.Path
}

// ParseDest reads a --dest value: a directory path or file:///abs/path,
// s3://bucket/prefix, or postgres:// (postgresql://) URL.
func ParseDest(s string) (Dest, error) {
	if s == "" {
		return Dest{}, errors.New("empty --dest")
	}
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		if keywordConnString(s) {
			return Dest{}, fmt.Errorf("destination %q is a PostgreSQL key=value connection string: give it as a URL, postgres://USER@HOST:PORT/DBNAME?sslmode=... (the password in PGPASSWORD or ~/.pgpass)", redactConnString(s))
		}
		return Dest{Kind: DestLocal, Path: filepath.Clean(s)}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(s)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return Dest{}, fmt.Errorf("destination %q: want file:///absolute/path", s)
		}
		return Dest{Kind: DestLocal, Path: filepath.Clean(u.Path)}, nil
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Dest{}, fmt.Errorf("destination %q: no bucket", s)
		}
		if !bucketNameAllowed(bucket) {
			// Told here: S3 answers a HEAD of such a bucket 400 with no
			// body, which says nothing of why.
			return Dest{}, fmt.Errorf("destination %q: %q is not a bucket name S3 allows (3 to 63 lowercase letters, digits, dots and hyphens)", s, bucket)
		}
		return Dest{Kind: DestS3, Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
	case "postgres", "postgresql":
		return Dest{Kind: DestPostgres, URL: s}, nil
	}
	return Dest{}, fmt.Errorf("destination %q: unknown scheme %q (want a directory, file://, s3:// or postgres://)", Redact(s), scheme)
}

// bucketNameAllowed reports whether b can name an S3 bucket: the rules of
// today's buckets (3 to 63 lowercase letters, digits, dots and hyphens)
// widened to the legacy ones some us-east-1 buckets still have (up to 255
// characters, upper case and underscores too), so that no existing bucket
// is refused.
func bucketNameAllowed(b string) bool {
	if len(b) < 3 || len(b) > 255 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// libpqKeywords are the connection-string keywords users write most.
var libpqKeywords = map[string]bool{"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true,
	"password": true, "passfile": true, "sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true,
	"connect_timeout": true, "application_name": true, "options": true, "target_session_attrs": true, "service": true}

// keywordConnString reports whether s is a libpq key=value connection
// string (host=db dbname=archive password=...) rather than a directory:
// every word a keyword=value, and two words or more, or a password. Taken
// for a directory, it was archived into one named after it, password and
// all, and the run's summary printed that name.
func keywordConnString(s string) bool {
	words, ok := connWords(s)
	if !ok {
		return false
	}
	for _, w := range words {
		if !libpqKeywords[w[0]] {
			return false
		}
	}
	return len(words) >= 2 || len(words) == 1 && words[0][0] == "password"
}

// connWords splits a key=value connection string into its keys and
// values, as libpq does: spaces around '=' allowed, a value in single
// quotes may hold spaces, a backslash escapes the next character. ok is
// false for anything else.
func connWords(s string) (words [][2]string, ok bool) {
	for i := 0; ; {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i == len(s) {
			return words, len(words) > 0
		}
		j := i
		for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] == '_') {
			j++
		}
		key := s[i:j]
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if key == "" || j == len(s) || s[j] != '=' {
			return nil, false
		}
		j++
		for j < len(s) && s[j] == ' ' {
			j++
		}
		var v strings.Builder
		quoted := j < len(s) && s[j] == '\''
		if quoted {
			j++
		}
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				v.WriteByte(s[j])
				continue
			}
			if quoted && c == '\'' || !quoted && (c == ' ' || c == '\t' || c == '\n') {
				break
			}
			v.WriteByte(c)
		}
		if quoted {
			if j == len(s) {
				return nil, false // an unclosed quote
			}
			j++
		}
		words = append(words, [2]string{key, v.String()})
		i = j
	}
}

// redactConnString is a key=value connection string with its password
// masked.
func redactConnString(s string) string {
	words, _ := connWords(s)
	out := make([]string, len(words))
	for i, w := range words {
		if w[0] == "password" {
			w[1] = "xxxxx"
		}
		out[i] = w[0] + "=" + w[1]
	}
	return strings.Join(out, " ")
}

// Redact masks the password of a URL for messages: the user's, and a
// password or sslpassword parameter of its query (which pgx reads too).
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			if k, err := url.QueryUnescape(k); err == nil && (k == "password" || k == "sslpassword") {
				params[i] = k + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	return u.String()
}

// RunInfo describes a run for a destination's ledger.
type RunInfo struct {
	RunID            string
	StartedAt        time.Time
	FinishedAt       time.Time // zero while the run goes on
	Status           string    // running, succeeded, failed, interrupted
	ExecutionsOK     int64
	ExecutionsFailed int64
	Operations       int64
	Version          string
}

// RunLedger is a loader that records each run at its start and its end.
type RunLedger interface {
	RecordRun(ctx context.Context, run RunInfo) error
}

func (f *fanout) RecordRun(ctx context.Context, run RunInfo) error {
	var errs []error
	for _, l := range f.loaders {
		if rl, ok := l.(RunLedger); ok {
			errs = append(errs, rl.RecordRun(ctx, run))
		}
	}
	return errors.Join(errs...)
}
