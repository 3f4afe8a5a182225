package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/semaphore"

	"github.com/durable-etl/durable-etl/internal/scratch"
	"github.com/durable-etl/durable-etl/schema"
)

// The partition buffer: why a backfill writes as fast as a single day.
//
// A run writes one file per table per partition (dt) it meets, and a
// backfill meets hundreds. Writing each commit straight into its partition's
// open file, as the loader first did, kept hundreds of writers open, each
// ending tiny row groups to stay within the memory budget: a tenth of the
// speed at 730 partitions, and memory that grew with them. Instead, as
// DuckDB's and Spark's partitioned writers do, committed rows wait in
// memory, by partition, and reach a file in large batches:
//
//   - when the waiting rows pass half the buffer budget, the partitions
//     holding the most are written to their files as row groups of their
//     own (if they hold at least 4 MiB: a busy day writes row groups of
//     half the budget), and once they pass the whole budget the rest are
//     spilled to a spill run: one file under the spill folder holding, per
//     partition and table, a segment: a small Parquet file encoded with
//     the destination's own options when it holds 1,024 rows or 1 MiB
//     or more, else the rows in the table's compact row form
//     (schema.Table.AppendRows: a length-prefixed field after field),
//     compressed with S2;
//   - both are done on a goroutine of their own while commits go on (the
//     rows are taken out of the buffer first; the next such work waits for
//     it, so files are written in the order rows were taken and memory is
//     at most the budget in flight plus the budget waiting);
//   - Close finishes the partitions on a few goroutines: each file gets its
//     segments from every run, a Parquet one copied as it is (compressed
//     pages and all, parquet-go's verbatim row-group copy), a row-form
//     one's rows read back, then the rows still waiting, those rows
//     encoded once into row groups of up to closeGroup, so that a run
//     writes at most one file per table per partition (plus rolls at the
//     target size) and a small partition's file one row group (when every
//     segment was a Parquet file, a file at 730 days had up to seven row
//     groups of a few hundred rows, and thousands of segment footers were
//     written and read back: see parquetSegment);
//   - into a local directory on Linux, Close completes those files unsynced, then
//     syncs the filesystem once and renames them into place (operations
//     and events, a sync, executions, a sync): hundreds of fsyncs cost
//     more than the files' writing;
//   - a partition no more executions will reach (FinishPartition: the run
//     knows the start dates of a manifest that gives them, as discovery's
//     does, in start order) is finished the way Close finishes one, with
//     the next background work, in batches of finishBatch, so that a run in
//     start order keeps only the partitions in progress waiting and never
//     spills.
//
// An execution's rows of all tables always move together, so a
// partition's files publish as a group exactly as before (operations and
// events, then executions). Every decision depends on the rows alone, never
// on timing, so two destinations fed the same commits write byte-identical
// files (file names are handed out in partition order before the
// goroutines start). A large execution whose staged rows spilled is written straight to
// its partition's file, as it fills a row group on its own.

// pendingDT is one partition's committed rows that are in no file yet.
type pendingDT struct {
	pages [][]stagedPage // by child table index
	execs []schema.Execution
	bytes int64
}

// segment is one partition's rows of one table in a spill run: size bytes
// at off in the run's file, a Parquet file of its own or (parquet false)
// the rows in the table's compact row form.
type segment struct {
	off, size, rows int64
	bytes           int64 // row data, as the staged pages counted it
	parquet         bool
}

// spillRun is one spill of the partition buffer: one file holding, for each
// partition, a segment per table (by table index), and the index of them.
// A segment is read on its own, so reading a partition back costs nothing
// for the others: Close finishes partitions on several goroutines, each
// reading its segments with ReadAt.
type spillRun struct {
	f     *scratch.File
	index map[string]spillEntry
}

// spillEntry is one partition's segments in a run and their row bytes.
type spillEntry struct {
	seg   []segment // by table index
	bytes int64
}

// addPending puts an execution's committed rows in dt's buffer. Called
// with d.mu held.
// pages holds the execution's pages by child table index.
func (d *Parquet) addPending(dt string, pages [][]stagedPage, exec schema.Execution) error {
	p := d.pending[dt]
	if p == nil {
		p = &pendingDT{pages: make([][]stagedPage, d.execIndex())}
		d.pending[dt] = p
	}
	n := schema.RowsOf(schema.Executions, []schema.Execution{exec}).Size()
	for i, pgs := range pages {
		for _, pg := range pgs {
			n += pg.bytes
		}
		p.pages[i] = append(p.pages[i], pgs...)
	}
	p.execs = append(p.execs, exec)
	p.bytes += n
	d.pendingBytes += n
	if d.pendingBytes <= d.cfg.budget/2 && p.bytes < d.cfg.rowGroup {
		return nil
	}
	return d.relieve()
}

