package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// Listing is the executions verify checks, by position. Verify makes
// the expected values of one round at a time (InRounds): over an
// account, discovery's list is kept compact and each ARN is made again
// for its round only.
type Listing interface {
	Len() int
	// At is the execution at position i, 0 <= i < Len().
	At(i int) Execution
	// Dates are the start dates (UTC, as partitions are named) that hold
	// the executions at [lo, hi): from the first's to the last's, or to
	// the latest date any of them is archived under (the archive's own
	// listing); ok false when some of them have no known start or the
	// listing is not in order of start.
	Dates(lo, hi int) (from, to string, ok bool)
}

// Options are what InRounds and Check do beyond the listed executions;
// the zero value compares none (Sample 0), one at a time.
type Options struct {
	// Sample is how many archived executions to compare by content
	// (drawn with Seed: ended ones first; one drawn that cannot be
	// compared is checked against its own executions row instead); All
	// compares every one.
	Sample int
	All    bool
	Seed   uint64
	// Concurrency is the executions checked at once (0: one at a time).
	Concurrency int
	// Progress, when set, counts executions checked (Done) and rows
	// compared (Operations).
	Progress *pipeline.Progress
	// ChunkRows bounds the archived rows read at once for one
	// partition's compared executions (default 32,768).
	ChunkRows int64
	// StreamRows: an execution with more archived rows is compared as a
	// stream, when the reader can (load.RowStreamer; default 32,768).
	StreamRows int64
	// StreamBudget bounds the archived rows of executions compared as
	// streams at once (default 1,048,576).
	StreamBudget int64
	// RoundSize is the most executions InRounds checks in one round
	// (default 50,000).
	RoundSize int
	// AtRisk, when set, names a round's executions at risk (Report.AtRisk).
	AtRisk func(exp []Execution, rep *Report, archived map[string]load.ExecutionState) []AtRisk
	// Logger tells InRounds' rounds; nil: they are not logged.
	Logger *slog.Logger
	// PastRetention, when set, tells InRounds which archived executions
	// the service has certainly forgotten (their history's retention
	// passed): those are not asked of the API nor drawn for the sample,
	// and are counted complete and in Report.PastRetention; of them, as
	// many as their share of Sample (rounded up; every one with All) are
	// checked against their own executions rows instead
	// (Report.SelfChecked, selfcheck.go). For a listing
	// that is not the API's own (the archive's): over a long-kept archive
	// most executions are such, and asking for each would cost a call
	// answered "not found".
	PastRetention func(st load.ExecutionState) bool
	// MissingForgotten, when set, has each listed execution the archive
	// has no executions row of asked of the service (one
	// GetDurableExecution, without its data): for a listing that is not
	// the service's own and whose such executions are few (the
	// archive's: those that lost their executions row and kept their
	// other rows). One the service has is Missing, which a run archives;
	// one it does not know is Inconsistent, not AtService, lost for
	// good, with this as its finding. Empty: each such is Missing, asked
	// nothing.
	MissingForgotten string
	// RetryFailedAfter, when positive, checks once more an execution whose
	// check failed for a passing reason (extract.ExecutionError.Passing:
	// throttled, a 5xx, no answer), after the others of its round and at
	// least this long after the last such failure: what failed (its
	// GetDurableExecution, or its content's comparison) is done again,
	// and only a second failure is in Report.Errors. Zero: none.
	RetryFailedAfter time.Duration
}

// verifyRoundExecutions is how many listed executions verify checks in
// one round. Besides discovery's list (about 65 bytes an execution in
// memory, its ARNs in a temporary file), verify holds, for the round it
// checks, each execution's expected value and newest archived state
// (about 600 bytes together), so an account is verified in rounds of
// this many, each reading the executions table's key columns (of its
// start dates' partitions where it can, else of every partition; the
// other tables are read for the sampled executions only). In one round, 500,000 executions of 1-3
// operations peaked at 563 MiB; in rounds of 50,000, verify holds about
// 215 MiB at 500,000 and at 1,000,000 (docs/BENCHMARKS.md).
const verifyRoundExecutions = 50_000

// InRounds verifies the listed executions in rounds of at most
// o.RoundSize, by position in the listing: a round makes its executions'
// expected values, reads the newest archived state of those executions
// only (reader.Latest), verifies them as verify does, and drops both
// before the next. The report is the rounds' reports together, as one
// round would give it but for the sample: o.Sample is shared among the
// rounds by their sizes (each round draws its share, seeded by the seed
// and the round; those past their retention, o.PastRetention, left out),
// and o.All compares every archived execution in every round. A failure
// to read the archive ends the verification with that error.
//
// When the listing knows its executions' start dates (discovery's, a
// manifest's that gives them, or the archive's own, in order of start)
// and the reader can read some partitions only
// (load.PartitionedReader), a round reads the partitions of its dates
// alone, not every executions file again. An execution not found there
// (not archived, or archived under another date: a snapshot taken before
// its start was known) is looked for in every partition after the
// rounds, in rounds of its own. One archived under two dates is compared
// on its newest snapshot under its start date: a snapshot lands under
// another date only before its start is known, so that one is older.
func InRounds(ctx context.Context, api API, reader load.SnapshotReader, listed Listing, o Options) (*Report, error) {
	n := listed.Len()
	size := cmp.Or(o.RoundSize, verifyRoundExecutions)
	rounds := max(1, (n+size-1)/size)
	rep := newReport(n, o.Seed)
	partitioned, _ := reader.(load.PartitionedReader)
	var elsewhere []int32 // positions not found under their dates
	// The sample is shared among the rounds by their executions that can
	// be drawn: sample of it is left for the remaining listed ones,
	// those past their retention taken out as the rounds meet them.
	sample, remaining, round := o.Sample, n, 0
	pastSeen, selfDrawn := 0, 0 // past their retention: met, checked against their own rows
	// check reads the newest archived states of part (of the start dates
	// from..to when dated, else of every date) and verifies part; dated,
	// the executions not found are left in elsewhere instead.
	check := func(part []Execution, from, to string, dated bool) error {
		slices.SortFunc(part, func(a, b Execution) int { return strings.Compare(a.ARN, b.ARN) })
		keep := func(arn string) bool { // from the readers' goroutines
			_, ok := slices.BinarySearchFunc(part, arn, func(e Execution, arn string) int { return strings.Compare(e.ARN, arn) })
			return ok
		}
		var archived map[string]load.ExecutionState
		var err error
		if dated {
			archived, err = partitioned.LatestIn(ctx, from, to, keep)
		} else {
			archived, err = reader.Latest(ctx, keep)
		}
		if err != nil {
			return err
		}
		if dated {
			part = slices.DeleteFunc(part, func(e Execution) bool {
				_, ok := archived[e.ARN]
				if !ok {
					elsewhere = append(elsewhere, e.pos)
				}
				return !ok
			})
		}
		var drawn []load.ExecutionState // past their retention, checked against their own rows
		if o.PastRetention != nil {
			var past []load.ExecutionState
			part = slices.DeleteFunc(part, func(e Execution) bool {
				st, ok := archived[e.ARN]
				if ok && o.PastRetention(st) {
					past = append(past, st)
					return true
				}
				return false
			})
			rep.PastRetention += len(past)
			rep.Complete += len(past)
			if o.Progress != nil {
				o.Progress.Done.Add(int64(len(past))) // checked: complete
			}
			remaining -= len(past)
			// Checked against their own rows: the sample's share of
			// them (rounded up) so far, less what was drawn before.
			pastSeen += len(past)
			k := len(past)
			if !o.All {
				due := int((int64(o.Sample)*int64(pastSeen) + int64(n) - 1) / int64(n))
				k = due - selfDrawn
			}
			selfDrawn += min(k, len(past))
			drawn = drawSelfCheck(past, k, o.Seed+uint64(round))
		}
		ro := o
		ro.Seed = o.Seed + uint64(round)
		ro.Sample = sample * len(part) / max(1, remaining)
		sample, remaining, round = sample-ro.Sample, remaining-len(part), round+1
		sub, own := check(ctx, api, reader, part, archived, ro)
		// Those past their retention drawn, with the sampled ones the
		// API forgot or cannot compare: one read of each partition.
		for _, st := range drawn {
			own.add(st, false)
		}
		var mu sync.Mutex
		selfCheck(ctx, reader, own, o, sub, &mu)
		sub.sort()
		if o.AtRisk != nil {
			sub.AtRisk = o.AtRisk(part, sub, archived)
		}
		rep.add(sub)
		return nil
	}
	for r := 0; r < rounds && ctx.Err() == nil; r++ {
		lo, hi := r*n/rounds, (r+1)*n/rounds
		part := make([]Execution, hi-lo)
		for i := range part {
			part[i] = listed.At(lo + i)
			part[i].pos = int32(lo + i)
		}
		from, to, dated := listed.Dates(lo, hi)
		dated = dated && partitioned != nil
		if o.Logger != nil && rounds > 1 {
			o.Logger.Info("verify round", "round", r+1, "rounds", rounds, "executions", hi-lo, "start_dates", from+".."+to, "every_date", !dated)
		}
		if err := check(part, from, to, dated); err != nil {
			return nil, err
		}
	}
	for k := 0; k < len(elsewhere) && ctx.Err() == nil; k += size {
		at := elsewhere[k:min(k+size, len(elsewhere))]
		if o.Logger != nil {
			o.Logger.Info("verify round: executions not found under their start dates, looked for under every date", "executions", len(at))
		}
		part := make([]Execution, len(at))
		for i, p := range at {
			part[i] = listed.At(int(p))
			part[i].pos = p
		}
		if err := check(part, "", "", false); err != nil {
			return nil, err
		}
	}
	rep.sort()
	return rep, nil
}

