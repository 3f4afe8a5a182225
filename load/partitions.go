package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"

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
//   - a partition whose waiting rows reach the row-group size is written to
//     its file as one row group (a busy day writes as before);
//   - when all waiting rows pass the buffer budget, the partitions holding
//     the most are written as row groups of their own (if they hold at least
//     4 MiB), and if that is not enough the rest are spilled to a spill
//     run, written on its own goroutine while commits go on: one file under
//     the spill folder holding, per partition and table, a segment that is
//     a small Parquet file encoded with the destination's own options
//     (compression, dictionaries, page index);
//   - Close finishes the partitions on a few goroutines: each file gets its
//     segments from every run, copied as they are (compressed pages and
//     all, parquet-go's verbatim row-group copy: nothing is decoded twice),
//     then the rows still waiting, so that a run writes at most one file
//     per table per partition (plus rolls at the target size);
//   - into a local directory on Linux, Close completes those files unsynced, then
//     syncs the filesystem once and renames them into place (operations
//     and events, a sync, executions, a sync): hundreds of fsyncs cost
//     more than the files' writing.
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
	ops    []stagedPage[schema.Operation]
	events []stagedPage[schema.Event]
	execs  []schema.Execution
	bytes  int64
}

// segment is one partition's rows of one table in a spill run: a small
// Parquet file of its own, size bytes at off in the run's file.
type segment struct{ off, size, rows int64 }

// spillRun is one spill of the partition buffer: one file holding, for each
// partition, a segment per table (operations, events, executions), and the
// index of them. A segment is read on its own, by its own footer, so reading
// a partition back costs nothing for the others: Close finishes partitions
// on several goroutines, each reading its segments with ReadAt.
type spillRun struct {
	f     *os.File
	index map[string]spillEntry
}

// spillEntry is one partition's segments in a run and their row bytes.
type spillEntry struct {
	seg   [3]segment // operations, events, executions
	bytes int64
}

// add puts an execution's committed rows in dt's buffer. Called with d.mu held.
func (d *Parquet) addPending(dt string, ops []stagedPage[schema.Operation], events []stagedPage[schema.Event], exec schema.Execution) error {
	p := d.pending[dt]
	if p == nil {
		p = &pendingDT{}
		d.pending[dt] = p
	}
	n := executionSize(&exec)
	for _, pg := range ops {
		n += pg.bytes
	}
	for _, pg := range events {
		n += pg.bytes
	}
	p.ops = append(p.ops, ops...)
	p.events = append(p.events, events...)
	p.execs = append(p.execs, exec)
	p.bytes += n
	d.pendingBytes += n
	if p.bytes >= d.cfg.rowGroup {
		if err := d.flushPending(dt); err != nil {
			return err
		}
	}
	if d.pendingBytes > d.cfg.budget {
		return d.relieve()
	}
	return nil
}

// minDirectGroup is the least row data a partition's waiting rows must
// hold to be written as a row group of their own when the buffer is full
// (under the loader's lock: commits wait); smaller ones are spilled, on the
// spill's own goroutine, and copied into their file at Close. At 512 KiB a
// backfill over 90 days wrote hundreds of small row groups under the lock
// (BenchmarkBackfill 0.72 of the drain-only rate, 0.80 at 4 MiB).
const minDirectGroup = 4 << 20

// relieve brings the buffer back under half its budget: the partitions
// holding the most are written to their files as row groups of their own,
// as long as each holds at least minDirectGroup (so a run over a few days
// never spills); what is left, if still over, is spilled.
func (d *Parquet) relieve() error {
	dts := make([]string, 0, len(d.pending))
	for dt := range d.pending {
		dts = append(dts, dt)
	}
	sort.Slice(dts, func(i, j int) bool {
		a, b := d.pending[dts[i]].bytes, d.pending[dts[j]].bytes
		if a != b {
			return a > b
		}
		return dts[i] < dts[j]
	})
	for _, dt := range dts {
		if d.pendingBytes <= d.cfg.budget/2 || d.pending[dt].bytes < minDirectGroup {
			break
		}
		if err := d.flushPending(dt); err != nil {
			return err
		}
	}
	if d.pendingBytes > d.cfg.budget/2 {
		return d.spill()
	}
	return nil
}