// minDirectGroup is the least row data a partition's waiting rows must
// hold to be written as a row group of their own; smaller ones wait, and
// are spilled once the buffer is full, then copied into their file at
// Close. At 512 KiB a backfill over 90 days wrote hundreds of small row
// groups (BenchmarkBackfill 0.72 of the drain-only rate, 0.80 at 4 MiB).
const minDirectGroup = 4 << 20

// relieve, once the waiting rows pass half the budget (or a partition's
// the row-group size), takes the partitions holding the most to be
// written to their files as row groups of their own, as long as each holds
// at least minDirectGroup (so a run over a few days never spills), until a
// quarter of the budget waits (and any holding the row-group size,
// whatever waits); once the waiting rows pass the whole budget, the rest
// are spilled. Both are
// written in the background (startBackground), which waits for the
// background work before it: the rows being written are at most half the
// budget, so rows in flight and rows waiting stay within about the budget
// (128 MiB of rows in flight and waiting took BenchmarkS3TwoGiBRSS to 279
// MiB); a spill, written to disk as it is encoded, may hold the whole
// budget in flight.
func (d *Parquet) relieve() error {
	var big []string
	for dt, p := range d.pending {
		if p.bytes >= min(minDirectGroup, d.cfg.rowGroup) {
			big = append(big, dt)
		}
	}
	sort.Slice(big, func(i, j int) bool {
		a, b := d.pending[big[i]].bytes, d.pending[big[j]].bytes
		if a != b {
			return a > b
		}
		return big[i] < big[j]
	})
	var write []string
	left := d.pendingBytes
	for _, dt := range big {
		if p := d.pending[dt]; left > d.cfg.budget/4 && p.bytes >= minDirectGroup || p.bytes >= d.cfg.rowGroup {
			write, left = append(write, dt), left-p.bytes
		}
	}
	var spill []string
	if left > d.cfg.budget {
		chosen := map[string]bool{}
		for _, dt := range write {
			chosen[dt] = true
		}
		for dt := range d.pending {
			if !chosen[dt] {
				spill = append(spill, dt)
			}
		}
		sort.Strings(spill)
	}
	if len(write) == 0 && len(spill) == 0 {
		return nil
	}
	return d.startBackground(write, spill)
}

// flushPending writes dt's waiting rows to its files and ends their row
// groups. Called with d.mu held and no background work under way.
func (d *Parquet) flushPending(dt string) error {
	if err := d.writePending(dt); err != nil {
		return err
	}
	return d.endGroups(dt)
}

// writePending writes dt's waiting rows to its files, leaving the row group
// open (Close's drain lets the publisher's goroutines end it, in parallel).
func (d *Parquet) writePending(dt string) error {
	p := d.pending[dt]
	if p == nil {
		return nil
	}
	delete(d.pending, dt)
	d.pendingBytes -= p.bytes
	return d.writeRows(dt, p)
}

// writeRows writes p's rows to dt's files, leaving the row group open.
func (d *Parquet) writeRows(dt string, p *pendingDT) error {
	for i, pgs := range p.pages {
		for _, pg := range pgs {
			if err := d.files[i].write(dt, pg.rows, pg.bytes); err != nil {
				return err
			}
		}
	}
	if len(p.execs) > 0 {
		execs := schema.RowsOf(schema.Executions, p.execs)
		if err := d.files[d.execIndex()].write(dt, execs, execs.Size()); err != nil {
			return err
		}
	}
	return nil
}