func newReport(expected int, seed uint64) *Report {
	r := &Report{Expected: expected, Seed: seed, Missing: []string{}, AtRisk: []AtRisk{}, WithoutPayloads: []string{}, PayloadsUnchecked: []string{}, FunctionsNotListed: []string{}, TokensRefused: []string{}}
	for _, l := range r.Faults() {
		*l = []Difference{} // [] in the JSON report, not null
	}
	return r
}

// add counts a round's report into r.
func (r *Report) add(o *Report) {
	r.Complete += o.Complete
	r.GoneFromAPI += o.GoneFromAPI
	r.PastRetention += o.PastRetention
	r.SelfChecked += o.SelfChecked
	r.NotComparedSelfChecked += o.NotComparedSelfChecked
	r.Sampled += o.Sampled
	r.Equal += o.Equal
	r.NotSampleable += o.NotSampleable
	r.Running += o.Running
	r.ByHistory += o.ByHistory
	r.TokensRefused = append(r.TokensRefused, o.TokensRefused...)
	r.Missing = append(r.Missing, o.Missing...)
	r.WithoutPayloads = append(r.WithoutPayloads, o.WithoutPayloads...)
	r.PayloadsUnchecked = append(r.PayloadsUnchecked, o.PayloadsUnchecked...)
	r.AtRisk = append(r.AtRisk, o.AtRisk...)
	from := o.Faults()
	for i, l := range r.Faults() {
		*l = append(*l, *from[i]...)
	}
}

// API is what verify needs of the Lambda client.
type API interface {
	extract.HistoryAPI
	extract.StateAPI
}

// callGuard is NewCallGuard's: it stops verify (stop, with the cause) at the first call made
// with AWS credentials that do not work (extract.RefusedCredentials), or
// once limit calls in a row could not reach the API
// (extract.Unreachable: the service, or the way to it, is gone) or had no
// answer in their time (extract.NoAnswer: a service, or a proxy in the
// way, that takes connections and answers nothing), none answered
// between: every other call would fail the same way, each after its
// retries. Under it, a function whose executions the credentials'
// policy denies is asked a few times, as etl run asks it
// (extract.Denials): the executions not asked are in the report's
// errors, denied.
type callGuard struct {
	API
	stop context.CancelCauseFunc
	row  *extract.NoAnswerRow
}

// NewCallGuard is api under a callGuard: the calls of one verify with
// concurrency of them at once, stopped through stop.
func NewCallGuard(api API, stop context.CancelCauseFunc, concurrency int) API {
	d := extract.NewDenials(nil)
	api = struct {
		extract.HistoryAPI
		extract.StateAPI
	}{d.History(api), d.State(api)}
	return callGuard{API: api, stop: stop, row: extract.NewNoAnswerRow(max(2*concurrency, 8))}
}

func (g callGuard) check(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil { // verify is stopping: no answer was awaited
		return
	}
	if n, told, reached, ok := g.row.Note(err); ok {
		g.stop(&UnreachableError{n: n, last: told, unanswered: reached})
	}
	if _, refused := extract.RefusedCredentials(err); refused {
		g.stop(err)
	}
}

// UnreachableError is why verify stopped when the API could not be
// reached, or answered nothing (unanswered: the last call timed out): n
// calls in a row, the last one's failure told.
type UnreachableError struct {
	n          int
	last       string
	unanswered bool
}

// Unanswered reports that the API took the calls and answered none (their
// time ran out), rather than being out of reach.
func (e *UnreachableError) Unanswered() bool { return e.unanswered }

func (e *UnreachableError) Error() string {
	if e.unanswered {
		return fmt.Sprintf("the Lambda API answered none of %d calls in a row (last: %s)", e.n, e.last)
	}
	return fmt.Sprintf("the Lambda API could not be reached for %d calls in a row (last: %s)", e.n, e.last)
}

