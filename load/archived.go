package load

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/arnkey"
)

// terminal are the statuses after which an execution's state no longer
// changes: its archived snapshot is final. A snapshot read through state
// takes its EXECUTION operation's status, of the operation enum, whose
// CANCELLED is as final as the others.
var terminal = map[string]bool{"SUCCEEDED": true, "FAILED": true, "TIMED_OUT": true, "STOPPED": true, "CANCELLED": true}

// Terminal reports a status after which an execution no longer changes:
// the API's (ExecutionStatus), or an archived snapshot's (read through
// state, its EXECUTION operation's, of the operation enum, whose CANCELLED
// is as final). A rerun skips an execution archived so; verify expects the
// archive to hold one the API says ended so.
func Terminal(status string) bool { return terminal[status] }

// unsettled are the statuses an execution may leave without a new event in
// its history (PAUSING: the pause takes effect once the running invocation
// reaches its next checkpoint), so the archive's newest event does not
// tell that the service's state is the archived one. Such a snapshot's
// last event id is kept negated, which the one-call "unchanged" check
// never matches (EventsArchived.LastID).
var unsettled = map[string]bool{"PAUSING": true}

// Archived is what a destination already holds: for each execution, whether
// its newest archived snapshot is terminal, and whether the given run
// archived it already. It is a slice sorted by the ARN's key (a 16-byte
// hash), searched by halving: 56 bytes an execution, where a map took
// about 150 (a run's start over 500,000 archived executions held 76 MiB
// of it). Rows are appended (add) and sorted and merged once (seal);
// after that it is read-only, and safe for concurrent use.
type Archived struct {
	s      []archivedEntry
	sorted int // s[:sorted] is sorted with one entry a key; the rest added since
	// Unreadable names the published files that are not Parquet etl can
	// read (*NotParquetError: a stray file, a damaged one), which the
	// reading left out: what they held counts as not archived, so a run
	// archives it again where the service still has it, rather than stop
	// every night until someone moves them away while histories expire.
	Unreadable []string
	// Alone counts the executions a destination holds done for good
	// (final, with their payloads and history), or archived by the run
	// being resumed, that another destination of the run lacks or holds
	// unfinished: one added beside the archive, restored from an older
	// backup, or left behind by a kill. A run archives them into the
	// destinations that need them alone (see [AloneFiller]). Ahead counts
	// those a destination holds unfinished with events another lacks:
	// read again, each destination given only the events it lacks, and a
	// snapshot unless it holds that one already. Twice counts
	// those of them a destination holds without their payloads, whose
	// events go to every destination again if a run reads them with the
	// payloads (see Fanout's Archived). Each counts an execution once,
	// however many destinations it concerns.
	Alone, Ahead, Twice int
}

type archivedEntry struct {
	key arnkey.Key
	archivedState
}

type archivedState struct {
	extracted int64 // ms of the newest snapshot
	events    int64 // the longest history archived (0: none)
	// held is events plus the events that files of killed runs hold
	// without an executions row (see countOrphanEvents): what a run need
	// not write again. It counts for writing only, never for skipping.
	held      int64
	lastEvent int32 // the highest event id archived (0: none), negated when the newest snapshot is unsettled
	terminal  bool  // that snapshot's status is terminal
	inRun     bool  // the run being resumed archived it
	// noData: the newest snapshot was read without the execution's
	// payloads (execution_data_included false: the service could not
	// decrypt them).
	noData bool
	// dataRead: some snapshot was read with them.
	dataRead bool
	// content is the first 64 bits of the newest snapshot's content_hash
	// (0: unknown, or destinations that hold different ones): a state
	// read that gives it again has nothing new (EventsArchived.Holds).
	content hashPrefix
}

func newArchived() *Archived { return &Archived{} }

