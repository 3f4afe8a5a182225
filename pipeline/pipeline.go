package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/clip"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// Config is what a run needs. API, Loader and RunID are required; History
// too when an entry has no token or HistoryAlways is set.
type Config struct {
	API    extract.StateAPI
	Loader load.Loader
	RunID  string
	// History reads executions without a checkpoint token
	// (GetDurableExecution and GetDurableExecutionHistory).
	History extract.HistoryAPI
	// HistoryAlways also archives the history of entries read through
	// state (--history).
	HistoryAlways bool
	// RefusedTokenHistory reads an entry whose checkpoint token the API
	// refuses on its first page (stale: every checkpoint replaces it)
	// through its history instead, as an entry without a token
	// (--on-refused-token history). Without it such an entry fails, and
	// its reason says this is possible.
	RefusedTokenHistory bool
	// ArchivedEvents, when set, says which of an execution's events the
	// archive holds: only the others are written.
	ArchivedEvents func(arn string) load.EventsArchived
	// RewriteLacking writes again, even when ArchivedEvents holds it, an
	// event that carries members the SDK does not know, or has values in
	// columns added since the first contract (schema.Column.Since; etl run
	// sets it with --force): an archive made by an older etl lacks them,
	// and a rerun would otherwise never add them (events are written
	// once). Each destination that can tell which it holds
	// (load.LostEventsWriter, asked on the execution's first such event)
	// is given only those it does not hold as they are, whose newer row is
	// then the event, as for one recovered with its payloads; Postgres
	// rewrites it where it differs.
	RewriteLacking bool
	// RewriteEvents writes every event of each execution read through
	// history again, even those ArchivedEvents holds (etl run --force
	// --rewrite-events): the mend for events lost from the archive (a
	// file deleted) while the service still keeps the history, which a
	// run otherwise never writes again (it counts the events archived
	// from the executions row). Each destination that can tell which it
	// holds (load.LostEventsWriter: Parquet reads its events files of
	// the execution's partition) is given only those it does not hold as
	// they are (lost, held without payloads, members or columns they have
	// now, or altered since), so each event lands once, even one the
	// ledger does not count (its executions row lost); Postgres rewrites
	// none that is unchanged. An execution
	// whose partition GetDurableExecution does not give (no start) has
	// every event written, and Parquet then holds the kept ones twice
	// until etl compact --keep latest (the _latest views read one).
	RewriteEvents bool
	// SkipUnchanged leaves a still-running execution read through history
	// as archived when one small call proves the archive (ArchivedEvents)
	// holds its newest event, and with HistoryAlways reads no history page
	// of a state entry so proven; one read through state, when the newest
	// archived snapshot has its operations (EventsArchived.Holds), and
	// with HistoryAlways its newest event too (default false: archive
	// every execution read; etl run sets it unless --force).
	SkipUnchanged bool
	// PageSize is MaxItems per call (default 1000).
	PageSize int32
	// Concurrency is the number of executions in flight (default 4).
	Concurrency int
	// DestinationRetries is how many times an execution is archived
	// again, from the start, after a destination's transient failure
	// (load.Transient: a database restarting or failing over, a connection
	// lost), waiting before each try: a jittered backoff from up to 2 s,
	// doubling up to 30 s (about a minute and a quarter in all, on
	// average, by default). Past them the failure stops the run, as any
	// destination's does. Default 8; negative: none.
	DestinationRetries int
	// RetryFailedAfter is the least time between an execution's passing
	// failure (extract.ExecutionError.Passing: the client's attempts used
	// up against throttling, 5xx answers, calls with no answer in time or
	// connections that failed) and its one more try, which comes after
	// every other execution of the run has been tried: an account's quota
	// that other clients spend too, or a service's bad minutes, then fail
	// an execution only if they last. A second passing failure is the
	// execution's failure, with that reason; a run stopped before the
	// second try reports the first. Default 1 minute; negative: no second
	// try.
	RetryFailedAfter time.Duration
	// UnreachableAfter stops the run (UnreachableError) once this many
	// executions in a row failed because the API could not be reached
	// (extract.ExecutionError.Unreachable: no connection could be made,
	// after the client's retries), none answered between: the service,
	// or the way to it, is gone, and
	// every execution left would fail alike, each after its retries (a
	// backfill of 100,000 executions, for a day). Default: twice
	// Concurrency, at least 8; negative: never.
	UnreachableAfter int
	// Calls, when given, are the API client's counters
	// (extract.WithCallStats). With them an execution whose calls timed
	// out (extract.ExecutionError.TimedOut) counts toward
	// UnreachableAfter too when the service answered no call of the run
	// since the count last started again: a service, or a proxy in the
	// way, that takes connections and answers nothing, where each
	// execution would otherwise fail after its attempts of
	// --request-timeout (ten minutes each against a stopped emulator,
	// with etl's defaults), a backfill's for days. A timed-out execution
	// while other calls are answered (a page slow to come) starts the
	// count again, as any other outcome does.
	Calls *extract.CallStats
	// Logger receives progress (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Version is the tool's version, for the destinations' run ledgers.
	Version string
	// Skip, when set, tells executions that need no archiving, and why
	// (see load.Archived.Skip); history says whether the run would read
	// the execution's history (an entry without a token, or HistoryAlways).
	Skip func(arn string, history bool) (reason string, skip bool)
	// Progress, when set, is kept up to date as the run goes.
	Progress *Progress
	// Archived, when set, is called with each execution archived, or left
	// as archived, and whether its archived snapshot has its payloads
	// (false: the service could not decrypt them, or left them out), from
	// the worker's goroutine; it must be safe for concurrent use.
	Archived func(arn string, withPayloads bool)
	// Described, when set, is called with each execution whose
	// GetDurableExecution gave its history retention
	// (DurableConfig.RetentionPeriodInDays, in days), whether it is then
	// archived or fails, from the worker's goroutine; it must be safe for
	// concurrent use.
	Described func(arn string, retentionDays int32)

	// The large-history gate, which admits the folds of large histories,
	// and its threshold (see largeGate); set by this package's tests, else
	// one that asks heapRoom, and largeHistory.
	gate         *largeGate
	largeHistory int64
	// destinationBackoff is the wait before the n-th try after a
	// destination's transient failure (set by this package's tests).
	destinationBackoff func(n int) time.Duration
	// recordTimeout bounds each try of writing the run's record
	// (recordTimeout; this package's tests shorten it).
	recordTimeout time.Duration
}

