package pipeline

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// source reads one execution from the API for the transform: the seam
// between the worker (retries, restarts, skips, accounting, commit) and the
// API that produced the rows. stateSource drains GetDurableExecutionState;
// historySource reads GetDurableExecution and GetDurableExecutionHistory
// (no token needed) and folds the events into operations.
type source interface {
	// read writes the execution's rows through x as it reads them and
	// returns the executions row and its partition. Failures of the API are
	// *extract.ExecutionError; of the destination *DestinationError. c
	// counts what was read, failure or not.
	read(ctx context.Context, e entry, meta transform.RowMeta, x load.Execution, c *counts) (dt string, row schema.Execution, err error)
}

// counts is what one execution's read went through.
type counts struct {
	pages, ops, events, newEvents int64
}

// sourceFor picks the source of an entry: state with a token (and history
// too with Config.HistoryAlways), history without.
func (r *runner) sourceFor(e entry) source {
	if e.Token == "" {
		return historySource{r: r}
	}
	return stateSource{r: r, withHistory: r.cfg.HistoryAlways}
}

type stateSource struct {
	r           *runner
	withHistory bool
}

func (s stateSource) read(ctx context.Context, e entry, meta transform.RowMeta, x load.Execution, c *counts) (string, schema.Execution, error) {
	meta.Source = transform.SourceState
	snap := transform.NewSnapshot(meta)
	err := ahead(ctx, func(ctx context.Context, put func(context.Context, extract.Page) error) error {
		return extract.Drain(ctx, s.r.cfg.API, e.Entry, s.r.cfg.PageSize, put)
	}, func(p extract.Page) error {
		rows := snap.AddPage(make([]schema.Operation, 0, len(p.Operations)), p)
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			return &DestinationError{Err: err}
		}
		c.pages++
		c.ops += int64(len(rows))
		return nil
	})
	if err != nil {
		return "", schema.Execution{}, err
	}
	dt, known := snap.Partition(s.r.sum.StartedAt)
	row := snap.Finish()
	if !s.withHistory && s.r.stateUnchanged(e, row) {
		return "", row, errUnchanged
	}
	if s.withHistory {
		// The operations are all written: their stage ends before the
		// events come, as the history path's events do before its
		// operations.
		if err := endTable(ctx, x, schema.Operations); err != nil {
			return "", row, err
		}
		desc, err := s.r.describe(ctx, e)
		if err != nil {
			return "", row, err
		}
		transform.Describe(&row, desc)
		if d, ok := transform.DescribedPartition(desc.GetDurableExecutionOutput); ok && !known {
			// A state without the EXECUTION operation's start: the
			// service's start, not the run's date, so that every run
			// puts the execution's rows (its events, each written
			// once) under one date.
			dt = d
		}
		if desc.ExecutionDataIncluded != nil && !*desc.ExecutionDataIncluded {
			// The service leaves the data out: the events are read so
			// (an archive that holds them so is then current).
			e.noData = true
		}
		unchanged, err := s.r.eventsUnchanged(ctx, e)
		switch {
		case err != nil:
			return "", row, err
		case unchanged && s.r.stateUnchanged(e, row):
			return "", row, errUnchanged
		case unchanged:
			// The archive holds the history up to its newest event:
			// none to write, and none to read (events never change).
			count, last := e.archived.Count, e.archived.LastID
			row.EventCount, row.LastEventID = &count, &last
		default:
			if err := s.r.readEvents(ctx, e, meta, x, c, nil, nil, dt, &row); err != nil {
				return "", row, err
			}
			if s.r.readUnchanged(e, row) && s.r.stateUnchanged(e, row) {
				// Read whole (a service that ignores ReverseOrder), the
				// history holds nothing new, nor does the state.
				return "", row, errUnchanged
			}
		}
	}
	return dt, row, nil
}

// historyOptions are the options of e's history calls: the run's order,
// and without the payloads when e says so.
func (r *runner) historyOptions(e entry) []extract.HistoryOption {
	opts := []extract.HistoryOption{extract.WithHistoryOrder(&r.order)}
	if e.noData {
		opts = append(opts, extract.WithoutExecutionData())
	}
	return opts
}

// endTable tells x, if it can be told (load.TableEnder), that t's rows are
// all written.
func endTable(ctx context.Context, x load.Execution, t *schema.Table) error {
	if te, ok := x.(load.TableEnder); ok {
		if err := te.EndTable(ctx, t); err != nil {
			return &DestinationError{Err: err}
		}
	}
	return nil
}