func (a *Archived) add(row *archivedRow, inRun bool) {
	t := archivedState{extracted: row.ExtractedAt.UnixMilli(), terminal: row.Status != nil && terminal[*row.Status], inRun: inRun,
		noData: row.DataIncluded != nil && !*row.DataIncluded}
	t.dataRead = !t.noData
	t.content = row.ContentHash
	if row.LastEventID != nil {
		t.lastEvent = *row.LastEventID
		if row.Status != nil && unsettled[*row.Status] {
			t.lastEvent = -t.lastEvent
		}
	}
	if row.EventCount != nil {
		t.events, t.held = *row.EventCount, *row.EventCount
	}
	a.s = append(a.s, archivedEntry{arnkey.Of(row.ExecutionArn), t})
}

// seal sorts what was added since the last seal into the rest, merging
// the readings of one execution (with).
func (a *Archived) seal() {
	if a.sorted == len(a.s) {
		return
	}
	slices.SortStableFunc(a.s, func(x, y archivedEntry) int { return bytes.Compare(x.key[:], y.key[:]) })
	out := a.s[:0]
	for _, e := range a.s {
		if n := len(out); n > 0 && out[n-1].key == e.key {
			out[n-1].archivedState = out[n-1].with(e.archivedState)
			continue
		}
		out = append(out, e)
	}
	clear(a.s[len(out):])
	a.s, a.sorted = slices.Clip(out), len(out)
	if cap(a.s) > 2*len(a.s)+1024 {
		a.s = slices.Clone(a.s) // give back what merging freed
	}
}

// find is the position of k in the sealed entries, or -1.
func (a *Archived) find(k arnkey.Key) int {
	i, ok := slices.BinarySearchFunc(a.s[:a.sorted], k, func(e archivedEntry, k arnkey.Key) int { return bytes.Compare(e.key[:], k[:]) })
	if !ok {
		return -1
	}
	return i
}

// state is what the archive holds of k (the zero state for none).
func (a *Archived) state(k arnkey.Key) (archivedState, bool) {
	if i := a.find(k); i >= 0 {
		return a.s[i].archivedState, true
	}
	return archivedState{}, false
}

// with is what s and t, two readings of one execution, say together: the
// newer snapshot's status (the later one of two equally new), the rest
// the most either says.
func (s archivedState) with(t archivedState) archivedState {
	last := max(abs(s.lastEvent), abs(t.lastEvent))
	if t.extracted >= s.extracted {
		s.extracted, s.terminal, s.noData, s.content = t.extracted, t.terminal, t.noData, t.content
		s.lastEvent = t.lastEvent // the newer snapshot says whether it is settled
	}
	if s.lastEvent < 0 {
		last = -last
	}
	s.inRun, s.dataRead = s.inRun || t.inRun, s.dataRead || t.dataRead
	s.lastEvent, s.events, s.held = last, max(s.events, t.events), max(s.held, t.held)
	return s
}

func abs(n int32) int32 {
	if n < 0 {
		return -n
	}
	return n
}

// EventsArchived says which of an execution's history events an archive
// holds. Events are immutable and the history only grows, so, read oldest
// first (extract.DrainHistory), the events archived are the first Count,
// whatever their EventIds: an id is no guide (it may be absent, repeated,
// or far above the ids that follow).
type EventsArchived struct {
	LastID int32 // the highest EventId archived, for the one-call "unchanged" check (0: none; negative: the newest snapshot's status may change without an event, see unsettled)
	Count  int64 // the longest history archived, in events (0: none)
	// WithoutPayloads: the newest archived snapshot was read without the
	// execution's payloads (the service could not decrypt them), so an
	// unchanged history does not make it current.
	WithoutPayloads bool
	// DataArchived: some archived snapshot was read with the payloads,
	// which a read without them can keep (see load.DataReader).
	DataArchived bool
	// Final: the newest archived snapshot's status is terminal (a run
	// reads such an execution again only with --force, or to seek the
	// payloads it lacks).
	Final bool
	// content: the first 64 bits of the newest archived snapshot's
	// content_hash, where every destination holds the same (see Holds).
	content hashPrefix
}

