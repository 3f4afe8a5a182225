package load

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/scratch"
	"github.com/durable-etl/durable-etl/schema"
)

// stage holds one table's rows of an execution: in memory up to the stage
// limit, then in a spill file.
//
// The spill file is a Parquet file written with the destination's own
// options (its codec and all), whose row groups Commit copies into the
// partition's file as they are (parquet-go's verbatim row-group copy): a
// large execution's rows are encoded once, while it is read, and its commit
// costs a copy of compressed pages, not a second encoding under the
// loader's lock. Once a stage spills, every later page goes to the spill
// too, and a row group ends after the page that brings it to stageMemory
// bytes of row data: the row groups depend on the execution's pages alone,
// not on when the stage budget made it spill, so twin destinations fed the
// same pages write the same row groups.
type stage struct {
	table *schema.Table
	pages []stagedPage // the pages as written (Write keeps them, it does not copy)
	bytes int64
	spill *stageSpill // nil until the stage spills
	ended bool        // EndTable was called: no more rows come
}

// stagedPage is one page of an execution's rows with its estimated size,
// reckoned once when staged.
type stagedPage struct {
	rows  schema.Rows
	bytes int64
}

// stageSpill is a spilled stage: the row groups its pages make, each
// encoded by a lane while the execution goes on being read and folded (a
// large history's encoding runs beside its reading instead of after it).
//
// The stage's own lane, made when it spills, encodes its row groups into
// one file, in order. When a row group begins while that lane is still
// encoding the one before, and the destination has a helper to spare (see
// [WithStageHelpers]), the new row group goes to a helper lane instead: a
// goroutine and file of its own for that one row group, freed when it is
// written (its writer is kept for the next helper: made anew each time,
// the writers' buffers doubled a large history's allocations). A row
// group's bytes do not depend on the lane that encodes it, so the file
// Commit copies them into is the same either way; what helpers
// change is how many cores a large execution's encoding can use, above all
// when its operations' rows come all at once, after its last page.
//
// At most stageQueue pages wait for a lane, then Write waits. A page
// leaves the stage budget's count when it is handed to a lane, not when it
// is encoded, so that whether another execution's stage spills depends on
// the pages written, never on how far an encoder has got (twin
// destinations decide alike); the pages waiting, and the row groups being
// encoded, are the memory beyond the budget: a few pages and a row group
// per lane.
type stageSpill struct {
	d      *Parquet
	table  *schema.Table
	lanes  []*spillLane // every lane made: the stage's own first, then helpers
	cur    *spillLane   // the lane of the row group being put
	group  int64        // row data put in that row group
	groups []spillGroup // the row groups, in order (the last one may be open)
	failed atomic.Bool  // a lane met an error (finish says which)
	abort  atomic.Bool  // the execution was aborted: lanes drop their pages
}

// spillGroup is one row group of a spilled stage: which lane encodes it,
// its position in that lane's file, and its row data.
type spillGroup struct {
	lane  *spillLane
	index int
	bytes int64
}

// spillLane encodes the row groups handed to it into a file of its own.
type spillLane struct {
	f      *scratch.File
	w      schema.ParquetWriter
	in     chan lanePage
	done   chan struct{} // closed when the encoder has stopped
	once   sync.Once     // closes in
	helper bool          // gives its helper back when done
	groups int           // row groups handed to it (the producer's)
	// open counts the row groups handed to the lane and not yet ended by
	// its encoder: the producer asks whether the lane is busy.
	open atomic.Int32
	err  error // the encoder's, read once done is closed
}

// lanePage is a page for a lane to encode, or (end) the end of its
// current row group.
type lanePage struct {
	page stagedPage
	end  bool
}

// stageQueue is how many pages wait for a lane's encoder at most.
const stageQueue = 2

func (st *stage) add(d *Parquet, rows schema.Rows, bytes int64) error {
	if st.spill != nil {
		return st.spill.put(stagedPage{rows: rows, bytes: bytes})
	}
	total := d.staged.Add(bytes)
	if rows.Len() > 0 {
		st.pages = append(st.pages, stagedPage{rows: rows, bytes: bytes})
	}
	st.bytes += bytes
	if st.bytes < d.cfg.stageMemory && (st.bytes < minStageSpill || total <= d.cfg.stageBudget) {
		return nil
	}
	sp := &stageSpill{d: d, table: st.table}
	if _, err := sp.newLane(false); err != nil {
		return err
	}
	d.stageSpills.Add(1)
	st.spill = sp
	pages := st.pages
	d.staged.Add(-st.bytes) // the lanes' now
	st.pages, st.bytes = nil, 0
	for _, pg := range pages {
		if err := sp.put(pg); err != nil {
			return err
		}
	}
	return nil
}

// newLane makes a lane, its file and its encoder.
func (sp *stageSpill) newLane(helper bool) (*spillLane, error) {
	d := sp.d
	f, err := scratch.Create(d.spillDir, ".stage-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("destination %s: stage: %w", d.dir, err)
	}
	l := &spillLane{f: f, in: make(chan lanePage, stageQueue), done: make(chan struct{}), helper: helper}
	var ok bool
	if helper { // a helper's writer is kept for the next (see encode)
		l.w, ok = d.helperWriters[sp.table].take()
	}
	if ok {
		l.w.Reset(f)
	} else {
		l.w = sp.table.NewParquetWriter(f, d.writerOptions(sp.table)...)
	}
	sp.lanes = append(sp.lanes, l)
	go l.encode(sp)
	return l, nil
}