type historySource struct{ r *runner }

func (s historySource) read(ctx context.Context, e entry, meta transform.RowMeta, x load.Execution, c *counts) (string, schema.Execution, error) {
	meta.Source = transform.SourceHistory
	if unchanged, err := s.r.eventsUnchanged(ctx, e); err != nil || unchanged {
		if err == nil {
			err = errUnchanged
		}
		return "", schema.Execution{}, err
	}
	desc, err := s.r.describe(ctx, e)
	if err != nil {
		return "", schema.Execution{}, err
	}
	if s.r.seeksPayloads(e) && desc.ExecutionDataIncluded != nil && !*desc.ExecutionDataIncluded {
		return "", schema.Execution{}, errDataLeftOut
	}
	kept := s.r.keptData(ctx, e, desc)
	snap := transform.NewSnapshot(meta)
	ticket := &largeTicket{g: s.r.cfg.gate, threshold: s.r.cfg.largeHistory}
	defer ticket.done()
	fold := transform.NewFolder(transform.WithSharedPayloadBudget(s.r.payloads))
	defer fold.Close() // before the ticket leaves: the fold's memory is what it admits
	var row schema.Execution
	described, _ := transform.DescribedPartition(desc.GetDurableExecutionOutput)
	if err := s.r.readEvents(ctx, e, meta, x, c, fold, ticket, described, &row); err != nil {
		return "", row, err
	}
	if s.r.readUnchanged(e, row) {
		return "", row, errUnchanged
	}
	// No more events: a large history's events stage ends before its
	// operations come (the encoders it holds are then theirs).
	if err := endTable(ctx, x, schema.Events); err != nil {
		return "", row, err
	}
	// The folded operations, in the order of their first event, a page's
	// worth at a time.
	err = fold.Each(snap, extract.MaxPageSize, func(rows []schema.Operation) error {
		for i := range rows {
			if kept == nil {
				break
			}
			if a := kept.Operations[rows[i].OperationID]; a != nil {
				schema.KeepData(schema.Operations, &rows[i], a)
			}
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Operations, rows)); err != nil {
			return &DestinationError{Err: err}
		}
		c.ops += int64(len(rows))
		return nil
	})
	if err != nil {
		return "", row, err
	}
	counted := row
	row = snap.Finish()
	row.EventCount, row.LastEventID = counted.EventCount, counted.LastEventID
	transform.Describe(&row, desc)
	if kept != nil {
		schema.KeepData(schema.Executions, &row, &kept.Execution)
	}
	dt, ok := transform.DescribedPartition(desc.GetDurableExecutionOutput)
	if !ok {
		dt, _ = snap.Partition(s.r.sum.StartedAt)
	}
	return dt, row, nil
}

// maxKeptOperations bounds the archived operations a run holds to give a
// snapshot read without its data what the archive has of it (keptData):
// past it, Postgres's upsert and compaction still keep what was archived,
// and Parquet's newest snapshot goes without.
const maxKeptOperations = 10_000

// keptData is what the archive holds of the data of an execution that
// this read (desc) has without it (the service could not decrypt it),
// for schema.KeepData: so that the new snapshot, in every destination,
// keeps the payloads archived before the key broke. nil when the read has
// the data, no snapshot of it was archived with the data, or the archive
// cannot say (load.DataReader). Failing to read it is not a failure of
// the execution: the snapshot is archived as read, and the run says so.
func (r *runner) keptData(ctx context.Context, e entry, desc *extract.Description) *load.ArchivedData {
	dr, ok := r.cfg.Loader.(load.DataReader)
	if !ok || desc.ExecutionDataIncluded == nil || *desc.ExecutionDataIncluded || !e.archived.DataArchived {
		return nil
	}
	dt, ok := transform.DescribedPartition(desc.GetDurableExecutionOutput)
	if !ok {
		return nil
	}
	data, err := dr.ArchivedData(ctx, e.ARN, dt, maxKeptOperations)
	if err != nil {
		r.cfg.Logger.Warn("could not read the payloads archived before: this snapshot goes without them, the older keeps them", "execution_arn", e.ARN, "reason", err)
		return nil
	}
	return data
}

