package verify

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// An execution the API can no longer compare (its history's retention
// passed, Options.PastRetention, or GetDurableExecution says it is gone),
// and one drawn for the sample that cannot be compared by content (still
// running or paused, or archived through state with no token to read it
// again), is checked against its own executions row instead, without a
// call: the
// archive must hold at least the operations (operation_count) and the
// distinct events (event_count) that row counts, and the operations must
// give its content_hash again (transform.ContentHash). So an operations
// or events file of such an execution deleted or lost is found
// (Report.Inconsistent), which nothing could re-read once the service has
// forgotten it.
//
// What it cannot tell: the content hash is recomputed only where the
// archive holds exactly the snapshot's operations as they were hashed.
// Parquet does (the newest snapshot's rows; a row read twice while a
// compaction beside verify publishes, once), but for a snapshot read
// without its payloads (hashed without them, written with those an
// earlier snapshot archived). Postgres keeps every operation ever
// archived, the newest values of each, and stores U+0000 as U+FFFD (it
// says so: StoredForm): there the hash is recomputed only when it holds
// as many operations as the row counts and no text holds U+FFFD.
// Otherwise only the counts are checked. An execution too large for a chunk, read as a
// stream (load.RowStreamer), has its counts checked, not its hash (its
// rows come in no order).
//
// An execution can gain a snapshot while verify reads it (a run beside
// it: a running one's next, or any one's with --force). Parquet reads the
// very snapshot Latest named (by run id and extraction time), which a
// compaction with --keep latest beside verify may drop; Postgres reads
// the rows as they are then, the newer snapshot's. So an execution found
// inconsistent whose newest snapshot is another than the one checked is
// checked again on the newest, and only what that one shows is reported.

// selfCheckSeed is the stream (rand.NewPCG's second word) that draws the
// executions checked against their own rows, apart from the sample's.
const selfCheckSeed = 0x5e1fc4ec

// drawSelfCheck picks k of states (all when k >= len), seeded.
func drawSelfCheck(states []load.ExecutionState, k int, seed uint64) []load.ExecutionState {
	if k >= len(states) {
		return states
	}
	r := rand.New(rand.NewPCG(seed, selfCheckSeed))
	out := make([]load.ExecutionState, 0, k)
	for _, i := range r.Perm(len(states))[:k] {
		out = append(out, states[i])
	}
	return out
}

// selfChecking is a set of executions checked against their own rows.
type selfChecking struct {
	states []load.ExecutionState // their newest archived snapshots
	// notCompared names those drawn for the sample and not comparable
	// by content (counted in Report.NotComparedSelfChecked too).
	notCompared map[string]bool
}

// add puts st in the set; notCompared: drawn and not comparable.
func (s *selfChecking) add(st load.ExecutionState, notCompared bool) {
	s.states = append(s.states, st)
	if notCompared {
		if s.notCompared == nil {
			s.notCompared = map[string]bool{}
		}
		s.notCompared[st.Arn] = true
	}
}

// selfCheckResult is one execution's self-check: what disagrees ("" when
// nothing), or the error that kept its rows from being read.
type selfCheckResult struct {
	st   load.ExecutionState
	what string
	err  error
	// replaced: checked again on a newer snapshot, whose result counts
	// instead.
	replaced bool
}