// Holds reports that the newest archived snapshot has the operations of
// a snapshot whose content_hash is hash (transform.Snapshot): so a
// still-running execution read again through state, unchanged, need not
// be archived again. False when the destinations hold different newest
// snapshots, or one cannot say. It compares the first 64 bits: two
// snapshots that differ pass for equal with odds of 2^-64.
func (e EventsArchived) Holds(hash string) bool {
	return e.content != 0 && contentPrefix(hash) == e.content
}

// Lacks reports whether the pos'th event (1-based, oldest first) of the
// history is not archived.
func (e EventsArchived) Lacks(pos int64) bool { return pos > e.Count }

// Events says which of the execution's events are archived: a run writes
// only the others.
func (a *Archived) Events(arn string) EventsArchived {
	if a == nil {
		return EventsArchived{}
	}
	s, _ := a.state(arnkey.Of(arn))
	return EventsArchived{LastID: s.lastEvent, Count: s.held, WithoutPayloads: s.noData, DataArchived: s.dataRead, Final: s.terminal, content: s.content}
}

// hashPrefix is the first 64 bits of a content_hash: what the ledger
// keeps of it, read from Parquet with no string made a row
// (assignValue).
type hashPrefix uint64

// contentPrefix is the first 64 bits of a content_hash (hex), or 0 for
// one that is not so written.
func contentPrefix[T string | []byte](hash T) hashPrefix {
	if len(hash) < 16 {
		return 0
	}
	var n uint64
	for _, c := range []byte(hash[:16]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0
		}
		n = n<<4 | uint64(c)
	}
	return hashPrefix(n)
}

// sameContent is the content of two readings of one execution that must
// agree (every destination): theirs when they do, else unknown.
func sameContent(a, b hashPrefix) hashPrefix {
	if a != b {
		return 0
	}
	return a
}

// The reasons Skip gives.
const (
	// SkipResumed: the run being resumed archived the execution already.
	SkipResumed = "resumed"
	// SkipResumedFinal: the run being resumed archived the execution
	// already, in its final state, with its payloads.
	SkipResumedFinal = "resumed, final"
	// SkipTerminal: its last archived snapshot was final.
	SkipTerminal = "terminal"
	// RetryPayloads (never skipped): its last archived snapshot was final
	// but read without the execution's payloads, which the service could
	// not decrypt then; a run tries once more to read them, and archives
	// the execution again only if it can.
	RetryPayloads = "without payloads"
)

// Skip says whether the execution need not be archived again, and why:
// SkipTerminal (its last archived snapshot was final, and, when the run
// would read its history, history events of it are archived: an execution
// archived through state alone, with a token, is read once more for its
// history, which the service deletes some days after it ended) or
// SkipResumed (the run being resumed archived it already; SkipResumedFinal
// when that snapshot was final and held the payloads). An execution
// that is not skipped has the reason RetryPayloads when its final snapshot
// lacks the payloads, else none.
func (a *Archived) Skip(arn string, history bool) (reason string, skip bool) {
	s, ok := a.state(arnkey.Of(arn))
	switch {
	case !ok:
		return "", false
	case s.inRun && s.terminal && !s.noData:
		return SkipResumedFinal, true
	case s.inRun:
		return SkipResumed, true
	case s.terminal && s.noData:
		return RetryPayloads, false
	case s.terminal && (!history || s.events > 0):
		return SkipTerminal, true
	}
	return "", false
}

// Len is the number of executions known.
func (a *Archived) Len() int { return a.sorted }

// final reports a state a run skips: terminal, or archived by the run
// being resumed.
func (s archivedState) final() bool { return s.terminal || s.inRun }