// setDefaults fills in what the Config leaves zero (see its fields).
func (cfg *Config) setDefaults() {
	if cfg.PageSize <= 0 {
		cfg.PageSize = extract.MaxPageSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.largeHistory <= 0 {
		cfg.largeHistory = largeHistory
	}
	if cfg.gate == nil {
		cfg.gate = newLargeGate(heapRoom)
	}
	if cfg.UnreachableAfter == 0 {
		cfg.UnreachableAfter = max(2*cfg.Concurrency, 8)
	}
	if cfg.DestinationRetries == 0 {
		cfg.DestinationRetries = 8
	}
	if cfg.RetryFailedAfter == 0 {
		cfg.RetryFailedAfter = time.Minute
	}
	if cfg.recordTimeout == 0 {
		cfg.recordTimeout = recordTimeout
	}
	if cfg.destinationBackoff == nil {
		b := retry.NewExponentialJitterBackoff(30 * time.Second)
		cfg.destinationBackoff = func(n int) time.Duration {
			d, _ := b.BackoffDelay(n, nil) // never fails
			return d
		}
	}
}

// Progress counts a run's work as it happens; read it from any goroutine.
type Progress struct {
	Done, Failed, Skipped, Operations atomic.Int64
}

// Failure is one execution that could not be archived.
type Failure struct {
	ExecutionArn string `json:"execution_arn"`
	Line         int    `json:"manifest_line,omitempty"`
	Code         string `json:"code"`
	Reason       string `json:"reason"`
}

// AtRisk is an execution whose history ends soon and is not archived in a
// terminal state.
type AtRisk struct {
	ExecutionArn     string    `json:"execution_arn"`
	Status           string    `json:"status"`
	EndTime          time.Time `json:"end_time"`
	HistoryExpiresAt time.Time `json:"history_expires_at"`
	Reason           string    `json:"reason"`
}

// FunctionReport is what a run did with one discovered function's
// executions.
type FunctionReport struct {
	Function        string `json:"function"`
	RetentionDays   int32  `json:"retention_days,omitempty"`
	Found           int    `json:"executions_found"`
	Archived        int    `json:"executions_archived"`
	SkippedTerminal int    `json:"skipped_terminal"`
	Failed          int    `json:"executions_failed"`
	// QualifiersUnlisted, when set, says why the function's versions and
	// aliases could not be listed: its executions were listed without
	// them (see extract.DiscoverStats.Unlisted).
	QualifiersUnlisted string `json:"qualifiers_unlisted,omitempty"`
	// ListingFailed, when set, says why the function's executions could
	// not be listed: none of them was archived by the run (the other
	// functions' were).
	ListingFailed string `json:"listing_failed,omitempty"`
}

// Summary is what a run did.
type Summary struct {
	RunID            string        `json:"run_id"`
	StartedAt        time.Time     `json:"started_at"`
	FinishedAt       time.Time     `json:"finished_at"`
	Duration         time.Duration `json:"-"`
	DurationMS       int64         `json:"duration_ms"`
	Executions       int           `json:"executions"`
	ExecutionsOK     int           `json:"executions_ok"`
	ExecutionsFailed int           `json:"executions_failed"`
	// Abandoned counts executions in flight when the run was stopped (a
	// signal, the deadline, credentials refused): not failures, just not
	// archived; a rerun takes them.
	Abandoned int `json:"executions_abandoned"`
	// SkippedTerminal counts executions whose last archived snapshot was
	// terminal (with --force, those whose payloads the service could not
	// decrypt, whose final snapshot with them stays as it is);
	// SkippedResumed those the resumed run had archived already.
	SkippedTerminal int `json:"skipped_terminal"`
	SkippedResumed  int `json:"skipped_resumed"`
	// SkippedUnchanged counts still-running executions read through
	// history whose newest event the archive already holds: their archived
	// snapshot is current, and no page was read (or, from a service whose
	// answers cannot prove the newest event in one small call, their whole
	// history was read and held nothing new: no row written again), and
	// those read through state whose operations are the newest archived
	// snapshot's (with --history, its newest event archived too).
	SkippedUnchanged int `json:"skipped_unchanged"`
	// TokensRefused counts entries whose checkpoint token the API refused
	// and that were read through their history instead
	// (RefusedTokenHistory).
	TokensRefused int `json:"tokens_refused_read_history"`
	// DestinationRetries counts the times an execution was archived again,
	// from the start, after a destination's transient failure (see
	// Config.DestinationRetries).
	DestinationRetries int `json:"destination_retries"`
	// TriedAgain counts the executions tried once more at the end of the
	// run after a passing failure (see Config.RetryFailedAfter); each
	// counts once among Executions, by how its second try ended.
	TriedAgain int `json:"executions_tried_again"`
	// WithoutPayloads counts the executions archived without their
	// payloads, which the service could not decrypt (a KMS error) or left
	// out: their executions row says execution_data_included = false.
	WithoutPayloads int `json:"executions_without_payloads"`
	// PayloadsRecovered counts executions whose archived snapshot lacked
	// their payloads that this run archived with them (the service could
	// decrypt them again). StillWithoutPayloads counts those it could not
	// read so and that had not changed: their archived snapshot stays as
	// it was, and a later run tries again (one that changed is archived
	// again without them, counted in WithoutPayloads).
	PayloadsRecovered    int   `json:"executions_payloads_recovered"`
	StillWithoutPayloads int   `json:"executions_still_without_payloads"`
	DuplicatesSkipped    int   `json:"duplicates_skipped"`
	BadLinesSkipped      int   `json:"bad_lines_skipped"`
	OtherShards          int   `json:"left_to_other_shards"`
	APICalls             int64 `json:"api_calls"`
	APIRetries           int64 `json:"api_retries"`
	Pages                int64 `json:"pages"`
	Operations           int64 `json:"operations"`
	// Events counts the history events read; EventsNew those written (the
	// archive held the others already), as handed to the destinations
	// (one added beside the others leaves out those it holds); of those
	// written again with no sign that the archive lacks them (--force's,
	// a mend's: load.LostEventsWriter), those a destination did not hold
	// as they are, the most any was given.
	Events    int64 `json:"events"`
	EventsNew int64 `json:"events_new"`
	// LargeHistoryWaits counts the histories of 20,000 events or more that
	// waited for memory before folding on (another large history was
	// folding and the heap was over half of --memory-limit).
	LargeHistoryWaits int64 `json:"large_history_waits"`
	// APICallsByOperation is the calls per API operation.
	APICallsByOperation map[string]int64 `json:"api_calls_by_operation,omitempty"`
	RowsWritten         int64            `json:"rows_written"`
	FilesWritten        int              `json:"files_written"`
	BytesWritten        int64            `json:"bytes_written"`
	OperationsPerSec    float64          `json:"operations_per_second"`
	Failures            []Failure        `json:"failures"`
	// Interrupted is set when the run was stopped (a signal, the
	// deadline, credentials that stopped working) before every execution
	// was tried.
	Interrupted bool `json:"interrupted"`
	// RetentionAtRisk names the executions whose history the service
	// deletes soon (within --retention-warning) and that are not archived
	// in a terminal state, or are but without their payloads: archive them
	// (make their key usable) before then.
	RetentionAtRisk []AtRisk `json:"retention_at_risk"`
	// UnreadableFiles names the files of the archive that are not Parquet
	// etl can read, which the run's reading of the archive left out (what
	// they held was archived again where the service still has it): they
	// have to be moved out of the archive. Set by the caller
	// (load.Archived's Unreadable).
	UnreadableFiles []string `json:"unreadable_files,omitempty"`
	// Functions accounts for each discovered function (--function,
	// --all-functions).
	Functions []FunctionReport `json:"functions,omitempty"`
}

// DestinationError is a failure of a destination; it stops the run.
type DestinationError struct{ Err error }

func (e *DestinationError) Error() string { return e.Err.Error() }
func (e *DestinationError) Unwrap() error { return e.Err }

// CredentialsError stops a run whose AWS credentials do not work: the
// API refused them (an expired session token, an unknown key) or none
// could be had (extract.ExecutionError.CredentialsRefused). Every
// execution after would fail the same way, so none is tried: the
// executions archived before stay archived, those in flight are
// abandoned, and a rerun with working credentials takes the rest.
type CredentialsError struct{ Err *extract.ExecutionError }

func (e *CredentialsError) Error() string {
	told, ok := extract.RefusedCredentials(e.Err)
	if !ok {
		told = e.Err.Reason
	}
	return told + "; the run stopped: renew them and rerun to archive the rest"
}
func (e *CredentialsError) Unwrap() error { return e.Err }

// UnreachableError stops a run once Config.UnreachableAfter executions
// in a row failed because the API could not be reached (Count; Err is the
// last):
// those are failures of the run's report; the executions archived before
// stay archived, those in flight are abandoned, and a rerun once the
// service is reachable takes the rest.
type UnreachableError struct {
	Err   *extract.ExecutionError
	Count int
}

func (e *UnreachableError) Error() string {
	if last, ok := extract.Unreachable(e.Err); ok {
		return fmt.Sprintf("the Lambda API could not be reached for %d executions in a row (last: %s); the run stopped: rerun once it is reachable to archive the rest", e.Count, last)
	}
	return fmt.Sprintf("the Lambda API answered no call for %d executions in a row (last: %s); the run stopped: rerun once it answers to archive the rest", e.Count, e.Err.Reason)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Run archives every execution of the manifest. It returns the summary and,
// when a destination failed, a *DestinationError, or when the AWS
// credentials stopped working, a *CredentialsError (the summary then
// covers what was done). Failures of single executions are in the
// summary, not in the error.
func Run(ctx context.Context, cfg Config, m *extract.Manifest) (*Summary, error) {
	cfg.setDefaults()
	// A function whose executions the policy denies is asked a few
	// times, not once per execution (extract.DeniedAfter): the calls not
	// made fail as denied, each in the report.
	denials := extract.NewDenials(func(function, action string, denied int) {
		cfg.Logger.Warn("the credentials' policy denies this call on the function's executions: the run stops making it, and they fail as denied (docs/deploy/iam-policy.json lists the actions etl needs)",
			"function", function, "action", action, "denied", denied)
	})
	if cfg.API != nil {
		cfg.API = denials.State(cfg.API)
	}
	if cfg.History != nil {
		cfg.History = denials.History(cfg.History)
	}
	r := &runner{cfg: cfg, payloads: transform.NewPayloadBudget(foldPayloads), sum: &Summary{RunID: cfg.RunID, StartedAt: cfg.Now().UTC(), DuplicatesSkipped: m.Duplicates(),
		BadLinesSkipped: len(m.Skipped()), OtherShards: m.OtherShards()}}
	r.answered = r.answers()
	// Entries that give their start time (as discovery's do) say which
	// partition they are expected in: once every execution expected in a
	// partition is done, a loader that can is told (see done).
	if f, ok := cfg.Loader.(load.PartitionFinisher); ok && len(m.StartDates()) > 0 {
		r.finisher, r.remaining = f, maps.Clone(m.StartDates())
	}
	ledger, _ := cfg.Loader.(load.RunLedger)
	if ledger != nil {
		err := r.recordRun(ctx, ledger, load.RunInfo{RunID: cfg.RunID, StartedAt: r.sum.StartedAt, Status: "running", Version: cfg.Version})
		if err != nil {
			cfg.Loader.Close(context.WithoutCancel(ctx))
			r.finish(ctx)
			return r.sum, &DestinationError{Err: err}
		}
	}
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	work := func(entries <-chan entry) {
		for e := range entries {
			err := r.archiveOnce(runCtx, e, true)
			r.cfg.gate.recheck() // what it held is garbage now
			if errors.Is(err, errDeferred) {
				continue // not done: tried again at the end
			}
			if err == nil {
				err = r.done(runCtx, e.Entry)
			}
			if err != nil {
				stop(err)
			}
		}
	}
	entries := make(chan entry)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() { work(entries) })
	}
	r.feed(runCtx, m, entries, stop)
	close(entries)
	wg.Wait()
	r.tryAgain(runCtx, work)

	var runErr error
	// The run's own stop carries a destination failure; a signal or a
	// deadline on ctx is an interruption, reported as Interrupted.
	var dest *DestinationError
	var creds *CredentialsError
	var unreachable *UnreachableError
	switch cause := context.Cause(runCtx); {
	case errors.As(cause, &dest):
		runErr = dest
	case errors.As(cause, &creds):
		runErr = creds
	case errors.As(cause, &unreachable):
		runErr = unreachable
	}
	if err := m.Err(); err != nil && runErr == nil {
		runErr = err
	}
	// The ledger is written before Close, which releases the destinations.
	if ledger != nil {
		if err := r.recordEnd(ctx, ledger, runErr); err != nil && runErr == nil {
			runErr = &DestinationError{Err: err}
		}
	}
	if err := cfg.Loader.Close(context.WithoutCancel(ctx)); err != nil && runErr == nil {
		runErr = &DestinationError{Err: err}
	}
	sum := r.finish(ctx)
	sum.Interrupted = sum.Interrupted || creds != nil || unreachable != nil
	return sum, runErr
}

