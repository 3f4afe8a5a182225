package load

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/semaphore"

	"github.com/durable-etl/durable-etl/schema"
)

// Compaction keeping the latest (CompactOptions.KeepLatest) reads a
// table's files twice: first their key and version columns
// (indexLatest), which say each key's newest version and where the
// first row of that version is (in the merge's order: files as given,
// row groups and rows in file order), then every row group to merge,
// masked by what the first pass marked: one bit a row (keptRows, read by
// latestFilter).
//
// A table whose keys would not fit in memory (more bytes than a merge's
// keys may take: CompactOptions.KeyMemory, as latestIndex.size
// estimates them) is indexed a share of its executions at a time
// instead (indexShares): a pass over the key columns for each share,
// which marks that share's kept rows. Memory is the bits and one share's
// keys; the cost, the key columns read once a share.

// keyColumns are the columns that say which snapshot a row of t belongs
// to: its key, then extracted_at and run_id (its version).
func keyColumns(t *schema.Table) []string {
	return append(slices.Clone(t.Key), "extracted_at", "run_id")
}

// appendKey appends the encoding of a key's values (each with its kind,
// so that no two keys collide) to b.
func appendKey(b []byte, key []parquet.Value) []byte {
	for _, v := range key {
		b = append(v.AppendBytes(append(b, byte(v.Kind()))), 0)
	}
	return b
}

// latestIndex is what a pass over a table's files learns of the keys of
// its share: each key's id, newest version and the position of its
// first row of that version, and of each key of an execution whose
// older version is kept beside the newest (for the payloads only it
// holds: see snapshotsWithData), the position of its first row of that
// version. A position is a row's index among every row of the files, in
// the merge's order. A key is held as its execution's id and the rest of
// it (an operation's id, an event's number), not the ARN again: a
// partition's keys are most of the memory a merge keeping the latest
// takes.
type latestIndex struct {
	execIDs  map[string]int32 // by execution_arn: the execution's id
	execs    []execKeys       // by execution id
	ids      map[string]int32 // by key (the execution's id, then appendKey's encoding of the rest): its id
	intIDs   map[uint64]int32 // by key numbered far from its execution's others (execKeys.inMap): the execution's id, then the number
	newest   []rowVersion     // by key id
	first    []int64          // by key id: the position of its first row of version newest
	olderAt  map[int32]int64  // by key id: the position of its first row of its execution's older version
	runs     map[string]int32 // run_id: its index in runNames
	runNames []string
	buf      []byte
	// shared: indexShares's index of one share holds only the keys of
	// executions whose ARN hashes (by seed) to lo..hi, inclusive.
	shared   bool
	lo, hi   uint64
	seed     maphash.Seed
	pos      int64   // rows read so far: the next row's position
	fileRows []int64 // by file: its rows, once read
	lastARN  []byte  // execOf's last ARN and its answer
	lastExec int32
	// bytes is what x's maps' entries, their keys' strings and the
	// executions' slices of numbers take (size adds x's own slices).
	bytes int64
}

// What an entry of a Go map takes, about: its slot and control byte
// over the load a large map averages (its tables each between 7/16 and
// 7/8 full). TestLatestIndexSize holds size to the heap it measures.
const (
	stringMapEntry = 48 // a 24-byte slot: map[string]int32
	intMapEntry    = 28 // a 16-byte slot: map[uint64]int32, map[int32]int64
)

// size is about the bytes x holds: its keys' (the memory the bound of
// read and indexShares is on).
func (x *latestIndex) size() int64 {
	return x.bytes + int64(cap(x.newest))*int64(unsafe.Sizeof(rowVersion{})) + int64(cap(x.first))*8 +
		int64(cap(x.execs))*int64(unsafe.Sizeof(execKeys{}))
}