// ahead is what one destination holds that the run's others lack
// (Fanout's Archived): it, or they, added since, restored from an older
// backup, or left behind by a kill (Postgres commits before Parquet
// publishes, and each Parquet destination publishes on its own).
type ahead struct {
	// done holds, sorted, the executions it holds done: for good
	// (the newest snapshot terminal, with its payloads and its history:
	// what a run skips, whatever its source: see Skip), or archived by
	// the run being resumed, while another destination lacks it, holds it
	// unfinished, holds it ended without its history (read through
	// state, which a run that reads history reads again), or without the
	// payloads it holds (which a run seeks again). They go to the others
	// alone.
	done []arnkey.Key
	// events holds, sorted, the executions it holds unfinished whose
	// first events another destination lacks: each run archives them
	// anew, and it is given only the events past those it holds.
	events []heldEvents
	// state holds, sorted, the executions whose newest snapshot it holds
	// and another destination does not: ended with their payloads,
	// through state alone (no event: done for a run that reads them
	// through state, not for one that reads their history), while
	// another lacks them or holds them unfinished; or still running, or
	// ended without their payloads, while another lacks them, holds
	// other content or fewer of their events (snapshotAhead; archived
	// by the run being resumed or not). A commit that gives it no event
	// and the snapshot it holds (its content, and without the payloads if
	// it holds it so) is not made in it (see fanoutExec.Commit), so that
	// a run gives them to the others alone unless they changed.
	state []heldContent
}

// heldContent: a destination holds the execution's newest snapshot with
// this content (the first 64 bits of its content_hash), without its
// payloads when noData.
type heldContent struct {
	key     arnkey.Key
	content hashPrefix
	noData  bool
}

// empty reports that h holds nothing ahead.
func (h *ahead) empty() bool { return len(h.done)+len(h.events)+len(h.state) == 0 }

// heldEvents: a destination holds skip events of the execution more
// than the others; noData: it holds them without the payloads; twice: it
// or another destination does, so that a run that reads them with the
// payloads may write its events again (see EventsArchived and
// [LackingEventsWriter]).
type heldEvents struct {
	key    arnkey.Key
	skip   int64
	noData bool
	twice  bool
}

// aheadOf is what a (one destination's) holds ahead of b: the other's, or
// what the run's destinations all hold (their intersection, a's included:
// what a holds ahead of that is what it holds ahead of the others). Both
// are sealed. The events a run writes of an execution are those past the
// fewest any destination holds (intersect), oldest first, so the first
// a.held - b.held of them are those a holds already.
func (a *Archived) aheadOf(b *Archived) ahead {
	var out ahead
	j := 0
	for i := 0; i < a.sorted; i++ {
		for j < b.sorted && bytes.Compare(b.s[j].key[:], a.s[i].key[:]) < 0 {
			j++
		}
		var t archivedState // zero: b lacks it
		held := j < b.sorted && b.s[j].key == a.s[i].key
		if held {
			t = b.s[j].archivedState
		}
		switch s := a.s[i].archivedState; {
		case (s.terminal && !s.noData || s.inRun) && s.events > 0 && (!held || !t.final() || t.events == 0 || t.noData && !s.noData):
			out.done = append(out.done, a.s[i].key)
		case s.final() && held && t.final():
			// skipped: neither needs it
		case s.held > t.held:
			out.events = append(out.events, heldEvents{a.s[i].key, s.held - t.held, s.noData, s.noData || t.noData})
		}
		if s := a.s[i].archivedState; s.snapshotAhead(t, held) {
			out.state = append(out.state, heldContent{key: a.s[i].key, content: s.content, noData: s.noData})
		}
	}
	return out
}

// snapshotAhead reports that a destination holds a newest snapshot (s)
// that another destination (t, if held) lacks or holds otherwise, and
// that a run reading the execution again for the other could give it
// unchanged (see ahead.state): one ended with its payloads, read through
// state alone (no event), that the other lacks or holds unfinished; or
// one still running, or ended without its payloads (the service could
// not decrypt them), that the other lacks, holds with other content, or
// with fewer of its events. Archived by the run being resumed or not: a
// killed attempt may have published it in one destination alone.
func (s archivedState) snapshotAhead(t archivedState, held bool) bool {
	switch {
	case s.content == 0:
		return false
	case s.terminal && !s.noData:
		return s.events == 0 && s.held == 0 && (!held || !t.final())
	}
	return !held || t.content != s.content || t.held < s.held
}