// put hands pg to the lane of its row group, beginning one if need be, and
// ends the row group once it holds stageMemory bytes of row data.
func (sp *stageSpill) put(pg stagedPage) error {
	if sp.failed.Load() {
		return sp.finish()
	}
	if sp.group == 0 {
		l, err := sp.laneFor()
		if err != nil {
			return err
		}
		sp.cur = l
		sp.groups = append(sp.groups, spillGroup{lane: l, index: l.groups})
		l.groups++
		l.open.Add(1)
	}
	sp.cur.in <- lanePage{page: pg}
	sp.group += pg.bytes
	sp.groups[len(sp.groups)-1].bytes = sp.group
	if sp.group >= sp.d.cfg.stageMemory {
		sp.cur.in <- lanePage{end: true}
		if sp.cur.helper { // a helper encodes one row group
			sp.cur.close()
		}
		sp.group = 0
	}
	return nil
}

// laneFor is the lane a new row group goes to: a helper's when the own
// lane is still encoding an earlier one and the destination has a helper
// to spare, else the own.
func (sp *stageSpill) laneFor() (*spillLane, error) {
	d := sp.d
	own := sp.lanes[0]
	if !d.cfg.helpAlways && own.open.Load() == 0 {
		return own, nil
	}
	select {
	case d.helpers <- struct{}{}:
	default:
		return own, nil
	}
	l, err := sp.newLane(true)
	if err != nil {
		<-d.helpers
		return nil, err
	}
	d.stageHelped.Add(1)
	return l, nil
}

// encode writes the pages handed to the lane, ending a row group at each
// end mark; once in is closed it ends the last row group and the file.
func (l *spillLane) encode(sp *stageSpill) {
	d := sp.d
	defer close(l.done)
	if l.helper {
		defer func() { <-d.helpers }()
	}
	for p := range l.in {
		if l.err != nil || sp.abort.Load() {
			continue
		}
		if p.end {
			l.err = l.w.Flush()
			l.open.Add(-1)
		} else {
			_, l.err = l.w.Write(p.page.rows)
		}
		if l.err != nil {
			l.err = fmt.Errorf("destination %s: stage: %w", d.dir, l.err)
			sp.failed.Store(true)
		}
	}
	if l.err != nil || sp.abort.Load() {
		return
	}
	if err := l.w.Close(); err != nil {
		l.err = fmt.Errorf("destination %s: stage: %w", d.dir, err)
		sp.failed.Store(true)
		return
	}
	if l.helper {
		d.helperWriters[sp.table].give(l.w)
	}
	l.w = nil // its buffers go, whatever the execution still has to read
}

// close tells the lane's encoder that nothing more comes.
func (l *spillLane) close() { l.once.Do(func() { close(l.in) }) }

// finish lets every lane write what it was given and end its file, and
// waits for them: the first error of the lanes, in the order they were
// made.
func (sp *stageSpill) finish() error {
	var err error
	for _, l := range sp.lanes {
		l.close()
		<-l.done
		if err == nil {
			err = l.err
		}
	}
	return err
}

// closeSpill completes the spill's files, if any, for copying.
func (st *stage) closeSpill() error {
	if st.spill == nil {
		return nil
	}
	return st.spill.finish()
}

// moveTo writes the staged rows to dt's file of t: a spilled stage's row
// groups copied as they are, in order, from the lanes' files; else the
// pages in memory.
func (st *stage) moveTo(t *tableFiles, dt string) error {
	if st.spill == nil {
		for _, page := range st.pages {
			if err := t.write(dt, page.rows, page.bytes); err != nil {
				return err
			}
		}
		return nil
	}
	rgs := map[*spillLane][]parquet.RowGroup{}
	for _, l := range st.spill.lanes {
		info, err := l.f.Stat()
		if err != nil {
			return fmt.Errorf("destination %s: read stage: %w", t.d.dir, err)
		}
		f, err := parquet.OpenFile(l.f, info.Size(), parquet.SkipBloomFilters(true))
		if err != nil {
			return fmt.Errorf("destination %s: read stage: %w", t.d.dir, err)
		}
		if rgs[l] = f.RowGroups(); len(rgs[l]) != l.groups {
			return fmt.Errorf("destination %s: read stage: %d row groups, wrote %d", t.d.dir, len(rgs[l]), l.groups)
		}
	}
	for _, g := range st.spill.groups {
		if err := t.copyGroup(dt, rgs[g.lane][g.index], g.bytes); err != nil {
			return err
		}
	}
	return nil
}

// drop lets go of the stage's rows (committed, or aborted): a spill's
// lanes drop the pages they have not written yet, and their files go.
func (st *stage) drop(d *Parquet) {
	d.staged.Add(-st.bytes)
	st.pages, st.bytes = nil, 0
	if sp := st.spill; sp != nil {
		sp.abort.Store(true)
		sp.finish()
		for _, l := range sp.lanes {
			l.f.Close()
		}
		st.spill = nil
	}
}