// execKeys is what latestIndex holds of one execution.
//
// ids holds the ids of its keys whose rest is one INT32 (an event's
// number), by that number from lo's: an execution's events are numbered
// from 1 without gaps (the API's EventId), so that a slice holds their
// ids, 4 bytes each (-1: no key), and a key is found without a map's
// cache misses. A number that would leave the slice less than half full
// (past its first 64 entries; count counts its keys) goes to
// latestIndex.intIDs instead, and inMap says that the execution has such
// keys: numbers far apart cost no more than a map.
type execKeys struct {
	older     rowVersion // kept beside the newest, or run -1
	ids       []int32
	lo, count int32
	inMap     bool
}

// errTooManyKeys stops a first pass whose keys outgrow the merge's
// bound: the table is indexed a share at a time.
var errTooManyKeys = errors.New("more keys than a merge holds at once")

// rowVersion is a version (extracted_at, run_id) with its run_id by
// index: equal versions are equal values.
type rowVersion struct {
	at  int64 // extracted_at, ms
	run int32 // index in latestIndex.runNames; -1: no version
}

// keptRows says which rows of a table's files --keep latest keeps: each
// key's newest version, its first row only, and the first row of the
// older version kept beside it (execKeys.older). It holds a bit a
// row, in the merge's order.
type keptRows struct {
	bits  []uint64
	start []int64 // by file: the position of its first row
	rows  []int64 // by file: its rows when its keys were read
}

func newKeptRows(fileRows []int64) *keptRows {
	k := &keptRows{start: make([]int64, len(fileRows)), rows: fileRows}
	var n int64
	for i, r := range fileRows {
		k.start[i] = n
		n += r
	}
	k.bits = make([]uint64, (n+63)/64)
	return k
}

func (k *keptRows) set(pos int64)      { k.bits[pos/64] |= 1 << (pos % 64) }
func (k *keptRows) has(pos int64) bool { return k.bits[pos/64]&(1<<(pos%64)) != 0 }

// indexLatest reads the key and version columns of files (only their
// pages: on S3 through ranges when a file is large, see
// fileReads.projection) and says which of their rows are kept. withData
// names, by execution ARN, the older snapshot kept beside the newest.
//
// Should the keys take more than maxBytes (0: no bound), grow (when not
// nil) is asked for a bound of at least what they take, and returns the
// bound it could give; one still under the keys has the table indexed a
// share at a time within it (see indexShares).
func indexLatest(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, maxBytes int64, grow func(need int64) int64) (*keptRows, error) {
	x := newLatestIndex(len(files))
	err := x.read(ctx, reads, t, files, withData, func(size int64) bool {
		if maxBytes > 0 && size > maxBytes && grow != nil {
			maxBytes = grow(size)
		}
		return maxBytes > 0 && size > maxBytes
	})
	if errors.Is(err, errTooManyKeys) {
		bytesPerRow := float64(x.size()) / float64(max(x.pos, 1))
		return indexShares(ctx, reads, t, files, withData, maxBytes, bytesPerRow)
	}
	if err != nil {
		return nil, err
	}
	k := newKeptRows(x.fileRows)
	x.mark(k)
	return k, nil
}

func newLatestIndex(files int) *latestIndex {
	return &latestIndex{execIDs: map[string]int32{}, ids: map[string]int32{}, intIDs: map[uint64]int32{}, olderAt: map[int32]int64{}, runs: map[string]int32{},
		fileRows: make([]int64, files)}
}