// selfCheck checks each of set's executions against its own executions
// row, partition by partition, a chunk of rows at a time (o.ChunkRows;
// one larger than o.StreamRows as a stream, when the reader can), and
// records in rep, under mu: SelfChecked (and NotComparedSelfChecked),
// Inconsistent, and Errors for those whose rows could not be read.
func selfCheck(ctx context.Context, reader load.SnapshotReader, set selfChecking, o Options, rep *Report, mu *sync.Mutex) {
	if len(set.states) == 0 {
		return
	}
	results := checkOwnRows(ctx, reader, set.states, o)
	// One found inconsistent: checked again on its newest snapshot,
	// should a newer one have come since (one read of the executions
	// table for all of them).
	var again []load.ExecutionState
	recheck := map[string]bool{}
	for _, r := range results {
		if r.what != "" {
			recheck[r.st.Arn] = true
		}
	}
	if len(recheck) > 0 {
		newest, err := reader.Latest(ctx, func(arn string) bool { return recheck[arn] })
		for i, r := range results {
			if !recheck[r.st.Arn] {
				continue
			}
			switch st, ok := newest[r.st.Arn]; {
			case err != nil:
				results[i].err = err
			case ok && (st.RunID != r.st.RunID || !st.ExtractedAt.Equal(r.st.ExtractedAt)):
				again = append(again, st)
				results[i].replaced = true
			}
		}
		results = append(results, checkOwnRows(ctx, reader, again, o)...)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range results {
		if r.replaced {
			continue
		}
		if r.err != nil {
			rep.Errors = append(rep.Errors, Difference{ExecutionArn: r.st.Arn, What: errorReason(r.err)})
			continue
		}
		if r.what != "" {
			rep.Inconsistent = append(rep.Inconsistent, Difference{ExecutionArn: r.st.Arn, What: r.what, AtService: set.notCompared[r.st.Arn]})
		}
		rep.SelfChecked++
		if set.notCompared[r.st.Arn] {
			rep.NotComparedSelfChecked++
		}
	}
}

// checkOwnRows checks each of states against its own executions row (see
// selfCheck) and returns what it found of each.
func checkOwnRows(ctx context.Context, reader load.SnapshotReader, states []load.ExecutionState, o Options) []selfCheckResult {
	if len(states) == 0 {
		return nil
	}
	states = slices.Clone(states)
	slices.SortFunc(states, func(a, b load.ExecutionState) int {
		return cmp.Or(strings.Compare(a.DT, b.DT), strings.Compare(a.Arn, b.Arn))
	})
	chunkRows := cmp.Or(o.ChunkRows, verifyChunkRows)
	streamRows := cmp.Or(o.StreamRows, verifyChunkRows)
	streamer, _ := reader.(load.RowStreamer)
	if streamer == nil {
		streamRows = -1
	}
	_, rewrites := reader.(interface{ StoredForm(row any) })
	// Chunks as the comparison makes them (partitionChunks): a
	// partition's executions in runs of at most chunkRows rows, an
	// execution to stream a chunk of its own.
	type chunk struct {
		states []load.ExecutionState
		stream bool // one execution, read as a stream
	}
	var chunks []chunk
	for lo, hi := 0, 0; lo < len(states); lo = hi { // states[lo:hi]: one partition's
		for hi = lo + 1; hi < len(states) && states[hi].DT == states[lo].DT; hi++ {
		}
		streams, held := partitionChunks(states[lo:hi], rowCount, streamRows, chunkRows)
		for _, st := range streams {
			chunks = append(chunks, chunk{states: []load.ExecutionState{st}, stream: true})
		}
		for _, h := range held {
			chunks = append(chunks, chunk{states: h})
		}
	}
	var mu sync.Mutex
	results := make([]selfCheckResult, 0, len(states))
	record := func(st load.ExecutionState, what string, rows int, err error) {
		if o.Progress != nil {
			o.Progress.Operations.Add(int64(rows))
		}
		mu.Lock()
		defer mu.Unlock()
		results = append(results, selfCheckResult{st: st, what: what, err: err})
	}
	// Two chunks at a time at most: memory holds two chunks' rows, or
	// one chunk's and one stream's ids (streams one at a time).
	var streaming sync.Mutex
	forEach(ctx, chunks, min(max(o.Concurrency, 1), 2), func(c chunk) {
		if c.stream {
			var what string
			var rows int
			streaming.Lock()
			err := load.ListedAgain(func() (err error) {
				what, rows, err = streamedConsistency(ctx, streamer, c.states[0])
				return err
			})
			streaming.Unlock()
			record(c.states[0], what, rows, err)
			return
		}
		got, err := reader.Rows(ctx, c.states)
		for _, st := range c.states {
			r := got[st.Arn]
			if r == nil {
				r = &load.ExecutionRows{}
			}
			var what string
			if err == nil {
				what = consistency(st, r, rewrites)
			}
			record(st, what, len(r.Operations)+len(r.Events), err)
		}
	})
	return results
}

// consistency is what differs between st, an execution's newest
// executions row, and its archived rows (as Rows reads them: the
// operations in seq order, the events one row each): "" when nothing
// does. rewrites: the archive keeps operations beyond the snapshot's and
// stores text otherwise (Postgres; see above).
func consistency(st load.ExecutionState, rows *load.ExecutionRows, rewrites bool) string {
	// A compaction publishing beside the read can show a row twice.
	ops := slices.CompactFunc(rows.Operations, func(a, b schema.Operation) bool {
		return a.Seq == b.Seq && a.OperationID == b.OperationID
	})
	if short := fewer(st, len(ops), len(rows.Events)); short != "" {
		return short
	}
	// A snapshot read without its payloads was hashed without them, and
	// written with those an earlier snapshot archived (pipeline's
	// keptData): its hash cannot be given again.
	if int64(len(ops)) != st.OperationCount || readWithoutData(st) || rewrites && anyReplaced(ops) {
		return ""
	}
	if transform.ContentHash(ops) != st.ContentHash {
		return ContentHashDiffers
	}
	return ""
}

// anyReplaced reports one of ops with U+FFFD in its text (replacedText).
func anyReplaced(ops []schema.Operation) bool {
	for i := range ops {
		if replacedText(&ops[i]) {
			return true
		}
	}
	return false
}

// replacedText reports an operation with U+FFFD in a text column (every
// string field of the row, by reflection: a column added later is
// covered): a destination that stores U+0000 so (Postgres) cannot give
// its content hash again.
func replacedText(op *schema.Operation) bool {
	has := func(s string) bool { return strings.ContainsRune(s, '\uFFFD') }
	v := reflect.ValueOf(op).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.String:
			if has(f.String()) {
				return true
			}
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
			if !f.IsNil() && has(f.Elem().String()) {
				return true
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			for j := range f.Len() {
				if has(f.Index(j).String()) {
					return true
				}
			}
		}
	}
	return false
}

