package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/durable-etl/durable-etl/internal/scratch"
	"github.com/durable-etl/durable-etl/schema"
)

// ExecutionState is an execution's newest archived snapshot, as verification
// reads it.
type ExecutionState struct {
	Arn            string     `parquet:"execution_arn"`
	Status         *string    `parquet:"status,optional"`
	EndTime        *time.Time `parquet:"end_time,optional,timestamp(millisecond)"`
	OperationCount int64      `parquet:"operation_count"`
	EventCount     *int64     `parquet:"event_count,optional"`
	ContentHash    string     `parquet:"content_hash"`
	Source         string     `parquet:"source"`
	// DataIncluded is execution_data_included: false when the run read the
	// execution without its payloads (null in files written before the
	// column).
	DataIncluded *bool `parquet:"execution_data_included,optional"`
	// RetentionDays is retention_period_days: the execution's own history
	// retention, as GetDurableExecution gave it (null from state alone,
	// and in files written before the column).
	RetentionDays *int32    `parquet:"retention_period_days,optional"`
	RunID         string    `parquet:"run_id"`
	ExtractedAt   time.Time `parquet:"extracted_at,timestamp(millisecond)"`
	// DT is the partition of the file the row was read from ("" in
	// Postgres): not a column, so eachProjected leaves it empty.
	DT string `parquet:"-"`
}

// SnapshotReader is a destination that can say what it holds, execution by
// execution, for verification.
type SnapshotReader interface {
	// Latest reads the newest snapshot of every archived execution that
	// keep accepts (nil: every one), from the executions table alone; memory
	// holds only the kept ones. keep may be called from several goroutines
	// at once, and must not keep the string it is given (it may share the
	// memory of a page being read).
	Latest(ctx context.Context, keep func(arn string) bool) (map[string]ExecutionState, error)
	// Rows reads, for each of states (executions of one partition: the same
	// DT), its newest snapshot's executions row and operations (in seq
	// order) and all its archived events (in event id order), by execution
	// ARN.
	Rows(ctx context.Context, states []ExecutionState) (map[string]*ExecutionRows, error)
}

// PartitionedReader is a SnapshotReader that can read the newest
// snapshots of the executions of some start dates only. Verify asks it
// for the start dates of the executions of one round.
type PartitionedReader interface {
	// LatestIn is Latest over the executions archived under the start
	// dates from to to (UTC, YYYY-MM-DD, both included): in Parquet the
	// files of those partitions (the others are listed, never read), in
	// Postgres the rows whose start_time falls on those dates. An
	// execution archived under another date (or, in Postgres, with no
	// start_time) is not among them.
	LatestIn(ctx context.Context, from, to string, keep func(arn string) bool) (map[string]ExecutionState, error)
}

// DatedLister is a PartitionedReader that can list the executions it
// holds with the start date each is archived under (Parquet: its
// partition; Postgres: its start_time's UTC date), in one read of the
// executions table's key column, for a listing whose rounds then read
// their own start dates only (LatestIn).
type DatedLister interface {
	// ListDated calls fn once for each execution and start date it has
	// executions rows under (an execution archived under two dates, its
	// start having been unknown to an earlier snapshot: once under each;
	// more should a compaction beside it remove a file being read, the
	// files then being read again), from one goroutine at a time; arn is
	// valid during the call only. On an error fn may have been called for
	// some.
	ListDated(ctx context.Context, fn func(arn, dt string)) error
}