// read is indexLatest's pass over the files' key and version columns,
// indexing the keys of x's share; it stops with errTooManyKeys once over
// says their size is over its bound, asked after each row group.
func (x *latestIndex) read(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, over func(size int64) bool) error {
	cols := keyColumns(t)
	if cols[0] != "execution_arn" {
		return fmt.Errorf("table %s: a key that does not begin with execution_arn", t.Name)
	}
	for i, f := range files {
		err := reads.projection(ctx, f, func(pf *parquet.File) error {
			ks, err := newKeyScanner(pf.Schema(), cols, false)
			if err != nil {
				return err
			}
			x.fileRows[i] = pf.NumRows()
			for _, rg := range pf.RowGroups() {
				err := ks.scan(rg, func(vals []parquet.Value) error {
					at := x.pos
					x.pos++
					if exec := x.execOf(vals[0].ByteArray(), withData); exec >= 0 {
						x.add(exec, vals, at)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if over(x.size()) {
					return errTooManyKeys
				}
			}
			return nil
		})
		if errors.Is(err, errTooManyKeys) {
			return err
		}
		if err != nil {
			return fmt.Errorf("destination %s: read %s: %w", reads.d.dir, f.name, err)
		}
	}
	return nil
}

// mark sets, in k, the bits of the rows of x's keys that are kept.
func (x *latestIndex) mark(k *keptRows) {
	for _, at := range x.first {
		k.set(at)
	}
	for _, at := range x.olderAt {
		k.set(at) // the same row as first's when older is the newest: one row kept
	}
}

// execOf is the id of the execution of ARN arn, added if need be (with
// the older version withData keeps of it), or -1 when it is not in x's
// share. Consecutive rows are mostly of one execution: the last answer
// is kept, so that a run of its rows looks it up once.
func (x *latestIndex) execOf(arn []byte, withData map[string]version) int32 {
	if x.lastARN != nil && bytes.Equal(arn, x.lastARN) {
		return x.lastExec
	}
	x.lastARN = append(x.lastARN[:0], arn...)
	x.lastExec = -1
	if x.shared {
		if h := maphash.Bytes(x.seed, arn); h < x.lo || h > x.hi {
			return -1
		}
	}
	exec, ok := x.execIDs[string(arn)]
	if !ok {
		exec = int32(len(x.execs))
		x.execIDs[string(arn)] = exec
		x.bytes += stringMapEntry + int64(len(arn))
		older := rowVersion{run: -1}
		if wd, ok := withData[string(arn)]; ok {
			older = rowVersion{wd.at, x.run([]byte(wd.run))}
		}
		x.execs = append(x.execs, execKeys{older: older})
	}
	x.lastExec = exec
	return exec
}

// indexShares indexes a table whose keys take more than maxBytes a
// share of its executions at a time: those whose ARN hashes to a range
// of the 64-bit hashes. A pass for each share indexes its keys, then
// marks its kept rows. The first share's range is as wide as the first
// pass says (its keys' bytes a row, times the rows, a quarter more,
// over maxBytes: high when later files mostly repeat keys, as nightly
// runs' do); each next one as wide as the share before says a share of
// shareFill of maxBytes is, at most four times as wide; no more shares
// than rows. A share whose keys outgrow half as much again as maxBytes
// (the first pass's rate was low: later files hold more new keys than
// the first) is stopped, halved and read again.
func indexShares(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, maxBytes int64, bytesPerRow float64) (*keptRows, error) {
	fileRows := make([]int64, len(files))
	var rows int64
	for i, f := range files {
		n, err := reads.numRows(ctx, f)
		if err != nil {
			return nil, err
		}
		fileRows[i] = n
		rows += n
	}
	const hashes = float64(1 << 64)
	least := hashes / float64(max(rows, 2)) // a share's hashes at least: no more shares than rows
	estimate := max(math.Ceil(float64(rows)*bytesPerRow*1.25/float64(max(maxBytes, 1))), 2)
	span := max(hashes/estimate, least) // the next share's hashes
	k := newKeptRows(fileRows)
	seed := maphash.MakeSeed() // every share's: each execution in one
	var shares int
	var largest int64
	for lo := uint64(0); ; {
		hi := uint64(math.MaxUint64)
		if span < float64(math.MaxUint64-lo) { // as a float, rounded: checked again as integers
			if w := max(uint64(span), 1); w <= math.MaxUint64-lo {
				hi = lo + w - 1
			}
		}
		x := newLatestIndex(len(files))
		x.shared, x.lo, x.hi, x.seed = true, lo, hi, seed
		bound := maxBytes + maxBytes/2 // a share past it is narrowed and read again
		if span <= least {
			bound = 0 // as narrow as a share gets
		}
		err := x.read(ctx, reads, t, files, withData, func(size int64) bool { return bound > 0 && size > bound })
		if errors.Is(err, errTooManyKeys) {
			span = max(min(span, float64(hi-lo)+1)/2, least)
			continue
		}
		if err != nil {
			return nil, err
		}
		for i, n := range x.fileRows {
			if n != fileRows[i] {
				return nil, fmt.Errorf("destination %s: read %s: %d rows, then %d while its keys were read: was the file changed?", reads.d.dir, files[i].name, fileRows[i], n)
			}
		}
		x.mark(k)
		shares++
		largest = max(largest, x.size())
		if hi == math.MaxUint64 {
			break
		}
		width := float64(hi-lo) + 1
		span = max(min(shareFill*float64(maxBytes)/max(float64(x.size()), 1)*width, 4*width), least)
		lo = hi + 1
	}
	reads.d.cfg.logger.Info("a partition with more keys than compaction holds at once: merged a share of its executions at a time (raise --memory-limit to merge it faster)",
		"partition", path.Dir(files[0].name), "rows", rows, "key_memory", maxBytes, "shares", shares, "largest_share", largest)
	return k, nil
}

// shareFill is the part of the keys' bound a share after the first aims
// at: a share's keys weigh what the share before's did only about.
const shareFill = 0.8

// add counts the row at position at of execution exec (vals: the values
// of keyColumns).
func (x *latestIndex) add(exec int32, vals []parquet.Value, at int64) {
	nk := len(vals) - 2
	v := rowVersion{vals[nk].Int64(), x.run(vals[nk+1].ByteArray())}
	id, ok := x.lookup(exec, vals[1:nk])
	switch {
	case !ok:
		id = int32(len(x.newest))
		x.insert(exec, vals[1:nk], id)
		x.newest = append(x.newest, v)
		x.first = append(x.first, at)
	case x.compare(v, x.newest[id]) > 0:
		x.newest[id], x.first[id] = v, at
	}
	if o := x.execs[exec].older; o.run >= 0 && v == o {
		if _, ok := x.olderAt[id]; !ok {
			x.olderAt[id] = at
			x.bytes += intMapEntry
		}
	}
}

// lookup is the id of the key of execution exec whose other values are
// rest, if it has one. An event's key (rest one INT32) is a number, not
// a string: a partition's events are most of its keys.
func (x *latestIndex) lookup(exec int32, rest []parquet.Value) (int32, bool) {
	if n, ok := intRest(rest); ok {
		e := &x.execs[exec]
		if i := int64(n) - int64(e.lo); i >= 0 && i < int64(len(e.ids)) && e.ids[i] >= 0 {
			return e.ids[i], true
		}
		if !e.inMap {
			return 0, false
		}
		id, ok := x.intIDs[intKey(exec, n)]
		return id, ok
	}
	x.buf = appendKey(binary.LittleEndian.AppendUint32(x.buf[:0], uint32(exec)), rest)
	id, ok := x.ids[string(x.buf)]
	return id, ok
}

// insert gives the key lookup did not find id.
func (x *latestIndex) insert(exec int32, rest []parquet.Value, id int32) {
	if n, ok := intRest(rest); ok {
		x.insertNumbered(exec, n, id)
		return
	}
	x.buf = appendKey(binary.LittleEndian.AppendUint32(x.buf[:0], uint32(exec)), rest)
	x.ids[string(x.buf)] = id
	x.bytes += stringMapEntry + int64(len(x.buf))
}

// insertNumbered gives the key of execution exec numbered n, which
// lookup did not find, id: in the execution's slice (execKeys.ids), grown at
// either end while it stays at least half full past its first 64
// entries, else in intIDs.
func (x *latestIndex) insertNumbered(exec, n, id int32) {
	e := &x.execs[exec]
	ids := e.ids
	i := int64(n) - int64(e.lo)
	most := 2*int64(e.count+1) + 64 // the slice's length at most
	switch {
	case len(ids) == 0:
		ids, e.lo = append(ids, id), n
	case i >= 0 && i < int64(len(ids)):
		ids[i] = id
	case i >= int64(len(ids)) && i < most:
		for int64(len(ids)) < i {
			ids = append(ids, -1)
		}
		ids = append(ids, id)
	case i < 0 && int64(len(ids))-i <= most:
		grown := make([]int32, int64(len(ids))-i)
		for j := range grown[:-i] {
			grown[j] = -1
		}
		copy(grown[-i:], ids)
		grown[0] = id
		ids, e.lo = grown, n
	default:
		x.intIDs[intKey(exec, n)] = id
		x.bytes += intMapEntry
		e.inMap = true
		return
	}
	x.bytes += 4 * int64(cap(ids)-cap(e.ids))
	e.ids, e.count = ids, e.count+1
}

// intRest is rest's one INT32 (an event's number); false for any other
// rest.
func intRest(rest []parquet.Value) (int32, bool) {
	if len(rest) != 1 || rest[0].IsNull() || rest[0].Kind() != parquet.Int32 {
		return 0, false
	}
	return rest[0].Int32(), true
}

// intKey is intIDs's key of execution exec's key numbered n.
func intKey(exec, n int32) uint64 { return uint64(uint32(exec))<<32 | uint64(uint32(n)) }

// run is run_id's index in runNames, added if need be.
func (x *latestIndex) run(b []byte) int32 {
	if r, ok := x.runs[string(b)]; ok {
		return r
	}
	r := int32(len(x.runNames))
	x.runs[string(b)] = r
	x.runNames = append(x.runNames, string(b))
	return r
}

// compare orders versions as version.compare does.
func (x *latestIndex) compare(a, b rowVersion) int {
	return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(x.runNames[a.run], x.runNames[b.run]))
}

// latestFilter reads keptRows in the order the merge takes the rows.
type latestFilter struct {
	k    *keptRows
	kept []bool // mask's
	// file and row are where the merge is: the file (as given to
	// indexLatest) and its next row.
	file int
	row  int64
}

func newLatestFilter(k *keptRows) *latestFilter { return &latestFilter{k: k} }

// startFile says that the merge goes on with file i (as given to
// indexLatest), from its first row.
func (f *latestFilter) startFile(i int) { f.file, f.row = i, 0 }

// endFile reports an error when the merge read fewer rows of the
// current file than the files' keys were read from.
func (f *latestFilter) endFile() error {
	if f.row != f.k.rows[f.file] {
		return fmt.Errorf("%d rows merged where %d were read when the files' keys were: was the file changed?", f.row, f.k.rows[f.file])
	}
	return nil
}

// next is the position of the merge's next n rows, and moves past them;
// an error past the rows the file had when its keys were read.
func (f *latestFilter) next(n int64) (from int64, err error) {
	if f.row+n > f.k.rows[f.file] {
		return 0, fmt.Errorf("more rows than the %d read when the files' keys were: was the file changed?", f.k.rows[f.file])
	}
	from = f.k.start[f.file] + f.row
	f.row += n
	return from, nil
}

// keepRow reports whether the merge's next row is kept.
func (f *latestFilter) keepRow() (bool, error) {
	at, err := f.next(1)
	return err == nil && f.k.has(at), err
}

// mask says, by row, which of the merge's next n rows (a row group's)
// are kept and how many; nil when every one is. The mask is valid until
// the next call.
func (f *latestFilter) mask(n int64) ([]bool, int64, error) {
	from, err := f.next(n)
	if err != nil {
		return nil, 0, err
	}
	f.kept = f.kept[:0]
	var kept int64
	for at := from; at < from+n; at++ {
		k := f.k.has(at)
		if k {
			kept++
		}
		f.kept = append(f.kept, k)
	}
	if kept == n {
		return nil, n, nil
	}
	return f.kept, kept, nil
}

// keyBudget is CompactOptions.KeyMemory shared by everything that holds
// keys at once: the merges of partitions that run together and the
// checks that decide whether a partition needs merging (needsCompaction).
// Each reserves its part before it reads a key and indexes its keys
// within it (a merge takes more while the budget has room, and indexes
// a share at a time when they take more still), so that the keys of all
// of them together stay within the bound (a share may outgrow its part
// by half before it is narrowed: see indexShares).
type keyBudget struct {
	sem   *semaphore.Weighted
	total int64
	held  atomic.Int64
	// onReserve, when set (tests), is called after each reservation with
	// its bytes and what every holder holds then.
	onReserve func(n, held int64)
}

func newKeyBudget(total int64, onReserve func(n, held int64)) *keyBudget {
	return &keyBudget{sem: semaphore.NewWeighted(total), total: total, onReserve: onReserve}
}

// reserve waits until n bytes of the budget are free (at least 1, at
// most all of it) and takes them. It fails only when ctx ends first.
func (b *keyBudget) reserve(ctx context.Context, n int64) (*keyReservation, error) {
	n = min(max(n, 1), b.total)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	r := &keyReservation{b: b}
	r.took(n)
	return r, nil
}

// keyReservation is a part of a keyBudget, held until release.
type keyReservation struct {
	b *keyBudget
	n int64 // bytes held
}

func (r *keyReservation) took(n int64) {
	r.n += n
	if held := r.b.held.Add(n); r.b.onReserve != nil {
		r.b.onReserve(n, held)
	}
}

// grow takes, without waiting, what more of the budget keys of need
// bytes and a quarter more take (at most all of it), when it is free
// and no one waits for it, and returns the bytes then held: a merge
// whose keys outgrow its estimate holds them all when the budget has
// room, and is indexed a share at a time when it has not.
func (r *keyReservation) grow(need int64) int64 {
	if to := min(need+need/4, r.b.total); to > r.n && r.b.sem.TryAcquire(to-r.n) {
		r.took(to - r.n)
	}
	return r.n
}

// release gives back what r holds.
func (r *keyReservation) release() {
	r.b.held.Add(-r.n)
	r.b.sem.Release(r.n)
	r.n = 0
}

// keyBytesPerRow is what a merge reserves of the keys' budget for each
// row of t's files: a little more than a key takes when each row holds
// one of its own (latestIndex.size; TestLatestIndexSize measures about
// 37 bytes an event's key numbered as the API numbers them, 58-68 when
// numbered far apart, and 100 an operation's of 18-byte ids, about 82
// and the id's bytes: the SDKs' ids are 16 to 64 bytes; an execution's
// holds its ARN, up to about 300 bytes, and its slice).
// Rows that repeat a key (nightly runs re-archiving a running execution)
// make it more than the keys take; an operation's id longer than about
// 110 bytes, less, and then the merge takes more while the budget has
// room (keyReservation.grow), or indexes its keys a share at a time.
func keyBytesPerRow(t *schema.Table) int64 {
	if len(t.Key) == 1 { // the execution's ARN alone
		return 512
	}
	if c, ok := t.ParquetSchema().Lookup(t.Key[1]); ok && c.Node.Type().Kind() == parquet.Int32 {
		return 72 // a number in its execution's slice, or in a map when far from the others
	}
	return 192
}

// keysWanted is what merging a partition (files: its files by table)
// keeping the latest reserves of the keys' budget: what the largest of
// its tables' keys could take by keyBytesPerRow, its rows counted in
// the files' footers. A merge indexes one table at a time.
func (d *Parquet) keysWanted(ctx context.Context, reads *fileReads, files map[string][]publishedFile) (int64, error) {
	var most int64
	for _, t := range d.tables {
		var rows int64
		for _, f := range files[t.Name] {
			n, err := reads.numRows(ctx, f)
			if err != nil {
				return 0, err
			}
			rows += n
		}
		most = max(most, rows*keyBytesPerRow(t))
	}
	return most, nil
}
