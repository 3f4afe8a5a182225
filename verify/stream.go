package verify

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// An execution with more archived rows than a chunk (verifyChunkRows) is
// compared without holding its rows: both sides are read as streams and
// reduced to a hash per row (schema.HashRow, leaving out what
// compareSkips leaves out), kept by key in the API's order. Memory is
// then about 40 bytes per row (the hashes and their index; 48 for an
// event, with its archived row's time) instead of the
// two sides' rows, some 600 bytes and more per row: a million-event
// execution costs tens of megabytes, not gigabytes. Only when a row
// differs are both sides read a second time, for that row alone, to name
// its column. The outcome is what compareContent says of the same rows.

// streamDigests is one execution's rows reduced to hashes: the API's (want)
// by key, in the API's order, and whether the archive's row of that key was
// seen equal or different.
type streamDigests struct {
	seed maphash.Seed
	want maphash.Hash // the API's rows, on one goroutine

	opAt   map[uint64]int32 // an operation id's hash: its index in the API's order
	opHash []uint64
	opSeen []rowSeen
	gotOps maphash.Hash

	evAt   map[int32]int32 // an event id: its index in the API's order
	evHash []uint64
	evSeen []rowSeen
	// evTime is the extracted_at (ms) of the archived row of each event
	// that evSeen says: an event archived twice (first without its
	// payloads) is its newer row.
	evTime    []int64
	gotEv     maphash.Hash
	gotEvents int64  // the distinct events archived
	skipOps   []bool // compareSkips, by table
	skipEv    []bool
	// opAlt and evAlt hold, by index, the hashes of the API's rows as an
	// archive made by an older etl holds them (olderForm: without the
	// members the SDK does not know, with nulls in the columns added
	// since), each with what such an archived row lacks; lackingOp names
	// the first operation archived so (an event's row may be followed by
	// a newer one, so events are named at the end, by lacking).
	opAlt, evAlt  map[int32][]olderHash
	lackingOp     string
	lackingOpKind rowSeen
	// dup: the API's rows repeat a key (two events with one EventId):
	// compared whole instead.
	dup bool
}

// rowSeen is what the archive holds of one of the API's rows.
type rowSeen uint8

const (
	notArchived rowSeen = iota
	archivedEqual
	archivedDiffers
	archivedLacksUnknown // differs only by the members the SDK does not know
	archivedLacksColumns // differs only by nulls in columns added since (and perhaps those members)
)

// olderHash is the hash of one of the API's rows as an archive made by an
// older etl holds it, and what such an archived row lacks.
type olderHash struct {
	hash  uint64
	lacks rowSeen
}

func newStreamDigests(mode dataMode) *streamDigests {
	d := &streamDigests{seed: maphash.MakeSeed(), opAt: map[uint64]int32{}, evAt: map[int32]int32{}, opAlt: map[int32][]olderHash{}, evAlt: map[int32][]olderHash{},
		skipOps: compareSkips(schema.Operations, mode), skipEv: compareSkips(schema.Events, mode)}
	for _, h := range []*maphash.Hash{&d.want, &d.gotOps, &d.gotEv} {
		h.SetSeed(d.seed)
	}
	return d
}

// idHash is the key of an operation: its id's hash.
func (d *streamDigests) idHash(id string) uint64 { return maphash.String(d.seed, id) }

func (d *streamDigests) wantOps(rows []schema.Operation) {
	for i := range rows {
		k := d.idHash(rows[i].OperationID)
		if _, ok := d.opAt[k]; ok {
			d.dup = true
		}
		d.opAt[k] = int32(len(d.opHash))
		older(d, schema.Operations, d.opAlt, int32(len(d.opHash)), &rows[i], operationOverflow, d.skipOps)
		d.opHash = append(d.opHash, schema.HashRow(schema.Operations, &d.want, &rows[i], d.skipOps))
	}
}

func (d *streamDigests) wantEvent(row *schema.Event) {
	if _, ok := d.evAt[row.EventID]; ok {
		d.dup = true
	}
	d.evAt[row.EventID] = int32(len(d.evHash))
	older(d, schema.Events, d.evAlt, int32(len(d.evHash)), row, eventOverflow, d.skipEv)
	d.evHash = append(d.evHash, schema.HashRow(schema.Events, &d.want, row, d.skipEv))
}

// older notes in alts, at i, the hashes of the API's row as archives made
// by an older etl hold it, as olderForm compares: without the members the
// SDK does not know (when it has some), with nulls in the columns added
// since (when it has values there), and both. Most rows have neither:
// nothing is hashed again for them.
func older[T any](d *streamDigests, t *schema.Table, alts map[int32][]olderHash, i int32, row *T, overflow func(*T) **string, skip []bool) {
	o := *overflow(row)
	without := transform.WithoutUnknown(o)
	unknown, since := without != o, schema.HasSinceValue(t, row)
	add := func(stripped, cleared bool, lacks rowSeen) {
		r := *row
		if stripped {
			*overflow(&r) = without
		}
		if cleared {
			schema.ClearSince(t, &r)
		}
		alts[i] = append(alts[i], olderHash{schema.HashRow(t, &d.want, &r, skip), lacks})
	}
	if unknown {
		add(true, false, archivedLacksUnknown)
	}
	if since {
		add(false, true, archivedLacksColumns)
	}
	if unknown && since {
		add(true, true, archivedLacksColumns)
	}
}