// streamedConsistency is consistency's counts for an execution read as a
// stream: its distinct operations (by id) and events (by id) against its
// executions row's. rows is how many rows were read. Memory: the ids
// read, some 20-40 bytes each (a million-event execution, tens of
// megabytes), never more than the rows the archive holds.
func streamedConsistency(ctx context.Context, streamer load.RowStreamer, st load.ExecutionState) (what string, rows int, err error) {
	seed := maphash.MakeSeed()
	var mu sync.Mutex
	ops, events := map[uint64]struct{}{}, map[int32]struct{}{}
	err = streamer.EachRow(ctx, st, nil, func(op *schema.Operation) {
		h := maphash.String(seed, op.OperationID)
		mu.Lock()
		ops[h] = struct{}{}
		rows++
		mu.Unlock()
	}, func(ev *schema.Event) {
		mu.Lock()
		events[ev.EventID] = struct{}{}
		rows++
		mu.Unlock()
	})
	if err != nil {
		return "", rows, err
	}
	return fewer(st, len(ops), len(events)), rows, nil
}

// eventsFewer begins what fewer says of events lost (which a run writes
// again only with --rewrite-events: see Report.Lines).
const eventsFewer = "events: "

// fewer names the table of which the archive holds fewer distinct rows
// (ops, events) than st, the executions row, counts; "" when neither.
func fewer(st load.ExecutionState, ops, events int) string {
	if int64(ops) < st.OperationCount {
		return fmt.Sprintf("operations: %d archived, its executions row counts %d", ops, st.OperationCount)
	}
	if st.EventCount != nil && int64(events) < *st.EventCount {
		return fmt.Sprintf(eventsFewer+"%d archived, its executions row counts %d", events, *st.EventCount)
	}
	return ""
}