// tryAgain hands the executions whose try failed for a passing reason
// (r.later) to Concurrency workers running work, in the order they
// failed, each no sooner than Config.RetryFailedAfter after its failure;
// those the run stops before (ctx done) are failures, with their first
// try's reason, and so are those left once UnreachableAfter second tries
// in a row had no answer (r.givenUp). The workers of the manifest's
// entries have returned.
func (r *runner) tryAgain(ctx context.Context, work func(<-chan entry)) {
	later := r.later
	r.later, r.unreachable, r.answered = nil, 0, r.answers()
	sent := 0
	if len(later) > 0 && ctx.Err() == nil {
		r.cfg.Logger.Info("trying again the executions that failed for a passing reason", "executions", len(later), "after", r.cfg.RetryFailedAfter)
		entries := make(chan entry)
		var wg sync.WaitGroup
		for range min(r.cfg.Concurrency, len(later)) {
			wg.Go(func() { work(entries) })
		}
	send:
		for _, d := range later {
			if !sleep(ctx, time.Until(d.at.Add(r.cfg.RetryFailedAfter))) || r.gaveUp() {
				break
			}
			select {
			case entries <- d.e:
				sent++
			case <-ctx.Done():
				break send
			}
		}
		close(entries)
		wg.Wait()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.TriedAgain += sent
	for _, d := range later[sent:] {
		r.sum.Executions++
		r.fail(d.e.Entry, d.code, d.reason)
	}
}

// gaveUp reports whether the second tries were given up (r.givenUp).
func (r *runner) gaveUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.givenUp
}