// endGroups ends the current row group of dt's open files.
func (d *Parquet) endGroups(dt string) error {
	for _, t := range d.files {
		if pf := t.open[dt]; pf != nil {
			if err := pf.endRowGroup(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// startBackground takes the waiting rows of write and spill out of the
// buffer and hands them to a goroutine of their own, so that commits go
// on meanwhile (encoding a row group under the lock stalled every commit
// behind it: at one day, 0.7 s per BenchmarkBackfill pass, 9-10 s of
// waiting summed over 16 workers): write's rows are written to their
// partitions' files, each as a row group of its own, and the partitions
// whose files reached the target size are published; spill's go to a new
// spill run. The background work before it, if any, is waited for first,
// so that the files are written in the order the rows were taken (two
// destinations fed the same commits write the same bytes) and memory is at
// most the budget in flight plus the budget waiting. Called with d.mu
// held.
func (d *Parquet) startBackground(write, spill []string) error {
	if err := d.waitBackground(); err != nil {
		return err
	}
	// Finished partitions go to their files whole, neither written as a
	// row group to be continued nor spilled.
	finish := d.takeFinished()
	if len(finish) > 0 {
		finishing := func(dt string) bool {
			return slices.ContainsFunc(finish, func(j *partitionJob) bool { return j.dt == dt })
		}
		write = slices.DeleteFunc(slices.Clone(write), finishing)
		spill = slices.DeleteFunc(slices.Clone(spill), finishing)
	}
	if len(write) == 0 && len(spill) == 0 && len(finish) == 0 {
		return nil
	}
	var run *spillRun
	if len(spill) > 0 {
		f, err := scratch.Create(d.spillDir, ".spill-*.parquet")
		if err != nil {
			return fmt.Errorf("destination %s: spill: %w", d.dir, err)
		}
		run = &spillRun{f: f, index: make(map[string]spillEntry, len(spill))}
		d.statsMu.Lock()
		d.stats.SpillRuns++
		d.statsMu.Unlock()
		d.runs = append(d.runs, run) // removed at Close, whatever happens
	}
	taken := make(map[string]*pendingDT, len(write)+len(spill))
	for _, dt := range append(slices.Clip(write), spill...) {
		p := d.pending[dt]
		taken[dt] = p
		delete(d.pending, dt)
		d.pendingBytes -= p.bytes
	}
	bg := &backgroundWork{done: make(chan struct{})}
	d.background = bg
	go func() {
		defer close(bg.done)
		bg.err = d.writeBackground(write, spill, run, taken)
		if bg.err == nil {
			bg.err = d.publishJobs(finish, d.publishersDuringRun())
		} else {
			for _, j := range finish {
				j.discard()
			}
		}
	}()
	return nil
}

// finishBatch is how many finished partitions (FinishPartition) wait
// before they are written and published together, in the background,
// sharing their syncs.
const finishBatch = 32

// FinishPartition tells the loader that no more executions of partition dt
// are coming, so that its files can be written and published during the
// run rather than at Close: a run that archives executions in start order
// (as discovery's does) then keeps only the partitions in progress
// waiting, spills nothing, and leaves little for Close. The partitions are
// finished in batches of finishBatch, in the background; a failure there
// poisons the loader once the next background work or Close waits for it
// (that call returns it, and commits after it fail; published files
// stay). It is a hint: rows committed to dt later go to a file of their
// own.
func (d *Parquet) FinishPartition(ctx context.Context, dt string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	if d.closed {
		return errors.New("finish partition after close")
	}
	d.finished = append(d.finished, dt)
	if len(d.finished) < finishBatch {
		return nil
	}
	if err := d.startBackground(nil, nil); err != nil {
		d.err = err
		return err
	}
	return nil
}

// takeFinished takes the finished partitions that hold rows out of the
// loader, as jobs, in the order they were finished. Called with d.mu held
// and no background work under way.
func (d *Parquet) takeFinished() []*partitionJob {
	var jobs []*partitionJob
	for _, dt := range d.finished {
		if d.holds(dt) {
			jobs = append(jobs, d.partitionJob(dt))
		}
	}
	d.finished = nil
	return jobs
}

// holds reports whether dt has rows waiting, spilled or in open files.
func (d *Parquet) holds(dt string) bool {
	if _, ok := d.pending[dt]; ok {
		return true
	}
	if _, ok := d.groups[dt]; ok {
		return true
	}
	for _, r := range d.runs {
		if _, ok := r.index[dt]; ok {
			return true
		}
	}
	return false
}

// writeBackground is startBackground's goroutine.
func (d *Parquet) writeBackground(write, spill []string, run *spillRun, taken map[string]*pendingDT) error {
	for _, dt := range write {
		if err := d.writeRows(dt, taken[dt]); err != nil {
			return err
		}
		if err := d.endGroups(dt); err != nil {
			return err
		}
	}
	if len(write) > 0 {
		// The error reaches d.err through waitBackground. (Another
		// partition's file can have grown too, its row group ended to
		// keep the budget.)
		if err := d.roll(); err != nil {
			return err
		}
	}
	if run != nil {
		if err := d.writeRun(run, spill, taken); err != nil {
			return fmt.Errorf("destination %s: spill: %w", d.dir, err)
		}
	}
	return nil
}

// backgroundWork is rows being written by startBackground.
type backgroundWork struct {
	done chan struct{}
	err  error
}

// waitBackground waits for the background work under way, if any, and
// returns its error.
func (d *Parquet) waitBackground() error {
	bg := d.background
	if bg == nil {
		return nil
	}
	<-bg.done
	d.background = nil
	return bg.err
}

// writeRun writes the waiting rows of dts to run: each partition's rows
// of each table as one segment, a Parquet file of its own when they are
// at least parquetSegment rows or parquetSegmentBytes, else in the
// table's compact row form
// (schema.Table.AppendRows). The index is filled before the run is read
// (Close waits for it).
func (d *Parquet) writeRun(run *spillRun, dts []string, pending map[string]*pendingDT) error {
	out := &offsetWriter{w: bufio.NewWriterSize(run.f, 1<<20)}
	writers := make([]*segmentWriter, len(d.tables))
	var buf, packed []byte
	for _, dt := range dts {
		p := pending[dt]
		e := spillEntry{bytes: p.bytes, seg: make([]segment, len(d.tables))}
		for i, t := range d.tables {
			rows := d.pendingRows(p, i)
			var n int
			var size int64
			for _, pg := range rows {
				n += pg.rows.Len()
				size += pg.bytes
			}
			if n >= parquetSegment || size >= parquetSegmentBytes {
				if writers[i] == nil {
					writers[i] = newSegmentWriter(d, t, out)
				}
				var err error
				if e.seg[i], err = writers[i].write(rows); err != nil {
					return err
				}
				e.seg[i].bytes = size
				d.segments[1].Add(1)
				continue
			}
			seg := segment{off: out.off, bytes: size}
			buf = buf[:0]
			for _, pg := range rows {
				buf = t.AppendRows(buf, pg.rows)
				seg.rows += int64(pg.rows.Len())
			}
			if seg.rows == 0 {
				continue
			}
			// Compressed (S2, about 1 GB/s): the row form of a large
			// backfill would otherwise take local disk several times
			// the size of its Parquet files.
			packed = s2.Encode(packed[:cap(packed)], buf)
			if _, err := out.Write(packed); err != nil {
				return err
			}
			seg.size = int64(len(packed))
			e.seg[i] = seg
			d.segments[0].Add(1)
		}
		run.index[dt] = e
	}
	return out.w.Flush()
}

// parquetSegment is the fewest rows a spilled segment holds to be written
// as a Parquet file of its own, encoded with the destination's options
// while the run goes on and copied into its file at Close as it is
// (parquet-go's verbatim row-group copy), rather than in row form, read
// back and encoded at Close. A Parquet segment's footer and page indexes,
// written and read back, cost as much as a few hundred rows' encoding,
// whatever their size: a backfill over 730 days spills thousands of
// segments of a few hundred rows (and its files had as many row groups as
// runs); one over 90 days, segments of a few thousand, whose encoding
// during the run is better than left to Close with the row form's
// uncompressed bytes (in row form: 0.64-0.66 of the drain-only rate,
// against 0.72-0.74).
const parquetSegment = 1024

// parquetSegmentBytes is the row data past which a segment is a Parquet
// file whatever its rows: a row-form segment is read back whole (and
// uncompressed) at Close, on drainWorkers goroutines at once, where a
// Parquet one is copied page by page.
const parquetSegmentBytes = 1 << 20

// pendingRows is p's rows of table i, a batch per page, each with its row
// bytes (the staged pages carry them; the executions rows are sized here).
func (d *Parquet) pendingRows(p *pendingDT, i int) []stagedPage {
	if i == d.execIndex() {
		if len(p.execs) == 0 {
			return nil
		}
		rows := schema.RowsOf(schema.Executions, p.execs)
		return []stagedPage{{rows: rows, bytes: rows.Size()}}
	}
	return p.pages[i]
}

// offsetWriter counts the bytes written through it.
type offsetWriter struct {
	w   *bufio.Writer
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	o.off += int64(n)
	return n, err
}

// read reads a row-form segment's rows of table back.
func (s segment) read(f *scratch.File, table *schema.Table) (schema.Rows, error) {
	packed := make([]byte, s.size)
	if _, err := f.ReadAt(packed, s.off); err != nil {
		return nil, err
	}
	b, err := s2.Decode(nil, packed)
	if err != nil {
		return nil, fmt.Errorf("spill segment at %d: %w", s.off, err)
	}
	rows, rest, err := table.ReadRows(b, int(s.rows))
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("spill segment at %d: %d bytes after its %d rows", s.off, len(rest), s.rows)
	}
	return rows, err
}

// segmentWriter writes one table's Parquet segments into a spill run, one
// Parquet file each, reusing one writer (a spill is never published, so
// which writer wrote it does not show).
type segmentWriter struct {
	w   schema.ParquetWriter
	out *offsetWriter
}

func newSegmentWriter(d *Parquet, table *schema.Table, out *offsetWriter) *segmentWriter {
	return &segmentWriter{out: out, w: table.NewParquetWriter(out, d.writerOptions(table)...)}
}

// write writes rows as one Parquet segment (one row group).
func (s *segmentWriter) write(rows []stagedPage) (segment, error) {
	seg := segment{off: s.out.off, parquet: true}
	for _, pg := range rows {
		seg.rows += int64(pg.rows.Len())
	}
	s.w.Reset(s.out)
	for _, pg := range rows {
		if _, err := s.w.Write(pg.rows); err != nil {
			return seg, err
		}
	}
	if err := s.w.Close(); err != nil {
		return seg, err
	}
	seg.size = s.out.off - seg.off
	return seg, nil
}

// open reads a Parquet segment's footer and returns its row group. A small
// segment is read whole, in one call.
func (s segment) open(f *scratch.File) (parquet.RowGroup, error) {
	var r io.ReaderAt = io.NewSectionReader(f, s.off, s.size)
	if s.size <= 8<<20 {
		b := make([]byte, s.size)
		if _, err := f.ReadAt(b, s.off); err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	pf, err := parquet.OpenFile(r, s.size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	rgs := pf.RowGroups()
	if len(rgs) != 1 || rgs[0].NumRows() != s.rows {
		return nil, fmt.Errorf("spill segment at %d: %d row groups, want one of %d rows", s.off, len(rgs), s.rows)
	}
	return rgs[0], nil
}

// drain writes every partition's spilled and waiting rows to its files and
// publishes it. The partitions are taken in order, here (under d.mu: file
// names are handed out in that order, so two destinations fed the same
// commits name and fill their files alike), and finished on a few
// goroutines. Called by Close with d.mu held.
func (d *Parquet) drain() error {
	if err := d.waitBackground(); err != nil {
		return err
	}
	dts := map[string]bool{}
	for dt := range d.pending {
		dts[dt] = true
	}
	for _, r := range d.runs {
		for dt := range r.index {
			dts[dt] = true
		}
	}
	for dt := range d.groups {
		dts[dt] = true
	}
	d.finished = nil
	jobs := make([]*partitionJob, 0, len(dts))
	for _, dt := range slices.Sorted(maps.Keys(dts)) {
		jobs = append(jobs, d.partitionJob(dt))
	}
	return d.publishJobs(jobs, drainWorkers)
}

// publishJobs finishes the partitions on workers goroutines and publishes
// their files (into a local directory, sharing three syncs: see staging).
// After a failure the files not published are removed.
func (d *Parquet) publishJobs(jobs []*partitionJob, workers int) error {
	if len(jobs) == 0 {
		return nil
	}
	var st *staging
	if bs, ok := d.sink.(batchSink); ok {
		st = &staging{sink: bs}
	}
	var uploads *semaphore.Weighted
	if st == nil {
		uploads = semaphore.NewWeighted(uploadBudget)
	}
	pub := newPublisher(workers, uploads)
	var err error
	for i, j := range jobs {
		j.staging, j.pub = st, pub
		if err = pub.submit(j); err != nil {
			for _, rest := range jobs[i+1:] {
				rest.discard()
			}
			break
		}
	}
	if werr := pub.wait(); err == nil {
		err = werr
	}
	if st != nil {
		if err == nil {
			err = st.reveal(d)
		}
		st.discard()
	}
	return err
}

// staging holds the files Close completed unsynced, for a sink that syncs
// many at once: after every partition is written, one sync; then the
// operations and events files are renamed into place, a sync, the
// executions files, a last sync. (A kill before the last rename leaves
// operations or events files without their executions sibling, which a
// resumed run removes, as after a kill between two renames of a group.)
type staging struct {
	sink        batchSink
	mu          sync.Mutex
	first, last []stagedPart // operations and events; executions
}

type stagedPart struct {
	f          stagedFile
	name       string
	rows, size int64
	revealed   bool
}

// add completes pf's file and keeps it for reveal.
func addStaged(st *staging, d *Parquet, pf *partFile, last bool) error {
	if err := pf.w.Close(); err != nil {
		pf.f.discard()
		return fmt.Errorf("destination %s: publish %s: %w", d.dir, pf.name, err)
	}
	d.release(pf)
	f := pf.f.(stagedFile)
	size, err := f.complete()
	if err != nil {
		f.discard()
		return fmt.Errorf("destination %s: publish %s: %w", d.dir, pf.name, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	p := stagedPart{f: f, name: pf.name, rows: pf.rows, size: size}
	if last {
		st.last = append(st.last, p)
	} else {
		st.first = append(st.first, p)
	}
	return nil
}

// reveal syncs and renames the staged files into place.
func (st *staging) reveal(d *Parquet) error {
	for _, set := range [][]stagedPart{st.first, st.last} {
		if err := st.sink.sync(); err != nil {
			return fmt.Errorf("destination %s: sync: %w", d.dir, err)
		}
		for i := range set {
			p := &set[i]
			if err := p.f.reveal(); err != nil {
				return fmt.Errorf("destination %s: publish %s: %w", d.dir, p.name, err)
			}
			p.revealed = true
			d.count(p.rows, p.size)
			d.cfg.logger.Debug("published parquet file", "name", p.name, "rows", p.rows, "bytes", p.size)
		}
	}
	if err := st.sink.sync(); err != nil {
		return fmt.Errorf("destination %s: sync: %w", d.dir, err)
	}
	return nil
}

// discard removes the staged files not revealed.
func (st *staging) discard() {
	for _, set := range [][]stagedPart{st.first, st.last} {
		for _, p := range set {
			if !p.revealed {
				p.f.discard()
			}
		}
	}
}

// drainWorkers is how many partitions Close finishes at once: encoding and
// compressing take the CPU, a file's fsync and rename (or an S3 upload) the
// disk's or the network's time.
const drainWorkers = 4

// publishersDuringRun is how many partitions finished while the run goes
// on (see Discovery in docs/ARCHITECTURE.md) are written at once. Into a
// local directory, where writing them is CPU alone, half the cores (1 to
// drainWorkers): the run's workers decode the next pages meanwhile, and
// a worker waiting for a core waits with its next call unmade, which a
// run paced by the service's latency pays for in wall time (on 2 cores,
// 0.82-0.88 of the drain's rate with 4 against 0.93-0.98 with 1; the
// CPU-bound runs the same: docs/BENCHMARKS.md). Elsewhere (S3) a file's
// upload takes the network's time, so drainWorkers.
func (d *Parquet) publishersDuringRun() int {
	if _, local := d.sink.(*localSink); !local {
		return drainWorkers
	}
	return max(1, min(drainWorkers, runtime.GOMAXPROCS(0)/2))
}

// partitionJob takes dt's open files, spilled segments and waiting rows out
// of the loader. Called with d.mu held.
func (d *Parquet) partitionJob(dt string) *partitionJob {
	name := d.groupName(dt)
	j := &partitionJob{d: d, dt: dt, name: name, g: d.detachGroup(dt)}
	for _, r := range d.runs {
		if e, ok := r.index[dt]; ok {
			j.units = append(j.units, unit{run: r, entry: e, bytes: e.bytes})
			delete(r.index, dt) // taken: Close must not write it again
		}
	}
	if p := d.pending[dt]; p != nil {
		delete(d.pending, dt)
		d.pendingBytes -= p.bytes
		j.units = append(j.units, unit{pending: p, bytes: p.bytes})
	}
	return j
}

// partitionJob is one partition's last rows: its spilled segments, in the
// order they were spilled, then the rows still waiting.
type partitionJob struct {
	d       *Parquet
	dt      string
	name    string
	rolls   int
	g       *group
	units   []unit
	staging *staging   // nil: publish each file on its own
	pub     *publisher // the one running it
}

// unit is rows that move together: a run's segments of the partition, or
// its waiting rows. Each ends at an execution boundary.
type unit struct {
	run     *spillRun
	entry   spillEntry
	pending *pendingDT
	bytes   int64
}

// run writes the units in order, rolls to a new file between two once one
// reaches the target size, and publishes. On failure it discards the files
// it has not published. Either way it lets go of its rows and writers: the
// caller holds every job of a Close until the last is done, and 730
// partitions' writers held that long took a run past 550 MiB.
func (j *partitionJob) run() error {
	defer func() { j.units, j.g = nil, nil }()
	for i, u := range j.units {
		if err := j.write(u); err != nil {
			j.g.discard()
			return err
		}
		if i < len(j.units)-1 && j.g.size() >= j.d.cfg.targetFile {
			if err := j.finish(); err != nil {
				return err
			}
			j.rolls++
			j.g = j.d.newGroup()
		}
	}
	return j.finish()
}

// finish publishes the job's current files, or stages them. Without
// staging (S3), once the files are encoded whole only their uploads are
// left, which take the network's time: they go on beside the next job
// (the publisher's detach) when the bytes they hold fit in its budget.
func (j *partitionJob) finish() error {
	if j.pub.uploads == nil { // staged (publishJobs gives one or the other)
		return j.g.publish(j.staging)
	}
	g := j.g
	held, err := g.closeWriters()
	if err != nil {
		return err
	}
	if j.pub.detach(held, g.upload) {
		return nil
	}
	return g.upload()
}

func (j *partitionJob) discard() { j.g.discard() }

// fileName is the name of the job's files: the group's, then one per roll.
func (j *partitionJob) fileName(table *schema.Table) string {
	name := j.name
	if j.rolls > 0 {
		name = fmt.Sprintf("%s-r%d.parquet", strings.TrimSuffix(name, ".parquet"), j.rolls)
	}
	return fmt.Sprintf("%s/%s=%s/%s", table.Name, schema.PartitionKey, j.dt, name)
}

func (j *partitionJob) write(u unit) error {
	for i := range j.d.tables {
		if err := j.writeUnit(i, u); err != nil {
			return err
		}
	}
	return nil
}

// writeUnit writes table i's rows of u to the group's file (created if
// need be): a Parquet segment copied as it is, as a row group of its own;
// a row-form segment's rows read back, or the waiting rows, encoded. Those
// rows' row groups end where closeGroup bytes of row data have gathered
// (or at a copied segment, or at Close), not between units, so a small
// partition's file is one row group whichever runs its rows were spilled in.
func (j *partitionJob) writeUnit(i int, u unit) error {
	table := j.d.tables[i]
	var rows []stagedPage
	var rg parquet.RowGroup
	var n, rgBytes int64
	if u.run != nil {
		s := u.entry.seg[i]
		if s.rows == 0 {
			return nil
		}
		var r schema.Rows
		var err error
		if s.parquet {
			rg, err = s.open(u.run.f)
			rgBytes = s.bytes
		} else {
			r, err = s.read(u.run.f, table)
			rows = []stagedPage{{rows: r, bytes: s.bytes}}
		}
		if err != nil {
			return fmt.Errorf("destination %s: read spill: %w", j.d.dir, err)
		}
		n = s.rows
	} else {
		for _, pg := range j.d.pendingRows(u.pending, i) {
			if pg.rows.Len() > 0 {
				rows = append(rows, pg)
				n += int64(pg.rows.Len())
			}
		}
		if n == 0 {
			return nil
		}
	}
	pf := &j.g.files[i]
	if *pf == nil {
		var err error
		if *pf, err = j.d.createPart(table, j.fileName(table), nil); err != nil {
			return err
		}
	}
	f := *pf
	if rg != nil {
		// Copied as it is, a row group of its own (parquet-go ends the one
		// being written first).
		if _, err := f.w.WriteRowGroup(rg); err != nil {
			return fmt.Errorf("destination %s: write %s: %w", j.d.dir, f.name, err)
		}
		f.buffered = 0
		// Counted as one row group, so that the writer of a file that
		// copied a large one is not kept (see release).
		f.largest = max(f.largest, rgBytes)
	}
	for _, pg := range rows {
		if _, err := f.w.Write(pg.rows); err != nil {
			return fmt.Errorf("destination %s: write %s: %w", j.d.dir, f.name, err)
		}
		// The job owns the file: its buffered bytes left the loader's count
		// when it was detached.
		if f.wrote(pg.bytes); f.buffered >= closeGroup {
			if err := f.w.Flush(); err != nil {
				return fmt.Errorf("destination %s: write %s: %w", j.d.dir, f.name, err)
			}
			f.buffered = 0
		}
	}
	f.rows += n
	return nil
}

// closeGroup is the row data at which a row group ends while partitions
// are finished: drainWorkers files fill at once, beside the rows still
// waiting, so it is a fraction of the buffer budget.
const closeGroup = 8 << 20

// group is one partition's open files, detached from the loader to be
// finished and published on their own.
type group struct {
	d     *Parquet
	files []*partFile // by table index; nil: none
}

func (d *Parquet) newGroup() *group { return &group{d: d, files: make([]*partFile, len(d.tables))} }

// detachGroup takes dt's open files out of the loader. Called with d.mu held.
func (d *Parquet) detachGroup(dt string) *group {
	delete(d.groups, dt)
	g := d.newGroup()
	for i, t := range d.files {
		if pf := t.open[dt]; pf != nil {
			g.files[i] = pf
			t.forget(dt, pf)
		}
	}
	return g
}

// publish finishes the group's files, the child tables' before
// executions, and publishes each (or, with st, stages it for one shared
// sync); after a failure the rest are discarded.
func (g *group) publish(st *staging) error {
	var err error
	for i, pf := range g.files {
		err = finishPart(g.d, st, pf, i == g.d.execIndex(), err)
	}
	return err
}

// finishPart publishes pf (or stages it with st; last: an executions
// file), or discards it after an earlier failure, which it returns.
func finishPart(d *Parquet, st *staging, pf *partFile, last bool, failed error) error {
	switch {
	case pf == nil:
		return failed
	case failed != nil:
		pf.f.discard()
		return failed
	case st != nil:
		return addStaged(st, d, pf, last)
	}
	size, err := finishFile(d, pf)
	if err == nil {
		d.count(pf.rows, size)
	}
	return err
}

// closeWriters ends the group's Parquet writers (their last row groups
// and footers: the encoding left), leaving the files to publish (upload),
// and returns the bytes the files hold (a small file's upload holds it
// whole until it ends). On a failure every file is discarded.
func (g *group) closeWriters() (int64, error) {
	var held int64
	for _, pf := range g.files {
		if pf == nil {
			continue
		}
		if err := pf.w.Close(); err != nil {
			g.discard()
			return 0, fmt.Errorf("destination %s: publish %s: %w", g.d.dir, pf.name, err)
		}
		held += pf.w.Size()
		g.d.release(pf)
	}
	return held, nil
}

// upload publishes the group's files, their writers closed: the child
// tables' at once, then, once they are, the executions file. After a
// failure the executions file is discarded.
func (g *group) upload() error {
	exec := g.d.execIndex()
	up := &childUploads{d: g.d}
	for i, pf := range g.files {
		if pf != nil && i != exec {
			up.start(pf)
		}
	}
	if pf := g.files[exec]; pf != nil {
		return up.publishAfter(pf)
	}
	return up.wait()
}

// childUploads publishes a partition's operations and events files in the
// background, each as soon as its writer is closed, so that its upload
// (on S3, a request's latency at least) overlaps other work (a run's
// group.upload: the other child file's; a compaction's: the next table's
// merge); the executions file is published once every upload ended
// (publishAfter), so that an executions row is never visible before its
// operations and events. Each upload runs to its end (the sink's uploads
// are not cancelled): a failure is reported by wait, and what was
// published is in done (for a compaction to unpublish).
type childUploads struct {
	d      *Parquet
	onWait func() // tests: wait begins
	wg     sync.WaitGroup
	mu     sync.Mutex // done, err
	done   []uploadedFile
	err    error
}

type uploadedFile struct {
	name string
	rows int64
}

// start publishes pf, whose writer is closed, in the background.
func (u *childUploads) start(pf *partFile) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		size, err := publishClosed(u.d, pf)
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			u.err = cmp.Or(u.err, err)
			return
		}
		u.d.count(pf.rows, size)
		u.done = append(u.done, uploadedFile{pf.name, pf.rows})
	}()
}

// wait waits for the uploads started; it returns the first failure.
func (u *childUploads) wait() error {
	if u.onWait != nil {
		u.onWait()
	}
	u.wg.Wait()
	return u.err
}

// publishAfter publishes pf (an executions file, its writer closed) once
// the uploads started have ended; if one failed, pf is discarded and that
// failure returned.
func (u *childUploads) publishAfter(pf *partFile) error {
	if err := u.wait(); err != nil {
		pf.f.discard()
		return err
	}
	size, err := publishClosed(u.d, pf)
	if err != nil {
		return err
	}
	u.d.count(pf.rows, size)
	return nil
}

// size is the largest of the group's files so far.
func (g *group) size() int64 {
	var n int64
	for _, pf := range g.files {
		if pf != nil {
			n = max(n, pf.w.Size())
		}
	}
	return n
}

// job is work a publisher runs: run does it (and cleans up after itself on
// failure); discard drops it unrun, after another job failed.
type job interface {
	run() error
	discard()
}

// publisher runs jobs on a few goroutines and keeps the first failure;
// after it, the jobs still to come are discarded. With an uploads budget,
// a job may leave what is left of its work once its files are encoded
// (their uploads) to go on beside the next jobs (detach).
type publisher struct {
	work     chan job
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	uploads  *semaphore.Weighted // nil: nothing detached
	detached sync.WaitGroup
}

// uploadBudget is the most bytes of encoded files whose uploads go on
// detached from the jobs that wrote them (a small file's upload holds it
// whole until it ends): on S3 each file waits a request's latency, which
// with drainWorkers jobs at once set a backfill's pace (730 small
// partitions to MinIO behind 20 ms: 22 s, 14 s without the latency). A
// larger file is uploaded as its job writes it and ends within the job,
// as does any upload past the budget.
const uploadBudget = 16 << 20

// uploadOverhead is what a detached upload weighs beyond its files' bytes
// (a goroutine, a request): at most uploadBudget/uploadOverhead at once.
const uploadOverhead = 256 << 10

func newPublisher(n int, uploads *semaphore.Weighted) *publisher {
	p := &publisher{work: make(chan job), uploads: uploads}
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work {
				p.mu.Lock()
				failed := p.err != nil
				p.mu.Unlock()
				if failed {
					j.discard()
					continue
				}
				if err := j.run(); err != nil {
					p.fail(err)
				}
			}
		}()
	}
	return p
}

// detach runs upload, the end of a job holding held bytes, on a goroutine
// of its own when the budget has room for it, and reports whether it
// did; its failure is the publisher's as a job's is.
func (p *publisher) detach(held int64, upload func() error) bool {
	w := held + uploadOverhead
	if p.uploads == nil || !p.uploads.TryAcquire(w) {
		return false
	}
	p.detached.Add(1)
	go func() {
		defer p.detached.Done()
		defer p.uploads.Release(w)
		if err := upload(); err != nil {
			p.fail(err)
		}
	}()
	return true
}

func (p *publisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// submit hands a job over; it returns the first failure so far.
func (p *publisher) submit(j job) error {
	p.work <- j
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait finishes every job handed over, and their detached uploads, and
// returns the first failure.
func (p *publisher) wait() error {
	close(p.work)
	p.wg.Wait()
	p.detached.Wait()
	return p.err
}

func (g *group) discard() {
	for _, pf := range g.files {
		if pf != nil {
			pf.f.discard()
		}
	}
}

// removeRuns deletes the spill runs (after the one being written, if any).
func (d *Parquet) removeRuns() {
	d.waitBackground()
	for _, r := range d.runs {
		r.f.Close()
	}
	d.runs = nil
}