// aheadCounts are Archived's Alone, Ahead and Twice over what each
// destination holds ahead: each execution once.
func aheadCounts(hs []ahead) (alone, events, twice int) {
	hs = slices.DeleteFunc(slices.Clone(hs), func(h ahead) bool { return len(h.done)+len(h.events) == 0 })
	if len(hs) == 1 { // each execution once already: no copy of the keys
		for _, e := range hs[0].events {
			if e.twice {
				twice++
			}
		}
		return len(hs[0].done), len(hs[0].events), twice
	}
	var done, held, noData []arnkey.Key
	for _, h := range hs {
		done = append(done, h.done...)
		for _, e := range h.events {
			held = append(held, e.key)
			if e.twice {
				noData = append(noData, e.key)
			}
		}
	}
	return distinctKeys(done), distinctKeys(held), distinctKeys(noData)
}

// distinctKeys counts the distinct keys of ks (which it sorts).
func distinctKeys(ks []arnkey.Key) int {
	slices.SortFunc(ks, func(x, y arnkey.Key) int { return bytes.Compare(x[:], y[:]) })
	return len(slices.Compact(ks))
}

// contentOf is what h.state says of k: the content held, or the zero
// value.
func (h *ahead) contentOf(k arnkey.Key) heldContent {
	i, ok := slices.BinarySearchFunc(h.state, k, func(e heldContent, k arnkey.Key) int { return bytes.Compare(e.key[:], k[:]) })
	if !ok {
		return heldContent{}
	}
	return h.state[i]
}

// eventsOf is what the destination holds of k's events that another
// lacks (see ahead.events); the zero value for none.
func (h *ahead) eventsOf(k arnkey.Key) heldEvents {
	i, ok := slices.BinarySearchFunc(h.events, k, func(e heldEvents, k arnkey.Key) int { return bytes.Compare(e.key[:], k[:]) })
	if !ok {
		return heldEvents{}
	}
	return h.events[i]
}

// clone is a copy of a sealed a, for an intersection that must leave a
// whole.
func (a *Archived) clone() *Archived {
	return &Archived{s: slices.Clone(a.s[:a.sorted]), sorted: a.sorted, Unreadable: slices.Clone(a.Unreadable)}
}

// holds reports whether the sorted keys hold k.
func holds(keys []arnkey.Key, k arnkey.Key) bool {
	_, ok := slices.BinarySearchFunc(keys, k, func(e, k arnkey.Key) int { return bytes.Compare(e[:], k[:]) })
	return ok
}

// intersect keeps what both hold as skippable: an execution is skipped only
// if no destination needs it. Both are sealed; so is the result, which is
// made in a's place (a is spent): a run's start over a million executions
// and two destinations holds two such lists, not three.
func (a *Archived) intersect(b *Archived) *Archived {
	out := &Archived{s: a.s[:0]} // entry i is read before an entry is written at i or before
	for i, j := 0, 0; i < a.sorted && j < b.sorted; {
		switch c := bytes.Compare(a.s[i].key[:], b.s[j].key[:]); {
		case c < 0:
			i++
			continue
		case c > 0:
			j++
			continue
		}
		k, s, t := a.s[i].key, a.s[i].archivedState, b.s[j].archivedState
		i, j = i+1, j+1
		if s.final() && t.final() {
			both := s.terminal && t.terminal
			out.s = append(out.s, archivedEntry{k, archivedState{extracted: min(s.extracted, t.extracted), terminal: both, inRun: !both, lastEvent: min(s.lastEvent, t.lastEvent), events: min(s.events, t.events), held: min(s.held, t.held),
				noData: s.noData || t.noData, dataRead: s.dataRead || t.dataRead, content: sameContent(s.content, t.content)}})
			continue
		}
		// One of them needs it: an execution that one destination must
		// archive again still needs only the events both hold already
		// skipped.
		if e, n, h, c := min(s.lastEvent, t.lastEvent), min(s.events, t.events), min(s.held, t.held), sameContent(s.content, t.content); e > 0 || h > 0 || c != 0 {
			out.s = append(out.s, archivedEntry{k, archivedState{extracted: min(s.extracted, t.extracted), lastEvent: e, events: n, held: h, noData: s.noData || t.noData, dataRead: s.dataRead || t.dataRead, content: c}})
		}
	}
	clear(a.s[len(out.s):])
	if cap(out.s) > 2*len(out.s)+1024 {
		// A destination lacking most of what a holds (one added beside
		// it) leaves little: a's list would stay whole behind it.
		out.s = slices.Clone(out.s)
	}
	out.sorted = len(out.s)
	out.Unreadable = append(slices.Clip(a.Unreadable), b.Unreadable...)
	*a = Archived{}
	return out
}