// feed hands the manifest's entries to the workers, leaving out those
// cfg.Skip names, until the manifest ends or ctx is done. An execution
// archived final without its payloads (load.RetryPayloads) is handed over
// as a retry of them, when the run can read history.
func (r *runner) feed(ctx context.Context, m *extract.Manifest, entries chan<- entry, stop context.CancelCauseFunc) {
	cfg := r.cfg
	for m.Next() {
		e := entry{Entry: m.Entry()}
		if cfg.ArchivedEvents != nil {
			e.archived = cfg.ArchivedEvents(e.ARN)
		}
		if cfg.Skip != nil {
			reason, skip := cfg.Skip(e.ARN, e.Token == "" || cfg.HistoryAlways)
			if reason == load.RetryPayloads && !skip {
				if cfg.History != nil {
					// State cannot tell the payloads apart (a final
					// execution's token is stale anyway): history can.
					e.Token, e.retryPayloads = "", true
				} else {
					reason, skip = load.SkipTerminal, true
				}
			}
			if skip {
				if cfg.Progress != nil {
					cfg.Progress.Skipped.Add(1)
				}
				if reason == load.SkipResumed || reason == load.SkipResumedFinal {
					r.sum.SkippedResumed++
				} else {
					r.sum.SkippedTerminal++
				}
				if err := r.done(ctx, e.Entry); err != nil {
					stop(err)
					return
				}
				continue
			}
		}
		select {
		case entries <- e:
		case <-ctx.Done():
			return
		}
	}
}

