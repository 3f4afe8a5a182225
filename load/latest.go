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

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// Compaction keeping the latest (CompactOptions.KeepLatest) reads a
// table's files twice: first their key and version columns
// (indexLatest), which say each key's newest version, then every row
// group to merge, where a mask (latestFilter) says which rows are kept.
// The first pass remembers, up to latestRefsMax rows, each row's key and
// version in file order, so that the merge masks those row groups
// without decoding their key columns again.
//
// A table whose keys would not fit in memory (more than the keys a merge
// may hold: CompactOptions.KeysInMemory) is indexed a share of its
// executions at a time instead (indexShares): for each share, a pass
// over the key columns indexes that share's keys and a second marks, in
// one bit a row, which of its rows are kept; the merge then masks every
// row group from those bits. Memory is the bits and one share's keys;
// the cost, the key columns read twice a share.

// latestRefsMax is how many rows a table's index remembers one by one
// (16 bytes each: 16 MiB). A partition of more rows has the row groups
// of its later files masked from their key columns, read again.
const latestRefsMax = 1 << 20

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

// latestIndex is what the first pass over a table's files learns: each
// key's id and newest version, each execution's older version kept
// beside the newest (for the payloads only it holds: see
// snapshotsWithData), and, for the files read while the rows stay within
// latestRefsMax, each row's key id and version by row group. A key is
// held as its execution's id and the rest of it (an operation's id, an
// event's number), not the ARN again: a partition's keys are most of
// the memory a merge keeping the latest takes.
type latestIndex struct {
	execs    map[string]int32 // by execution_arn: the execution's id
	older    []rowVersion     // by execution id: kept beside the newest, or run -1
	ids      map[string]int32 // by key (the execution's id, then appendKey's encoding of the rest): its id
	intIDs   map[uint64]int32 // ids's, of a key whose rest is one INT32 (an event's): the execution's id, then it
	newest   []rowVersion     // by key id
	execOf   []int32          // by key id: its execution's id
	runs     map[string]int32 // run_id: its index in runNames
	runNames []string
	refs     [][][]rowRef // by file, then row group; a file's nil: not remembered
	nrefs    int64
	buf      []byte
	// share and shares: indexShares's index of one share holds only the
	// keys of executions whose ARN hashes to share (of shares; 0 and 0:
	// every key), by seed.
	share, shares uint64
	seed          maphash.Seed
	rows          int64  // read so far
	lastARN       []byte // inShare's last ARN and its answer
	lastIn        bool
	// kept, when set, is which rows are kept, by file, a bit a row in the
	// file's order (indexShares), of keptRows rows; the index then holds
	// no key.
	kept     [][]uint64
	keptRows []int64
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

// rowRef is a row's key id and version, as the first pass read them.
type rowRef struct {
	at      int64
	id, run int32
}

// indexLatest reads the key and version columns of files (only their
// pages: on S3 through ranges when a file is large, see
// fileReads.projection), remembering rows one by one while they number
// at most most (latestRefsMax; tests less). withData names, by
// execution ARN, the older snapshot kept beside the newest.
//
// Should the keys number more than maxKeys (0: no bound), the table is
// indexed a share at a time (see indexShares).
func indexLatest(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, most int64, maxKeys int) (*latestIndex, error) {
	x := newLatestIndex(len(files))
	err := x.read(ctx, reads, t, files, withData, most, maxKeys)
	if errors.Is(err, errTooManyKeys) {
		keysPerRow := float64(len(x.newest)) / float64(max(x.rows, 1))
		return indexShares(ctx, reads, t, files, withData, maxKeys, keysPerRow)
	}
	if err != nil {
		return nil, err
	}
	return x, nil
}

func newLatestIndex(files int) *latestIndex {
	return &latestIndex{execs: map[string]int32{}, ids: map[string]int32{}, intIDs: map[uint64]int32{}, runs: map[string]int32{},
		refs: make([][][]rowRef, files)}
}

// read is indexLatest's pass over the files' key and version columns,
// indexing the keys of x's share; it stops with errTooManyKeys once they
// number more than maxKeys (0: no bound).
func (x *latestIndex) read(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, most int64, maxKeys int) error {
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
			remember := x.nrefs+pf.NumRows() <= most
			var groups [][]rowRef
			for _, rg := range pf.RowGroups() {
				var refs []rowRef
				if remember {
					refs = make([]rowRef, 0, rg.NumRows())
				}
				x.rows += rg.NumRows()
				err := ks.scan(rg, func(vals []parquet.Value) error {
					if !x.inShare(vals[0].ByteArray()) {
						return nil
					}
					id, v := x.add(vals, withData)
					if remember {
						refs = append(refs, rowRef{v.at, id, v.run})
					}
					return nil
				})
				if err != nil {
					return err
				}
				if maxKeys > 0 && len(x.newest) > maxKeys {
					return errTooManyKeys
				}
				groups = append(groups, refs)
			}
			if remember {
				x.refs[i] = groups
				x.nrefs += pf.NumRows()
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

// inShare reports that the execution of ARN arn is in x's share.
// Consecutive rows are mostly of one execution: the last answer is kept.
func (x *latestIndex) inShare(arn []byte) bool {
	if x.shares <= 1 {
		return true
	}
	if x.lastARN == nil || !bytes.Equal(arn, x.lastARN) {
		x.lastARN = append(x.lastARN[:0], arn...)
		x.lastIn = maphash.Bytes(x.seed, arn)%x.shares == x.share
	}
	return x.lastIn
}

// indexShares indexes a table whose keys number more than maxKeys a
// share of its executions at a time, as many shares as its keys (its
// rows times keysPerRow, as the first pass found them, and a quarter more
// for the shares' differences) divided by maxKeys: for each, a pass
// indexes the share's keys, and a second, over the rows in the order the
// merge takes them (files as given, row groups and rows in file order),
// marks in the returned index's kept which of the share's rows are kept,
// as latestFilter.keep says (each key's newest version once, the older
// kept beside it once).
func indexShares(ctx context.Context, reads *fileReads, t *schema.Table, files []publishedFile, withData map[string]version, maxKeys int, keysPerRow float64) (*latestIndex, error) {
	kept, keptRows := make([][]uint64, len(files)), make([]int64, len(files))
	var rows int64
	for i, f := range files {
		err := reads.projection(ctx, f, func(pf *parquet.File) error {
			kept[i], keptRows[i] = make([]uint64, (pf.NumRows()+63)/64), pf.NumRows()
			rows += pf.NumRows()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("destination %s: read %s: %w", reads.d.dir, f.name, err)
		}
	}
	shares := uint64(max(math.Ceil(float64(rows)*min(keysPerRow, 1)*1.25/float64(max(maxKeys, 1))), 2))
	reads.d.cfg.logger.Info("a partition with more keys than compaction holds at once: merged a share of its executions at a time (raise --memory-limit to merge it faster)",
		"partition", path.Dir(files[0].name), "rows", rows, "keys_in_memory", maxKeys, "shares", shares)
	cols := keyColumns(t)
	seed := maphash.MakeSeed() // every share's: each execution in one
	for share := range shares {
		x := newLatestIndex(len(files))
		x.share, x.shares, x.seed = share, shares, seed
		if err := x.read(ctx, reads, t, files, withData, 0, 0); err != nil {
			return nil, err
		}
		f := newLatestFilter(x)
		for i, file := range files {
			err := reads.projection(ctx, file, func(pf *parquet.File) error {
				ks, err := newKeyScanner(pf.Schema(), cols, false)
				if err != nil {
					return err
				}
				var r int64
				for _, rg := range pf.RowGroups() {
					err := ks.scan(rg, func(vals []parquet.Value) error {
						at := r
						r++
						if !x.inShare(vals[0].ByteArray()) {
							return nil
						}
						k, err := f.keepRow(vals)
						if k {
							kept[i][at/64] |= 1 << (at % 64)
						}
						return err
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("destination %s: read %s: %w", reads.d.dir, file.name, err)
			}
		}
	}
	x := newLatestIndex(len(files))
	x.kept, x.keptRows = kept, keptRows
	return x, nil
}

// add counts a row (vals: the values of keyColumns) and returns its key
// id and version.
func (x *latestIndex) add(vals []parquet.Value, withData map[string]version) (int32, rowVersion) {
	nk := len(vals) - 2
	arn := vals[0].ByteArray()
	exec, ok := x.execs[string(arn)]
	if !ok {
		exec = int32(len(x.older))
		x.execs[string(arn)] = exec
		older := rowVersion{run: -1}
		if wd, ok := withData[string(arn)]; ok {
			older = rowVersion{wd.at, x.run([]byte(wd.run))}
		}
		x.older = append(x.older, older)
	}
	v := rowVersion{vals[nk].Int64(), x.run(vals[nk+1].ByteArray())}
	id, ok := x.lookup(exec, vals[1:nk])
	if !ok {
		id = int32(len(x.newest))
		x.insert(exec, vals[1:nk], id)
		x.newest = append(x.newest, v)
		x.execOf = append(x.execOf, exec)
		return id, v
	}
	if x.compare(v, x.newest[id]) > 0 {
		x.newest[id] = v
	}
	return id, v
}

// lookup is the id of the key of execution exec whose other values are
// rest, if it has one. An event's key (rest one INT32) is a number, not
// a string: a partition's events are most of its keys.
func (x *latestIndex) lookup(exec int32, rest []parquet.Value) (int32, bool) {
	if k, ok := intKey(exec, rest); ok {
		id, ok := x.intIDs[k]
		return id, ok
	}
	x.buf = appendKey(binary.LittleEndian.AppendUint32(x.buf[:0], uint32(exec)), rest)
	id, ok := x.ids[string(x.buf)]
	return id, ok
}

// insert gives the key lookup did not find id.
func (x *latestIndex) insert(exec int32, rest []parquet.Value, id int32) {
	if k, ok := intKey(exec, rest); ok {
		x.intIDs[k] = id
		return
	}
	x.ids[string(appendKey(binary.LittleEndian.AppendUint32(x.buf[:0], uint32(exec)), rest))] = id
}

// intKey is the key of execution exec whose other value is rest's one
// INT32, as a number; false for any other rest.
func intKey(exec int32, rest []parquet.Value) (uint64, bool) {
	if len(rest) != 1 || rest[0].IsNull() || rest[0].Kind() != parquet.Int32 {
		return 0, false
	}
	return uint64(uint32(exec))<<32 | uint64(uint32(rest[0].Int32())), true
}

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

// find is the key id and version of a row the first pass read (vals:
// the values of keyColumns); an error if it did not read it.
func (x *latestIndex) find(vals []parquet.Value) (int32, rowVersion, error) {
	nk := len(vals) - 2
	exec, eok := x.execs[string(vals[0].ByteArray())]
	id, ok := x.lookup(exec, vals[1:nk])
	run, rok := x.runs[string(vals[nk+1].ByteArray())]
	if !eok || !ok || !rok {
		return 0, rowVersion{}, fmt.Errorf("a row of %s not read when the files' keys were: was the file changed?", vals[0].ByteArray())
	}
	return id, rowVersion{vals[nk].Int64(), run}, nil
}

// groupRefs is what the first pass remembered of row group g of file i
// (as files were given to indexLatest), nil if it did not; forget drops
// file i's.
func (x *latestIndex) groupRefs(i, g int) []rowRef {
	if x.refs[i] == nil {
		return nil
	}
	return x.refs[i][g]
}

func (x *latestIndex) forget(i int) { x.refs[i] = nil }

// latestFilter picks the rows --keep latest keeps, in the order they are
// merged: each key's newest version, once, and the older version kept
// beside it (latestIndex.older), once.
type latestFilter struct {
	x                     *latestIndex
	emitted, emittedOlder []bool // by key id
	kept                  []bool // mask's
	// file and row are where the merge is, when the index says which rows
	// are kept by position (latestIndex.kept): the file (as given to
	// indexLatest) and its next row.
	file int
	row  int64
}

func newLatestFilter(x *latestIndex) *latestFilter {
	return &latestFilter{x: x, emitted: make([]bool, len(x.newest)), emittedOlder: make([]bool, len(x.newest))}
}

// keep reports whether the row of key id at version v is kept after the
// rows kept so far, and counts it kept.
func (f *latestFilter) keep(id int32, v rowVersion) bool {
	switch {
	case v == f.x.newest[id]:
		if f.emitted[id] {
			return false
		}
		f.emitted[id] = true
	case v == f.x.older[f.x.execOf[id]]:
		if f.emittedOlder[id] {
			return false
		}
		f.emittedOlder[id] = true
	default:
		return false
	}
	return true
}

// startFile says that the merge goes on with file i (as given to
// indexLatest), from its first row.
func (f *latestFilter) startFile(i int) { f.file, f.row = i, 0 }

// next is the position in the current file of the merge's next n rows
// (for latestIndex.kept), and moves past them; an error past the rows
// the file had when its keys were read.
func (f *latestFilter) next(n int64) (from int64, err error) {
	from = f.row
	if from+n > f.x.keptRows[f.file] {
		return 0, fmt.Errorf("more rows than the %d read when the files' keys were: was the file changed?", f.x.keptRows[f.file])
	}
	f.row += n
	return from, nil
}

// keptBit reports whether row r of the current file is kept
// (latestIndex.kept).
func (f *latestFilter) keptBit(r int64) bool {
	return f.x.kept[f.file][r/64]&(1<<(r%64)) != 0
}

// keepRow is keep for a row of key and version values vals (the merge's
// next row).
func (f *latestFilter) keepRow(vals []parquet.Value) (bool, error) {
	if f.x.kept != nil {
		r, err := f.next(1)
		return err == nil && f.keptBit(r), err
	}
	id, v, err := f.x.find(vals)
	if err != nil {
		return false, err
	}
	return f.keep(id, v), nil
}

// mask says, by row, which rows of rg are kept (keep, in order) and how
// many; nil when every one is. It reads them from refs, what the first
// pass remembered of rg, or when it remembered nothing (nil), from rg's
// key columns (ks). The mask is valid until the next call.
func (f *latestFilter) mask(refs []rowRef, ks *keyScanner, rg parquet.RowGroup) ([]bool, int64, error) {
	f.kept = f.kept[:0]
	var n int64
	switch {
	case f.x.kept != nil:
		from, err := f.next(rg.NumRows())
		if err != nil {
			return nil, 0, err
		}
		for r := from; r < from+rg.NumRows(); r++ {
			k := f.keptBit(r)
			if k {
				n++
			}
			f.kept = append(f.kept, k)
		}
	case refs != nil:
		if int64(len(refs)) != rg.NumRows() {
			return nil, 0, fmt.Errorf("%d rows in a row group whose keys were read as %d", rg.NumRows(), len(refs))
		}
		for _, r := range refs {
			k := f.keep(r.id, rowVersion{r.at, r.run})
			if k {
				n++
			}
			f.kept = append(f.kept, k)
		}
	default:
		err := ks.scan(rg, func(vals []parquet.Value) error {
			k, err := f.keepRow(vals)
			if k {
				n++
			}
			f.kept = append(f.kept, k)
			return err
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if n == rg.NumRows() {
		return nil, n, nil
	}
	return f.kept, n, nil
}

// rowKeys picks the values of keyColumns out of whole rows of a schema.
type rowKeys struct {
	slot []int // by leaf column index: its place among the key values, or -1
	vals []parquet.Value
}

func newRowKeys(t *schema.Table, s *parquet.Schema) *rowKeys {
	cols := keyColumns(t)
	k := &rowKeys{slot: make([]int, len(s.Columns())), vals: make([]parquet.Value, len(cols))}
	for i := range k.slot {
		k.slot[i] = -1
	}
	for i, name := range cols {
		if c, ok := s.Lookup(name); ok {
			k.slot[c.ColumnIndex] = i
		}
	}
	return k
}

// of is row's values of keyColumns, in one pass over its values; valid
// until the next call.
func (k *rowKeys) of(row parquet.Row) []parquet.Value {
	for _, v := range row {
		if c := v.Column(); c < len(k.slot) && k.slot[c] >= 0 {
			k.vals[k.slot[c]] = v
		}
	}
	return k.vals
}
