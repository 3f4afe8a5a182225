package extract

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract/decode"
)

// HistoryAPI is what the history source needs of the Lambda client: the two
// operations that read an execution without a checkpoint token.
type HistoryAPI interface {
	GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error)
	lambda.GetDurableExecutionHistoryAPIClient
}

// HistoryPage is one page of an execution's history.
type HistoryPage struct {
	Number int // from 1
	Events []types.Event
	// Unknown are the members of Events[i] that the SDK's model does not
	// know, by i, as a JSON object (see decode.Unknown); nil when none
	// had any, or when the client's protocol is not decode's.
	Unknown map[int]json.RawMessage
}

// Description is GetDurableExecution's answer for one execution.
type Description struct {
	*lambda.GetDurableExecutionOutput
	// Unknown are the answer's members that the SDK's model does not
	// know, as a JSON object (see decode.Unknown); nil when none, or when
	// the client's protocol is not decode's.
	Unknown json.RawMessage
}

// Describe reads GetDurableExecution (with its execution data, unless
// [WithoutExecutionData]) for one execution; a failure is an
// *ExecutionError.
func Describe(ctx context.Context, api HistoryAPI, arn string, opts ...HistoryOption) (*Description, error) {
	var o historyOptions
	for _, opt := range opts {
		opt(&o)
	}
	var u decode.Unknown
	out, err := api.GetDurableExecution(decode.WithUnknown(ctx, &u), &lambda.GetDurableExecutionInput{DurableExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(!o.noData)})
	if err != nil {
		return nil, classify(Entry{ARN: arn}, "GetDurableExecution", err)
	}
	return &Description{GetDurableExecutionOutput: out, Unknown: u.Output}, nil
}

// HistoryOrder is what a run has learnt of the order in which
// GetDurableExecutionHistory lists a history: the documentation disagrees
// on whether ReverseOrder lists the oldest event first or the newest, so
// the first history that tells (by its first page's EventIds, else where
// its ExecutionStarted is, else its timestamps) decides for the run. Share one among a run's drains ([WithHistoryOrder]); the
// zero value knows nothing yet.
type HistoryOrder struct {
	v atomic.Int32 // 0: unknown; else one of the orders below
}

const (
	orderDefault  = 1 // ReverseOrder=false lists the oldest event first
	orderReversed = 2 // ReverseOrder=true does
	// orderFixed: the service lists the oldest first whatever ReverseOrder
	// says (it ignores it, as AWS's Python testing server does), so the
	// newest event cannot be asked for in one call.
	orderFixed = 3
	// orderNewest: the service lists the newest first whatever
	// ReverseOrder says, so a history is read backwards (drainBackwards).
	orderNewest = 4
)

// HistoryOption configures [DrainHistory] and [NewestEventID].
type HistoryOption func(*historyOptions)

type historyOptions struct {
	order  *HistoryOrder
	noData bool
}

// WithoutExecutionData reads without the payloads (IncludeExecutionData
// false; default: with them): the service leaves them out, marking each
// Truncated. For an execution whose payloads the service cannot decrypt
// (an [ExecutionError] for which Undecryptable is true), this is what can
// be read of it.
func WithoutExecutionData() HistoryOption {
	return func(h *historyOptions) { h.noData = true }
}

// WithHistoryOrder shares what drains learn of the history order (default:
// each drain learns on its own, at the cost of a first page read twice for
// every history when the service lists the newest first by default).
func WithHistoryOrder(o *HistoryOrder) HistoryOption {
	return func(h *historyOptions) { h.order = o }
}

// errNewestFirst stops a drain whose pages list the newest event first,
// before fn saw any of them: it starts over with the other order.
var errNewestFirst = errors.New("history listed newest first")

// DrainHistory reads every page of one execution's history, oldest event
// first, calling fn for each, exactly as [Drain] does for state: pageSize is
// MaxItems (1..1000); a repeated NextMarker fails the execution
// ("RepeatedMarker") instead of archiving a truncated history; a failed
// call or an error from fn stops it with an *ExecutionError. Oldest first
// under either reading of ReverseOrder: while the order is unknown, pages
// that cannot tell it (a page of one event, as a service that caps a
// page's bytes may send for large payloads) are held back, up to
// maxHeldPages with events, until a page tells it by its own events or by
// its first EventId against the last one held; pages found newest first
// are dropped before fn sees any of them and the history is read again
// with ReverseOrder, and should that list the newest first too, backwards
// (see drainBackwards: each page read twice, a HistoryChanged failure if
// the history moved in between). A history that cannot tell (no two
// EventIds, no ExecutionStarted and no timestamps that move one way in the
// pages held) is read in the order known, else the default one.
func DrainHistory(ctx context.Context, api HistoryAPI, arn string, pageSize int32, fn func(context.Context, HistoryPage) error, opts ...HistoryOption) error {
	o := historyOptions{order: &HistoryOrder{}}
	for _, opt := range opts {
		opt(&o)
	}
	known := o.order.v.Load()
	if known == orderNewest {
		return drainBackwards(ctx, api, arn, pageSize, !o.noData, fn)
	}
	// A drain learns while the order is unknown, and also where a probe
	// found ReverseOrder ignored (so that a wrong guess there cannot make
	// it read a history newest first).
	err := drainHistory(ctx, api, arn, pageSize, known == orderReversed, known == 0 || known == orderFixed, o, fn)
	if !errors.Is(err, errNewestFirst) {
		return err
	}
	// Listed newest first without ReverseOrder: list with it, learning
	// again (the run takes that order once a page of it tells, not
	// before, so that no other drain reads with it unproven). Should it
	// list the newest first as well, the service ignores ReverseOrder that
	// way round, and the history is read backwards.
	err = drainHistory(ctx, api, arn, pageSize, true, true, o, fn)
	if errors.Is(err, errNewestFirst) {
		o.order.v.Store(orderNewest)
		return drainBackwards(ctx, api, arn, pageSize, !o.noData, fn)
	}
	return err
}