// recordEnd writes the run's final row in the ledger: interrupted when ctx
// ended, failed after runErr or a failed execution, else succeeded.
func (r *runner) recordEnd(ctx context.Context, ledger load.RunLedger, runErr error) error {
	cfg := r.cfg
	r.mu.Lock()
	info := load.RunInfo{RunID: cfg.RunID, StartedAt: r.sum.StartedAt, FinishedAt: cfg.Now().UTC(), Status: "succeeded",
		ExecutionsOK: int64(r.sum.ExecutionsOK), ExecutionsFailed: int64(r.sum.ExecutionsFailed), Operations: r.sum.Operations, Version: cfg.Version}
	r.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		info.Status = "interrupted"
	case runErr != nil || info.ExecutionsFailed > 0:
		info.Status = "failed"
	}
	return r.recordRun(context.WithoutCancel(ctx), ledger, info)
}

// recordTimeout bounds each try of recordRun: one row, which a database
// that answers writes at once. One that stopped answering (a server
// stopped, a lock never let go) would otherwise hold the run's end for
// ever, --deadline and a first interrupt included, the run's work done.
const recordTimeout = time.Minute

// recordRun writes the run's record in the destinations' ledgers, again
// after a transient failure (load.Transient), as an execution is; a try
// not done in recordTimeout fails it.
func (r *runner) recordRun(ctx context.Context, ledger load.RunLedger, info load.RunInfo) error {
	for try := 1; ; try++ {
		tryCtx, cancel := context.WithTimeout(ctx, r.cfg.recordTimeout)
		err := ledger.RecordRun(tryCtx, info)
		if err != nil && ctx.Err() == nil && errors.Is(tryCtx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (no answer in %s)", err, r.cfg.recordTimeout)
		}
		cancel()
		if err == nil || !load.Transient(err) || try > r.cfg.DestinationRetries {
			return err
		}
		wait := r.cfg.destinationBackoff(try)
		r.cfg.Logger.Warn("a destination failed for a moment: recording the run again", "status", info.Status, "try", try, "of", r.cfg.DestinationRetries, "after", wait.Round(time.Millisecond), "reason", err.Error())
		if !sleep(ctx, wait) {
			return err
		}
	}
}

// sleep waits d, or less if ctx ends first; it reports whether it waited
// all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// finish completes the summary's totals and times.
func (r *runner) finish(ctx context.Context) *Summary {
	s, cfg := r.sum, r.cfg
	if sr, ok := cfg.Loader.(load.StatsReporter); ok {
		st := sr.Stats()
		s.RowsWritten, s.FilesWritten, s.BytesWritten = st.Rows, st.Files, st.Bytes
	}
	s.Interrupted = ctx.Err() != nil
	s.LargeHistoryWaits = cfg.gate.waited()
	s.FinishedAt = cfg.Now().UTC()
	s.Duration = s.FinishedAt.Sub(s.StartedAt)
	s.DurationMS = s.Duration.Milliseconds()
	if secs := s.Duration.Seconds(); secs > 0 {
		s.OperationsPerSec = float64(s.Operations) / secs
	}
	if s.Failures == nil {
		s.Failures = []Failure{}
	}
	if s.RetentionAtRisk == nil {
		s.RetentionAtRisk = []AtRisk{}
	}
	return s
}