// describe is GetDurableExecution of e, whose history retention it tells
// cfg.Described.
func (r *runner) describe(ctx context.Context, e entry) (*extract.Description, error) {
	desc, err := extract.Describe(ctx, r.cfg.History, e.ARN, r.historyOptions(e)...)
	if err == nil && r.cfg.Described != nil && desc.DurableConfig != nil {
		if days := aws.ToInt32(desc.DurableConfig.RetentionPeriodInDays); days > 0 {
			r.cfg.Described(e.ARN, days)
		}
	}
	return desc, err
}

// errDataLeftOut is a read that sought the payloads an archived snapshot
// lacks and that the service answered without them, though asked for them
// and with no error (ExecutionDataIncluded false): nothing would be gained
// by archiving it again with them (each run would write the whole history
// once more).
var errDataLeftOut = errors.New("the service left the execution's data out again")

// seeksPayloads reports a read of e with its payloads (not noData) whose
// archived snapshot lacks them.
func (r *runner) seeksPayloads(e entry) bool {
	return !e.noData && (e.retryPayloads || e.archived.WithoutPayloads)
}

// errUnchanged is a history read that found nothing new since the archive's
// snapshot: the run leaves the execution as archived.
var errUnchanged = errors.New("unchanged since its archived snapshot")

// eventsUnchanged reports that the archive holds e's events up to the
// newest the service has (one small call; see extract.NewestEventID).
// Without archived events, or when the answer cannot prove which event is
// the newest, it reports false; so too without Config.SkipUnchanged (etl
// run --force) or with Config.RewriteEvents, when the archived snapshot lacks the payloads that e would
// read (the service could not decrypt them then: it may now), for a retry
// of a final one's, and when the archived status may change without an
// event (PAUSING: see load.EventsArchived's LastID). The history source
// then leaves the execution as archived (a still-running execution that
// waited since the last run costs that call, not every page of its
// history); state with Config.HistoryAlways reads no history page.
func (r *runner) eventsUnchanged(ctx context.Context, e entry) (bool, error) {
	if !r.mayLeaveUnchanged(e) {
		return false, nil
	}
	newest, known, err := extract.NewestEventID(ctx, r.cfg.History, e.ARN, extract.WithHistoryOrder(&r.order))
	return known && newest == e.archived.LastID, err
}

// mayLeaveUnchanged reports whether e may be left as archived when its
// history has no event the archive lacks (see eventsUnchanged).
func (r *runner) mayLeaveUnchanged(e entry) bool {
	return r.cfg.SkipUnchanged && !r.cfg.RewriteEvents && !e.retryPayloads &&
		e.archived.LastID > 0 && !(e.archived.WithoutPayloads && !e.noData)
}

// stateUnchanged reports that the archive's newest snapshot of e has the
// operations of row, a state read's snapshot (their content_hash; see
// load.EventsArchived.Holds): a still-running execution that did nothing
// since (waiting on a timer, a callback, its token unchanged) is then left
// as archived, not archived again each run. As for history, not with
// Config.SkipUnchanged off (etl run --force) or Config.RewriteEvents, nor
// when that snapshot lacks payloads this read has.
func (r *runner) stateUnchanged(e entry, row schema.Execution) bool {
	return r.cfg.SkipUnchanged && !r.cfg.RewriteEvents && !e.retryPayloads &&
		!e.archived.WithoutPayloads && e.archived.Holds(row.ContentHash)
}

// readUnchanged reports that a whole history, read because the one small
// call could not prove its newest event (a service that ignores
// ReverseOrder, as AWS's Python testing server does, or pages it
// otherwise), holds no event the archive lacks: the same newest event
// and as many events as archived (row's event_count and last_event_id,
// which readEvents noted). The execution is then left as archived, as
// eventsUnchanged would have left it, and no row of it is written again.
func (r *runner) readUnchanged(e entry, row schema.Execution) bool {
	return r.mayLeaveUnchanged(e) && row.EventCount != nil && row.LastEventID != nil &&
		*row.EventCount == e.archived.Count && *row.LastEventID == e.archived.LastID
}

