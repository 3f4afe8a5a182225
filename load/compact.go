package load

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/durable-etl/durable-etl/schema"
)

// Compaction merges each partition's files into as few as the target file
// size allows, so that Athena reads few large files instead of one small
// file per table per partition per run.
//
// Publication is the runs': the merged files are written under _incoming
// and renamed (or completed, on S3) into their partition, operations and
// events before executions, and only then are the files they replace
// removed. Each merged file names, in its key-value metadata, the files it
// replaces (compactedFromKey). A kill at any point leaves every row
// visible (at worst twice, which the _latest views hide, as both copies
// carry the same run_id and extracted_at); the next compaction first
// removes whatever a merged file says it replaces, then goes on.

// CompactOptions say what Compact does.
type CompactOptions struct {
	// From and To bound the partitions (YYYY-MM-DD, inclusive; "" is open).
	From, To string
	// KeepLatest also drops the rows that a newer snapshot of the same key
	// supersedes, as the _latest views would: by (execution_arn,
	// operation_id) for operations, execution_arn for executions,
	// (execution_arn, event_id) for events, keeping the newest by
	// extracted_at, then run_id. One older snapshot is kept too: of an
	// execution whose newest snapshot was read without its data (the
	// service could not decrypt it), its newest snapshot with the data
	// (operations and executions rows), which holds payloads the newer one
	// lacks, until a snapshot with the data supersedes both. Without it
	// every row is kept.
	KeepLatest bool
	// KeyMemory bounds the bytes that the keys KeepLatest holds take (0:
	// 96 MiB), as the merges estimate them: about 35 bytes an event's
	// key (its number, in its execution's slice), about 100 an
	// operation's (its id held as a string), and each execution's ARN
	// once. It is shared: each merge running beside others reserves
	// what its partition's largest table's keys could take (by its rows,
	// keyBytesPerRow), at most all of it, and waits until that is free;
	// so does each check of whether a partition holds superseded rows (a
	// map entry a row, at most an eighth). A merge whose keys outgrow
	// what it reserved takes more while the bound has room; a partition
	// whose keys would take more than that is indexed a share of its
	// executions at a time (each share's keys aiming at 0.8 of what the
	// merge holds, and one past 1.5 of it read again in two): its key
	// columns are read once a share, and one bit a row is held for the
	// merge.
	KeyMemory int64
	// MinAge leaves alone files published less than this long ago (a run in
	// progress may still be writing the partition; etl compact's default is
	// an hour); 0 takes every file.
	MinAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnPartition, when set, is called after each partition Compact looked
	// at (merged or left as it was), with how many of the total it has
	// looked at and the stats so far: a compaction of a large archive can
	// take long. Calls do not overlap; partitions end in no set order.
	OnPartition func(done, total int, st CompactStats)

	stopAfterPublish   bool                // tests: a kill between publishing and removing
	onChildUploadsWait func()              // tests: childUploads.wait begins
	onKeysReserved     func(n, held int64) // tests: keyBudget.onReserve
}

// keyMemory is KeyMemory, or its default.
func (o CompactOptions) keyMemory() int64 {
	if o.KeyMemory > 0 {
		return o.KeyMemory
	}
	return 96 << 20
}

// CompactStats says what Compact did.
type CompactStats struct {
	Partitions int   `json:"partitions_compacted"`
	FilesIn    int   `json:"files_in"`
	FilesOut   int   `json:"files_out"`
	RowsIn     int64 `json:"rows_in"`
	RowsOut    int64 `json:"rows_out"`
	// Finished counts files removed that an interrupted compaction had
	// already replaced.
	Finished int `json:"interrupted_compactions_finished"`
	// Young counts the files left alone for being published less than
	// MinAge ago.
	Young int `json:"files_younger_than_min_age"`
	// AlreadyCompact counts the partitions left as they were for having
	// nothing to merge: one file per table (old enough) and, keeping the
	// latest, no superseded snapshot in it.
	AlreadyCompact int `json:"partitions_already_compact"`
	// RowGroupsCopied counts row groups moved whole into merged files
	// (large enough to stand as they are, every row kept), their pages
	// not decoded.
	RowGroupsCopied int `json:"row_groups_copied"`
	// Unreadable names the files that are not Parquet etl can read
	// (*NotParquetError), with the destination's name as the run's ledger
	// does: each one's partition was left as it was.
	Unreadable []string `json:"unreadable_files,omitempty"`
	// Done counts the partitions looked at to the end (merged, already
	// compact, left for an unreadable file or holding only young files) of
	// Total, those in the range: fewer when Compact failed or was canceled.
	Done  int `json:"partitions_done"`
	Total int `json:"partitions_total"`
}

// compactedFromKey is the key-value metadata that names the files a merged
// file replaces (a JSON list of names under the destination); compactKeepKey
// records whether superseded snapshots were dropped.
const (
	compactedFromKey = "durable-etl.compacted-from"
	compactKeepKey   = "durable-etl.compacted-keep"
)