// ArchivedReader is a destination that can tell what it holds. runID is the
// run being resumed (rows it wrote count as done).
type ArchivedReader interface {
	Archived(ctx context.Context, runID string) (*Archived, error)
}

// archivedRow is the projection of the executions table read back.
type archivedRow struct {
	ExecutionArn string     `parquet:"execution_arn"`
	Status       *string    `parquet:"status,optional"`
	LastEventID  *int32     `parquet:"last_event_id,optional"`
	EventCount   *int64     `parquet:"event_count,optional"`
	DataIncluded *bool      `parquet:"execution_data_included,optional"`
	ContentHash  hashPrefix `parquet:"content_hash"`
	RunID        string     `parquet:"run_id"`
	ExtractedAt  time.Time  `parquet:"extracted_at,timestamp(millisecond)"`
}

// merge adds what b holds to a, as add would have row by row, and seals
// a once what it added since its last seal is as much as it held then
// (so that readings of one execution, one per run that archived it, do
// not pile up while the files are read).
func (a *Archived) merge(b *Archived) {
	a.s = append(a.s, b.s...)
	if len(a.s)-a.sorted > max(a.sorted, 1<<14) {
		a.seal()
	}
}

// Archived reads the published executions files (their ledger columns,
// fileReaders at once; on S3 a large file by ranges): the archive is its own
// ledger, so it can never disagree with what a reader sees. An executions
// file that is not Parquet is left out (Archived.Unreadable). Then it
// repairs what a kill of runID can have left: an operations or events file
// published without its executions sibling (the pair is renamed in that
// order; a sibling left out counts as none) is removed, so that those
// executions, not counted as archived, are not doubled. Such files of
// other runs (killed and never resumed) are kept, and their events count
// as archived (see countOrphanEvents).
func (d *Parquet) Archived(ctx context.Context, runID string) (*Archived, error) {
	execs, err := d.sink.list(ctx, "executions/")
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.dir, err)
	}
	var a *Archived
	err = ListedAgain(func() error {
		var err error
		if a, err = d.ledger(ctx, runID, execs); errors.Is(err, fs.ErrNotExist) {
			// A file vanished (a shard resuming removed its own):
			// the next attempt reads a new listing.
			again, lerr := d.sink.list(ctx, "executions/")
			if lerr != nil {
				return lerr
			}
			execs = again
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("destination %s: read what is archived: %w", d.dir, err)
	}
	// An executions file left out (not Parquet) is no sibling: the files
	// beside it are orphans like a killed run's, so that their events,
	// whole, count as archived and are not written twice.
	execs = slices.DeleteFunc(execs, func(f publishedFile) bool { return slices.Contains(a.Unreadable, d.shown(f.name)) })
	others, err := d.removeOrphans(ctx, runID, execs)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.dir, err)
	}
	if err := d.countOrphanEvents(ctx, a, others); err != nil {
		return nil, fmt.Errorf("destination %s: read what is archived: %w", d.dir, err)
	}
	return a, nil
}