type runner struct {
	cfg Config
	mu  sync.Mutex
	sum *Summary
	// payloads is the budget the executions' folds share for the payloads
	// they hold until their history ends (foldPayloads).
	payloads *transform.PayloadBudget
	// remaining counts, by partition, the manifest's executions expected
	// in it (their start date) not yet done; finisher is the loader's, nil
	// without either.
	remaining map[string]int
	finisher  load.PartitionFinisher
	// order is what the run's history reads learnt of their order.
	order extract.HistoryOrder
	// unreachable counts the executions in a row that failed because the
	// API could not be reached (Config.UnreachableAfter); answered is
	// Config.Calls' Answered when the count last started again.
	unreachable int
	answered    int64
	// later holds the executions to try once more at the end of the run
	// (Config.RetryFailedAfter), in the order they failed; givenUp is set
	// once UnreachableAfter of their second tries in a row had no answer.
	later   []deferred
	givenUp bool
}

// done notes that e's work is over (archived, failed or skipped): once the
// last execution expected in a partition is done, the loader is told, so
// that it can write and publish the partition during the run instead of at
// Close (a manifest in start order makes this pay: discovery's is). An
// execution whose partition was not the one expected costs only that
// saving.
func (r *runner) done(ctx context.Context, e extract.Entry) error {
	if r.finisher == nil {
		return nil
	}
	dt, ok := e.StartDate()
	if !ok {
		return nil
	}
	r.mu.Lock()
	r.remaining[dt]--
	last := r.remaining[dt] == 0
	r.mu.Unlock()
	if !last {
		return nil
	}
	if err := r.finisher.FinishPartition(ctx, dt); err != nil {
		return &DestinationError{Err: err}
	}
	return nil
}

// foldPayloads is the memory the folds of a run's executions share for
// payloads (each has its own 4 MiB too): past it, they go to the folds'
// temporary files. Without it, 16 executions of 100,000 events folded at
// once held 16 times 4 MiB.
const foldPayloads = 16 << 20

// entry is a manifest entry as the run reads it.
type entry struct {
	extract.Entry
	// noData reads the execution's history without its payloads
	// ([extract.WithoutExecutionData]): the run's choice for an execution
	// whose payloads the service could not decrypt.
	noData bool
	// retryPayloads reads, through history, an execution archived final
	// without its payloads (load.RetryPayloads): archived again only if
	// the service can decrypt them now.
	retryPayloads bool
	// archived is what the archive holds of its events and snapshots
	// (Config.ArchivedEvents, asked once).
	archived load.EventsArchived
	// destinationTries counts the tries after a destination's transient
	// failure (Config.DestinationRetries).
	destinationTries int
	// lastTry is set on the one more try after a passing failure
	// (Config.RetryFailedAfter).
	lastTry bool
}

// deferred is an execution whose try failed for a passing reason
// (extract.ExecutionError.Passing), to be tried once more at the end of
// the run, after at: its failure's code and reason are what the report
// says if it is not.
type deferred struct {
	e            entry
	at           time.Time
	code, reason string
}

// errDeferred is archiveOnce's word for an execution left for one more
// try at the end of the run: not done, and no failure of the run's.
var errDeferred = errors.New("pipeline: the execution is tried again at the end of the run")

// archiveOnce moves one execution from the API to the loader, starting it
// over once (mayRestart) if its marker expired. It returns an error only
// for what stops the run (a destination failure, or credentials that do
// not work), or errDeferred for an execution left to try again at the
// end of the run.
func (r *runner) archiveOnce(ctx context.Context, e entry, mayRestart bool) error {
	start := r.cfg.Now()
	log := r.cfg.Logger.With("execution_arn", e.ARN)
	src := r.sourceFor(e)
	x, err := r.cfg.Loader.Begin(ctx, e.ARN)
	if err != nil {
		err = &DestinationError{Err: err}
		if r.destinationRetry(ctx, &e, err, counts{}, log) {
			return r.archiveOnce(ctx, e, mayRestart)
		}
		// Failed (or abandoned, the run stopping) as a failure at its
		// commit is: the report names it.
		return r.settle(ctx, e, src, &schema.Execution{}, counts{}, start, err, log)
	}
	var c counts
	meta := transform.RowMeta{ExecutionArn: e.ARN, RunID: r.cfg.RunID, ExtractedAt: start}
	if _, history := src.(historySource); (history || r.cfg.HistoryAlways) && r.cfg.History == nil {
		x.Abort(ctx)
		return &DestinationError{Err: errors.New("pipeline: an entry needs the history API, and Config.History is nil")}
	}
	dt, row, err := src.read(ctx, e, meta, x, &c)
	if again, restartable, ok := r.readAgain(e, src, err, c, mayRestart, log); ok {
		x.Abort(ctx)
		return r.archiveOnce(ctx, again, restartable)
	}
	if err == nil {
		if cerr := x.Commit(ctx, dt, row); cerr != nil {
			err = &DestinationError{Err: cerr}
		}
	} else {
		x.Abort(ctx)
	}
	if r.destinationRetry(ctx, &e, err, c, log) {
		return r.archiveOnce(ctx, e, mayRestart)
	}
	return r.settle(ctx, e, src, &row, c, start, err, log)
}