func drainHistory(ctx context.Context, api HistoryAPI, arn string, pageSize int32, reverse, learn bool, o historyOptions, fn func(context.Context, HistoryPage) error) error {
	order := o.order
	in := &lambda.GetDurableExecutionHistoryInput{DurableExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(!o.noData), MaxItems: pageSize}
	if reverse {
		in.ReverseOrder = aws.Bool(true)
	}
	p := lambda.NewGetDurableExecutionHistoryPaginator(api, in, func(o *lambda.GetDurableExecutionHistoryPaginatorOptions) { o.StopOnDuplicateToken = true })
	l := orderLearner{learning: learn, reverse: reverse, order: order, fn: fn}
	err := drainPages(ctx, Entry{ARN: arn}, "history", p, func(out *lambda.GetDurableExecutionHistoryOutput) *string { return out.NextMarker },
		func(n int, out *lambda.GetDurableExecutionHistoryOutput, u *decode.Unknown) error {
			return l.page(ctx, HistoryPage{Number: n, Events: out.Events, Unknown: u.Records}, aws.ToString(out.NextMarker) == "")
		})
	if err != nil {
		return err
	}
	return l.flush(ctx) // the whole history could not tell: read as listed
}

// maxHeldPages is how many pages holding events a drain keeps back while
// they cannot tell the history's order (a page of one event says nothing
// by itself; the next page's first EventId does).
const maxHeldPages = 8

// orderLearner hands a drain's pages to fn oldest first while the run does
// not know the order: pages that cannot tell it are held back until one
// that can (by its own events, or by its first EventId against the last
// one held); pages found to be listed newest first are dropped with
// errNewestFirst, before fn sees any of them. A drain that lists without
// ReverseOrder and finds the newest first asks with it next; one that
// finds the newest first with it too reads the history backwards (see
// DrainHistory).
type orderLearner struct {
	learning   bool
	reverse    bool // the drain lists with ReverseOrder
	order      *HistoryOrder
	fn         func(context.Context, HistoryPage) error
	held       []HistoryPage
	heldEvents int   // pages in held that have events
	lastID     int32 // the last EventId of the pages held
	hasID      bool
}

func (l *orderLearner) page(ctx context.Context, p HistoryPage, last bool) error {
	if !l.learning {
		return l.fn(ctx, p)
	}
	way := ascending(p.Events, last)
	if first, ok := firstEventID(p.Events); way == 0 && ok && l.hasID && first != l.lastID {
		way = 1
		if first < l.lastID {
			way = -1
		}
	}
	switch way {
	case -1:
		return errNewestFirst
	case 1:
		if l.reverse {
			l.order.v.CompareAndSwap(0, orderReversed)
		} else {
			l.order.v.CompareAndSwap(0, orderDefault)
		}
	default:
		l.held = append(l.held, p)
		if len(p.Events) > 0 {
			l.heldEvents++
		}
		if id, ok := lastEventID(p.Events); ok {
			l.lastID, l.hasID = id, true
		}
		if l.heldEvents < maxHeldPages {
			return nil
		}
		l.learning = false // read in the order the run knows, else the default one
		return l.flush(ctx)
	}
	l.learning = false
	if err := l.flush(ctx); err != nil {
		return err
	}
	return l.fn(ctx, p)
}

// flush hands the pages held to fn.
func (l *orderLearner) flush(ctx context.Context) error {
	for _, p := range l.held {
		if err := l.fn(ctx, p); err != nil {
			return err
		}
	}
	l.held = nil
	return nil
}

// firstEventID and lastEventID are the first and last EventId of events that have
// one.
func firstEventID(events []types.Event) (int32, bool) {
	for i := range events {
		if id := events[i].EventId; id != nil {
			return *id, true
		}
	}
	return 0, false
}