// ledger reads what the executions files say is archived.
func (d *Parquet) ledger(ctx context.Context, runID string, files []publishedFile) (*Archived, error) {
	a := newArchived()
	var mu sync.Mutex
	err := eachFile(ctx, files, func(f publishedFile) error {
		part := newArchived()
		// Only the projection's columns are read: executions rows carry
		// payloads, results and errors a run's start need not decode.
		err := d.readProjection(ctx, f, func(pf *parquet.File) error {
			return eachProjected(pf, func(row *archivedRow) {
				part.add(row, row.RunID == runID)
			})
		})
		if np := notParquet(err); np != nil {
			mu.Lock()
			defer mu.Unlock()
			d.leaveOut(a, np)
			return nil
		}
		part.seal()
		mu.Lock()
		defer mu.Unlock()
		a.merge(part)
		return err
	})
	a.seal()
	return a, err
}

// removeOrphans removes the operations and events files that runID's
// killed attempts published without their executions sibling (execs, the
// published executions files), and returns the events files other runs
// left so (their runs may be dead, or about to publish the sibling: they
// are never removed).
func (d *Parquet) removeOrphans(ctx context.Context, runID string, execs []publishedFile) (others []publishedFile, err error) {
	orphan := withoutSibling(execs)
	own := d.runFiles(runID)
	for _, table := range []string{"operations/", "events/"} {
		files, err := d.sink.list(ctx, table)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !orphan(f.name) {
				continue
			}
			if _, base, _ := strings.Cut(f.name, "/"); own(base) {
				d.cfg.logger.Warn("removing a file whose executions file was never published (the run was killed between the two)", "name", f.name)
				if err := d.sink.remove(ctx, f.name); err != nil {
					return nil, fmt.Errorf("remove %s: %w", f.name, err)
				}
			} else if table == "events/" {
				others = append(others, f)
			}
		}
	}
	return others, nil
}

// withoutSibling returns the test of whether a published operations or
// events file (TABLE/dt=DATE/NAME) lacks its executions sibling
// (executions/dt=DATE/NAME among execs): a run publishes a partition's
// files executions last, so a kill between the renames leaves such files.
// Compaction's merged files are numbered per table, paired with none: never
// such a file.
func withoutSibling(execs []publishedFile) func(name string) bool {
	have := make(map[string]bool, len(execs))
	for _, e := range execs {
		have[strings.TrimPrefix(e.name, "executions/")] = true
	}
	return func(name string) bool {
		_, rest, _ := strings.Cut(name, "/")
		return !have[rest] && !isCompacted(name)
	}
}

// orphanEvents is what an events file published without its executions
// sibling holds of one execution: its rows' ids and newest extraction.
type orphanEvents struct {
	extracted   int64 // ms
	first, last int32
	n           int64
}

// orphanEventRow is the projection of an orphan events file read back.
type orphanEventRow struct {
	ExecutionArn string    `parquet:"execution_arn"`
	EventID      int32     `parquet:"event_id"`
	ExtractedAt  time.Time `parquet:"extracted_at,timestamp(millisecond)"`
}