// flushPending writes dt's waiting rows to its files and ends their row
// groups.
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
	for _, pg := range p.ops {
		if err := d.operations.write(dt, pg.rows, pg.bytes); err != nil {
			return err
		}
	}
	for _, pg := range p.events {
		if err := d.events.write(dt, pg.rows, pg.bytes); err != nil {
			return err
		}
	}
	if len(p.execs) > 0 {
		var n int64
		for i := range p.execs {
			n += executionSize(&p.execs[i])
		}
		if err := d.executions.write(dt, p.execs, n); err != nil {
			return err
		}
	}
	return nil
}

// endGroups ends the current row group of dt's open files.
func (d *Parquet) endGroups(dt string) error {
	for _, f := range []flusher{openOf(d.operations, dt), openOf(d.events, dt), openOf(d.executions, dt)} {
		if f != nil {
			if err := f.endRowGroup(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func openOf[T any](t *tableFiles[T], dt string) flusher {
	if pf := t.open[dt]; pf != nil {
		return pf
	}
	return nil
}

// spill hands every waiting row to a new spill run, written partition by
// partition on its own goroutine while commits go on (the previous spill,
// if still writing, is waited for first), and empties the buffer. Memory
// is then at most the budget in flight plus the budget waiting.
func (d *Parquet) spill() error {
	if err := d.waitSpill(); err != nil {
		return err
	}
	dts := make([]string, 0, len(d.pending))
	for dt := range d.pending {
		dts = append(dts, dt)
	}
	sort.Strings(dts)
	f, err := os.CreateTemp(d.spillDir, ".spill-*.parquet")
	if err != nil {
		return fmt.Errorf("destination %s: spill: %w", d.dir, err)
	}
	run := &spillRun{f: f, index: make(map[string]spillEntry, len(dts))}
	d.runs = append(d.runs, run) // removed at Close, whatever happens
	pending := d.pending
	d.pending, d.pendingBytes = map[string]*pendingDT{}, 0
	sp := &spillWork{done: make(chan struct{})}
	d.spilling = sp
	go func() {
		defer close(sp.done)
		if err := d.writeRun(run, dts, pending); err != nil {
			sp.err = fmt.Errorf("destination %s: spill: %w", d.dir, err)
		}
	}()
	return nil
}

// spillWork is a spill being written.
type spillWork struct {
	done chan struct{}
	err  error
}

// waitSpill waits for the spill being written, if any, and returns its
// error.
func (d *Parquet) waitSpill() error {
	sp := d.spilling
	if sp == nil {
		return nil
	}
	<-sp.done
	d.spilling = nil
	return sp.err
}

// writeRun writes the waiting rows of dts to run. The index is filled
// before the run is read (Close waits for it).
func (d *Parquet) writeRun(run *spillRun, dts []string, pending map[string]*pendingDT) error {
	out := &offsetWriter{w: bufio.NewWriterSize(run.f, 1<<20)}
	ops := newSegmentWriter[schema.Operation](d, schema.Operations, out)
	events := newSegmentWriter[schema.Event](d, schema.Events, out)
	execs := newSegmentWriter[schema.Execution](d, schema.Executions, out)
	for _, dt := range dts {
		p := pending[dt]
		e := spillEntry{bytes: p.bytes}
		var err error
		if e.seg[0], err = ops.write(pageRows(p.ops)); err == nil {
			if e.seg[1], err = events.write(pageRows(p.events)); err == nil {
				e.seg[2], err = execs.write([][]schema.Execution{p.execs})
			}
		}
		if err != nil {
			return err
		}
		run.index[dt] = e
	}
	return out.w.Flush()
}

func pageRows[T any](pages []stagedPage[T]) [][]T {
	out := make([][]T, len(pages))
	for i, p := range pages {
		out[i] = p.rows
	}
	return out
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

// segmentWriter writes one table's segments into a spill run, one Parquet
// file each, reusing one writer (a spill is never published, so which
// writer wrote it does not show).
type segmentWriter[T any] struct {
	w   *parquet.GenericWriter[T]
	out *offsetWriter
}

func newSegmentWriter[T any](d *Parquet, table *schema.Table, out *offsetWriter) *segmentWriter[T] {
	return &segmentWriter[T]{out: out, w: parquet.NewGenericWriter[T](out, d.writerOptions(table)...)}
}

// write writes rows as one segment (one row group); none for no rows.
func (s *segmentWriter[T]) write(rows [][]T) (segment, error) {
	seg := segment{off: s.out.off}
	for _, r := range rows {
		seg.rows += int64(len(r))
	}
	if seg.rows == 0 {
		return segment{}, nil
	}
	s.w.Reset(s.out)
	for _, r := range rows {
		if _, err := s.w.Write(r); err != nil {
			return seg, err
		}
	}
	if err := s.w.Close(); err != nil {
		return seg, err
	}
	seg.size = s.out.off - seg.off
	return seg, nil
}

// open reads a segment's footer and returns its row group. A small
// segment is read whole, in one call.
func (s segment) open(f *os.File) (parquet.RowGroup, error) {
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
	if err := d.waitSpill(); err != nil {
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
	order := make([]string, 0, len(dts))
	for dt := range dts {
		order = append(order, dt)
	}
	sort.Strings(order)
	var st *staging
	if bs, ok := d.sink.(batchSink); ok {
		st = &staging{sink: bs}
	}
	pub := newPublisher(drainWorkers)
	var err error
	for _, dt := range order {
		j := d.partitionJob(dt)
		j.staging = st
		if err = pub.submit(j); err != nil {
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
func addStaged[T any](st *staging, d *Parquet, pf *partFile[T], last bool) error {
	if err := pf.w.Close(); err != nil {
		pf.f.discard()
		return fmt.Errorf("destination %s: publish %s: %w", d.dir, pf.name, err)
	}
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

// partitionJob takes dt's open files, spilled segments and waiting rows out
// of the loader. Called with d.mu held.
func (d *Parquet) partitionJob(dt string) *partitionJob {
	name := d.groupName(dt)
	j := &partitionJob{d: d, dt: dt, name: name, g: d.detachGroup(dt)}
	for _, r := range d.runs {
		if e, ok := r.index[dt]; ok {
			j.units = append(j.units, unit{run: r, entry: e, bytes: e.bytes})
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
	staging *staging // nil: publish each file on its own
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
// it has not published.
func (j *partitionJob) run() error {
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
			j.g = &group{d: j.d}
		}
	}
	return j.finish()
}

// finish publishes the job's current files, or stages them.
func (j *partitionJob) finish() error { return j.g.publish(j.staging) }

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
	if err := writeUnit(j, &j.g.ops, schema.Operations, 0, u, func(p *pendingDT) [][]schema.Operation { return pageRows(p.ops) }); err != nil {
		return err
	}
	if err := writeUnit(j, &j.g.events, schema.Events, 1, u, func(p *pendingDT) [][]schema.Event { return pageRows(p.events) }); err != nil {
		return err
	}
	return writeUnit(j, &j.g.execs, schema.Executions, 2, u, func(p *pendingDT) [][]schema.Execution { return [][]schema.Execution{p.execs} })
}

// writeUnit writes one table's rows of u to *pf (created if need be) as one
// row group: a spilled segment is copied as it is, compressed pages and all
// (it was encoded with the file's own options), waiting rows are encoded.
func writeUnit[T any](j *partitionJob, pf **partFile[T], table *schema.Table, slot int, u unit, rowsOf func(*pendingDT) [][]T) error {
	var seg parquet.RowGroup
	var waiting [][]T
	var n int64
	if u.run != nil {
		s := u.entry.seg[slot]
		if s.rows == 0 {
			return nil
		}
		rg, err := s.open(u.run.f)
		if err != nil {
			return fmt.Errorf("destination %s: read spill: %w", j.d.dir, err)
		}
		seg, n = rg, s.rows
	} else {
		for _, rows := range rowsOf(u.pending) {
			if len(rows) > 0 {
				waiting = append(waiting, rows)
				n += int64(len(rows))
			}
		}
		if n == 0 {
			return nil
		}
	}
	if *pf == nil {
		name := j.fileName(table)
		f, err := j.d.sink.create(name)
		if err != nil {
			return fmt.Errorf("destination %s: %w", j.d.dir, err)
		}
		*pf = &partFile[T]{f: f, w: parquet.NewGenericWriter[T](f, j.d.writerOptions(table)...), name: name}
	}
	w := (*pf).w
	err := func() error {
		if seg != nil {
			_, err := w.WriteRowGroup(seg)
			return err
		}
		for _, rows := range waiting {
			if _, err := w.Write(rows); err != nil {
				return err
			}
		}
		return w.Flush()
	}()
	if err != nil {
		return fmt.Errorf("destination %s: write %s: %w", j.d.dir, (*pf).name, err)
	}
	(*pf).rows += n
	return nil
}

// group is one partition's open files, detached from the loader to be
// finished and published on their own.
type group struct {
	d      *Parquet
	ops    *partFile[schema.Operation]
	events *partFile[schema.Event]
	execs  *partFile[schema.Execution]
}

// detachGroup takes dt's open files out of the loader. Called with d.mu held.
func (d *Parquet) detachGroup(dt string) *group {
	delete(d.groups, dt)
	g := &group{d: d, ops: d.operations.open[dt], events: d.events.open[dt], execs: d.executions.open[dt]}
	if g.ops != nil {
		d.operations.forget(dt, g.ops)
	}
	if g.events != nil {
		d.events.forget(dt, g.events)
	}
	if g.execs != nil {
		d.executions.forget(dt, g.execs)
	}
	return g
}

// publish finishes the group's files, operations and events before
// executions, and publishes each (or, with st, stages it for one shared
// sync); after a failure the rest are discarded.
func (g *group) publish(st *staging) error {
	err := finishPart(g.d, st, g.ops, false, nil)
	err = finishPart(g.d, st, g.events, false, err)
	return finishPart(g.d, st, g.execs, true, err)
}

// finishPart publishes pf (or stages it with st; last: an executions
// file), or discards it after an earlier failure, which it returns.
func finishPart[T any](d *Parquet, st *staging, pf *partFile[T], last bool, failed error) error {
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

// size is the largest of the group's files so far.
func (g *group) size() int64 {
	var n int64
	if g.ops != nil {
		n = max(n, g.ops.w.Size())
	}
	if g.events != nil {
		n = max(n, g.events.w.Size())
	}
	if g.execs != nil {
		n = max(n, g.execs.w.Size())
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
// after it, the jobs still to come are discarded.
type publisher struct {
	work chan job
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func newPublisher(n int) *publisher {
	p := &publisher{work: make(chan job)}
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
					p.mu.Lock()
					if p.err == nil {
						p.err = err
					}
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

// submit hands a job over; it returns the first failure so far.
func (p *publisher) submit(j job) error {
	p.work <- j
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait finishes every job handed over and returns the first failure.
func (p *publisher) wait() error {
	close(p.work)
	p.wg.Wait()
	return p.err
}

func (g *group) discard() {
	for _, f := range []interface{ discard() }{fileOf(g.ops), fileOf(g.events), fileOf(g.execs)} {
		if f != nil {
			f.discard()
		}
	}
}

func fileOf[T any](pf *partFile[T]) interface{ discard() } {
	if pf == nil {
		return nil
	}
	return pf.f
}

// removeRuns deletes the spill runs (after the one being written, if any).
func (d *Parquet) removeRuns() {
	d.waitSpill()
	for _, r := range d.runs {
		r.f.Close()
		os.Remove(r.f.Name())
	}
	d.runs = nil
}