// Compact merges the partitions' files; see [CompactOptions]. It works on
// fileReaders partitions at once: what decides whether one needs merging
// (a merged file's footer, a run's file's key columns) and the merges,
// which on S3 cost a request's latency a file, overlap. Merges run
// together only while the row groups they may hold add up to the
// row-group size (mergeWeight) and, keeping the latest, while the keys
// they may hold fit in KeyMemory (keyBudget): a large partition is merged
// alone, and memory stays what one large merge takes. A partition holding a file
// that is not Parquet etl can read ([*NotParquetError]) is left as it
// was, named in the stats (Unreadable), and the others go on. It stops at
// any other failure: no partition is begun after it, those begun are
// finished (merges under way complete), the partitions merged stay
// merged, the one that failed is left as it was (its merged files so far
// are removed), and a rerun goes on. Cancelled (ctx), each partition it
// was merging is left as it was, or merged when only the removal of the
// files its merged files replace was left. Killed, it leaves merged files
// beside the files they replace, which a rerun removes.
func (d *Parquet) Compact(ctx context.Context, o CompactOptions) (CompactStats, error) {
	defer d.releaseSink()
	var st CompactStats
	if o.Now == nil {
		o.Now = time.Now
	}
	byDT := map[string]map[string][]publishedFile{} // dt: table: files
	for _, t := range d.tables {
		files, err := d.sink.list(ctx, t.Name+"/")
		if err != nil {
			return st, fmt.Errorf("destination %s: list %s: %w", d.dir, t.Name, err)
		}
		for _, f := range files {
			dt := partitionOf(f.name)
			if dt == "" || (o.From != "" && dt < o.From) || (o.To != "" && dt > o.To) {
				continue
			}
			if byDT[dt] == nil {
				byDT[dt] = map[string][]publishedFile{}
			}
			byDT[dt][t.Name] = append(byDT[dt][t.Name], f)
		}
	}
	st.Total = len(byDT)
	var (
		mu      sync.Mutex // st, o.OnPartition
		merging = semaphore.NewWeighted(d.cfg.rowGroup)
		keys    = newKeyBudget(o.keyMemory(), o.onKeysReserved)
		failed  atomic.Bool
		g       errgroup.Group // not WithContext: a failure stops new partitions, not those under way
	)
	g.SetLimit(fileReaders)
	for _, dt := range slices.Sorted(maps.Keys(byDT)) {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if failed.Load() {
				return nil
			}
			var ps CompactStats
			err := d.compactPartition(ctx, dt, byDT[dt], o, &ps, merging, keys)
			mu.Lock()
			defer mu.Unlock()
			if np := notParquet(err); np != nil && ctx.Err() == nil {
				d.cfg.logger.Error("a file is not Parquet etl can read: its partition is left as it was", "file", d.shown(np.Name), "error", np.Err.Error())
				ps.Unreadable = append(ps.Unreadable, d.shown(np.Name))
				err = nil
			}
			st.add(ps)
			if err != nil {
				failed.Store(true)
				return err
			}
			st.Done++
			if o.OnPartition != nil {
				o.OnPartition(st.Done, st.Total, st)
			}
			return nil
		})
	}
	err := g.Wait()
	slices.Sort(st.Unreadable)
	if err == nil {
		err = ctx.Err()
	}
	return st, err
}

// add adds what compacting another partition did.
func (st *CompactStats) add(o CompactStats) {
	st.Partitions += o.Partitions
	st.FilesIn += o.FilesIn
	st.FilesOut += o.FilesOut
	st.RowsIn += o.RowsIn
	st.RowsOut += o.RowsOut
	st.Finished += o.Finished
	st.Young += o.Young
	st.AlreadyCompact += o.AlreadyCompact
	st.RowGroupsCopied += o.RowGroupsCopied
	st.Unreadable = append(st.Unreadable, o.Unreadable...)
}