func (g callGuard) GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error) {
	out, err := g.API.GetDurableExecution(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

func (g callGuard) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	out, err := g.API.GetDurableExecutionHistory(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

func (g callGuard) GetDurableExecutionState(ctx context.Context, in *lambda.GetDurableExecutionStateInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionStateOutput, error) {
	out, err := g.API.GetDurableExecutionState(ctx, in, opts...)
	g.check(ctx, err)
	return out, err
}

// verifyClient is the client of verify's content comparisons, with what
// their history reads learn of the history order (see
// extract.HistoryOrder), shared by all of them.
type verifyClient struct {
	API
	order *extract.HistoryOrder
}

// Check checks completeness for every expected execution (exp) against
// archived, their newest archived states, and content for the sample
// (o.Sample, o.All); it reads reader for the rows it compares and api
// again for each. A failure to read one execution (the API's or the
// archive's) is in the report's Errors, not returned: the others are
// checked still. Check sorts exp by ARN.
func Check(ctx context.Context, api API, reader load.SnapshotReader, exp []Execution, archived map[string]load.ExecutionState, o Options) *Report {
	rep, own := check(ctx, api, reader, exp, archived, o)
	var mu sync.Mutex
	selfCheck(ctx, reader, own, o, rep, &mu)
	rep.sort()
	return rep
}

// check is Check but for the executions to check against their own
// executions rows (sampled ones the API forgot or cannot compare), which
// it returns, and the report's order: the caller checks them, with
// others of the same partitions if it has any, in one read of each.
func check(ctx context.Context, api API, reader load.SnapshotReader, exp []Execution, archived map[string]load.ExecutionState, o Options) (rep *Report, own selfChecking) {
	rep = newReport(len(exp), o.Seed)
	sort.Slice(exp, func(i, j int) bool { return exp[i].ARN < exp[j].ARN })
	for _, e := range exp {
		if st, ok := archived[e.ARN]; ok && st.DataIncluded != nil && !*st.DataIncluded {
			rep.WithoutPayloads = append(rep.WithoutPayloads, e.ARN)
		}
	}
	sampled := pickSample(exp, archived, o)
	client := verifyClient{API: api, order: &extract.HistoryOrder{}}
	var mu sync.Mutex
	// Content: a partition's files are read once for all its sampled
	// executions (by the first worker that needs them), and its executions
	// are compared on every worker, each re-reading its own from the API.
	// Executions that cannot be compared (still running, or archived
	// through state with no token to re-read them) are counted, and
	// checked against their own executions rows after the comparisons
	// (selfCheck: in chunks, or streamed, as a long-running execution's
	// rows can be the largest there are).
	//
	// A sampled execution archived in a terminal state can be compared
	// whatever GetDurableExecution says (a terminal status is final): its
	// completeness check and its content comparison are one task, so the
	// archive is read while the other executions are checked. The others
	// are checked first; those the API says ended (an archive gone stale)
	// are compared after.
	early := map[string]string{}
	for _, e := range exp {
		if st, ok := archived[e.ARN]; ok && sampled[e.ARN] && st.Status != nil && canCompare(*st.Status, st, e.Token) {
			early[e.ARN] = *st.Status
		}
	}
	chunkRows := cmp.Or(o.ChunkRows, verifyChunkRows)
	streamRows := cmp.Or(o.StreamRows, verifyChunkRows)
	if _, ok := reader.(load.RowStreamer); !ok {
		streamRows = -1
	}
	streams := newStreamSlots(cmp.Or(o.StreamBudget, verifyStreamRows))
	tasks := contentTasks(exp, early, archived, chunkRows, streamRows, streams)
	for _, e := range exp {
		if _, ok := early[e.ARN]; !ok {
			tasks = append(tasks, contentTask{e: e})
		}
	}
	apiStatus := map[string]string{} // of the sampled executions checked alone
	later := &checksAgain{after: o.RetryFailedAfter}
	forEach(ctx, tasks, o.Concurrency, func(t contentTask) {
		t.start(ctx, reader)
		desc, forgotten := checkOne(ctx, api, t.e, archived, o.MissingForgotten, rep, &mu, later.keep(t.e, false, nil, ""))
		if o.Progress != nil {
			o.Progress.Done.Add(1)
		}
		if forgotten && sampled[t.e.ARN] {
			mu.Lock()
			own.add(archived[t.e.ARN], false)
			mu.Unlock()
		}
		switch {
		case !t.compares() && desc != nil && sampled[t.e.ARN]:
			mu.Lock()
			apiStatus[t.e.ARN] = string(desc.Status)
			mu.Unlock()
		case t.compares() && desc != nil:
			compareTask(ctx, client, reader, t, comparison{e: t.e, st: archived[t.e.ARN], apiStatus: string(desc.Status), desc: desc}, rep, &mu, o.Progress, later.keep(t.e, true, desc, string(desc.Status)))
		case t.part != nil:
			t.part.done() // gone from the API, or an error: nothing to compare
		}
	})
	selfCheckUncomparable(exp, apiStatus, archived, rep, &own)
	forEach(ctx, contentTasks(exp, apiStatus, archived, chunkRows, streamRows, streams), o.Concurrency, func(t contentTask) {
		t.start(ctx, reader)
		compareTask(ctx, client, reader, t, comparison{e: t.e, st: archived[t.e.ARN], apiStatus: apiStatus[t.e.ARN]}, rep, &mu, o.Progress, later.keep(t.e, true, nil, apiStatus[t.e.ARN]))
	})
	if !later.wait(ctx) {
		later.failed(rep)
		return rep, own
	}
	// Once more, what failed: GetDurableExecution, then the comparison
	// of the sampled executions, as above; a failure now is an error.
	againStatus, descs := map[string]string{}, map[string]*extract.Description{}
	forEach(ctx, later.checks, o.Concurrency, func(a checkAgain) {
		if a.described { // its comparison failed
			mu.Lock()
			againStatus[a.e.ARN], descs[a.e.ARN] = a.apiStatus, a.desc
			mu.Unlock()
			return
		}
		desc, forgotten := checkOne(ctx, api, a.e, archived, o.MissingForgotten, rep, &mu, nil)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case forgotten && sampled[a.e.ARN]:
			own.add(archived[a.e.ARN], false)
		case desc != nil && sampled[a.e.ARN]:
			againStatus[a.e.ARN], descs[a.e.ARN] = string(desc.Status), desc
		}
	})
	var againExp []Execution
	for _, a := range later.checks {
		againExp = append(againExp, a.e)
	}
	selfCheckUncomparable(againExp, againStatus, archived, rep, &own)
	forEach(ctx, contentTasks(againExp, againStatus, archived, chunkRows, streamRows, streams), o.Concurrency, func(t contentTask) {
		t.start(ctx, reader)
		compareTask(ctx, client, reader, t, comparison{e: t.e, st: archived[t.e.ARN], apiStatus: againStatus[t.e.ARN], desc: descs[t.e.ARN]}, rep, &mu, o.Progress, nil)
	})
	return rep, own
}

// selfCheckUncomparable takes out of apiStatus those of exp drawn for the
// sample (in apiStatus, with the API's status) that cannot be compared by
// content: they are counted so, and checked against their own executions
// rows instead (own).
func selfCheckUncomparable(exp []Execution, apiStatus map[string]string, archived map[string]load.ExecutionState, rep *Report, own *selfChecking) {
	for _, e := range exp {
		if status, ok := apiStatus[e.ARN]; ok && !canCompare(status, archived[e.ARN], e.Token) {
			delete(apiStatus, e.ARN)
			rep.notCompared(status)
			own.add(archived[e.ARN], true)
		}
	}
}

// checksAgain keeps the executions whose check failed for a passing
// reason (Options.RetryFailedAfter), to check once more.
type checksAgain struct {
	after  time.Duration
	mu     sync.Mutex
	checks []checkAgain
	last   time.Time // the last failure kept
}

// checkAgain is one: described when its comparison failed (its
// GetDurableExecution answered, and counted), with the status the
// comparison was given and the answer, if it had it; else its
// GetDurableExecution failed. err is its failure.
type checkAgain struct {
	e         Execution
	described bool
	desc      *extract.Description
	apiStatus string
	err       error
}

// keep is the retry function of e's check (checkOne's; compareTask's,
// described, with the comparison's apiStatus and desc): it takes a
// passing failure; nil when nothing is checked again.
func (l *checksAgain) keep(e Execution, described bool, desc *extract.Description, apiStatus string) func(error) bool {
	if l.after <= 0 {
		return nil
	}
	return func(err error) bool {
		var ee *extract.ExecutionError
		if !errors.As(err, &ee) || !ee.Passing() {
			return false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.checks, l.last = append(l.checks, checkAgain{e: e, described: described, desc: desc, apiStatus: apiStatus, err: err}), time.Now()
		return true
	}
}

// wait waits until after has passed since the last failure kept, and
// reports whether there is anything to check again: false when nothing
// was kept, or ctx ended first.
func (l *checksAgain) wait(ctx context.Context) bool {
	if len(l.checks) == 0 || ctx.Err() != nil {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(l.last.Add(l.after))):
		return true
	}
}

// failed records the failures kept as rep's errors: they are not checked
// again (the check was stopped).
func (l *checksAgain) failed(rep *Report) {
	for _, a := range l.checks {
		rep.Errors = append(rep.Errors, Difference{ExecutionArn: a.e.ARN, What: errorReason(a.err)})
	}
}

// notCompared counts a sampled execution whose content could not be
// compared, whose status the API says is apiStatus.
func (r *Report) notCompared(apiStatus string) {
	r.NotSampleable++
	if !load.Terminal(apiStatus) {
		r.Running++
	}
}

// sort puts every list of r in ARN order.
func (r *Report) sort() {
	for _, l := range r.Faults() {
		sort.Slice(*l, func(i, j int) bool { return (*l)[i].ExecutionArn < (*l)[j].ExecutionArn })
	}
	sort.Slice(r.AtRisk, func(i, j int) bool { return r.AtRisk[i].ExecutionArn < r.AtRisk[j].ExecutionArn })
	sort.Strings(r.Missing)
	sort.Strings(r.WithoutPayloads)
	sort.Strings(r.PayloadsUnchecked)
	sort.Strings(r.TokensRefused)
}

// compareTask compares one execution's content (c) and records the
// outcome: nothing when it failed and retry (nil: none) takes the
// failure, to compare it again.
func compareTask(ctx context.Context, api verifyClient, reader load.SnapshotReader, t contentTask, c comparison,
	rep *Report, mu *sync.Mutex, progress *pipeline.Progress, retry func(error) bool) {
	var mine *load.ExecutionRows
	// The API is read first, the chunk's rows waited for after: a worker
	// whose chunk is still being read re-reads its execution from the API
	// meanwhile.
	archivedRows := func() (*load.ExecutionRows, error) {
		rows, err := t.part.get(ctx, reader)
		mine = rows[t.e.ARN]
		return mine, err
	}
	var found finding
	var sampleable bool
	var err error
	var rows int64
	if t.streams != nil {
		var release func()
		if release, err = t.streams.take(ctx, rowCount(c.st)); err == nil {
			// A file that vanished mid-stream (a compaction beside
			// verify) has had some rows handed over: the comparison
			// starts over, on a new listing (load.RowStreamer).
			err = load.ListedAgain(func() (err error) {
				found, sampleable, rows, err = compareStreamed(ctx, api, reader.(load.RowStreamer), reader, c)
				return err
			})
			release()
		}
	} else {
		found, sampleable, err = compareContent(ctx, api, reader, archivedRows, c)
		if mine != nil {
			rows = int64(len(mine.Operations) + len(mine.Events))
		}
		t.part.done()
	}
	if err != nil && retry != nil && retry(err) {
		return
	}
	if progress != nil {
		progress.Operations.Add(rows)
	}
	mu.Lock()
	defer mu.Unlock()
	if err == nil && found.payloadsUnchecked {
		rep.PayloadsUnchecked = append(rep.PayloadsUnchecked, t.e.ARN)
	}
	if found.tokenRefused {
		rep.TokensRefused = append(rep.TokensRefused, t.e.ARN)
	}
	if err == nil && sampleable && (found.tokenRefused || byHistory(c.st, c.e.Token)) {
		rep.ByHistory++
	}
	switch {
	case err != nil:
		rep.Errors = append(rep.Errors, Difference{ExecutionArn: t.e.ARN, What: errorReason(err)})
	case !sampleable:
		rep.notCompared(c.apiStatus)
	case found.lacksUnknown:
		rep.Sampled++
		rep.LacksUnknown = append(rep.LacksUnknown, Difference{ExecutionArn: t.e.ARN, What: found.what})
	case found.lacksColumns:
		rep.Sampled++
		rep.LacksColumns = append(rep.LacksColumns, Difference{ExecutionArn: t.e.ARN, What: found.what})
	case found.what != "":
		rep.Sampled++
		rep.ContentDiffer = append(rep.ContentDiffer, Difference{ExecutionArn: t.e.ARN, What: found.what})
	default:
		rep.Sampled++
		rep.Equal++
	}
}

// contentTasks are the executions of apiStatus to compare, partition by
// partition, each partition cut into chunks of at most chunkRows archived
// rows, each chunk linked to the next (read ahead); an execution of more
// than streamRows rows (-1: none is) is compared as a stream, on its own,
// once it holds its rows' weight of streams.
func contentTasks(exp []Execution, apiStatus map[string]string, archived map[string]load.ExecutionState, chunkRows, streamRows int64, streams *streamSlots) []contentTask {
	var tasks []contentTask
	var prev *partitionRows
	rows := func(e Execution) int64 { return rowCount(archived[e.ARN]) }
	for _, g := range byPartition(exp, apiStatus, archived) {
		streamed, chunks := partitionChunks(g, rows, streamRows, chunkRows)
		for _, e := range streamed {
			tasks = append(tasks, contentTask{e: e, streams: streams})
		}
		for _, chunk := range chunks {
			part := &partitionRows{pending: int32(len(chunk)), states: make([]load.ExecutionState, len(chunk))}
			if prev != nil {
				prev.next = part
			}
			prev = part
			for i, e := range chunk {
				part.states[i] = archived[e.ARN]
				tasks = append(tasks, contentTask{part: part, e: e})
			}
		}
	}
	return tasks
}

// verifyChunkRows bounds the archived rows (operations and events, as the
// executions rows count them) read at once for one partition's sampled
// executions: a partition of any size is read a chunk at a time, and a
// chunk's rows are let go as soon as its last execution is compared, so
// memory holds two or three chunks (the one being compared, perhaps the
// end of the one before, the one read ahead), never whole partitions. An
// execution larger than the bound is compared as a stream instead
// (stream.go; a chunk of its own for a reader that cannot stream).
// Each chunk reads its rows from its partition's files again (their key
// columns are scanned once per file: see load's keyIndexOf): smaller
// chunks cost time. (BenchmarkVerify, 2,000 x
// 250 operations over 90 days, about 25,000 rows per partition: 0.23 of
// the drain-only rate at 134 MiB whole; at 16,384 rows 0.18 at 109 MiB; at
// 4,096 0.09 at 91 MiB. Before chunks, a partition read whole by each of 8
// workers took 482 MiB.)
const verifyChunkRows = 32768

// streamSlots bound the archived rows of the executions compared as
// streams at once: each takes its rows' weight, at most the whole.
type streamSlots struct {
	sem *semaphore.Weighted
	max int64
}

func newStreamSlots(rows int64) *streamSlots {
	return &streamSlots{sem: semaphore.NewWeighted(rows), max: rows}
}

// take waits for rows' weight (the whole for more rows than it holds) and
// returns the function that gives it back.
func (s *streamSlots) take(ctx context.Context, rows int64) (func(), error) {
	w := min(max(rows, 1), s.max)
	if err := s.sem.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { s.sem.Release(w) }, nil
}

// verifyStreamRows bounds the archived rows of the executions compared as
// streams at once (each larger than a chunk; one larger than this bound
// alone): one of a million events, 1.25 million rows with its operations,
// was verified in 210 MiB (BenchmarkVerifyMillionEventsRSS), most of it
// the fold of its history and the rows' hashes.
const verifyStreamRows = 1 << 20

// partitionChunks splits one partition's executions (g) into those of
// more than streamRows rows, read as streams (none when streamRows < 0),
// and runs of the others of at most chunkRows rows (chunksOf), as the
// comparison and the self-check read them.
func partitionChunks[T any](g []T, rows func(T) int64, streamRows, chunkRows int64) (streamed []T, chunks [][]T) {
	var held []T
	for _, e := range g {
		if streamRows >= 0 && rows(e) > streamRows {
			streamed = append(streamed, e)
		} else {
			held = append(held, e)
		}
	}
	return streamed, chunksOf(held, rows, chunkRows)
}

// chunksOf splits a partition's executions into runs of at most max rows
// (rows: an execution's archived rows; one of more is a run alone).
func chunksOf[T any](g []T, rows func(T) int64, max int64) [][]T {
	var out [][]T
	var cur []T
	var n int64
	for _, e := range g {
		rows := rows(e)
		if len(cur) > 0 && n+rows > max {
			out, cur, n = append(out, cur), nil, 0
		}
		cur, n = append(cur, e), n+rows
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// rowCount is an execution's archived rows, as its executions row counts
// them.
func rowCount(st load.ExecutionState) int64 {
	n := st.OperationCount
	if st.EventCount != nil {
		n += *st.EventCount
	}
	return n
}

// contentTask is one sampled execution to compare, with its partition's
// archived rows, or compared as a stream.
type contentTask struct {
	part    *partitionRows // nil and no streams: a completeness check only
	streams *streamSlots   // compared as a stream
	e       Execution
}

func (t contentTask) compares() bool { return t.part != nil || t.streams != nil }

// start starts reading the task's chunk, if it has one.
func (t contentTask) start(ctx context.Context, reader load.SnapshotReader) {
	if t.part != nil {
		t.part.start(ctx, reader)
	}
}

// partitionRows is one chunk of a partition's sampled executions and their
// archived rows: read once, when first needed, and let go once the last of
// them is compared (tasks come chunk by chunk, so memory holds two or
// three chunks: see verifyChunkRows).
type partitionRows struct {
	states []load.ExecutionState
	next   *partitionRows // the chunk after this one, read ahead
	// started: the chunk's read was started.
	started atomic.Bool
	once    sync.Once
	rows    map[string]*load.ExecutionRows
	err     error
	pending int32 // executions not compared yet
	mu      sync.Mutex
}

// get returns the chunk's rows, reading them on first use, and starts
// reading the next chunk meanwhile: its files are read while this chunk's
// executions are re-read from the API and compared, so one chunk read ahead
// is in memory beside the current one.
func (p *partitionRows) get(ctx context.Context, reader load.SnapshotReader) (map[string]*load.ExecutionRows, error) {
	p.start(ctx, reader)
	p.once.Do(func() { p.read(ctx, reader) })
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rows, p.err
}

// start starts reading the chunk's rows and the next chunk's, each on a
// goroutine of its own, unless under way already. A worker calls it as it
// takes one of the chunk's executions, before reading that execution from
// the API, so that the files are read meanwhile.
func (p *partitionRows) start(ctx context.Context, reader load.SnapshotReader) {
	for _, c := range []*partitionRows{p, p.next} {
		if c != nil && !c.started.Swap(true) {
			go c.once.Do(func() { c.read(ctx, reader) })
		}
	}
}

func (p *partitionRows) read(ctx context.Context, reader load.SnapshotReader) {
	rows, err := reader.Rows(ctx, p.states)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == 0 { // read ahead for executions that all failed at the API first
		return
	}
	p.rows, p.err = rows, err
}

func (p *partitionRows) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending--; p.pending == 0 {
		p.rows = nil
	}
}

// pickSample draws the executions whose content is compared: o.Sample of
// the archived ones (seeded), or all of them with o.All. They are drawn
// first from those whose archived snapshot can be compared (archived in
// a terminal state, and with what re-reading it takes: canCompare), then,
// when fewer than o.Sample can, from the others (archived running: comparable
// if the API says they ended since), so that a sample of N compares N
// executions whenever the archive holds that many ended ones.
func pickSample(exp []Execution, archived map[string]load.ExecutionState, o Options) map[string]bool {
	var ready, others []string
	for _, e := range exp {
		st, ok := archived[e.ARN]
		switch {
		case !ok:
		case st.Status != nil && canCompare(*st.Status, st, e.Token):
			ready = append(ready, e.ARN)
		default:
			others = append(others, e.ARN)
		}
	}
	n := min(o.Sample, len(ready)+len(others))
	if o.All {
		n = len(ready) + len(others)
	}
	sampled := make(map[string]bool, n)
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	for _, group := range [][]string{ready, others} {
		for _, i := range r.Perm(len(group))[:min(n-len(sampled), len(group))] {
			sampled[group[i]] = true
		}
	}
	return sampled
}

// byPartition groups the executions to compare (those in apiStatus) by
// their archived partition, so that its files are read once for all of
// them; the groups come in a stable order.
func byPartition(exp []Execution, apiStatus map[string]string, archived map[string]load.ExecutionState) [][]Execution {
	byDT := map[string][]Execution{}
	for _, e := range exp {
		if _, ok := apiStatus[e.ARN]; ok {
			dt := archived[e.ARN].DT
			byDT[dt] = append(byDT[dt], e)
		}
	}
	groups := make([][]Execution, 0, len(byDT))
	for _, g := range byDT {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i][0].ARN < groups[j][0].ARN })
	return groups
}

// forEach calls fn for each item, n at a time (at least 1), none once
// ctx has ended, and waits for the calls made.
func forEach[T any](ctx context.Context, items []T, n int, fn func(T)) {
	var g errgroup.Group
	g.SetLimit(max(n, 1))
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if ctx.Err() == nil { // not if it ended while this one waited its turn
				fn(it)
			}
			return nil
		})
	}
	g.Wait()
}