// gotOp and gotEvent take the archive's rows; they run side by side.
func (d *streamDigests) gotOp(row *schema.Operation) {
	i, ok := d.opAt[d.idHash(row.OperationID)]
	if !ok {
		return // an operation the API no longer lists (Postgres keeps them)
	}
	d.opSeen[i] = seen(schema.HashRow(schema.Operations, &d.gotOps, row, d.skipOps), d.opHash[i], d.opAlt[i])
	if d.opSeen[i] >= archivedLacksUnknown && d.lackingOp == "" {
		d.lackingOp, d.lackingOpKind = fmt.Sprintf("operation %q", row.OperationID), d.opSeen[i]
	}
}

func (d *streamDigests) gotEvent(row *schema.Event) {
	i, ok := d.evAt[row.EventID]
	if !ok {
		d.gotEvents++ // an event the API does not have
		return
	}
	at := row.ExtractedAt.UnixMilli()
	if d.evSeen[i] != notArchived {
		if at < d.evTime[i] {
			return // an older row of an event archived twice: the newer one is the event
		}
	} else {
		d.gotEvents++
	}
	d.evTime[i] = at
	h := schema.HashRow(schema.Events, &d.gotEv, row, d.skipEv)
	if h != d.evHash[i] && row.OverflowJSON != nil { // in today's form, as eventDiff puts it
		r := *row
		transform.NormalizeEventOverflow(&r)
		h = schema.HashRow(schema.Events, &d.gotEv, &r, d.skipEv)
	}
	d.evSeen[i] = seen(h, d.evHash[i], d.evAlt[i])
}

// seen is what an archived row whose hash is h is to the API's row, whose
// hash is want and its older forms' alts.
func seen(h, want uint64, alts []olderHash) rowSeen {
	if h == want {
		return archivedEqual
	}
	for _, a := range alts {
		if h == a.hash {
			return a.lacks
		}
	}
	return archivedDiffers
}

// lacking is the finding of the first row the archive holds as an older
// etl made it (archivedLacksUnknown, archivedLacksColumns): none when
// there is none.
func (d *streamDigests) lacking() finding {
	what, kind := d.lackingOp, d.lackingOpKind
	if what == "" {
		first := int32(-1)
		for i, s := range d.evSeen {
			if s >= archivedLacksUnknown {
				first = int32(i)
				break
			}
		}
		for id, i := range d.evAt {
			if i == first {
				what, kind = fmt.Sprintf("event %d", id), d.evSeen[i]
			}
		}
	}
	switch {
	case kind == archivedLacksColumns:
		return finding{what: what + ": " + lacksColumnsRowWhat, lacksColumns: true}
	case what != "":
		return finding{what: what + ": " + lacksUnknownWhat, lacksUnknown: true}
	}
	return finding{}
}

// firstDiff is the first of the API's operations, else events, that the
// archive lacks or holds otherwise (than equal, or as an older etl made
// it): its index, or -1 for none.
func (d *streamDigests) firstDiff() (events bool, i int) {
	for i, s := range d.opSeen {
		if s == notArchived || s == archivedDiffers {
			return false, i
		}
	}
	for i, s := range d.evSeen {
		if s == notArchived || s == archivedDiffers {
			return true, i
		}
	}
	return false, -1
}