// compactPartition finishes what an interrupted compaction left of
// partition dt (files: its files by table), then merges what is old
// enough, when there is something to merge, holding its weight of merging
// until the merged files are published (removing the files they replace
// takes no memory). What it downloads of a small file (S3) is kept until
// it is done: deciding, then merging, read the same files up to three
// times; before merging, it downloads them at once (prefetch).
func (d *Parquet) compactPartition(ctx context.Context, dt string, files map[string][]publishedFile, o CompactOptions, st *CompactStats, merging *semaphore.Weighted, keys *keyBudget) error {
	reads := d.keepingReads()
	defer reads.close()
	finished, err := d.finishInterrupted(ctx, reads, files)
	st.Finished += finished
	if err != nil {
		return err
	}
	if err := d.leaveUnsettledOrphans(ctx, reads, files); err != nil {
		return err
	}
	cutoff := o.Now().Add(-o.MinAge)
	for name, fs := range files { // only files old enough
		kept := fs[:0]
		for _, f := range fs {
			if f.modified.Before(cutoff) {
				kept = append(kept, f)
			} else {
				st.Young++
			}
		}
		files[name] = kept
	}
	need, err := d.needsCompaction(ctx, reads, files, o.KeepLatest, keys)
	if err != nil {
		return err
	}
	if !need {
		for _, fs := range files {
			if len(fs) > 0 {
				st.AlreadyCompact++
				break
			}
		}
		return nil
	}
	reads.prefetch(ctx, slices.Concat(slices.Collect(maps.Values(files))...))
	var want int64 // of the keys' budget: counted before waiting for anything
	if o.KeepLatest {
		if want, err = d.keysWanted(ctx, reads, files); err != nil {
			return err
		}
	}
	w := d.mergeWeight(files)
	if err := merging.Acquire(ctx, w); err != nil {
		return err
	}
	var held *keyReservation // the keys' part of the budget the merge holds
	if o.KeepLatest {
		if held, err = keys.reserve(ctx, want); err != nil {
			merging.Release(w)
			return err
		}
	}
	children, executions, err := d.compactDT(ctx, reads, dt, files, o, held, st)
	if held != nil {
		held.release()
	}
	merging.Release(w) // removing takes no memory: the next merge may begin
	if err != nil {
		return err
	}
	if err := d.removeReplaced(ctx, children, executions); err != nil {
		return err
	}
	st.Partitions++
	return nil
}

// mergeWeight is what merging a partition's files weighs against the
// row-group size, the most that merges running together may weigh: the
// row group a merge holds in memory (its pages, compressed, until it
// ends) grows with its files' size, up to the row-group size; each
// column's page buffers and the merge's maps add about mergeOverhead.
func (d *Parquet) mergeWeight(files map[string][]publishedFile) int64 {
	w := int64(mergeOverhead)
	for _, fs := range files {
		for _, f := range fs {
			w += f.size
		}
	}
	return min(w, d.cfg.rowGroup)
}

// mergeOverhead is a merge's memory beside its row group.
const mergeOverhead = 16 << 20

// leaveUnsettledOrphans drops from files the operations and events files
// of a run killed between publishing them and their executions sibling
// (see Archived) whose executions no later executions row of the
// partition covers yet. The next run counts such a file's events as
// archived only while it stands apart under its own name; merged, its
// events would be written again. Once a later run has archived each of
// its executions (an execution's rows all live in its start date's
// partition), the file merges like any other. Rare, so the executions
// files are read only when there is one.
func (d *Parquet) leaveUnsettledOrphans(ctx context.Context, reads *fileReads, files map[string][]publishedFile) error {
	orphan := withoutSibling(files["executions"])
	var orphans []publishedFile
	for table, fs := range files {
		for _, f := range fs {
			if table != "executions" && orphan(f.name) {
				orphans = append(orphans, f)
			}
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	newest := map[string]int64{} // by execution: its newest executions row's extracted_at
	for _, f := range files["executions"] {
		if err := d.eachArnExtracted(ctx, reads, f, func(arn string, ms int64) { newest[arn] = max(newest[arn], ms) }); err != nil {
			return err
		}
	}
	unsettled := map[string]bool{}
	for _, f := range orphans {
		err := d.eachArnExtracted(ctx, reads, f, func(arn string, ms int64) {
			if newest[arn] <= ms {
				unsettled[f.name] = true
			}
		})
		if err != nil {
			return err
		}
		if unsettled[f.name] {
			d.cfg.logger.Warn("a file without its executions file (a run was killed between the two) is left apart until a later run archives its executions", "file", f.name)
		}
	}
	for table, fs := range files {
		files[table] = slices.DeleteFunc(fs, func(f publishedFile) bool { return unsettled[f.name] })
	}
	return nil
}

// arnExtracted is the projection leaveUnsettledOrphans reads of any table.
type arnExtracted struct {
	ExecutionArn string    `parquet:"execution_arn"`
	ExtractedAt  time.Time `parquet:"extracted_at,timestamp(millisecond)"`
}

// eachArnExtracted calls fn with each row's execution and extraction time
// of the published file name.
func (d *Parquet) eachArnExtracted(ctx context.Context, reads *fileReads, f publishedFile, fn func(arn string, ms int64)) error {
	err := reads.projection(ctx, f, func(pf *parquet.File) error {
		return eachProjected(pf, func(row *arnExtracted) { fn(row.ExecutionArn, row.ExtractedAt.UnixMilli()) })
	})
	if err != nil {
		return fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
	}
	return nil
}

// partitionOf is the dt of a name TABLE/dt=DATE/FILE, or "".
func partitionOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return ""
	}
	dt, ok := strings.CutPrefix(parts[1], schema.PartitionKey+"=")
	if !ok {
		return ""
	}
	return dt
}