// readEvents drains e's history one page ahead of use, writing the events
// the archive lacks (those past the event_count it archived, and, when
// it holds them without the payloads this read has, those that carry a
// payload) through x, folding every event into fold when given, and
// noting event_count and last_event_id in row. With
// Config.RewriteLacking, those that carry members the SDK does not know
// or have values in columns added since the first contract, and with
// Config.RewriteEvents every other one, go through load.LostEventsWriter
// where x can (and dt, their partition, is known), so that each
// destination that can tell is given only those it does not hold as they
// are: it reads which it holds when the first such event comes.
func (r *runner) readEvents(ctx context.Context, e entry, meta transform.RowMeta, x load.Execution, c *counts, fold *transform.Folder, ticket *largeTicket, dt string, row *schema.Execution) error {
	archived := e.archived
	// Its events were archived without their payloads, which this read
	// carries: each event with an Input, a Result or an Error is written
	// again, and the newer row is the event (the _latest views,
	// compaction and Postgres's upsert keep it). The others were archived
	// as they are: written once.
	recovering := archived.WithoutPayloads && !e.noData
	if lw, ok := x.(load.LackingEventsWriter); ok && !recovering && !r.cfg.RewriteLacking && !r.cfg.RewriteEvents {
		lw.WritesLackingEvents(!e.noData)
	}
	// The events written again with no sign that the archive lacks them
	// (--force's, a mend's) go where it lacks them as they are (lost),
	// without it to every destination (x.Write): an event the ledger
	// does not count may be held all the same (its executions row lost),
	// one it counts may be held as it is. Which are held is read once,
	// when the first comes: most executions --force reads again have
	// none (the pause events and members the SDK does not know are rare).
	lost := func(ctx context.Context, rows schema.Rows) (int, error) { return rows.Len(), x.Write(ctx, rows) }
	if lw, ok := x.(load.LostEventsWriter); ok && dt != "" {
		read := false
		lost = func(ctx context.Context, rows schema.Rows) (int, error) {
			if !read {
				if err := lw.ReadHeldEvents(ctx, dt); err != nil {
					return 0, err
				}
				read = true
			}
			return lw.WriteLost(ctx, rows)
		}
	}
	var total int64
	var maxID int32
	var keys transform.EventKeys
	err := ahead(ctx, func(ctx context.Context, put func(context.Context, extract.HistoryPage) error) error {
		return extract.DrainHistory(ctx, r.cfg.History, e.ARN, r.cfg.PageSize, put, r.historyOptions(e)...)
	}, func(p extract.HistoryPage) error {
		rows := make([]schema.Event, 0, len(p.Events))
		var again []schema.Event // through lost
		for i := range p.Events {
			ev := &p.Events[i]
			if ev.EventId != nil {
				maxID = max(maxID, *ev.EventId)
			}
			switch key := keys.Next(ev); {
			case r.cfg.RewriteEvents:
				again = transform.AppendHistoryEvent(again, &p, i, key, meta)
			case archived.Lacks(key.Pos) || recovering && transform.EventCarriesData(ev):
				rows = transform.AppendHistoryEvent(rows, &p, i, key, meta)
			case r.cfg.RewriteLacking:
				// Written again if it has members the SDK does not know
				// or values in columns added since: an archive made
				// before them holds nulls.
				again = transform.AppendHistoryEvent(again, &p, i, key, meta)
				if p.Unknown[i] == nil && !schema.HasSinceValue(schema.Events, &again[len(again)-1]) {
					again = again[:len(again)-1]
				}
			}
		}
		if fold != nil {
			fold.Add(p.Events)
		}
		if err := x.Write(ctx, schema.RowsOf(schema.Events, rows)); err != nil {
			return &DestinationError{Err: err}
		}
		written := len(rows)
		if len(again) > 0 {
			n, err := lost(ctx, schema.RowsOf(schema.Events, again))
			if err != nil {
				return &DestinationError{Err: err}
			}
			written += n
		}
		total += int64(len(p.Events))
		if err := ticket.page(ctx, total); err != nil {
			return err
		}
		c.pages++
		c.events += int64(len(p.Events))
		c.newEvents += int64(written)
		return nil
	})
	if err != nil {
		return err
	}
	row.EventCount = &total
	row.LastEventID = &maxID
	return nil
}

// ahead runs drain one page ahead of use: while use handles page n, the
// next request is already under way. An error from use stops the drain and
// wins over the drain's own.
func ahead[P any](ctx context.Context, drain func(context.Context, func(context.Context, P) error) error, use func(P) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan P, 1)
	drained := make(chan error, 1)
	go func() {
		defer close(pages)
		drained <- drain(ctx, func(ctx context.Context, p P) error {
			select {
			case pages <- p:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var useErr error
	for p := range pages {
		if useErr == nil {
			if useErr = use(p); useErr != nil {
				cancel() // stop fetching; drain what is queued
			}
		}
	}
	if err := <-drained; useErr == nil {
		return err
	}
	return useErr
}

var _ extract.HistoryAPI = (*lambda.Client)(nil)