func lastEventID(events []types.Event) (int32, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if id := events[i].EventId; id != nil {
			return *id, true
		}
	}
	return 0, false
}

// ascending tells in which order events (a page of a history; whole: the
// last page) are listed: 1 oldest first, -1 newest first, 0 cannot tell.
// It asks, in turn: the EventIds, by the way most of them move from one to
// the next (so that one odd id, far above the ids that follow, cannot turn
// a page of them round; two ids tell as before); where ExecutionStarted
// is, the oldest event of a history (first of two or more events, or last
// of a whole history); and the way EventTimestamps move, when they all move
// the same way.
func ascending(events []types.Event, whole bool) int {
	up, down := 0, 0
	var prev *int32
	for i := range events {
		id := events[i].EventId
		if id == nil {
			continue
		}
		if prev != nil && *id > *prev {
			up++
		} else if prev != nil && *id < *prev {
			down++
		}
		prev = id
	}
	switch {
	case up > down:
		return 1
	case down > up:
		return -1
	}
	if n := len(events); n >= 2 {
		switch {
		case events[0].EventType == types.EventTypeExecutionStarted:
			return 1
		case whole && events[n-1].EventType == types.EventTypeExecutionStarted:
			return -1
		}
	}
	way := 0
	var last *time.Time
	for i := range events {
		t := events[i].EventTimestamp
		if t == nil {
			continue
		}
		if last != nil && !t.Equal(*last) {
			w := 1
			if t.Before(*last) {
				w = -1
			}
			if way != 0 && w != way {
				return 0 // timestamps go both ways: they do not tell
			}
			way = w
		}
		last = t
	}
	return way
}

// newestPages bounds the calls of one [NewestEventID].
const newestPages = 3

// NewestEventID asks for the newest event of one execution's history in
// one small call (ReverseOrder, two events, no payloads), so that a rerun
// can tell that nothing happened since it last archived the execution.
// The sources disagree on what ReverseOrder lists first, so known is true
// only when the answer proves which event is the newest: two events in
// descending id order, or a history of at most one event. A page shorter
// than asked for that names a next one (a service may page by size or
// answer an empty page first) is followed, up to [newestPages] calls in
// all, until two events have come; past that, known is false. A failure
// is an *ExecutionError.
//
// With a shared [HistoryOrder] it asks for the order the run learnt lists
// the newest event first, and learns it: an answer in ascending order
// shows that ReverseOrder lists the oldest first, and the call is made
// again without it. Should that answer also list the oldest first, the
// service ignores ReverseOrder (AWS's Python testing server does): the
// run's later probes make no call and answer unknown.
func NewestEventID(ctx context.Context, api HistoryAPI, arn string, opts ...HistoryOption) (id int32, known bool, err error) {
	o := historyOptions{order: &HistoryOrder{}}
	for _, opt := range opts {
		opt(&o)
	}
	order := o.order.v.Load()
	if order == orderFixed {
		return 0, false, nil
	}
	reverse := order != orderReversed
	var ev []types.Event
	var marker *string
	for calls := 1; ; calls++ {
		out, err := api.GetDurableExecutionHistory(ctx, &lambda.GetDurableExecutionHistoryInput{
			DurableExecutionArn: aws.String(arn), ReverseOrder: aws.Bool(reverse), MaxItems: 2, IncludeExecutionData: aws.Bool(false), Marker: marker,
		})
		if err != nil {
			return 0, false, classify(Entry{ARN: arn}, "GetDurableExecutionHistory (its newest event)", err)
		}
		ev = append(ev, out.Events...)
		repeated := aws.ToString(out.NextMarker) == aws.ToString(marker)
		marker = out.NextMarker
		if len(ev) >= 2 || aws.ToString(marker) == "" || repeated {
			break
		}
		if calls == newestPages {
			return 0, false, nil
		}
	}
	end := aws.ToString(marker) == "" // "" ends a listing as the SDK's paginators read it
	if ascending(ev, end) == 1 {
		if reverse && order == 0 { // ReverseOrder=true lists the oldest first: ask without it
			o.order.v.CompareAndSwap(0, orderReversed)
			return NewestEventID(ctx, api, arn, WithHistoryOrder(o.order))
		}
		// Both values of ReverseOrder list the oldest first: the service
		// ignores it, and the newest event takes a whole history to find.
		o.order.v.Store(orderFixed)
		return 0, false, nil
	}
	for _, e := range ev {
		if e.EventId == nil {
			return 0, false, nil
		}
	}
	switch {
	case len(ev) == 0 && end:
		return 0, true, nil
	case len(ev) == 1 && end:
		return *ev[0].EventId, true, nil
	case len(ev) >= 2 && *ev[0].EventId > *ev[1].EventId:
		return *ev[0].EventId, true, nil
	}
	return 0, false, nil
}