// metadata reads a published file's key-value metadata, once per file and
// compaction: its footer only, through ranges where the sink reads them
// (S3) and the file is large (fileReads.projection), so that compacting an
// archive of large merged files again does not download them whole.
func (d *Parquet) metadata(ctx context.Context, reads *fileReads, f publishedFile) (map[string]string, error) {
	d.listMu.Lock()
	md, ok := d.metaCache[f.name]
	d.listMu.Unlock()
	if ok {
		return md, nil
	}
	out := map[string]string{}
	err := reads.projection(ctx, f, func(pf *parquet.File) error {
		for _, kv := range pf.Metadata().KeyValueMetadata {
			out[kv.Key] = kv.Value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
	}
	d.listMu.Lock()
	if d.metaCache == nil {
		d.metaCache = map[string]map[string]string{}
	}
	d.metaCache[f.name] = out
	d.listMu.Unlock()
	return out, nil
}

// finishInterrupted removes the files that a merged file of the partition
// says it replaces and that are still there (a compaction killed between
// publishing and removing), and drops them from files. A file of such a
// name written after the merged file is another file (a run's that drew
// the same name) and stays.
func (d *Parquet) finishInterrupted(ctx context.Context, reads *fileReads, files map[string][]publishedFile) (int, error) {
	var merged []publishedFile
	for _, fs := range files {
		merged = append(merged, slices.DeleteFunc(slices.Clone(fs), func(f publishedFile) bool { return !isCompacted(f.name) })...)
	}
	// Their footers are read below: a small file is downloaded whole.
	reads.prefetch(ctx, merged)
	replaced := map[string]time.Time{} // by name: when the newest merged file naming it was written
	for _, fs := range files {
		for _, f := range fs {
			if !isCompacted(f.name) {
				continue
			}
			md, err := d.metadata(ctx, reads, f)
			if err != nil {
				return 0, err
			}
			var from []string
			if v, ok := md[compactedFromKey]; ok {
				if err := json.Unmarshal([]byte(v), &from); err != nil {
					return 0, fmt.Errorf("destination %s: %s: bad %s: %w", d.dir, f.name, compactedFromKey, err)
				}
			}
			for _, n := range from {
				if f.modified.After(replaced[n]) {
					replaced[n] = f.modified
				}
			}
		}
	}
	n := 0
	for _, table := range []string{"operations", "events", "executions"} { // executions last
		kept := files[table][:0]
		for _, f := range files[table] {
			by, ok := replaced[f.name]
			if ok && f.modified.After(by) {
				d.cfg.logger.Warn("a file has the name of one a merged file replaced but was written after it: kept", "file", f.name)
			}
			if !ok || f.modified.After(by) {
				kept = append(kept, f)
				continue
			}
			if err := d.sink.remove(ctx, f.name); err != nil {
				return n, fmt.Errorf("destination %s: remove %s: %w", d.dir, f.name, err)
			}
			n++
		}
		files[table] = kept
	}
	return n, nil
}

func isCompacted(name string) bool {
	return strings.HasPrefix(name[strings.LastIndex(name, "/")+1:], "compact-")
}

// needsCompaction: a partition with more than one file in a table, or, for
// KeepLatest, a single file that holds a superseded snapshot: neither a
// KeepLatest merge nor a file whose keys each have rows of one version
// only (oneVersionPerKey: any file a run writes, so that a partition
// archived by one run is not written again for nothing; a first compaction
// after a backfill would otherwise rewrite, and on S3 upload again, every
// partition the backfill wrote).
func (d *Parquet) needsCompaction(ctx context.Context, reads *fileReads, files map[string][]publishedFile, keepLatest bool, keys *keyBudget) (bool, error) {
	for _, fs := range files {
		if len(fs) > 1 {
			return true, nil
		}
	}
	if !keepLatest {
		return false, nil
	}
	for _, t := range d.tables {
		for _, f := range files[t.Name] {
			if isCompacted(f.name) {
				md, err := d.metadata(ctx, reads, f)
				if err != nil {
					return false, err
				}
				if md[compactKeepKey] == "latest" {
					continue
				}
			}
			one, err := d.oneVersionPerKey(ctx, reads, t, f, keys)
			if err != nil {
				return false, err
			}
			if !one {
				return true, nil
			}
		}
	}
	return false, nil
}

// errSuperseded stops oneVersionPerKey's scan at the first key seen in
// two versions.
var errSuperseded = errors.New("a key in two versions")

// oneVersionPerKey reports that every key of f (a file of table t) has
// rows of one version (extracted_at, run_id) only: merging f alone,
// keeping the latest, would drop nothing. It reads only the key and
// version columns. Keys are told apart by a 64-bit hash: two keys of one
// hash count as one, so such a pair in two versions has f merged as
// before (never the other way round: versions are compared exactly). It
// reserves of keys what a map entry a row takes, at most an eighth of
// it (fileReaders: Compact decides for that many partitions at once),
// and a file whose keys would take more has them held a share at a
// time: the file opened once, its key columns read once a share.
func (d *Parquet) oneVersionPerKey(ctx context.Context, reads *fileReads, t *schema.Table, f publishedFile, keys *keyBudget) (bool, error) {
	type at struct {
		ms  int64
		run int // index in runs
	}
	seed := maphash.MakeSeed()
	seen := map[uint64]at{} // by key hash
	runs := map[string]int{}
	var buf []byte
	err := reads.projection(ctx, f, func(pf *parquet.File) error {
		// seen's entry: a 24-byte slot, as a map[string]int32's.
		held, err := keys.reserve(ctx, min(max(pf.NumRows(), 1)*stringMapEntry, keys.total/fileReaders))
		if err != nil {
			return err
		}
		defer held.release()
		perShare := max(held.n/stringMapEntry, 1)
		shares := uint64((max(pf.NumRows(), 1)-1)/perShare + 1) // rows / perShare, rounded up
		for share := range shares {
			clear(seen)
			err := keyScan(pf, keyColumns(t), false, func(vals []parquet.Value) error {
				// No allocation a row: the key hashed from scratch bytes, the
				// run looked up by its bytes (a few runs a file).
				nk := len(vals) - 2
				buf = appendKey(buf[:0], vals[:nk])
				run := vals[nk+1].ByteArray()
				r, ok := runs[string(run)]
				if !ok {
					r = len(runs)
					runs[string(run)] = r
				}
				k, v := maphash.Bytes(seed, buf), at{vals[nk].Int64(), r}
				if k%shares != share {
					return nil
				}
				if prev, ok := seen[k]; ok && prev != v {
					return errSuperseded
				}
				seen[k] = v
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errSuperseded):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
	}
	return true, nil
}

// version orders snapshots as the _latest views do: by extracted_at (ms),
// then run_id. Every "newest row" rule of the package goes through it.
type version struct {
	at  int64
	run string
}

func (a version) compare(b version) int {
	return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.run, b.run))
}

func (a version) newer(b version) bool { return a.compare(b) > 0 }

// compactDT merges one partition: every table's files into new ones, and
// publishes them: the child tables' files each in the background once
// written (childUploads), the executions files once those are published.
// It returns the files they replace, the child tables'
// and the executions', for removeReplaced; on a failure the partition is
// as it was (what it published is removed: unpublish). keys is the
// merge's part of the keys' budget when keeping the latest, else nil.
func (d *Parquet) compactDT(ctx context.Context, reads *fileReads, dt string, files map[string][]publishedFile, o CompactOptions, keys *keyReservation, st *CompactStats) (children, executions []string, err error) {
	// Unique per compaction: a name already taken would be overwritten on S3.
	var rnd [3]byte
	rand.Read(rnd[:])
	stamp := o.Now().UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(rnd[:])
	before := *st // a merge undone counts for nothing
	var published []string
	up := &childUploads{d: d, onWait: o.onChildUploadsWait}
	uploaded := func() error { // the child tables' files published in the background
		err := up.wait()
		for _, u := range up.done {
			published = append(published, u.name)
			st.RowsOut += u.rows
		}
		up.done = nil
		return err
	}
	undo := func(cause error) error {
		uploaded()
		st.RowsIn, st.RowsOut, st.RowGroupsCopied, st.FilesIn = before.RowsIn, before.RowsOut, before.RowGroupsCopied, before.FilesIn
		return d.unpublish(ctx, published, cause)
	}
	var withData map[string]version // read once, for the tables with data columns
	if o.KeepLatest {
		if withData, err = d.snapshotsWithData(ctx, reads, files[schema.Executions.Name]); err != nil {
			return nil, nil, err
		}
	}
	// The child tables first, executions last, as runs publish.
	for _, table := range d.tables {
		fs := files[table.Name]
		if len(fs) == 0 {
			continue
		}
		fs = slices.SortedFunc(slices.Values(fs), func(a, b publishedFile) int { return strings.Compare(a.name, b.name) })
		var keepWithData map[string]version
		if hasData(table) {
			keepWithData = withData
		}
		out, err := compactTable(ctx, d, reads, dt, stamp, table, fs, keys, keepWithData, st, up)
		published = append(published, out...)
		if err != nil {
			return nil, nil, undo(err)
		}
		for _, f := range fs {
			if table == schema.Executions {
				executions = append(executions, f.name)
			} else {
				children = append(children, f.name)
			}
		}
		st.FilesIn += len(fs)
	}
	if err := uploaded(); err != nil { // a partition without executions files
		return nil, nil, undo(err)
	}
	st.FilesOut += len(published)
	if o.stopAfterPublish {
		return nil, nil, errors.New("stopped after publishing (test)")
	}
	return children, executions, nil
}

// removers is how many files removeReplaced removes at once: on S3 each
// is a request (DeleteObjects would take a thousand in one, but not every
// S3-compatible store has it).
const removers = 8

// removeReplaced removes the files a partition's merged files replace,
// once every merged file is published, removers at a time: the child
// tables' files, then the executions' (as finishInterrupted does, the
// reverse of publishing). It finishes even when ctx is cancelled (a few
// calls): an interrupted compaction leaves each partition merged or as it
// was. On a failure the merged files stay published beside what is left
// of the files they replace (each row visible twice, which the _latest
// views hide), for a rerun of compact to finish.
func (d *Parquet) removeReplaced(ctx context.Context, children, executions []string) error {
	ctx = context.WithoutCancel(ctx)
	for _, names := range [][]string{children, executions} {
		var g errgroup.Group
		g.SetLimit(removers)
		for _, n := range names {
			g.Go(func() error {
				if err := d.sink.remove(ctx, n); err != nil {
					return fmt.Errorf("destination %s: remove %s (the merged files are published; rerun compact to finish): %w", d.dir, n, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// unpublish removes the merged files a compaction of a partition
// published before it failed (cause), every file they replace being still
// there: the partition is then as it was. Left, a merged file would show
// its rows twice in the tables (the _latest views hide them) until a
// compact finished, which a file that is not Parquet stops until someone
// moves it. A merged file that cannot be removed is for a rerun of
// compact to finish (finishInterrupted), as after a kill.
func (d *Parquet) unpublish(ctx context.Context, published []string, cause error) error {
	ctx = context.WithoutCancel(ctx) // an interrupted compact too
	for _, n := range published {
		if err := d.sink.remove(ctx, n); err != nil {
			return fmt.Errorf("%w (destination %s: remove merged file %s: %v; rerun compact to finish)", cause, d.dir, n, err)
		}
		d.cfg.logger.Debug("removed a merged file of a compaction that stopped", "name", n)
	}
	return cause
}

// compactTable merges files (one table's files of dt) into new files of at
// most the target size and publishes them (a child table's in the
// background through up: the names returned are the executions table's
// only); with keys (KeepLatest: the merge's part of the keys' budget)
// only each key's newest row is kept (the key and
// version columns of every file are read first, indexLatest, whose
// latestFilter then masks each row group merged). A row group whose rows
// are all kept and that is large enough to stand as it is (wholeGroup)
// in the table's schema is copied whole (parquet-go copies its pages as
// they are when the writer's options allow, else re-encodes it column by
// column), so that compacting a partition again, after a run added small
// files beside a merged one, re-encodes the new rows, not the whole
// partition; the rows kept of the others move column by column (see
// mergeFile), or, from files written before a column was added, are read
// as rows in the table's schema (the column null). The merge opens each
// file once. files are sorted by name, and merged files (compact-...)
// sort before the runs' (part-...): a partition's merged row groups are
// copied before the small files' rows are read, which then fill row
// groups together (a run's file holding a whole row group, read later,
// ends the rows gathered so far as a small row group of their own).
//
// withData (keepLatest only) names, by execution ARN, an older snapshot
// kept beside the newest: see snapshotsWithData.
//
// keys bounds the bytes of the keys indexLatest holds at once (grown
// while the budget has room).
func compactTable(ctx context.Context, d *Parquet, reads *fileReads, dt, stamp string, table *schema.Table, files []publishedFile, keys *keyReservation, withData map[string]version, st *CompactStats, up *childUploads) ([]string, error) {
	full := table.ParquetSchema()
	var filter *latestFilter
	keepLatest := keys != nil
	if keepLatest {
		k, err := indexLatest(ctx, reads, table, files, withData, keys.n, keys.grow)
		if err != nil {
			return nil, err
		}
		filter = newLatestFilter(k)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	from, _ := json.Marshal(names)
	keep := "all"
	if keepLatest {
		keep = "latest"
	}
	cw := &compactWriter{d: d, st: st, table: table, up: up, replaces: names, opts: append(d.writerOptions(table), parquet.KeyValueMetadata(compactedFromKey, string(from)), parquet.KeyValueMetadata(compactKeepKey, keep)),
		name: func(seq int) string {
			return fmt.Sprintf("%s/%s=%s/compact-%s-%05d.parquet", table.Name, schema.PartitionKey, dt, stamp, seq)
		}}
	var kept []parquet.Row // not rows[:0]: the reader refills its rows in place
	for i, f := range files {
		n := f.name
		var mask func(parquet.RowGroup) ([]bool, int64, error) // nil: every row is kept
		if keepLatest {
			filter.startFile(i)
			mask = func(rg parquet.RowGroup) ([]bool, int64, error) {
				return filter.mask(rg.NumRows())
			}
		}
		err := reads.read(ctx, f, func(r io.ReaderAt, size int64) error {
			return cw.mergeFile(n, r, size, full, mask, func(rows []parquet.Row) error {
				st.RowsIn += int64(len(rows))
				if keepLatest {
					kept = kept[:0]
					for _, row := range rows {
						k, err := filter.keepRow()
						if err != nil {
							return err
						}
						if k {
							kept = append(kept, row)
						}
					}
					rows = kept
				}
				return cw.write(rows) // now: the reader reuses the rows' memory
			})
		})
		if err == nil && keepLatest {
			err = filter.endFile()
		}
		if err != nil {
			cw.discard()
			return cw.out, fmt.Errorf("destination %s: compact %s: %w", d.dir, n, err)
		}
	}
	return cw.out, cw.finish()
}

// hasData reports that t has columns a read without the execution's data
// leaves out.
func hasData(t *schema.Table) bool {
	return slices.ContainsFunc(t.Columns, func(c schema.Column) bool { return c.Data != schema.NotData })
}

// snapshotsWithData reads a partition's executions files (their ledger
// columns) and returns, for each execution whose newest snapshot there was
// read without its data (execution_data_included false) and an older one
// with it, the version of the newest such older snapshot: what compaction
// keeping the latest keeps beside the newest, for the payloads only it
// holds (see CompactOptions.KeepLatest).
func (d *Parquet) snapshotsWithData(ctx context.Context, reads *fileReads, files []publishedFile) (map[string]version, error) {
	newest, withData := map[string]ExecutionState{}, map[string]version{}
	for _, f := range files {
		err := reads.projection(ctx, f, func(pf *parquet.File) error {
			return eachProjected(pf, func(row *ExecutionState) {
				if cur, ok := newest[row.Arn]; !ok || newer(*row, cur) {
					newest[row.Arn] = *row
				}
				if row.DataIncluded == nil || *row.DataIncluded {
					v := version{row.ExtractedAt.UnixMilli(), row.RunID}
					if cur, ok := withData[row.Arn]; !ok || v.newer(cur) {
						withData[row.Arn] = v
					}
				}
			})
		})
		if err != nil {
			return nil, fmt.Errorf("destination %s: read %s: %w", d.dir, f.name, err)
		}
	}
	out := map[string]version{}
	for arn, st := range newest {
		if v, ok := withData[arn]; ok && st.DataIncluded != nil && !*st.DataIncluded {
			out[arn] = v
		}
	}
	return out, nil
}

// compactWriter writes a partition's merged rows into files of about the
// target size and publishes each as it fills. A row group ends at
// compactGroupRows rows or once the writer holds the row-group size
// (WithRowGroupSize: 64 MiB by default) of it, encoded: parquet-go keeps a
// row group's pages in memory until it ends, so a count of rows alone let
// a partition of large payloads (64K rows of 1 MiB results) hold a row
// group of gigabytes.
type compactWriter struct {
	d          *Parquet
	st         *CompactStats
	table      *schema.Table
	opts       []parquet.WriterOption
	name       func(seq int) string
	seq        int
	cur        *partFile
	groupStart int64    // the current file's size when its row group began
	out        []string // published here (the executions table's)
	// up publishes the child tables' files in the background; the
	// executions table's files are published once up's are.
	up       *childUploads
	replaces []string // the files merged (no merged file may take one's name)
}

const (
	// compactGroupRows is the most rows a merged file's row group holds.
	compactGroupRows = 64 << 10
	// compactChunk is how many rows are written between two looks at the
	// row group's size: it may pass the row-group size by that many rows.
	compactChunk = 8
)

// write moves rows into the current file (started if need be).
func (c *compactWriter) write(rows []parquet.Row) error {
	for len(rows) > 0 {
		cur, err := c.file()
		if err != nil {
			return err
		}
		n := min(len(rows), compactChunk, compactGroupRows-int(cur.buffered))
		if _, err := cur.w.WriteRows(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
		cur.rows += int64(n)
		cur.buffered += int64(n)
		if cur.buffered < compactGroupRows && cur.w.Size()-c.groupStart < c.d.cfg.rowGroup {
			continue
		}
		if err := c.endGroup(cur); err != nil {
			return err
		}
	}
	return nil
}

// endGroup ends cur's row group, and cur when it reached the target size.
func (c *compactWriter) endGroup(cur *partFile) error {
	cur.buffered = 0
	if err := cur.w.Flush(); err != nil {
		return err
	}
	if c.groupStart = cur.w.Size(); c.groupStart >= c.d.cfg.targetFile {
		return c.finish()
	}
	return nil
}

// appendGroup moves the n rows of rg (of size bytes in its file) that
// keep keeps (nil: all), a row group in the table's schema, into the
// current file's row group column by column, which costs a fraction of
// reading and writing them as rows; the row group is ended first if they
// would take it past compactGroupRows rows or the row-group size.
func (c *compactWriter) appendGroup(rg parquet.RowGroup, keep []bool, n, size int64) error {
	if n == 0 {
		return nil
	}
	cur, err := c.file()
	if err != nil {
		return err
	}
	if cur.buffered > 0 && (cur.buffered+n > compactGroupRows || cur.w.Size()-c.groupStart+size > c.d.cfg.rowGroup) {
		if err := c.endGroup(cur); err != nil {
			return err
		}
		if cur, err = c.file(); err != nil {
			return err
		}
	}
	if _, err := cur.w.AppendRowGroup(rg, keep); err != nil {
		return err
	}
	cur.rows += n
	cur.buffered += n
	if cur.buffered < compactGroupRows && cur.w.Size()-c.groupStart < c.d.cfg.rowGroup {
		return nil
	}
	return c.endGroup(cur)
}

// wholeGroup tells whether a row group is large enough to stand as it is
// in a merged file: half the row-group rows, or a quarter of the row-group
// size in uncompressed pages (the writer's measure of a row group it holds,
// which ends merged row groups, counts its buffers and dictionaries too,
// so a merged row group that ended there holds less).
func (c *compactWriter) wholeGroup(rg *format.RowGroup) bool {
	var size int64
	for _, col := range rg.Columns {
		size += col.MetaData.TotalUncompressedSize
	}
	return rg.NumRows >= compactGroupRows/2 || size >= c.d.cfg.rowGroup/4
}

// mergeFile moves a file's rows (name, r, size bytes) into merged files.
// A row group in schema s: when mask (nil: every row is kept) keeps
// every row and it stands as it is (wholeGroup), as it is; else, if it
// is no larger than a merged row group, the rows kept, column by column
// into the current row group. A row group of another schema (a file
// written before a column was added) or larger: its rows, read in
// schema s (a column the file lacks comes back null), through fn (which
// filters them), a read's worth at a time (the rows are valid during the
// call only: the reader reuses them), into row groups that end within
// compactChunk rows of the row-group size.
func (c *compactWriter) mergeFile(name string, r io.ReaderAt, size int64, s *parquet.Schema, mask func(rg parquet.RowGroup) ([]bool, int64, error), fn func([]parquet.Row) error) error {
	pf, err := openPublished(name, r, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	if _, err := parquet.Convert(s, pf.Schema()); err != nil {
		return err // parquet.NewRowGroupReader would panic
	}
	same := parquet.EqualNodes(pf.Schema(), s)
	// mask moves the filter past the row group's rows, as fn does a row
	// at a time: a row group is masked only where the mask is applied
	// (the append), never before the row path, which would then read the
	// next rows' bits.
	for i, rg := range pf.RowGroups() {
		meta := &pf.Metadata().RowGroups[i]
		switch {
		case same && mask == nil && c.wholeGroup(meta):
			err = c.copyGroup(rg)
		case same && meta.NumRows <= compactGroupRows && groupBytes(meta) <= c.d.cfg.rowGroup:
			keep, n := []bool(nil), rg.NumRows()
			if mask != nil {
				if keep, n, err = mask(rg); err != nil {
					return err
				}
			}
			if keep == nil && c.wholeGroup(meta) {
				err = c.copyGroup(rg)
			} else {
				c.st.RowsIn += rg.NumRows()
				err = c.appendGroup(rg, keep, n, groupBytes(meta))
			}
		default: // another schema, or larger than a merged row group
			rd := parquet.NewRowGroupReader(rg, s)
			err = readRows(rd, fn)
			rd.Close()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// groupBytes is a row group's size in its file (its pages, compressed).
func groupBytes(rg *format.RowGroup) int64 {
	var n int64
	for _, col := range rg.Columns {
		n += col.MetaData.TotalCompressedSize
	}
	return n
}

// copyGroup writes rg to the current file (started if need be) as a row
// group of its own.
func (c *compactWriter) copyGroup(rg parquet.RowGroup) error {
	cur, err := c.file()
	if err != nil {
		return err
	}
	if _, err := cur.w.WriteRowGroup(rg); err != nil {
		return err
	}
	c.st.RowsIn += rg.NumRows()
	c.st.RowGroupsCopied++
	cur.rows += rg.NumRows()
	cur.buffered = 0
	if c.groupStart = cur.w.Size(); c.groupStart >= c.d.cfg.targetFile {
		return c.finish()
	}
	return nil
}

// file is the current file, started if need be.
func (c *compactWriter) file() (*partFile, error) {
	if c.cur == nil {
		c.seq++
		name := c.name(c.seq)
		if slices.Contains(c.replaces, name) {
			return nil, fmt.Errorf("destination %s: merged file %s has the name of a file it replaces", c.d.dir, name)
		}
		var err error
		if c.cur, err = c.d.createPart(c.table, name, c.opts); err != nil {
			return nil, err
		}
		c.groupStart = 0
	}
	return c.cur, nil
}

// finish ends the current file, if any, and publishes it: a child table's
// in the background (up), an executions file once up's files are
// published (a failure there discards it).
func (c *compactWriter) finish() error {
	pf := c.cur
	if pf == nil {
		return nil
	}
	c.cur = nil
	if err := pf.w.Close(); err != nil {
		pf.f.discard()
		return fmt.Errorf("destination %s: publish %s: %w", c.d.dir, pf.name, err)
	}
	c.d.release(pf)
	if c.table != schema.Executions {
		c.up.start(pf)
		return nil
	}
	if err := c.up.publishAfter(pf); err != nil {
		return err
	}
	c.st.RowsOut += pf.rows
	c.out = append(c.out, pf.name)
	return nil
}

// discard drops the current file, unpublished.
func (c *compactWriter) discard() {
	if c.cur != nil {
		c.cur.f.discard()
		c.cur = nil
	}
}

// readRows calls fn with rd's rows, a read's worth at a time, to the end.
func readRows(rd parquet.RowReader, fn func([]parquet.Row) error) error {
	buf := make([]parquet.Row, 256)
	for {
		n, err := rd.ReadRows(buf)
		if n > 0 {
			if ferr := fn(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