// checkOne checks that e is archived, in a terminal state once the API says
// it ended, with the API's status and end time; it returns
// GetDurableExecution's answer (nil when it could not be had), and gone
// when the API has forgotten the archived execution. One not archived is
// missing, asked nothing unless forgotten, its finding should the API not
// know it, is set (Options.MissingForgotten).
func checkOne(ctx context.Context, api API, e Execution, archived map[string]load.ExecutionState, forgotten string, rep *Report, mu *sync.Mutex, retry func(error) bool) (desc *extract.Description, gone bool) {
	record := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	st, ok := archived[e.ARN]
	if !ok && forgotten == "" {
		record(func() { rep.Missing = append(rep.Missing, e.ARN) })
		return nil, false
	}
	if !ok {
		_, err := extract.Describe(ctx, api, e.ARN, extract.WithoutExecutionData())
		var ee *extract.ExecutionError
		switch {
		case errors.As(err, &ee) && ee.NotFound():
			record(func() {
				rep.Inconsistent = append(rep.Inconsistent, Difference{ExecutionArn: e.ARN, What: forgotten})
			})
		case err != nil && retry != nil && retry(err):
		case err != nil:
			record(func() { rep.Errors = append(rep.Errors, Difference{ExecutionArn: e.ARN, What: errorReason(err)}) })
		default:
			record(func() { rep.Missing = append(rep.Missing, e.ARN) })
		}
		return nil, false
	}
	// The status and times need no payloads: an execution whose data the
	// service cannot decrypt (now, or when it was archived) is checked
	// without them.
	desc, err := extract.Describe(ctx, api, e.ARN, withoutData(st)...)
	var ee *extract.ExecutionError
	if errors.As(err, &ee) && ee.Undecryptable() {
		desc, err = extract.Describe(ctx, api, e.ARN, extract.WithoutExecutionData())
	}
	if errors.As(err, &ee) && ee.NotFound() {
		record(func() { rep.GoneFromAPI++; rep.Complete++ }) // archived; the service has forgotten it
		return nil, true
	}
	if err != nil {
		if retry == nil || !retry(err) {
			record(func() { rep.Errors = append(rep.Errors, Difference{ExecutionArn: e.ARN, What: errorReason(err)}) })
		}
		return nil, false
	}
	apiStatus := string(desc.Status)
	archStatus := ""
	if st.Status != nil {
		archStatus = *st.Status
	}
	complete := true
	switch {
	case load.Terminal(apiStatus) && !load.Terminal(archStatus):
		complete = false
		record(func() {
			rep.Stale = append(rep.Stale, Difference{ExecutionArn: e.ARN, What: fmt.Sprintf("archived %s, the API says %s", orNull(archStatus), apiStatus)})
		})
	case load.Terminal(apiStatus) && st.Source == transform.SourceHistory && archStatus != apiStatus:
		complete = false
		record(func() {
			rep.Differing = append(rep.Differing, Difference{ExecutionArn: e.ARN, What: fmt.Sprintf("status: archived %s, API %s", archStatus, apiStatus)})
		})
	case load.Terminal(apiStatus) && desc.EndTimestamp != nil && st.EndTime != nil && !desc.EndTimestamp.Truncate(time.Millisecond).Equal(*st.EndTime):
		complete = false
		record(func() {
			rep.Differing = append(rep.Differing, Difference{ExecutionArn: e.ARN, What: fmt.Sprintf("end_time: archived %s, API %s", st.EndTime.Format(time.RFC3339Nano), desc.EndTimestamp.UTC().Format(time.RFC3339Nano))})
		})
	}
	if complete {
		record(func() { rep.Complete++ })
	}
	return desc, false
}