// destinationRetry says whether e is archived again after err, which
// ended a try that read c, and waits first: yes for a destination's
// transient failure (load.Transient; nothing of the execution was kept),
// up to cfg.DestinationRetries times, unless the run stops meanwhile.
func (r *runner) destinationRetry(ctx context.Context, e *entry, err error, c counts, log *slog.Logger) bool {
	var dest *DestinationError
	if !errors.As(err, &dest) || !load.Transient(dest.Err) || e.destinationTries >= r.cfg.DestinationRetries || ctx.Err() != nil {
		return false
	}
	e.destinationTries++
	wait := r.cfg.destinationBackoff(e.destinationTries)
	log.Warn("a destination failed for a moment: archiving the execution again", "try", e.destinationTries, "of", r.cfg.DestinationRetries, "after", wait.Round(time.Millisecond), "reason", dest.Error())
	r.mu.Lock()
	r.sum.DestinationRetries++
	r.sum.Pages += c.pages
	r.mu.Unlock()
	return sleep(ctx, wait)
}

// settle counts the outcome of one read of e (err: nil once committed)
// in the summary and logs it; it returns only an error that stops the
// run (a destination's, or credentials that do not work), or errDeferred
// for a passing failure it leaves, in r.later, to be tried again at the
// end of the run (Config.RetryFailedAfter).
func (r *runner) settle(ctx context.Context, e entry, src source, row *schema.Execution, c counts, start time.Time, err error, log *slog.Logger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Executions++
	r.sum.Pages += c.pages
	var dest *DestinationError
	var ee *extract.ExecutionError
	unreachable := errors.As(err, &ee) && (ee.Unreachable() || r.unanswered(ee)) && ctx.Err() == nil
	if !unreachable && !errors.As(err, &dest) {
		r.unreachable = 0 // the API was reached
		r.answered = r.answers()
	}
	switch {
	case err == nil:
		r.archived(e, row, c, r.cfg.Now().Sub(start), log)
		return nil
	case errors.Is(err, errUnchanged) && e.noData:
		// Read again without payloads, unchanged: as archived, still
		// without them.
		log.Debug("unchanged since its archived snapshot, still without its payloads")
		r.leftAsArchived(e.ARN, &r.sum.StillWithoutPayloads, false)
		return nil
	case errors.Is(err, errUnchanged):
		log.Debug("unchanged since its archived snapshot")
		r.leftAsArchived(e.ARN, &r.sum.SkippedUnchanged, true) // see runner.eventsUnchanged
		return nil
	case errors.As(err, &dest) && ctx.Err() != nil:
		// The run is stopping (another destination failure, a signal):
		// its calls were cut short, as every execution's in flight.
		r.sum.Abandoned++
		return nil
	case errors.As(err, &dest):
		r.fail(e.Entry, "destination", dest.Error())
		return dest
	case errors.As(err, &ee) && ee.CredentialsRefused():
		// Not this execution's failure: the run's credentials'.
		r.sum.Abandoned++
		return &CredentialsError{Err: ee}
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ee) && ee.Interrupted()):
		r.sum.Abandoned++
		return nil
	case errors.Is(err, errDataLeftOut):
		log.Info("the service still leaves the execution's payloads out: its archived snapshot stays without them")
		r.leftAsArchived(e.ARN, &r.sum.StillWithoutPayloads, false)
		return nil
	case errors.As(err, &ee) && keepsFinal(e, ee):
		log.Warn("the service cannot decrypt the execution's payloads: its final snapshot, archived with them, stays as it is", "code", ee.Code)
		r.leftAsArchived(e.ARN, &r.sum.SkippedTerminal, true)
		return nil
	case e.retryPayloads && errors.As(err, &ee):
		// Archived final already: only the payloads were sought, and the
		// snapshot stays as it was until a later run finds them.
		if ee.Undecryptable() {
			log.Info("the service still cannot decrypt the execution's payloads: its archived snapshot stays without them", "code", ee.Code)
		} else {
			log.Warn("the execution's payloads could not be read again: its archived snapshot stays without them", "code", ee.Code, "reason", ee.Reason)
		}
		r.leftAsArchived(e.ARN, &r.sum.StillWithoutPayloads, false)
		return nil
	case errors.As(err, &ee):
		reason := ee.Reason
		if r.tokenRefused(src, ee, c) && !r.cfg.RefusedTokenHistory {
			reason += " (the token is stale or wrong; the execution can be read without it, through its history: --on-refused-token history)"
		}
		var stop error
		if unreachable {
			if r.unreachable++; r.unreachable == r.cfg.UnreachableAfter && e.lastTry {
				// Only executions that failed once run now: in a row, they
				// may be slow to answer rather than the service gone. The
				// rest are not tried again (tryAgain), and the run ends.
				r.givenUp = true
				log.Warn("executions tried again had no answer, so many in a row: the rest are not tried again", "in_a_row", r.unreachable)
			} else if r.unreachable == r.cfg.UnreachableAfter {
				stop = &UnreachableError{Err: ee, Count: r.unreachable}
			}
		}
		if stop == nil && ee.Passing() && !e.lastTry && r.cfg.RetryFailedAfter > 0 {
			r.sum.Executions-- // counted by its next try
			e.lastTry, e.destinationTries = true, 0
			r.later = append(r.later, deferred{e: e, at: time.Now(), code: ee.Code, reason: reason})
			log.Warn("execution failed for a passing reason: it is tried again at the end of the run", "code", ee.Code, "reason", reason)
			return errDeferred
		}
		r.fail(e.Entry, ee.Code, reason)
		log.Warn("execution failed", "code", ee.Code, "reason", reason)
		return stop
	default:
		r.fail(e.Entry, "internal", fmt.Sprint(err))
		return nil
	}
}