// compareStreamed is compareContent for an execution too large to hold
// (see above); rows is the number of archived rows read. When the API
// repeats a key, it compares whole (compareContent) instead.
func compareStreamed(ctx context.Context, api verifyClient, rs load.RowStreamer, reader load.SnapshotReader, c comparison) (found finding, sampleable bool, rows int64, err error) {
	st := c.st
	if !canCompare(c.apiStatus, st, c.e.Token) {
		return finding{}, false, 0, nil
	}
	mode := modeOf(st, c.unreadable)
	d := newStreamDigests(mode)
	wantRow, err := apiRows(ctx, api, c.e, st, reader, d.wantOps, d.wantEvent)
	if errors.Is(err, errTokenRefused) {
		c.e.Token = ""
		found, sampleable, rows, err = compareStreamed(ctx, api, rs, reader, c)
		found.tokenRefused = true
		return found, sampleable, rows, err
	}
	if without, comparable, ok := keyBroken(err, st, c.e.Token); ok {
		if !comparable {
			return finding{payloadsUnchecked: true}, false, 0, nil
		}
		c.st, c.desc, c.unreadable = without, nil, true
		found, sampleable, rows, err = compareStreamed(ctx, api, rs, reader, c)
		found.payloadsUnchecked = true
		return found, sampleable, rows, err
	}
	if err != nil {
		return finding{}, true, 0, err
	}
	if d.dup {
		var got *load.ExecutionRows
		found, sampleable, err = compareContent(ctx, api, reader, func() (*load.ExecutionRows, error) {
			var err error
			got, err = wholeRows(ctx, rs, st)
			return got, err
		}, c)
		if got != nil {
			rows = int64(len(got.Operations) + len(got.Events))
		}
		return found, sampleable, rows, err
	}
	d.opSeen, d.evSeen, d.evTime = make([]rowSeen, len(d.opHash)), make([]rowSeen, len(d.evHash)), make([]int64, len(d.evHash))
	var ops, events int64
	var gotRow *schema.Execution
	var rowMu sync.Mutex
	err = rs.EachRow(ctx, st, func(row *schema.Execution) {
		rowMu.Lock()
		gotRow = new(*row)
		rowMu.Unlock()
	}, func(row *schema.Operation) { ops++; d.gotOp(row) }, func(row *schema.Event) { events++; d.gotEvent(row) })
	rows = ops + events
	if err != nil {
		return finding{}, true, rows, err
	}
	if withEvents, ok := eventsBeside(st, int(d.gotEvents)); ok && len(d.evHash) == 0 {
		// Its history too, beside the operations the state read above
		// gave (their digests stand); the archive's events are streamed
		// again, now that the API's are known.
		c.st, st = withEvents, withEvents
		if unchecked, err := apiEvents(ctx, api, c, reader, d.wantEvent); unchecked || err != nil {
			return finding{payloadsUnchecked: unchecked}, !unchecked, rows, err
		}
		if d.dup {
			found, sampleable, more, err := compareStreamed(ctx, api, rs, reader, c)
			return found, sampleable, rows + more, err
		}
		d.evSeen, d.evTime, d.gotEvents = make([]rowSeen, len(d.evHash)), make([]int64, len(d.evHash)), 0
		if err := rs.EachRow(ctx, st, nil, nil, func(row *schema.Event) { rows++; d.gotEvent(row) }); err != nil { // its events alone
			return finding{}, true, rows, err
		}
	}
	if events, i := d.firstDiff(); i >= 0 {
		what, err := explainDiff(ctx, api, rs, c.e, st, reader, events, i, mode)
		return finding{what: what}, true, rows, err
	}
	if d.gotEvents > int64(len(d.evHash)) {
		return finding{what: fmt.Sprintf("%d events archived, the API has %d", d.gotEvents, len(d.evHash))}, true, rows, nil
	}
	found, err = conclude(ctx, api, reader, c, mode, gotRow, &wantRow, d.lacking())
	return found, true, rows, err
}

// wholeRows collects st's rows from rs, as Rows would return them.
func wholeRows(ctx context.Context, rs load.RowStreamer, st load.ExecutionState) (*load.ExecutionRows, error) {
	var r load.ExecutionRows
	err := rs.EachRow(ctx, st, func(row *schema.Execution) { r.Execution = new(*row) }, func(row *schema.Operation) { r.Operations = append(r.Operations, *row) },
		func(row *schema.Event) { r.Events = append(r.Events, *row) })
	r.Events = load.LatestEvents(r.Events)
	return &r, err
}

// explainDiff reads both sides again for the API's i-th operation (or
// event) alone and names it and its first differing column, as
// compareContent does.
func explainDiff(ctx context.Context, api verifyClient, rs load.RowStreamer, e Execution, st load.ExecutionState, reader load.SnapshotReader, events bool, i int, mode dataMode) (string, error) {
	var wantOp, gotOp *schema.Operation
	var wantEv, gotEv *schema.Event
	var nOps, nEvents int
	_, err := apiRows(ctx, api, e, st, reader, func(rows []schema.Operation) {
		if !events && i >= nOps && i < nOps+len(rows) {
			wantOp = new(rows[i-nOps])
		}
		nOps += len(rows)
	}, func(row *schema.Event) {
		if events && nEvents == i {
			wantEv = new(*row)
		}
		nEvents++
	})
	if err != nil {
		return "", err
	}
	if wantOp == nil && wantEv == nil {
		return "", fmt.Errorf("the API's rows changed between two reads of a terminal execution")
	}
	err = rs.EachRow(ctx, st, nil, func(row *schema.Operation) {
		if wantOp != nil && row.OperationID == wantOp.OperationID {
			gotOp = new(*row)
		}
	}, func(row *schema.Event) {
		if wantEv != nil && row.EventID == wantEv.EventID && (gotEv == nil || !row.ExtractedAt.Before(gotEv.ExtractedAt)) {
			gotEv = new(*row) // the newer row of an event archived twice
		}
	})
	if err != nil {
		return "", err
	}
	var f finding
	if wantOp != nil {
		f = operationsDiff(orNone(gotOp), []schema.Operation{*wantOp}, mode)
	} else {
		f = eventsEqual(orNone(gotEv), []schema.Event{*wantEv}, mode)
	}
	if !f.differs() { // a hash collision, or the archive changed under verify
		return "", fmt.Errorf("a row differed by its hash and not on a second read")
	}
	return f.what, nil
}

// orNone is the row *p, or no rows for nil.
func orNone[T any](p *T) []T {
	if p == nil {
		return nil
	}
	return []T{*p}
}