// errorReason is err as the report tells it beside the execution's ARN:
// an execution's error (unwrapped: a wrapping error's context stays) is
// its reason, without the ARN again.
func errorReason(err error) string {
	if ee, ok := err.(*extract.ExecutionError); ok && ee.Reason != "" {
		return ee.Reason
	}
	return err.Error()
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// comparison is what one execution's content is compared as.
type comparison struct {
	e  Execution
	st load.ExecutionState // its newest archived snapshot, as Latest read it
	// apiStatus is what the API says of it; desc is GetDurableExecution's
	// answer when the completeness check had it (nil: read when needed).
	apiStatus string
	desc      *extract.Description
	// unreadable: the comparison is of an execution the archive holds with
	// its payloads that the service can no longer decrypt (keyBroken); st
	// then says the read is without them.
	unreadable bool
}

// compareContent re-reads the execution by the source it was archived with,
// then takes its archived rows from archivedRows (which may wait for them)
// and compares: "" when equal, else the first difference. An execution
// archived through state without a token in the manifest cannot be re-read
// (sampleable false). A snapshot of an execution that is still running is
// compared with what the API says now, so it may differ without fault: only
// terminal executions are compared.
//
// An execution the archive holds with its payloads that the service can no
// longer decrypt (its key disabled since) is compared without them: see
// keyBroken. The content hash, which covers them, is then not checked.
func compareContent(ctx context.Context, api verifyClient, reader load.SnapshotReader, archivedRows func() (*load.ExecutionRows, error), c comparison) (finding, bool, error) {
	st := c.st
	if !canCompare(c.apiStatus, st, c.e.Token) {
		return finding{}, false, nil
	}
	// The API's rows, sized by the executions row's counts (bounded: a
	// tampered count must not make a huge allocation).
	want := make([]schema.Operation, 0, min(max(st.OperationCount, 0), 1<<16))
	var wantEvents []schema.Event
	if st.EventCount != nil {
		wantEvents = make([]schema.Event, 0, min(max(*st.EventCount, 0), 1<<16))
	}
	wantRow, err := apiRows(ctx, api, c.e, st, reader,
		func(rows []schema.Operation) { want = append(want, rows...) },
		func(ev *schema.Event) { wantEvents = append(wantEvents, *ev) })
	if errors.Is(err, errTokenRefused) {
		c.e.Token = ""
		f, sampleable, err := compareContent(ctx, api, reader, archivedRows, c)
		f.tokenRefused = true
		return f, sampleable, err
	}
	if without, comparable, ok := keyBroken(err, st, c.e.Token); ok {
		if !comparable {
			return finding{payloadsUnchecked: true}, false, nil
		}
		c.st, c.desc, c.unreadable = without, nil, true
		f, sampleable, err := compareContent(ctx, api, reader, archivedRows, c)
		f.payloadsUnchecked = true
		return f, sampleable, err
	}
	if err != nil {
		return finding{}, true, err
	}
	rows, err := archivedRows()
	if err != nil {
		return finding{}, true, err
	}
	if rows == nil {
		rows = &load.ExecutionRows{}
	}
	if withEvents, ok := eventsBeside(st, len(rows.Events)); ok {
		c.st, st = withEvents, withEvents
		unchecked, err := apiEvents(ctx, api, c, reader, func(ev *schema.Event) { wantEvents = append(wantEvents, *ev) })
		if unchecked || err != nil {
			return finding{payloadsUnchecked: unchecked}, !unchecked, err
		}
	}
	mode := modeOf(st, c.unreadable)
	ops := operationsDiff(rows.Operations, want, mode)
	if ops.differs() {
		return ops, true, nil
	}
	events := eventsEqual(rows.Events, wantEvents, mode)
	if events.differs() {
		return events, true, nil
	}
	lacking := ops
	if lacking.what == "" {
		lacking = events
	}
	f, err := conclude(ctx, api, reader, c, mode, rows.Execution, &wantRow, lacking)
	return f, true, err
}

// conclude ends a comparison, whole or streamed alike, whose operations
// and events were found without a difference (lacking: the first of them
// an archive made by an older etl lacks, if any): then the executions row
// (archived: got; the API's: want, from apiRows), then what an older
// archive lacks (the content hash covers the operations' overflow_json:
// it differs with the members they lack), then the content hash.
func conclude(ctx context.Context, api verifyClient, reader load.SnapshotReader, c comparison, mode dataMode, got, want *schema.Execution, lacking finding) (finding, error) {
	if byHistory(c.st, c.e.Token) && got != nil {
		// Compared by its history alone: the columns the state gave
		// (status, times, counts, content_hash) are the archive's own.
		row := *got
		row.EventCount, row.LastEventID = want.EventCount, want.LastEventID
		*want = row
	}
	if err := describedRow(ctx, api, reader, c, got, want); err != nil {
		return finding{}, err
	}
	ex := executionDiff(got, want, mode)
	switch {
	case ex.differs():
		return ex, nil
	case lacking.what != "":
		return lacking, nil
	case ex.what != "":
		return ex, nil
	case want.ContentHash != c.st.ContentHash && !c.unreadable:
		return finding{what: ContentHashDiffers}, nil
	}
	return finding{}, nil
}

// eventsBeside reports an execution archived through state whose newest
// snapshot was read without its history (no --history) while the archive
// holds events of it (archivedEvents: an earlier run's, with --history):
// those are compared too, so st is returned as if read with --history.
func eventsBeside(st load.ExecutionState, archivedEvents int) (load.ExecutionState, bool) {
	if st.Source != transform.SourceState || st.EventCount != nil || archivedEvents == 0 {
		return st, false
	}
	st.EventCount = new(int64(archivedEvents))
	return st, true
}

// apiEvents re-reads the history of c's execution, archived through
// state, handing each event to ev, beside the operations its state gave
// (eventsBeside). unchecked: the service can no longer decrypt its
// payloads (keyBroken), and one archived through state is then not
// compared.
func apiEvents(ctx context.Context, api verifyClient, c comparison, reader load.SnapshotReader, ev func(*schema.Event)) (unchecked bool, err error) {
	history := c.e
	history.Token = "" // its events alone (apiRows)
	_, err = apiRows(ctx, api, history, c.st, reader, func([]schema.Operation) {}, ev)
	if _, _, ok := keyBroken(err, c.st, c.e.Token); ok {
		return true, nil
	}
	return false, err
}

// keyBroken reports a re-read (err) that failed because the service can no
// longer decrypt the execution's payloads, which the archive holds (its
// snapshot was read with them): verify does not report an error of what
// the archive holds whole (a nightly verify would fail every night once a
// key is disabled), and the report names such executions. One archived
// through history is compared without them (comparable; without is st as
// read without them): the payloads, and the content hash that covers
// them, go unchecked. One archived through state is not compared at all
// (GetDurableExecutionState has no read without the payloads) unless it
// is compared by its history alone (byHistory), which is read without
// them as one archived through history is.
func keyBroken(err error, st load.ExecutionState, token string) (without load.ExecutionState, comparable, ok bool) {
	var ee *extract.ExecutionError
	if !errors.As(err, &ee) || !ee.Undecryptable() || readWithoutData(st) {
		return st, false, false
	}
	if st.Source != transform.SourceHistory && !byHistory(st, token) {
		return st, false, true
	}
	st.DataIncluded = new(false)
	return st, true, true
}

// finding is what comparing an execution's content found: nothing (what
// ""), a difference, rows that differ from the API's only by the members
// it sends that etl's SDK does not know (lacksUnknown; see
// transform.WithoutUnknown), or rows that differ only by nulls in columns
// added since they were archived (lacksColumns; see schema.Column.Since):
// what names the first. payloadsUnchecked: the payloads were left out of
// the comparison, or kept it from being made at all (keyBroken).
type finding struct {
	what              string
	lacksUnknown      bool
	lacksColumns      bool
	payloadsUnchecked bool
	// tokenRefused: the API refused the manifest's checkpoint token; the
	// execution was compared by its history alone (byHistory), or, with
	// no events archived, not at all.
	tokenRefused bool
}

// differs reports a difference other than what an archive made by an
// older etl lacks (lacksUnknown, lacksColumns).
func (f finding) differs() bool { return f.what != "" && !f.lacksUnknown && !f.lacksColumns }

// lacksUnknownDiff is a row diff's answer (in place of a column) when the
// archived row lacks only the members the API sends that the SDK does not
// know; lacksColumnsDiff when it lacks only values in columns added since
// it was archived (null there: schema.LackingSince).
const (
	lacksUnknownDiff = -2
	lacksColumnsDiff = -3
)

// olderForm compares archived row got, which differs from the API's want,
// with want as an archive made by an older etl holds it: without the
// members the SDK does not know in its overflow_json (before etl kept
// them: transform.WithoutUnknown) and with nulls in the columns added
// since (schema.LackingSince). It returns the first column that differs
// even so (-1: none), and what got lacks: lacksColumnsDiff (the columns
// added since, which it names, with or without the members) or
// lacksUnknownDiff (the members alone); 0 when it lacks neither.
func olderForm[T any](t *schema.Table, got, want *T, overflow func(*T) **string, skip []bool) (col, lacks int, lacking []string) {
	w := *want
	if o := overflow(&w); *o != nil {
		if without := transform.WithoutUnknown(*o); without != *o && samePtrString(*overflow(got), without) {
			*o, lacks = without, lacksUnknownDiff
		}
	}
	if lacking, col = schema.LackingSince(t, got, &w, skip); len(lacking) > 0 {
		lacks = lacksColumnsDiff
	}
	return col, lacks, lacking
}

// rowDiff is a row diff's answer for got and want, which DiffRow found
// different in col (-1: equal): col, or what got lacks as olderForm says.
func rowDiff[T any](t *schema.Table, got, want *T, overflow func(*T) **string, skip []bool, col int) int {
	if col < 0 {
		return col
	}
	if c, lacks, _ := olderForm(t, got, want, overflow, skip); c < 0 && lacks != 0 {
		return lacks
	}
	return col
}

// ContentHashDiffers is the What of a Difference whose archived executions
// row holds a content_hash its operations do not give.
const ContentHashDiffers = "content_hash: the executions row's differs from its operations'"

// apiRows re-reads e from the API by the source it was archived with
// (state, and its history too when read with it, st.EventCount; or
// history: its events, and the operations folded from them) and hands its
// rows over as they come, in the archive's stored form: ops a
// batch of operations at a time (in seq order), ev each event (in the
// history's order); neither may keep what it is handed. It returns the
// executions row the snapshot's operations make (transform.Snapshot: its
// counts and content_hash; event_count and last_event_id when the
// history was read), which describedRow completes.
func apiRows(ctx context.Context, api verifyClient, e Execution, st load.ExecutionState, reader load.SnapshotReader,
	ops func([]schema.Operation), ev func(*schema.Event)) (schema.Execution, error) {
	meta := transform.RowMeta{ExecutionArn: e.ARN, Source: st.Source}
	snap := transform.NewSnapshot(meta)
	stored := storedForm(reader)
	handOps := func(rows []schema.Operation) {
		for i := range rows {
			stored(&rows[i])
		}
		ops(rows)
	}
	// The events, as the run read them: every page of the history, its
	// events folded into operations unless the operations come from state.
	var fold *transform.Folder
	var total int64
	var maxID int32
	events := func() error {
		var keys transform.EventKeys
		// One row, filled again for each event: ev may not keep it.
		row := make([]schema.Event, 0, 1)
		return extract.DrainHistory(ctx, api, e.ARN, extract.MaxPageSize, func(_ context.Context, p extract.HistoryPage) error {
			total += int64(len(p.Events))
			for i := range p.Events {
				if id := p.Events[i].EventId; id != nil {
					maxID = max(maxID, *id)
				}
				row = transform.AppendHistoryEvent(row[:0], &p, i, keys.Next(&p.Events[i]), meta)
				stored(&row[0])
				ev(&row[0])
			}
			if fold != nil {
				fold.Add(p.Events)
			}
			return nil
		}, append(withoutData(st), extract.WithHistoryOrder(api.order))...)
	}
	if st.Source == transform.SourceState {
		var err error
		if e.Token != "" {
			var buf []schema.Operation
			pages := 0
			err = extract.Drain(ctx, api, extract.Entry{ARN: e.ARN, Token: e.Token}, extract.MaxPageSize, func(_ context.Context, p extract.Page) error {
				pages++
				buf = snap.AddPage(buf[:0], p)
				handOps(buf)
				return nil
			})
			var ee *extract.ExecutionError
			if pages == 0 && errors.As(err, &ee) && ee.Rejected() {
				err = fmt.Errorf("%w: %w", errTokenRefused, err)
			}
			if err != nil || st.EventCount == nil {
				return snap.Finish(), err
			}
		}
		// Archived with --history: its events too (and only they, by
		// history alone: byHistory).
		err = events()
		row := snap.Finish()
		row.EventCount, row.LastEventID = &total, &maxID
		return row, err
	}
	fold = transform.NewFolder()
	defer fold.Close()
	if err := events(); err != nil {
		return schema.Execution{}, err
	}
	err := fold.Each(snap, extract.MaxPageSize, func(rows []schema.Operation) error {
		handOps(rows)
		return nil
	})
	row := snap.Finish()
	row.EventCount, row.LastEventID = &total, &maxID
	return row, err
}

// storedForm puts a row read from the API in reader's stored form: a
// destination that stores text differently (Postgres: U+0000 as U+FFFD)
// says so (StoredForm), and the API's rows are put in that form to
// compare.
func storedForm(reader load.SnapshotReader) func(row any) {
	if sf, ok := reader.(interface{ StoredForm(row any) }); ok {
		return sf.StoredForm
	}
	return func(any) {}
}

// describedRow completes want, the executions row of the API's rows
// (apiRows), as the run completes it: with GetDurableExecution's columns
// (transform.Describe; c.desc, else read now) when the archived row
// (archived) was read with them, as every snapshot read through history
// and one read through state with --history is; else without the
// history's counts (an earlier --history run's events compared beside a
// snapshot read without it: eventsBeside).
func describedRow(ctx context.Context, api verifyClient, reader load.SnapshotReader, c comparison, archived, want *schema.Execution) error {
	defer storedForm(reader)(want)
	if c.st.Source == transform.SourceState && (archived == nil || archived.EventCount == nil) {
		want.EventCount, want.LastEventID = nil, nil
		return nil
	}
	desc := c.desc
	if desc == nil {
		var err error
		if desc, err = extract.Describe(ctx, api, c.e.ARN, withoutData(c.st)...); err != nil {
			return err
		}
	}
	transform.Describe(want, desc)
	return nil
}

// executionDiff names the first column of the executions row got (the
// archive's) that differs from want (the API's, completed by
// describedRow). The content hash is compared apart (ContentHashDiffers);
// a read without the payloads of an execution archived with them
// (dataUnreadable) leaves execution_data_included out too. Where got
// differs only by a null in columns added to the contract since it was
// archived (schema.Column.Since), or by lacking the members the SDK does
// not know (see olderForm), the finding says so (lacksColumns,
// lacksUnknown): etl run --force archives it again.
func executionDiff(got, want *schema.Execution, mode dataMode) finding {
	if got == nil {
		return finding{what: "the snapshot's executions row is not in the archive"}
	}
	t := schema.Executions
	skip := compareSkips(t, mode)
	skip[t.Column("content_hash")] = true
	if mode == dataUnreadable {
		skip[t.Column("execution_data_included")] = true
	}
	if schema.DiffRow(t, got, want, skip) < 0 {
		return finding{}
	}
	col, lacks, lacking := olderForm(t, got, want, executionOverflow, skip)
	switch {
	case col >= 0:
		return finding{what: "executions row: column " + t.Columns[col].Name}
	case lacks == lacksColumnsDiff:
		return finding{what: "executions row: " + strings.Join(lacking, ", ") + ": " + lacksColumnsWhat, lacksColumns: true}
	}
	return finding{what: "executions row: " + lacksUnknownWhat, lacksUnknown: true}
}

func executionOverflow(r *schema.Execution) **string { return &r.OverflowJSON }

// samePtrString reports a and b both nil or both set to one value.
func samePtrString(a, b *string) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// lacksColumnsWhat says what an executions row lacking only columns added
// since it was archived lacks.
const lacksColumnsWhat = "null in the archive, which was written before etl had these columns (etl run --force archives it again)"

// readWithoutData reports an execution archived without its payloads
// (the service could not decrypt them): verify reads it the same way.
func readWithoutData(st load.ExecutionState) bool {
	return st.DataIncluded != nil && !*st.DataIncluded
}

// withoutData reads an execution archived without its payloads the same
// way.
func withoutData(st load.ExecutionState) []extract.HistoryOption {
	if readWithoutData(st) {
		return []extract.HistoryOption{extract.WithoutExecutionData()}
	}
	return nil
}

// canCompare reports whether an execution's content can be compared: the
// API says it ended (a running one changes under the comparison) and it
// can be re-read by the source it was archived with (state needs a
// token).
func canCompare(apiStatus string, st load.ExecutionState, token string) bool {
	return load.Terminal(apiStatus) && (st.Source != transform.SourceState || token != "" || byHistory(st, token))
}

// byHistory reports an execution archived through state, with its events
// (--history), that verify compares by its history alone: it has no
// token to read the state again (none in the manifest, --function,
// or one the API refused, as it refuses a token once the execution
// checkpoints again or ends: errTokenRefused). Its events, their counts
// and GetDurableExecution's columns of the executions row are compared;
// its operations, which only the state gives, and the content hash over
// them are not.
func byHistory(st load.ExecutionState, token string) bool {
	return st.Source == transform.SourceState && token == "" && st.EventCount != nil
}

// errTokenRefused is a read through state whose first page the API
// refused (InvalidParameterValueException: the checkpoint token is stale
// or wrong). Verify then compares the execution as if it had no token
// (byHistory), and the report names it (tokens_refused).
var errTokenRefused = errors.New("the API refused the checkpoint token")

// operationsDiff names the first operation (by id) and column that differ.
// Postgres keeps operations an earlier snapshot listed; those are not
// compared.
func operationsDiff(got, want []schema.Operation, mode dataMode) finding {
	skip := compareSkips(schema.Operations, mode)
	return rowsDiff(schema.Operations, got, want, func(g, w *schema.Operation) int {
		return rowDiff(schema.Operations, g, w, operationOverflow, skip, schema.DiffRow(schema.Operations, g, w, skip))
	}, func(r *schema.Operation) string { return r.OperationID }, func(id string) string { return fmt.Sprintf("operation %q", id) })
}

func operationOverflow(r *schema.Operation) **string { return &r.OverflowJSON }

func eventOverflow(r *schema.Event) **string { return &r.OverflowJSON }

// eventsEqual names the first event (by id) and column that differ, or an
// event archived that the API does not have.
func eventsEqual(got, want []schema.Event, mode dataMode) finding {
	skip := compareSkips(schema.Events, mode)
	f := rowsDiff(schema.Events, got, want, func(g, w *schema.Event) int { return eventDiff(g, w, skip) },
		func(r *schema.Event) int32 { return r.EventID }, func(id int32) string { return fmt.Sprintf("event %d", id) })
	if f.differs() {
		return f
	}
	if len(got) > len(want) {
		return finding{what: fmt.Sprintf("%d events archived, the API has %d", len(got), len(want))}
	}
	return f
}

// eventDiff is the first column (or -1) in which archived event got differs
// from the API's want. Only a row that differs is put in today's form
// (transform.NormalizeEventOverflow, some microseconds a row) and compared
// again: a row archived before an overflow_json form changed is equal by
// meaning.
func eventDiff(got, want *schema.Event, skip []bool) int {
	col := schema.DiffRow(schema.Events, got, want, skip)
	if col < 0 {
		return col
	}
	r := *got
	if r.OverflowJSON != nil {
		transform.NormalizeEventOverflow(&r)
		if col = schema.DiffRow(schema.Events, &r, want, skip); col < 0 {
			return col
		}
	}
	return rowDiff(schema.Events, &r, want, eventOverflow, skip, col)
}

// rowsDiff names the first of want (by key) that got lacks or holds with
// another value, and the column (diff: the first differing column's index
// in the table, or -1).
func rowsDiff[T any, K comparable](table *schema.Table, got, want []T, diff func(got, want *T) int, key func(*T) K, name func(K) string) finding {
	// The first row that lacks only what an older etl did not archive:
	// members the SDK does not know (lacksUnknownDiff) or columns added
	// since (lacksColumnsDiff).
	var lacking string
	lackingWhat := lacksUnknownDiff
	differs := func(g, w *T) (finding, bool) {
		switch col := diff(g, w); {
		case col == lacksUnknownDiff || col == lacksColumnsDiff:
			if lacking == "" {
				lacking, lackingWhat = name(key(w)), col
			}
		case col >= 0:
			return finding{what: name(key(w)) + ": column " + table.Columns[col].Name}, true
		}
		return finding{}, false
	}
	// Both sides usually come in the same order (seq, event id): compare
	// row by row while the keys agree, and look up the rest by key.
	for len(got) > 0 && len(want) > 0 && key(&got[0]) == key(&want[0]) {
		if f, ok := differs(&got[0], &want[0]); ok {
			return f
		}
		got, want = got[1:], want[1:]
	}
	byKey := make(map[K]*T, len(got))
	for i := range got {
		byKey[key(&got[i])] = &got[i]
	}
	for i := range want {
		k := key(&want[i])
		g, ok := byKey[k]
		if !ok {
			return finding{what: name(k) + " is not in the archive"}
		}
		if f, ok := differs(g, &want[i]); ok {
			return f
		}
	}
	switch {
	case lacking != "" && lackingWhat == lacksColumnsDiff:
		return finding{what: lacking + ": " + lacksColumnsRowWhat, lacksColumns: true}
	case lacking != "":
		return finding{what: lacking + ": " + lacksUnknownWhat, lacksUnknown: true}
	}
	return finding{}
}

// lacksColumnsRowWhat says what an event row lacking only values in
// columns added since it was archived lacks.
const lacksColumnsRowWhat = "null in columns added since it was archived, where the API has values (etl run --force archives it again)"

// lacksUnknownWhat says what a row lacking only the members the SDK does
// not know lacks.
const lacksUnknownWhat = "overflow_json lacks the members the API now sends that etl's SDK does not know (archived before etl kept them: etl run --force archives them again)"

// dataMode is how a comparison treats the execution's payloads.
type dataMode int

const (
	// dataKept: archived and read again with them.
	dataKept dataMode = iota
	// dataLeftOut: archived without them (the service could not decrypt
	// them then), and read again so.
	dataLeftOut
	// dataUnreadable: archived with them, which the service can no longer
	// decrypt (keyBroken): read again without them.
	dataUnreadable
)

// modeOf is the dataMode of a comparison of st; unreadable as keyBroken.
func modeOf(st load.ExecutionState, unreadable bool) dataMode {
	switch {
	case unreadable:
		return dataUnreadable
	case readWithoutData(st):
		return dataLeftOut
	}
	return dataKept
}

// compareSkips marks, by column index, what content comparison leaves out:
// where and when a row was read.
//
// Read without the execution's data (mode dataLeftOut or dataUnreadable)
// it leaves out the data columns too: the API's answer has none, and the
// archive may hold those an earlier snapshot read with them (its events,
// and what Postgres keeps of its operations, see schema.DataKind); and
// overflow_json, which keeps what was odd about the payloads (an empty
// Error object), which a read without them cannot show.
func compareSkips(t *schema.Table, mode dataMode) []bool {
	skip := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Name {
		case "run_id", "extracted_at", "source":
			skip[i] = true
		case "overflow_json":
			skip[i] = mode != dataKept
		}
		if mode != dataKept && c.Data != schema.NotData {
			skip[i] = true
		}
	}
	return skip
}