// answers is how many calls the service has answered (Config.Calls), 0
// without the counters.
func (r *runner) answers() int64 {
	if r.cfg.Calls == nil {
		return 0
	}
	return r.cfg.Calls.Answered.Load()
}

// unanswered reports that ee timed out while the service answered no call
// of the run since the count of executions in a row last started again
// (see Config.Calls).
func (r *runner) unanswered(ee *extract.ExecutionError) bool {
	return r.cfg.Calls != nil && ee.TimedOut() && r.answers() == r.answered
}

// readAgain says whether a failed read is read again (ok), as which entry,
// and whether that read may start over in its turn: a checkpoint token
// refused on the first page, with RefusedTokenHistory, as the entry
// without its token (else it fails, its reason saying that is possible);
// a read whose payloads the service cannot decrypt (a KMS error), through
// history without them (state always carries them: a token is dropped),
// so that what history says of the rest is archived, and so too a running
// execution's read that sought the payloads its snapshot lacks and that
// the service answered without them again (errDataLeftOut);
// once (mayRestart), a marker refused after the first page (it expired)
// or a history that changed while it was read backwards, as the same
// entry, from the start.
func (r *runner) readAgain(e entry, src source, err error, c counts, mayRestart bool, log *slog.Logger) (again entry, restartable, ok bool) {
	if errors.Is(err, errDataLeftOut) && !e.retryPayloads {
		// Running, and still without its payloads: read on as when they
		// could not be decrypted.
		e.noData = true
		return e, mayRestart, true
	}
	var ee *extract.ExecutionError
	if !errors.As(err, &ee) {
		return e, false, false
	}
	if r.tokenRefused(src, ee, c) {
		if !r.cfg.RefusedTokenHistory {
			return e, false, false // failed, its reason saying how to read it
		}
		log.Warn("checkpoint token refused: reading the execution through its history instead", "reason", ee.Reason)
		r.mu.Lock()
		r.sum.TokensRefused++
		r.mu.Unlock()
		e.Token = ""
		return e, mayRestart, true
	}
	if ee.Undecryptable() && !e.noData && !e.retryPayloads && r.cfg.History != nil && !keepsFinal(e, ee) {
		log.Warn("the service cannot decrypt the execution's payloads: reading it again through its history without them", "reason", ee.Reason)
		e.Token, e.noData = "", true
		return e, mayRestart, true
	}
	if !mayRestart || !(c.pages > 0 && ee.Rejected() || ee.Changed()) {
		return e, false, false
	}
	what := "marker refused mid-execution"
	if ee.Changed() {
		what = "history changed while read backwards"
	}
	log.Warn(what+": starting the execution over", "reason", ee.Reason)
	return e, false, true
}

// keepsFinal says whether a read of e that the service could not decrypt
// (ee) leaves e as archived: its newest snapshot is final and has its
// payloads (a run reads it again with --force), so a read without them
// would only archive less of what cannot change.
func keepsFinal(e entry, ee *extract.ExecutionError) bool {
	return ee.Undecryptable() && !e.noData && e.archived.Final && !e.archived.WithoutPayloads
}

// tokenRefused says whether ee is a checkpoint token refused on the first
// page of a read through state, which history could read without it.
func (r *runner) tokenRefused(src source, ee *extract.ExecutionError, c counts) bool {
	_, state := src.(stateSource)
	return state && c.pages == 0 && ee.Rejected() && r.cfg.History != nil
}

// archived accounts for an execution archived, its executions row row;
// r.mu is held.
func (r *runner) archived(e entry, row *schema.Execution, c counts, took time.Duration, log *slog.Logger) {
	r.sum.ExecutionsOK++
	without := e.noData || row.ExecutionDataIncluded != nil && !*row.ExecutionDataIncluded
	if without {
		r.sum.WithoutPayloads++
	}
	if !without && r.seeksPayloads(e) {
		r.sum.PayloadsRecovered++
	}
	r.sum.Operations += c.ops
	r.sum.Events += c.events
	r.sum.EventsNew += c.newEvents
	if p := r.cfg.Progress; p != nil {
		p.Done.Add(1)
		p.Operations.Add(c.ops)
	}
	log.Debug("archived", "pages", c.pages, "rows", c.ops, "events", c.events, "duration_ms", took.Milliseconds())
	if r.cfg.Archived != nil {
		r.cfg.Archived(e.ARN, !without)
	}
}

// leftAsArchived accounts for an execution the run leaves as archived,
// under the summary's count n, its archived snapshot with its payloads or
// not; r.mu is held.
func (r *runner) leftAsArchived(arn string, n *int, withPayloads bool) {
	*n++
	if p := r.cfg.Progress; p != nil {
		p.Skipped.Add(1)
	}
	if r.cfg.Archived != nil {
		r.cfg.Archived(arn, withPayloads)
	}
}

func (r *runner) fail(e extract.Entry, code, reason string) {
	r.sum.ExecutionsFailed++
	if p := r.cfg.Progress; p != nil {
		p.Failed.Add(1)
	}
	// Clipped: a manifest can hold a value of megabytes, and the report
	// and the summary line must stay readable.
	r.sum.Failures = append(r.sum.Failures, Failure{ExecutionArn: clip.String(e.ARN), Line: e.Line, Code: clip.String(code), Reason: clip.String(reason)})
}