// countOrphanEvents counts, as archived for writing (never for skipping),
// the events that files of other runs hold without an executions sibling:
// a run killed between publishing a partition's events file and its
// executions file, and not resumed, left events the archive shows but its
// ledger (the executions rows) does not count, so the next run would write
// them again, twice in every query. The files are kept (they may hold the
// only copy of a history the service has since deleted); their events count
// when they continue the archive exactly: read after the execution's newest
// executions row, with the ids that follow its last_event_id, one each
// (ids 1, 2, ... and positions agree, as in every well-formed history).
// Anything else counts for nothing: an event written twice rather than one
// never written.
func (d *Parquet) countOrphanEvents(ctx context.Context, a *Archived, files []publishedFile) error {
	byARN := map[arnkey.Key][]orphanEvents{}
	for _, file := range files {
		name := file.name
		per := map[string]*orphanEvents{}
		err := d.readProjection(ctx, file, func(f *parquet.File) error {
			return eachProjected(f, func(row *orphanEventRow) {
				o := per[row.ExecutionArn]
				if o == nil {
					o = &orphanEvents{first: row.EventID, last: row.EventID}
					per[row.ExecutionArn] = o
				}
				o.first, o.last, o.n = min(o.first, row.EventID), max(o.last, row.EventID), o.n+1
				o.extracted = max(o.extracted, row.ExtractedAt.UnixMilli())
			})
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since it was listed: its own run resumed
		}
		if np := notParquet(err); np != nil {
			d.leaveOut(a, np)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d.cfg.logger.Warn("an events file without its executions file (a run was killed between the two and not resumed, or that file is not Parquet): its events count as archived where they continue the archive", "name", name, "executions", len(per))
		for arn, o := range per {
			byARN[arnkey.Of(arn)] = append(byARN[arnkey.Of(arn)], *o)
		}
	}
	for k, found := range byARN {
		slices.SortFunc(found, func(x, y orphanEvents) int { return cmp.Compare(x.extracted, y.extracted) })
		s, _ := a.state(k)
		if s.events != int64(s.lastEvent) {
			continue // ids are not positions here: nothing to chain on
		}
		last, held := s.lastEvent, s.held
		for _, o := range found {
			if o.extracted > s.extracted && o.first == last+1 && int64(o.last-o.first)+1 == o.n {
				held += o.n
				last = o.last
			}
		}
		if held != s.held {
			if i := a.find(k); i >= 0 {
				a.s[i].held = held
			} else { // events of an execution no executions row names
				s.held = held
				a.s = append(a.s, archivedEntry{k, s})
			}
		}
	}
	a.seal()
	return nil
}

// notParquet is err's *NotParquetError, or nil.
func notParquet(err error) *NotParquetError {
	var np *NotParquetError
	if errors.As(err, &np) {
		return np
	}
	return nil
}

// leaveOut notes a file the ledger leaves out for not being Parquet (np)
// in a.Unreadable, and logs it.
func (d *Parquet) leaveOut(a *Archived, np *NotParquetError) {
	name := d.shown(np.Name)
	d.cfg.logger.Error("a file in the archive is not Parquet etl can read: what it held counts as not archived, and is archived again where the service still has it; move it out of the archive (Athena cannot read it either)", "file", name, "reason", np.Err.Error())
	a.Unreadable = append(a.Unreadable, name)
}

// shown is a published file's name as users see it: with the
// destination's.
func (d *Parquet) shown(name string) string { return strings.TrimSuffix(d.dir, "/") + "/" + name }

// runFiles tells whether a file (dt=.../NAME) is one this loader's run
// wrote, or its killed attempt: NAME is part-RUN[-sIofN]-ATTEMPT-NNNNN.parquet
// with the loader's own run and shard (the file prefix says which), any
// attempt. The shards of one run share its id and publish at once: a shard
// starting (or resuming) must not take another's operations file, whose
// executions sibling is about to follow, for one a kill left behind.
func (d *Parquet) runFiles(runID string) func(base string) bool {
	own := "part-" + runID + "-"
	if p := d.cfg.filePrefix; strings.HasPrefix(p, own) {
		own = p[:strings.LastIndex(p, "-")+1] // less the attempt
	}
	return func(base string) bool {
		_, name, ok := strings.Cut(base, "/")
		if !ok || !strings.HasPrefix(name, own) {
			return false
		}
		attempt, seq, ok := strings.Cut(strings.TrimSuffix(name[len(own):], ".parquet"), "-")
		return ok && attempt != "" && strings.Trim(attempt, "0123456789abcdef") == "" && seq != "" && strings.Trim(seq, "0123456789") == ""
	}
}