// RowStreamer is a SnapshotReader that can also hand over one execution's
// rows without holding them, for verifying an execution too large to hold.
type RowStreamer interface {
	// EachRow calls ex with st's newest snapshot's executions row (once,
	// or more should the archive hold that snapshot twice, as a compaction
	// killed before removing what it merged leaves it), op with each of its
	// operations and ev with each of its archived event rows (those Rows
	// would return, and the older row of an event archived twice, see
	// LatestEvents), in no particular order; they may be called side by
	// side, from several goroutines, and a row is valid only during the
	// call; a nil ex, op or ev is not called (its table is not read). On an
	// error some rows may have been handed over. An error that is
	// fs.ErrNotExist is a file that vanished since the reader listed the
	// files (a compaction beside it): a new call reads a new listing.
	EachRow(ctx context.Context, st ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error
}

// ExecutionRows are an execution's archived rows.
type ExecutionRows struct {
	// Execution is the snapshot's executions row (nil should the archive
	// lack it: a file removed since Latest read it).
	Execution  *schema.Execution
	Operations []schema.Operation
	Events     []schema.Event
}

func newer(a, b ExecutionState) bool {
	return version{a.ExtractedAt.UnixMilli(), a.RunID}.newer(version{b.ExtractedAt.UnixMilli(), b.RunID})
}

// Latest reads the executions files' key columns (only their pages:
// eachProjected; a large file on S3 by ranges: readProjection), fileReaders
// files at once. The result does not depend on the order the reads finish
// in: of two snapshots of an execution equally new (the same run and time:
// one snapshot written twice, as by a compaction killed before removing
// what it merged), the one in the earlier partition is kept (within one
// partition they are the same rows).
func (d *Parquet) Latest(ctx context.Context, keep func(arn string) bool) (map[string]ExecutionState, error) {
	return d.latestWhere(ctx, nil, keep)
}

// LatestIn is Latest over the partitions from to to (PartitionedReader).
func (d *Parquet) LatestIn(ctx context.Context, from, to string, keep func(arn string) bool) (map[string]ExecutionState, error) {
	return d.latestWhere(ctx, func(dt string) bool { return dt >= from && dt <= to }, keep)
}

// latestWhere is Latest over the files of the partitions dts accepts
// (nil: every one).
func (d *Parquet) latestWhere(ctx context.Context, dts func(dt string) bool, keep func(arn string) bool) (map[string]ExecutionState, error) {
	var out map[string]ExecutionState
	err := ListedAgain(func() error {
		var err error
		out, err = d.latest(ctx, dts, keep)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("destination %s: read %w", d.dir, err)
	}
	return out, nil
}

func (d *Parquet) latest(ctx context.Context, dts func(dt string) bool, keep func(arn string) bool) (map[string]ExecutionState, error) {
	files, err := d.sink.list(ctx, "executions/")
	if err != nil {
		return nil, err
	}
	if dts != nil {
		files = slices.DeleteFunc(files, func(f publishedFile) bool { return !dts(partitionOf(f.name)) })
	}
	var mu sync.Mutex
	out := map[string]ExecutionState{}
	err = eachFile(ctx, files, func(f publishedFile) error {
		states, err := d.latestOf(ctx, f, keep)
		if d.leftUnreadable(err) {
			return nil // its executions are not in the archive as readers see it
		}
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, st := range states {
			if cur, ok := out[st.Arn]; !ok || newer(st, cur) || (!newer(cur, st) && st.DT < cur.DT) {
				out[st.Arn] = st
			}
		}
		return nil
	})
	return out, err
}

// fileReaders is how many published files eachFile reads at once: on S3
// each file is a request or a few of its own, and a backfill's archive
// has a file per start date.
const fileReaders = 8

// eachFile calls fn for each of files, fileReaders at once; the first
// failure (named by its file) stops the files not yet begun and is
// returned.
func eachFile(ctx context.Context, files []publishedFile, fn func(publishedFile) error) error {
	errs := make([]error, len(files))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(fileReaders, len(files)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil || failed.Load() {
					errs[i] = cmp.Or(err, errSkipped)
					continue
				}
				if err := fn(files[i]); err != nil {
					errs[i] = fmt.Errorf("%s: %w", files[i].name, err)
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && err != errSkipped {
			return err
		}
	}
	return nil
}

// ListedAgain calls read, which reads files it lists, again should one
// have vanished between listing and reading (an error that is
// fs.ErrNotExist: a compaction beside the reader removed the files it
// had merged, after publishing the merged ones, which a new listing
// finds), up to three times more. Callers of [RowStreamer.EachRow] use it
// too, starting over what they made of the rows handed over.
func ListedAgain(read func() error) error {
	err := read()
	for range listedAgain {
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		err = read()
	}
	return err
}

// listedAgain is how many times more ListedAgain reads.
const listedAgain = 3

// errSkipped marks a file eachFile did not read because another failed.
var errSkipped = errors.New("not read: another file failed")

// rangedAbove is the size past which readProjection reads a file by
// ranges where the sink can (S3): a projection's few columns are a small
// part of a file whose rows carry payloads, and the whole object would be
// downloaded. A smaller file costs one GET whole, fewer than its ranges.
const rangedAbove = 4 << 20

// readProjection opens a published file for reading a few of its columns.
func (d *Parquet) readProjection(ctx context.Context, f publishedFile, fn func(*parquet.File) error) error {
	return (&fileReads{d: d}).projection(ctx, f, fn)
}

// downloader is a sink that reads a file by downloading it whole (S3).
type downloader interface {
	// download fetches the published file name into a scratch file, which
	// the caller closes.
	download(ctx context.Context, name string) (*scratch.File, int64, error)
}

// fileReads reads published files. Made by keepingReads, it keeps each
// file a downloader sink downloaded whole (one of at most rangedAbove:
// larger ones are read by ranges but to be merged) until close, so that
// the passes of a partition's compaction over the same files (its key
// columns, the executions' ledger columns, then every column) download
// each once: on S3 a request's latency each. The files kept are on disk
// (scratch), as a download already is.
type fileReads struct {
	d    *Parquet
	kept map[string]keptFile // nil: nothing kept
	rows map[string]int64    // numRows's answers, by file
}

// numRows is the rows of the published file f, from its footer, read
// once however many times it is asked (a merge keeping the latest asks
// before it reserves its keys' memory and again for its shares: on S3 a
// large file's footer is a ranged request).
func (r *fileReads) numRows(ctx context.Context, f publishedFile) (int64, error) {
	if n, ok := r.rows[f.name]; ok {
		return n, nil
	}
	var n int64
	err := r.projection(ctx, f, func(pf *parquet.File) error {
		n = pf.NumRows()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("destination %s: read %s: %w", r.d.dir, f.name, err)
	}
	if r.rows == nil {
		r.rows = map[string]int64{}
	}
	r.rows[f.name] = n
	return n, nil
}

// keptMost is the most files a fileReads keeps (each an open file
// descriptor; compaction works on fileReaders partitions at once): a
// partition of more small files downloads the others for each pass, as
// before files were kept.
const keptMost = 64

type keptFile struct {
	f    *scratch.File
	size int64
}

// keepingReads is a fileReads that keeps what it downloads, where the
// sink downloads; close it.
func (d *Parquet) keepingReads() *fileReads {
	r := &fileReads{d: d}
	if _, ok := d.sink.(downloader); ok {
		r.kept = map[string]keptFile{}
	}
	return r
}

// read calls fn with the whole of the published file f.
func (r *fileReads) read(ctx context.Context, f publishedFile, fn func(io.ReaderAt, int64) error) error {
	dl, ok := r.d.sink.(downloader)
	if r.kept == nil || !ok || f.size > rangedAbove {
		return r.d.sink.read(ctx, f.name, fn)
	}
	k, ok := r.kept[f.name]
	if !ok && len(r.kept) >= keptMost {
		return r.d.sink.read(ctx, f.name, fn)
	}
	if !ok {
		file, size, err := dl.download(ctx, f.name)
		if err != nil {
			return err
		}
		k = keptFile{file, size}
		r.kept[f.name] = k
	}
	return fn(k.f, k.size)
}

// prefetch downloads at once (fileReaders at a time) the files of fs that
// read would keep and has not: a merge reads its files one after another,
// a request's latency each on S3. It is best effort: a file it could not
// download is read by read as if it had not tried, which then reports the
// failure as it would have.
func (r *fileReads) prefetch(ctx context.Context, fs []publishedFile) {
	dl, ok := r.d.sink.(downloader)
	if r.kept == nil || !ok {
		return
	}
	var todo []publishedFile
	for _, f := range fs {
		if _, have := r.kept[f.name]; !have && f.size <= rangedAbove && len(r.kept)+len(todo) < keptMost {
			todo = append(todo, f)
		}
	}
	got := make([]keptFile, len(todo))
	var g errgroup.Group
	g.SetLimit(fileReaders)
	for i, f := range todo {
		g.Go(func() error {
			if file, size, err := dl.download(ctx, f.name); err == nil {
				got[i] = keptFile{file, size}
			}
			return nil
		})
	}
	g.Wait()
	for i, k := range got {
		if k.f != nil {
			r.kept[todo[i].name] = k
		}
	}
}

// projection opens the published file f for reading a few of its columns:
// by ranges where the sink reads them (S3) and f is larger than
// rangedAbove, else whole.
func (r *fileReads) projection(ctx context.Context, f publishedFile, fn func(*parquet.File) error) error {
	open := func(ra io.ReaderAt, size int64) error {
		pf, err := openPublished(f.name, ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return err
		}
		return fn(pf)
	}
	if rs, ok := r.d.sink.(rangedSink); ok && f.size > rangedAbove {
		return open(rs.ranged(ctx, f.name, f.size), f.size)
	}
	return r.read(ctx, f, open)
}

// close drops the files kept.
func (r *fileReads) close() {
	for name, k := range r.kept {
		k.f.Close()
		delete(r.kept, name)
	}
}

// leftUnreadable notes the file of err if it is not Parquet etl can read
// (*NotParquetError), for Unreadable, and reports whether it was.
func (d *Parquet) leftUnreadable(err error) bool {
	np := notParquet(err)
	if np == nil {
		return false
	}
	d.listMu.Lock()
	defer d.listMu.Unlock()
	if d.unreadable == nil {
		d.unreadable = map[string]bool{}
	}
	d.unreadable[d.shown(np.Name)] = true
	return true
}

// Unreadable names, sorted, the files that Latest and Rows found not
// Parquet etl can read (a stray file, a damaged one), with the
// destination's name as the run's ledger does: Latest leaves an
// executions file so out (its executions are then missing from what it
// returns), Rows fails the partition's executions.
func (d *Parquet) Unreadable() []string {
	d.listMu.Lock()
	defer d.listMu.Unlock()
	return slices.Sorted(maps.Keys(d.unreadable))
}

// latestOf reads one executions file's kept snapshots, newest per
// execution.
func (d *Parquet) latestOf(ctx context.Context, f publishedFile, keep func(arn string) bool) (map[string]ExecutionState, error) {
	dt := partitionOf(f.name)
	out := map[string]ExecutionState{}
	var in stateInterner
	err := d.readProjection(ctx, f, func(pf *parquet.File) error {
		// A verify's round keeps few of the rows: the others are looked
		// at in the page's memory, never copied out.
		return eachProjectedWhere(pf, "execution_arn", keep, func(row *ExecutionState) {
			st := *row
			st.DT = dt
			in.intern(&st)
			if cur, ok := out[st.Arn]; !ok || newer(st, cur) {
				out[st.Arn] = st
			}
		})
	})
	return out, err
}

// stateInterner shares, among the states read from one file, the values
// most of them repeat (a status, a source, a run id, a retention): a
// verify over an account holds a state for every execution, and each
// value read is an allocation of its own.
type stateInterner struct {
	strs  map[string]string
	ptrs  map[string]*string
	days  map[int32]*int32
	flags map[bool]*bool
}

func (in *stateInterner) intern(st *ExecutionState) {
	if in.strs == nil {
		in.strs, in.ptrs, in.days, in.flags = map[string]string{}, map[string]*string{}, map[int32]*int32{}, map[bool]*bool{}
	}
	for _, s := range []*string{&st.Source, &st.RunID} {
		if v, ok := in.strs[*s]; ok {
			*s = v
		} else {
			in.strs[*s] = *s
		}
	}
	st.Status, st.RetentionDays, st.DataIncluded = shared(in.ptrs, st.Status), shared(in.days, st.RetentionDays), shared(in.flags, st.DataIncluded)
}

// shared is the pointer m holds for *p's value (p itself the first time);
// nil for nil.
func shared[T comparable](m map[T]*T, p *T) *T {
	if p == nil {
		return nil
	}
	if q, ok := m[*p]; ok {
		return q
	}
	m[*p] = p
	return p
}

// Rows reads the partition of states (one DT) once, keeping only their
// rows. Unless every row of a file is wanted, its key columns are read
// first (a projection, kept as the file's key index) and only the wanted
// rows are decoded, a run of rows after a seek (by the file's offset
// index); on S3, a file of which the rows wanted are a small part is
// fetched by those pages alone, a range each, else whole in one GET.
//
// Should a file vanish between its listing and its read (a compaction
// beside the reader removed the files it merged, after publishing the
// merged one), or the listing miss a snapshot's executions row or every
// one of its operations or events rows (missedRows), the files are
// listed and read again, a few times; the last read stands, a snapshot
// whose rows it did not find without them.
func (d *Parquet) Rows(ctx context.Context, states []ExecutionState) (map[string]*ExecutionRows, error) {
	var out map[string]*ExecutionRows
	tries := 0
	err := ListedAgain(func() error {
		tries++
		out = make(map[string]*ExecutionRows, len(states))
		for _, st := range states {
			// Sized by the executions row's counts (bounded: a tampered
			// row must not make a huge allocation), so that appends do
			// not regrow.
			r := &ExecutionRows{Operations: make([]schema.Operation, 0, min(max(st.OperationCount, 0), 1<<16))}
			if st.EventCount != nil {
				r.Events = make([]schema.Event, 0, min(max(*st.EventCount, 0), 1<<16))
			}
			out[st.Arn] = r
		}
		// The tables are read side by side: each fills its own field of
		// out's entries, and verify waits for a chunk's rows as a whole.
		// Each table's rows come in runs of one execution's.
		var opsOf, eventsOf runLookup[*ExecutionRows]
		err := d.eachRow(ctx, states,
			func(row *schema.Execution) { out[row.ExecutionArn].Execution = new(*row) },
			func(row *schema.Operation) {
				r, _ := opsOf.get(out, row.ExecutionArn)
				r.Operations = append(r.Operations, *row)
			},
			func(row *schema.Event) {
				r, _ := eventsOf.get(out, row.ExecutionArn)
				r.Events = append(r.Events, *row)
			})
		if err == nil && tries <= listedAgain { // the last read stands as it is: the rows are not there
			for _, st := range states {
				r := out[st.Arn]
				if err = missedRows(d, st, r.Execution != nil, int64(len(r.Operations)), int64(len(r.Events))); err != nil {
					break
				}
			}
		}
		return d.forgetIfVanished(err)
	})
	if err != nil {
		d.leftUnreadable(err) // noted; these executions' rows cannot be read
		return nil, err
	}
	for _, r := range out {
		sort.Slice(r.Operations, func(i, j int) bool { return r.Operations[i].Seq < r.Operations[j].Seq })
		r.Events = LatestEvents(r.Events)
	}
	return out, nil
}

// runLookup is a map lookup for keys that come in runs (a file's rows
// are in runs of one execution's): the last key's answer is kept, so
// that a run looks its key up once. A key equal to the last one (with
// the decoder's strings, mostly the same string) is answered without
// hashing it.
type runLookup[V any] struct {
	key  string
	val  V
	ok   bool
	used bool
}

// get is m[key], and whether m has it.
func (r *runLookup[V]) get(m map[string]V, key string) (V, bool) {
	if !r.used || key != r.key {
		r.val, r.ok = m[key]
		r.key, r.used = key, true
	}
	return r.val, r.ok
}

// LatestEvents sorts one execution's archived events by event id and keeps
// the newest row of each (by extracted_at, then run_id), as the
// events_latest view does: an event is archived twice when first read
// without its payloads and later with them.
func LatestEvents(evs []schema.Event) []schema.Event {
	slices.SortFunc(evs, func(a, b schema.Event) int {
		return cmp.Or(cmp.Compare(a.EventID, b.EventID), version{a.ExtractedAt.UnixMilli(), a.RunID}.compare(version{b.ExtractedAt.UnixMilli(), b.RunID}))
	})
	out := evs[:0]
	for i := range evs {
		if i+1 < len(evs) && evs[i+1].EventID == evs[i].EventID {
			continue // a newer row of the event follows
		}
		out = append(out, evs[i])
	}
	return out
}

// EachRow hands over st's rows one at a time, as Rows reads them, holding
// none (see [RowStreamer]). Should a file vanish between its listing and
// its read (a compaction beside the reader), or the listing miss st's
// executions row (missedRow), it fails with an error that is
// fs.ErrNotExist, after some rows may have been handed over; the next
// call lists the files again.
func (d *Parquet) EachRow(ctx context.Context, st ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error {
	seen := false
	if ex != nil {
		inner := ex
		ex = func(row *schema.Execution) { seen = true; inner(row) }
	}
	err := d.eachRow(ctx, []ExecutionState{st}, ex, op, ev)
	if err == nil && ex != nil && !seen {
		err = missedRow(d, st)
	}
	return d.forgetIfVanished(err)
}

// missedRows is the failure of a read of st's rows that found no
// executions row (found), or none of the operations or events rows the
// executions row counts (ops, events: the rows found): a listing that
// missed a file (renamed or replaced while listed), or rows removed from
// the archive, which only the last of Rows's reads may tell apart (it
// stands: verify reports rows missing). It is fs.ErrNotExist, so that
// ListedAgain lists again. nil if the read found them. (EachRow, whose
// callers cannot tell their last read, asks only for the executions row:
// a missing one fails its read whatever the cause.)
func missedRows(d *Parquet, st ExecutionState, found bool, ops, events int64) error {
	switch {
	case !found:
		return missedRow(d, st)
	case ops == 0 && st.OperationCount > 0:
		return missedChildRows(d, st, "operations")
	case events == 0 && st.EventCount != nil && *st.EventCount > 0:
		return missedChildRows(d, st, "events")
	}
	return nil
}

func missedChildRows(d *Parquet, st ExecutionState, table string) error {
	return fmt.Errorf("destination %s: partition dt=%s: none of the %s rows of %s read at %s is in the files listed: %w",
		d.dir, st.DT, table, st.Arn, st.ExtractedAt.UTC().Format(time.RFC3339Nano), fs.ErrNotExist)
}

// missedRow is the failure of a read that did not find st's executions
// row, which the ledger read: a listing made while a compaction beside
// the reader published its merged file and removed the one it replaced
// can hold neither (a directory read during renames, or S3 pages listed
// across them, may miss both), and the read then finds nothing without
// failing. It is fs.ErrNotExist, so that the read is made again on a new
// listing (ListedAgain).
func missedRow(d *Parquet, st ExecutionState) error {
	return fmt.Errorf("destination %s: partition dt=%s: the executions row of %s read at %s is not in the files listed: %w",
		d.dir, st.DT, st.Arn, st.ExtractedAt.UTC().Format(time.RFC3339Nano), fs.ErrNotExist)
}

// eachRow reads the partition of states (one DT) once and hands each of
// their rows to ex, op or ev, which goroutines call side by side (one per
// table; a nil one's table is not read). A row is valid only during the
// call.
func (d *Parquet) eachRow(ctx context.Context, states []ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error {
	want := make(map[string]ExecutionState, len(states))
	dt := ""
	for _, st := range states {
		want[st.Arn], dt = st, st.DT
	}
	// The rows wanted, as the executions rows count them (-1: unknown).
	var ops, events int64
	for _, st := range states {
		ops += st.OperationCount
		if st.EventCount == nil || events < 0 {
			events = -1
		} else {
			events += *st.EventCount
		}
	}
	// wantOp reports a row of a snapshot of states; one per table, as the
	// tables are read side by side.
	wantOp := func() func(arn, runID string, at time.Time) bool {
		var of runLookup[ExecutionState]
		return func(arn, runID string, at time.Time) bool {
			st, ok := of.get(want, arn)
			return ok && runID == st.RunID && at.Equal(st.ExtractedAt)
		}
	}
	// The key indexes' hashes of the wanted keys: a run of rows whose hash
	// is here is read, and each row checked as above (a collision reads a
	// few rows more, never fewer).
	// An executions row has the key of its snapshot's operations.
	opKeys, evKeys := make(map[uint64]bool, len(states)), make(map[uint64]bool, len(states))
	for _, st := range states {
		arn := parquet.ByteArrayValue([]byte(st.Arn))
		opKeys[d.keyHash([]parquet.Value{arn, parquet.ByteArrayValue([]byte(st.RunID)), parquet.Int64Value(st.ExtractedAt.UnixMilli())})] = true
		evKeys[d.keyHash([]parquet.Value{arn})] = true
	}
	readTable := func(table string) error {
		files, err := d.listCached(ctx, table)
		if err != nil {
			return err
		}
		snapshotKey := []string{"execution_arn", "run_id", "extracted_at"}
		ofSnapshot := wantOp()
		var ofEvents runLookup[ExecutionState]
		alone := len(files[dt]) == 1
		for _, f := range files[dt] {
			var err error
			switch table {
			case "executions":
				err = readFile(ctx, d, schema.Executions, f, int64(len(states)), alone, snapshotKey, func(h uint64) bool { return opKeys[h] },
					func(row *schema.Execution) {
						if ofSnapshot(row.ExecutionArn, row.RunID, row.ExtractedAt) {
							ex(row)
						}
					})
			case "operations":
				err = readFile(ctx, d, schema.Operations, f, ops, alone, snapshotKey, func(h uint64) bool { return opKeys[h] },
					func(row *schema.Operation) {
						if ofSnapshot(row.ExecutionArn, row.RunID, row.ExtractedAt) {
							op(row)
						}
					})
			default:
				err = readFile(ctx, d, schema.Events, f, events, alone, []string{"execution_arn"}, func(h uint64) bool { return evKeys[h] },
					func(row *schema.Event) {
						if _, ok := ofEvents.get(want, row.ExecutionArn); ok {
							ev(row)
						}
					})
			}
			if err != nil {
				return fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
			}
		}
		return nil
	}
	var eventsErr, executionsErr error
	var wg sync.WaitGroup
	if ev != nil {
		wg.Go(func() { eventsErr = readTable("events") })
	}
	if ex != nil {
		wg.Go(func() { executionsErr = readTable("executions") })
	}
	var err error
	if op != nil {
		err = readTable("operations")
	}
	wg.Wait()
	return cmp.Or(err, eventsErr, executionsErr)
}

// forgetIfVanished drops what listCached listed when err, a read of the
// files it named, says one vanished (fs.ErrNotExist: a compaction beside
// the reader merged and removed it), so that the next read lists again;
// it returns err.
func (d *Parquet) forgetIfVanished(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		d.listMu.Lock()
		d.listed = nil
		d.listMu.Unlock()
	}
	return err
}

// listCached lists a table's published files once per loader, by partition
// (verification reads many partitions of one archive).
func (d *Parquet) listCached(ctx context.Context, table string) (map[string][]publishedFile, error) {
	d.listMu.Lock()
	defer d.listMu.Unlock()
	if l, ok := d.listed[table]; ok {
		return l, nil
	}
	files, err := d.sink.list(ctx, table+"/")
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.dir, err)
	}
	byDT := map[string][]publishedFile{}
	for _, f := range files {
		byDT[partitionOf(f.name)] = append(byDT[partitionOf(f.name)], f)
	}
	if d.listed == nil {
		d.listed = map[string]map[string][]publishedFile{}
	}
	d.listed[table] = byDT
	return byDT, nil
}

// Latest reads the executions table: Postgres holds one row per execution.
func (p *Postgres) Latest(ctx context.Context, keep func(arn string) bool) (map[string]ExecutionState, error) {
	return p.latestWhere(ctx, keep, "")
}

// LatestIn is Latest over the executions whose start_time falls on the
// dates from to to (PartitionedReader): the server filters the rows.
func (p *Postgres) LatestIn(ctx context.Context, from, to string, keep func(arn string) bool) (map[string]ExecutionState, error) {
	lo, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, fmt.Errorf("read executions: start date %q: %w", from, err)
	}
	hi, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, fmt.Errorf("read executions: start date %q: %w", to, err)
	}
	return p.latestWhere(ctx, keep, " WHERE start_time >= $1 AND start_time < $2", lo, hi.AddDate(0, 0, 1))
}

// latestWhere is Latest over the executions rows that where (SQL, with
// args; "": every row) selects.
func (p *Postgres) latestWhere(ctx context.Context, keep func(arn string) bool, where string, args ...any) (map[string]ExecutionState, error) {
	return reread(ctx, p, "executions", func() (map[string]ExecutionState, error) { return p.latestOnce(ctx, keep, where, args...) })
}

func (p *Postgres) latestOnce(ctx context.Context, keep func(arn string) bool, where string, args ...any) (map[string]ExecutionState, error) {
	tx, err := p.beginRead(ctx, pgx.ReadCommitted)
	if err != nil {
		return nil, p.wrap("read executions", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	rows, err := tx.Query(ctx, "SELECT execution_arn, status, end_time, operation_count, event_count, content_hash, source, execution_data_included, retention_period_days, run_id, extracted_at FROM "+
		pgx.Identifier{p.cfg.schema, "executions"}.Sanitize()+where, args...)
	if err != nil {
		return nil, p.wrap("read executions", err)
	}
	defer rows.Close()
	out := map[string]ExecutionState{}
	for rows.Next() {
		var st ExecutionState
		if err := rows.Scan(&st.Arn, &st.Status, &st.EndTime, &st.OperationCount, &st.EventCount, &st.ContentHash, &st.Source, &st.DataIncluded, &st.RetentionDays, &st.RunID, &st.ExtractedAt); err != nil {
			return nil, p.wrap("read executions", err)
		}
		if keep != nil && !keep(st.Arn) {
			continue
		}
		if st.EndTime != nil {
			t := st.EndTime.UTC()
			st.EndTime = &t
		}
		st.ExtractedAt = st.ExtractedAt.UTC()
		out[st.Arn] = st
	}
	if err := rows.Err(); err != nil {
		return nil, p.wrap("read executions", err)
	}
	return out, nil
}

// Rows reads the executions of states by key, a query per table for them
// all: their executions rows, their operations (every operation ever
// archived for one: a later snapshot never deletes one) and events. The
// three queries read one snapshot of the tables (a read-only REPEATABLE
// READ transaction): a run committing an execution beside the read
// shows in all three or in none, so each executions row read is the one
// its operations and events were written with (it may be newer than
// the state Latest gave).
func (p *Postgres) Rows(ctx context.Context, states []ExecutionState) (map[string]*ExecutionRows, error) {
	return reread(ctx, p, "rows", func() (map[string]*ExecutionRows, error) { return p.rowsOnce(ctx, states) })
}

func (p *Postgres) rowsOnce(ctx context.Context, states []ExecutionState) (map[string]*ExecutionRows, error) {
	tx, err := p.beginRead(ctx, pgx.RepeatableRead)
	if err != nil {
		return nil, p.wrap("read rows", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	out := make(map[string]*ExecutionRows, len(states))
	arns := make([]string, len(states))
	for i, st := range states {
		arns[i] = st.Arn
		out[st.Arn] = &ExecutionRows{}
	}
	if err := pgEach(ctx, p, tx, schema.Executions, "", arns, func(row *schema.Execution) { out[row.ExecutionArn].Execution = new(*row) }); err != nil {
		return nil, err
	}
	err = pgEach(ctx, p, tx, schema.Operations, "seq", arns, func(row *schema.Operation) {
		out[row.ExecutionArn].Operations = append(out[row.ExecutionArn].Operations, *row)
	})
	if err != nil {
		return nil, err
	}
	err = pgEach(ctx, p, tx, schema.Events, "event_id", arns, func(row *schema.Event) {
		out[row.ExecutionArn].Events = append(out[row.ExecutionArn].Events, *row)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachRow hands over st's rows one at a time (see [RowStreamer]), from
// a query per table, one after the other, all in one snapshot of the
// tables as [Postgres.Rows] reads them (a read-only REPEATABLE READ
// transaction, held while the rows stream).
func (p *Postgres) EachRow(ctx context.Context, st ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error {
	tx, err := p.beginRead(ctx, pgx.RepeatableRead)
	if err != nil {
		return p.wrap("read rows", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	arns := []string{st.Arn}
	if ex != nil {
		if err := pgEach(ctx, p, tx, schema.Executions, "", arns, ex); err != nil {
			return err
		}
	}
	if err := pgEach(ctx, p, tx, schema.Operations, "seq", arns, op); err != nil || ev == nil {
		return err
	}
	return pgEach(ctx, p, tx, schema.Events, "event_id", arns, ev)
}

// querier is what pgEach reads through: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// pgEach reads the rows of table t of the executions arns through q, by
// execution and then in order (a column; "": none), and hands each to fn.
func pgEach[T any](ctx context.Context, p *Postgres, q querier, t *schema.Table, order string, arns []string, fn func(*T)) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	orderBy := "execution_arn"
	if order != "" {
		orderBy += ", " + pgx.Identifier{order}.Sanitize()
	}
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE execution_arn = ANY($1) ORDER BY %s", strings.Join(cols, ", "), pgx.Identifier{p.cfg.schema, t.Name}.Sanitize(), orderBy)
	rows, err := q.Query(ctx, sql, arns)
	if err != nil {
		return p.wrap("read "+t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		row, err := pgx.RowToStructByPos[T](rows)
		if err != nil {
			return p.wrap("read "+t.Name, err)
		}
		normalizeTimes(&row) // timestamptz comes back in the local zone
		fn(&row)
	}
	if err := rows.Err(); err != nil {
		return p.wrap("read "+t.Name, err)
	}
	return nil
}

// normalizeTimes puts every time of a row in UTC, as the Parquet rows are.
func normalizeTimes(row any) {
	v := reflect.ValueOf(row).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i).Addr().Interface().(type) {
		case *time.Time:
			*f = f.UTC()
		case **time.Time:
			if *f != nil {
				t := (*f).UTC()
				*f = &t
			}
		}
	}
}

// StoredForm rewrites row (a pointer to a row struct) as Postgres stores
// it, U+0000 in text as U+FFFD, so that rows read from the API compare
// with rows read from Postgres.
func (p *Postgres) StoredForm(row any) {
	v := reflect.ValueOf(row).Elem()
	vals, replaced := rowValues(row, make([]any, v.NumField()))
	if !replaced {
		return
	}
	for i, x := range vals {
		v.Field(i).Set(reflect.ValueOf(x))
	}
}

// selectiveShare is the share of a file's rows below which a file on a
// sink that reads ranges (S3) is read in part, only the wanted rows'
// pages fetched (each a GET), rather than whole in one GET.
const selectiveShare = 0.25

// readFile is readOpened over a published file. At most expect of its
// rows are wanted (-1: not known); exactly those when alone, f being its
// table's only file in the partition (with several, the wanted rows are
// spread over them). On a sink that reads
// ranges (S3) the footer is read first, through ranges; a file read only
// in part goes on through them, a file read whole is fetched in one GET.
// A file in hand (fetched whole, or local) decodes only the wanted rows'
// runs, unless they are all of its rows: decoding rows to drop them cost
// about 8% of a verify's CPU (BenchmarkVerify's data, with executions
// still running among its partitions' ones, not compared).
func readFile[T any](ctx context.Context, d *Parquet, table *schema.Table, f publishedFile, expect int64, alone bool, keys []string, wanted func(uint64) bool, fn func(*T)) error {
	if rs, ok := d.sink.(rangedSink); ok && expect >= 0 && f.size > 0 {
		pf, err := openPublished(f.name, rs.ranged(ctx, f.name, f.size), f.size, parquet.SkipBloomFilters(true))
		if err != nil {
			return err
		}
		if !readsWhole(pf, expect, selectiveShare) {
			idx, err := d.keyIndexOf(f.name, pf, keys)
			if err != nil {
				return err
			}
			return readOpened(table, pf, idx, wanted, selectiveShare, fn)
		}
	}
	return d.sink.read(ctx, f.name, func(r io.ReaderAt, size int64) error {
		pf, err := openPublished(f.name, r, size, parquet.SkipBloomFilters(true))
		if err != nil {
			return err
		}
		// The file is in hand: a seek costs no request, and only the
		// wanted rows are decoded unless they are all of the file's.
		if alone && readsWhole(pf, expect, 1) {
			return eachInFile(table, pf, fn)
		}
		idx, err := d.keyIndexOf(f.name, pf, keys)
		if err != nil {
			return err
		}
		return readOpened(table, pf, idx, wanted, 1, fn)
	})
}

// keyIndex is a file's rows as runs of one key (an execution's rows are
// contiguous in a file): what keyScan found, kept by the loader so that
// the chunks verify reads a partition in scan each file's keys once. A
// run's key is kept as its hash (hashKey), 8 bytes where the values and
// their bytes took about 250 (an ARN, a run id, a time): an index has an
// entry for every execution of its file, however few a sample wants.
type keyIndex struct {
	hashes []uint64 // each run's key's hash
	runs   []span
	total  int64
}

// hashKey is the hash of a key's values, for the key indexes (written as
// schema.HashRow writes a row's). Equal values hash alike; so do values
// of the same kind and bytes whatever their column's logical type (a time
// is its int64).
func hashKey(seed maphash.Seed, vals []parquet.Value) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, v := range vals {
		maphash.WriteComparable(&h, v.Kind())
		switch {
		case v.IsNull():
		case v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray:
			b := v.ByteArray()
			maphash.WriteComparable(&h, len(b))
			h.Write(b)
		default:
			maphash.WriteComparable(&h, v.Uint64())
		}
	}
	return h.Sum64()
}

type span struct{ first, n int64 }

// keyIndexPartitions is how many partitions' key indexes the loader keeps:
// verify reads partitions one after another (a few at once, one per
// worker: 8 by default), so older ones are not asked for again, and
// memory must not grow with the archive. An index has an entry for every
// execution of its file (24 bytes: a hash and a span), however few of
// them a sample wants. When the entries held the key's values (about 250
// bytes), 16 partitions' indexes took 37 MiB of a verify of 500,000
// executions; 8 took half, at no cost to BenchmarkVerify.
const keyIndexPartitions = 8

// keyIndexOf is the key index of the file name (open as pf) over the
// columns keys, built by keyScan on first use and kept while its
// partition is among the keyIndexPartitions most recently indexed.
func (d *Parquet) keyIndexOf(name string, pf *parquet.File, keys []string) (*keyIndex, error) {
	dt, id := partitionOf(name), name+"\x00"+strings.Join(keys, ",")
	d.listMu.Lock()
	idx, ok := d.keyIndexes[dt][id]
	d.listMu.Unlock()
	if ok {
		return idx, nil
	}
	idx = &keyIndex{}
	var last []parquet.Value // the last row's key, copied: hashed again only when a row's differs
	err := keyScan(pf, keys, false, func(k []parquet.Value) error {
		// Rows of one hash side by side are one run: two keys of one hash
		// (a collision) are read together, and the reader checks each row.
		// (Key columns are strings and integers: values parquet.Equal
		// finds equal hash alike.)
		if len(idx.runs) == 0 || !slices.EqualFunc(k, last, parquet.Equal) {
			last = last[:0]
			for _, v := range k {
				last = append(last, v.Clone())
			}
			if h := d.keyHash(k); len(idx.runs) == 0 || h != idx.hashes[len(idx.hashes)-1] {
				idx.hashes = append(idx.hashes, h)
				idx.runs = append(idx.runs, span{idx.total, 0})
			}
		}
		idx.runs[len(idx.runs)-1].n++
		idx.total++
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.listMu.Lock()
	defer d.listMu.Unlock()
	if d.keyIndexes == nil {
		d.keyIndexes = map[string]map[string]*keyIndex{}
	}
	if d.keyIndexes[dt] == nil {
		d.keyIndexes[dt] = map[string]*keyIndex{}
		d.keyIndexDTs = append(d.keyIndexDTs, dt)
		if len(d.keyIndexDTs) > keyIndexPartitions {
			delete(d.keyIndexes, d.keyIndexDTs[0])
			d.keyIndexDTs = d.keyIndexDTs[1:]
		}
	}
	d.keyIndexes[dt][id] = idx
	return idx, nil
}

// readsWhole reports whether expect wanted rows (-1: unknown) are at
// least share of the file's rows: then it is read whole, without reading
// its keys first.
func readsWhole(pf *parquet.File, expect int64, share float64) bool {
	return expect >= 0 && float64(expect) >= share*float64(pf.NumRows())
}

// readOpened calls fn for the rows of an open Parquet file that wanted
// says are wanted, given the hash of the values of the key columns (idx,
// by Parquet.keyHash; fn may see a few others, and must check): only
// their runs of rows are read, each after a seek, unless they are at
// least share of the file's rows: then every row is read. The footer is
// read once, by the caller.
func readOpened[T any](table *schema.Table, pf *parquet.File, idx *keyIndex, wanted func(uint64) bool, share float64, fn func(*T)) error {
	var spans []span
	var hits int64
	total := idx.total
	for i, r := range idx.runs {
		if !wanted(idx.hashes[i]) {
			continue
		}
		if l := len(spans); l > 0 && spans[l-1].first+spans[l-1].n == r.first {
			spans[l-1].n += r.n
		} else {
			spans = append(spans, r)
		}
		hits += r.n
	}
	switch {
	case hits == 0:
		return nil
	case float64(hits) >= share*float64(total):
		return eachInFile(table, pf, fn)
	}
	rd := newStructReader[T](table, pf)
	defer rd.Close()
	buf := make([]T, 256)
	for _, sp := range spans {
		if err := rd.SeekToRow(sp.first); err != nil {
			return err
		}
		for left := sp.n; left > 0; {
			n, err := rd.Read(buf[:min(left, int64(len(buf)))])
			for i := range n {
				fn(&buf[i])
			}
			left -= int64(n)
			if errors.Is(err, io.EOF) {
				if left > 0 {
					return fmt.Errorf("%d rows short of the %d the keys promised", left, sp.n)
				}
				break
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// keyScan calls fn for every row of an open file with the values of the
// columns names (top-level columns with one value per row), in that order;
// a name the file lacks (written before the column existed) gives a null
// value when optional is set, else an error. Only those columns' pages are
// read: a projection through a GenericReader of a smaller struct reads and
// converts every column (parquet-go v0.32). The values are valid during
// the call only.
func keyScan(pf *parquet.File, names []string, optional bool, fn func([]parquet.Value) error) error {
	ks, err := newKeyScanner(pf.Schema(), names, optional)
	if err != nil {
		return err
	}
	for _, rg := range pf.RowGroups() {
		if err := ks.scan(rg, fn); err != nil {
			return err
		}
	}
	return nil
}

// keyScanner is keyScan's reading of a row group, for files of one schema.
type keyScanner struct {
	names  []string
	leaves []int // by name: its leaf column, or -1 (a null value)
	cols   [][]parquet.Value
	row    []parquet.Value
}

// scanBatch is how many rows' values keyScanner reads of each column at a
// time, in the pages' memory (never copied out of it).
const scanBatch = 1024

func newKeyScanner(s *parquet.Schema, names []string, optional bool) (*keyScanner, error) {
	ks := &keyScanner{names: names, leaves: make([]int, len(names)), cols: make([][]parquet.Value, len(names)), row: make([]parquet.Value, len(names))}
	for i := range ks.cols {
		ks.cols[i] = make([]parquet.Value, 0, scanBatch)
	}
	for i, n := range names {
		c, ok := s.Lookup(n)
		switch {
		case ok:
			ks.leaves[i] = c.ColumnIndex
		case optional:
			ks.leaves[i] = -1
		default:
			return nil, fmt.Errorf("no column %s", n)
		}
	}
	return ks, nil
}

// scan calls fn for every row of rg, as keyScan does: a batch of rows'
// values at a time, read from each column's pages side by side (one value
// a row), the pages handed back once their values are all seen.
func (ks *keyScanner) scan(rg parquet.RowGroup, fn func([]parquet.Value) error) error {
	n := rg.NumRows()
	cols := make([]*schema.ColumnValues, len(ks.leaves))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, leaf := range ks.leaves {
		if leaf >= 0 {
			cols[i] = schema.NewColumnValues(rg.ColumnChunks()[leaf])
		}
	}
	for done := int64(0); ; {
		k := int(min(n-done, scanBatch))
		for i, c := range cols {
			if c == nil {
				continue
			}
			vals, err := readValues(c, ks.cols[i][:k])
			if err != nil {
				return fmt.Errorf("column %s: %w", ks.names[i], err)
			}
			if len(vals) != k { // fewer than the rows, or (k 0) more
				return fmt.Errorf("column %s: %d values for %d rows", ks.names[i], done+int64(len(vals)), n)
			}
			ks.cols[i] = vals
		}
		if k == 0 {
			return nil
		}
		for r := range k {
			for i := range ks.cols {
				ks.row[i] = parquet.NullValue()
				if cols[i] != nil {
					ks.row[i] = ks.cols[i][r]
				}
			}
			if err := fn(ks.row); err != nil {
				return err
			}
		}
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
		done += int64(k)
	}
}

// readValues fills buf with c's next values, reading on across pages;
// fewer at the end of its chunk. With an empty buf it reads one value (the
// chunk should have no more), to tell.
func readValues(c *schema.ColumnValues, buf []parquet.Value) ([]parquet.Value, error) {
	want := len(buf)
	if want == 0 {
		buf = buf[:1]
	}
	got := 0
	for got < len(buf) {
		vals, err := c.Read(buf[got:])
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			break
		}
		got += len(vals)
	}
	return buf[:got], nil
}

// eachProjected calls fn for every row of an open file as T, a projection
// struct of top-level scalar columns (string, int32, int64, bool,
// millisecond timestamps as time.Time, or pointers to them for nullable
// columns), reading only those columns' pages (keyScan). A column the
// file lacks (written before it existed) stays the zero value, as does a
// field tagged `parquet:"-"` (not a column). The row is valid during the
// call only.
func eachProjected[T any](pf *parquet.File, fn func(*T)) error {
	return eachProjectedWhere(pf, "", nil, fn)
}

// eachProjectedWhere is eachProjected over the rows whose value of the
// byte array column named column (one of T's) where accepts (nil: every
// row). where sees the value in the column's memory, valid during the
// call only; a row it refuses is never copied into a T, so reading a
// file for a few executions costs no allocation per other row.
func eachProjectedWhere[T any](pf *parquet.File, column string, where func(string) bool, fn func(*T)) error {
	rt := reflect.TypeFor[T]()
	var names []string
	var fields []int
	for i := range rt.NumField() {
		if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("parquet"), ","); name != "-" {
			names, fields = append(names, name), append(fields, i)
		}
	}
	at := slices.Index(names, column)
	if where != nil && at < 0 {
		return fmt.Errorf("a projection without column %s cannot be filtered by it", column)
	}
	var row T
	rv := reflect.ValueOf(&row).Elem()
	return keyScan(pf, names, true, func(vals []parquet.Value) error {
		if where != nil {
			b := vals[at].ByteArray()
			if !where(unsafe.String(unsafe.SliceData(b), len(b))) {
				return nil
			}
		}
		for i, v := range vals {
			if err := assignValue(rv.Field(fields[i]), v); err != nil {
				return fmt.Errorf("column %s: %w", names[i], err)
			}
		}
		fn(&row)
		return nil
	})
}

// assignValue sets f, a projection struct's field, to v.
func assignValue(f reflect.Value, v parquet.Value) error {
	if v.IsNull() {
		f.SetZero()
		return nil
	}
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		if err := assignValue(p.Elem(), v); err != nil {
			return err
		}
		f.Set(p)
		return nil
	}
	switch {
	case f.Type() == reflect.TypeFor[time.Time]():
		f.Set(reflect.ValueOf(time.UnixMilli(v.Int64()).UTC()))
	case f.Type() == reflect.TypeFor[hashPrefix]():
		f.SetUint(uint64(contentPrefix(v.ByteArray())))
	case f.Kind() == reflect.String:
		f.SetString(string(v.ByteArray()))
	case f.Kind() == reflect.Int32 || f.Kind() == reflect.Int64:
		if v.Kind() == parquet.Int32 {
			f.SetInt(int64(v.Int32()))
		} else {
			f.SetInt(v.Int64())
		}
	case f.Kind() == reflect.Bool:
		f.SetBool(v.Boolean())
	default:
		return fmt.Errorf("a projection cannot hold %s", f.Type())
	}
	return nil
}

// eachInFile calls fn for every row of an open file as T, the table's row
// struct (every column is read).
func eachInFile[T any](table *schema.Table, pf *parquet.File, fn func(*T)) error {
	rd := newStructReader[T](table, pf)
	defer rd.Close()
	buf := make([]T, 1024)
	for {
		n, err := rd.Read(buf)
		for i := range n {
			fn(&buf[i])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// structReader reads an open file's rows as T, the row struct of its
// table: column by column through schema.Reader when the file's columns
// are as this version writes them, else through parquet-go's
// GenericReader, which converts by reflection (a file from a version whose
// column types differed). Either way the rows it fills own their memory: a
// caller may keep them.
type structReader[T any] struct {
	cols *schema.Reader[T]
	gen  *parquet.GenericReader[T]
}

func newStructReader[T any](table *schema.Table, pf *parquet.File) *structReader[T] {
	cols, err := schema.NewReader[T](table, pf)
	if err != nil {
		return &structReader[T]{gen: parquet.NewGenericReader[T](pf)}
	}
	return &structReader[T]{cols: cols}
}

// SeekToRow positions the reader at row n of the file.
func (r *structReader[T]) SeekToRow(n int64) error {
	if r.gen != nil {
		return r.gen.SeekToRow(n)
	}
	return r.cols.SeekToRow(n)
}

// Read fills dst with the next rows; io.EOF after the last, as
// parquet.Rows says.
func (r *structReader[T]) Read(dst []T) (int, error) {
	if r.gen != nil {
		return r.gen.Read(dst) // a fresh slice for every list (parquet-go v0.32)
	}
	return r.cols.Read(dst)
}

func (r *structReader[T]) Close() error {
	if r.gen != nil {
		return r.gen.Close()
	}
	return r.cols.Close()
}

// NotParquetError is a published file that cannot be read as Parquet: not
// one etl wrote (a stray file in a table's folder) or a damaged one. A
// rerun does not mend it, and Athena fails on it too: it has to be moved
// out of the archive. (Failures to read its bytes are not this error.)
type NotParquetError struct {
	Name string // the file's, under the destination
	Err  error
}

func (e *NotParquetError) Error() string {
	return "not a Parquet file etl can read (" + e.Err.Error() + "): a file etl did not write, or a damaged one, which Athena cannot read either: move it out of the archive"
}

func (e *NotParquetError) Unwrap() error { return e.Err }

// openPublished opens a published file as parquet.OpenFile does; a file
// whose bytes were read but are not Parquet (parquet-go's own errors,
// which wrap none: a reader's failure it always wraps) gives a
// *NotParquetError.
func openPublished(name string, r io.ReaderAt, size int64, opts ...parquet.FileOption) (*parquet.File, error) {
	f, err := parquet.OpenFile(r, size, opts...)
	if err != nil && errors.Unwrap(err) == nil {
		return nil, &NotParquetError{Name: name, Err: err}
	}
	return f, err
}

// ListDated reads the execution_arn column of the executions files,
// partition by partition (fileReaders partitions at once), and gives each
// ARN once a partition however many snapshots the partition holds of it
// (an uncompacted archive holds one a run for an execution still running),
// telling repeats by the ARN's 16-byte key: memory holds a key an
// execution of the partitions being read. A file that is not Parquet etl
// can read is left out, as Latest leaves it (Unreadable names it).
func (d *Parquet) ListDated(ctx context.Context, fn func(arn, dt string)) error {
	err := ListedAgain(func() error {
		files, err := d.sink.list(ctx, "executions/")
		if err != nil {
			return err
		}
		byDT := map[string][]publishedFile{}
		for _, f := range files {
			byDT[partitionOf(f.name)] = append(byDT[partitionOf(f.name)], f)
		}
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fileReaders)
		for dt, files := range byDT {
			g.Go(func() error {
				seen := map[arnkey.Key]struct{}{}
				for _, f := range files {
					err := d.eachARN(gctx, f, func(arn []byte) {
						k := arnKey(arn)
						if _, ok := seen[k]; ok {
							return
						}
						seen[k] = struct{}{}
						mu.Lock()
						defer mu.Unlock()
						fn(unsafe.String(unsafe.SliceData(arn), len(arn)), dt)
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
		}
		return g.Wait()
	})
	if err != nil {
		return fmt.Errorf("destination %s: list the executions: %w", d.dir, err)
	}
	return nil
}

// ListDated reads the executions table's ARNs with their start dates
// (UTC), the dates LatestIn filters by: one row an execution, so each
// once (more should the database fail for a moment, the rows then being
// read again); one without a start time under "" (its rounds read every
// date).
func (p *Postgres) ListDated(ctx context.Context, fn func(arn, dt string)) error {
	_, err := reread(ctx, p, "executions", func() (struct{}, error) { return struct{}{}, p.listDatedOnce(ctx, fn) })
	return err
}

func (p *Postgres) listDatedOnce(ctx context.Context, fn func(arn, dt string)) error {
	tx, err := p.beginRead(ctx, pgx.ReadCommitted)
	if err != nil {
		return p.wrap("list the executions", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	rows, err := tx.Query(ctx, "SELECT execution_arn, coalesce(to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '') FROM "+
		pgx.Identifier{p.cfg.schema, "executions"}.Sanitize())
	if err != nil {
		return p.wrap("list the executions", err)
	}
	defer rows.Close()
	var arn, dt string
	_, err = pgx.ForEachRow(rows, []any{&arn, &dt}, func() error {
		fn(arn, dt)
		return nil
	})
	if err != nil {
		return p.wrap("list the executions", err)
	}
	return nil
}
