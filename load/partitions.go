package load

import (
	"fmt"
	"io"
	"os"
	"sort"
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
//     512 KiB), and if that is not enough the rest are spilled, sorted by
//     partition, to a spill run (one uncompressed Parquet file per table
//     under the spill folder, with each partition's row range);
//   - Close writes the partitions one at a time, in order: each file gets
//     its spilled ranges from every run, then the rows still waiting, so
//     that a run holds at most a few files open and writes at most one file
//     per table per partition (plus rolls at the target size).
//
// An execution's rows of all tables always move together, so a
// partition's files publish as a group exactly as before (operations and
// events, then executions). Every decision depends on the rows alone, never
// on timing, so two destinations fed the same commits write byte-identical
// files. A large execution whose staged rows spilled is written straight to
// its partition's file, as it fills a row group on its own.

// pendingDT is one partition's committed rows that are in no file yet.
type pendingDT struct {
	ops    []stagedPage[schema.Operation]
	events []stagedPage[schema.Event]
	execs  []schema.Execution
	bytes  int64
}

// rowRange is a partition's rows in one spill file.
type rowRange struct{ first, n int64 }

// spillRun is one spill of the partition buffer: a file per table, rows
// sorted by partition, and each partition's range in each. Close reads each
// file once, front to back, as it writes the partitions in the same order.
type spillRun struct {
	ops, events, execs *os.File
	index              map[string][3]rowRange // dt: operations, events, executions

	opsR    *parquet.GenericReader[schema.Operation]
	eventsR *parquet.GenericReader[schema.Event]
	execsR  *parquet.GenericReader[schema.Execution]
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
// hold to be written as a row group of their own when the buffer is full;
// smaller ones are spilled, to meet their partition's other rows in one
// group at Close.
const minDirectGroup = 512 << 10

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
		if err := d.executions.write(dt, p.execs, int64(len(p.execs))*400); err != nil {
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

// spill writes every waiting row to a new spill run, partition by
// partition, and empties the buffer.
func (d *Parquet) spill() error {
	dts := make([]string, 0, len(d.pending))
	for dt := range d.pending {
		dts = append(dts, dt)
	}
	sort.Strings(dts)
	run := &spillRun{index: make(map[string][3]rowRange, len(dts))}
	d.runs = append(d.runs, run) // removed at Close, whatever happens
	var err error
	if run.ops, err = spillTable(d, schema.Operations, dts, run, 0, func(p *pendingDT) [][]schema.Operation { return pageRows(p.ops) }); err != nil {
		return err
	}
	if run.events, err = spillTable(d, schema.Events, dts, run, 1, func(p *pendingDT) [][]schema.Event { return pageRows(p.events) }); err != nil {
		return err
	}
	if run.execs, err = spillTable(d, schema.Executions, dts, run, 2, func(p *pendingDT) [][]schema.Execution { return [][]schema.Execution{p.execs} }); err != nil {
		return err
	}
	clear(d.pending)
	d.pendingBytes = 0
	return nil
}

func pageRows[T any](pages []stagedPage[T]) [][]T {
	out := make([][]T, len(pages))
	for i, p := range pages {
		out[i] = p.rows
	}
	return out
}

// spillTable writes one table's waiting rows of dts, in that order, to a
// spill file, noting each partition's range in run.index[dt][slot].
func spillTable[T any](d *Parquet, table *schema.Table, dts []string, run *spillRun, slot int, rowsOf func(*pendingDT) [][]T) (*os.File, error) {
	f, err := os.CreateTemp(d.spillDir, ".spill-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("destination %s: spill: %w", d.dir, err)
	}
	w := parquet.NewGenericWriter[T](f, table.ParquetSchema(), parquet.Compression(&parquet.Uncompressed),
		parquet.DataPageStatistics(false), parquet.MaxRowsPerRowGroup(64<<10))
	var at int64
	for _, dt := range dts {
		r := run.index[dt]
		r[slot].first = at
		for _, rows := range rowsOf(d.pending[dt]) {
			if _, err := w.Write(rows); err != nil {
				return f, fmt.Errorf("destination %s: spill: %w", d.dir, err)
			}
			at += int64(len(rows))
		}
		r[slot].n = at - r[slot].first
		run.index[dt] = r
	}
	if err := w.Close(); err != nil {
		return f, fmt.Errorf("destination %s: spill: %w", d.dir, err)
	}
	return f, nil
}

// openSpill opens a spill file for reading from its start.
func openSpill[T any](f *os.File) (*parquet.GenericReader[T], error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return parquet.NewGenericReader[T](io.NewSectionReader(f, 0, info.Size())), nil
}

// copyNext writes the next r.n rows of a spill reader, which is positioned
// at r.first (partitions are read in the order they were spilled), to dt's
// file of t.
func copyNext[T any](t *tableFiles[T], rd **parquet.GenericReader[T], f *os.File, r rowRange, dt string, size func([]T) int64) error {
	if r.n == 0 {
		return nil
	}
	if *rd == nil {
		var err error
		if *rd, err = openSpill[T](f); err != nil {
			return fmt.Errorf("destination %s: read spill: %w", t.d.dir, err)
		}
	}
	buf := make([]T, min(r.n, 1024))
	for left := r.n; left > 0; {
		n, err := (*rd).Read(buf[:min(left, int64(len(buf)))])
		if n > 0 {
			if werr := t.write(dt, buf[:n], size(buf[:n])); werr != nil {
				return werr
			}
			left -= int64(n)
		}
		if err == io.EOF && left > 0 {
			return fmt.Errorf("destination %s: read spill: %d rows short", t.d.dir, left)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("destination %s: read spill: %w", t.d.dir, err)
		}
	}
	return nil
}

// drain writes every partition's spilled and waiting rows to its files and
// publishes it, one partition at a time, in order. Called by Close with
// d.mu held.
func (d *Parquet) drain() error {
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
	execSize := func(rows []schema.Execution) int64 { return int64(len(rows)) * 400 }
	pub := newPublisher(8)
	err := d.drainInto(pub, order, execSize)
	if werr := pub.wait(); err == nil {
		err = werr
	}
	return err
}

// drainInto writes each partition of order and hands its files to pub.
func (d *Parquet) drainInto(pub *publisher, order []string, execSize func([]schema.Execution) int64) error {
	for _, dt := range order {
		for _, r := range d.runs {
			ix, ok := r.index[dt]
			if !ok {
				continue
			}
			if err := copyNext(d.operations, &r.opsR, r.ops, ix[0], dt, pageSize); err != nil {
				return err
			}
			if err := copyNext(d.events, &r.eventsR, r.events, ix[1], dt, eventsSize); err != nil {
				return err
			}
			if err := copyNext(d.executions, &r.execsR, r.execs, ix[2], dt, execSize); err != nil {
				return err
			}
			// Roll at an execution boundary: a spilled range ends with its
			// executions rows.
			if err := d.rollDT(dt); err != nil {
				return err
			}
		}
		// The last rows of the partition: its files' final row groups are
		// encoded, compressed and written by the publisher's goroutines.
		if err := d.writePending(dt); err != nil {
			return err
		}
		if _, open := d.groups[dt]; open {
			if err := pub.submit(d.detachGroup(dt)); err != nil {
				return err
			}
		}
	}
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

// publish finishes and publishes the group's files, operations and events
// before executions, as publishGroup does; after a failure the rest are
// discarded.
func (g *group) publish() error {
	var err error
	step := func(rows int64, finish func() (int64, error), discard func()) {
		if err != nil {
			discard()
			return
		}
		var size int64
		if size, err = finish(); err == nil {
			g.d.count(rows, size)
		}
	}
	if pf := g.ops; pf != nil {
		step(pf.rows, func() (int64, error) { return finishFile(g.d, pf) }, pf.f.discard)
	}
	if pf := g.events; pf != nil {
		step(pf.rows, func() (int64, error) { return finishFile(g.d, pf) }, pf.f.discard)
	}
	if pf := g.execs; pf != nil {
		step(pf.rows, func() (int64, error) { return finishFile(g.d, pf) }, pf.f.discard)
	}
	return err
}

// publisher finishes groups on a few goroutines: a file's close, fsync and
// rename take mostly the disk's time, and hundreds of partitions one after
// another would wait for it hundreds of times.
type publisher struct {
	work chan *group
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func newPublisher(n int) *publisher {
	p := &publisher{work: make(chan *group)}
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for g := range p.work {
				p.mu.Lock()
				failed := p.err != nil
				p.mu.Unlock()
				if failed {
					g.discard()
					continue
				}
				if err := g.publish(); err != nil {
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

// submit hands a group over; it returns the first failure so far.
func (p *publisher) submit(g *group) error {
	p.work <- g
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait finishes every group handed over and returns the first failure.
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

func isNilReader(rd interface{ Close() error }) bool {
	switch r := rd.(type) {
	case *parquet.GenericReader[schema.Operation]:
		return r == nil
	case *parquet.GenericReader[schema.Event]:
		return r == nil
	case *parquet.GenericReader[schema.Execution]:
		return r == nil
	}
	return false
}

// removeRuns deletes the spill runs.
func (d *Parquet) removeRuns() {
	for _, r := range d.runs {
		for _, rd := range []interface{ Close() error }{r.opsR, r.eventsR, r.execsR} {
			if rd != nil && !isNilReader(rd) {
				rd.Close()
			}
		}
		for _, f := range []*os.File{r.ops, r.events, r.execs} {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}
	d.runs = nil
}
