package verify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is what verify found: its JSON form is etl verify's --report
// (the contract's names; only additive changes).
type Report struct {
	// Expected counts the listed executions; ListedFrom says where the
	// listing comes from: "api" (--function, --all-functions), "manifest",
	// or "archive" (neither: the archive's own, so that only those whose
	// executions row is gone can be found missing); the caller sets it, as
	// FunctionsNotListed, UnreadableFiles and the API's calls.
	Expected   int    `json:"executions_expected"`
	ListedFrom string `json:"executions_listed_from"`
	// Complete counts the listed executions archived as the API has them
	// now (terminal once it says they ended, its status and end time);
	// Missing, Stale and Differing name the others. GoneFromAPI counts
	// those archived that the API no longer has (their retention passed,
	// or they were deleted): counted complete, not compared.
	Complete    int          `json:"executions_complete"`
	Missing     []string     `json:"missing"`
	Stale       []Difference `json:"stale"`
	Differing   []Difference `json:"differing"`
	GoneFromAPI int          `json:"gone_from_api"`
	// PastRetention counts those archived in a terminal state that ended
	// longer ago than the service keeps their history
	// (Options.PastRetention): not asked of the API, counted complete.
	PastRetention int `json:"past_retention"`
	// SelfChecked counts the executions the API could not compare (past
	// their retention, or gone from the API: a share of Sample as large
	// as theirs among the listed, at least one when there are any, or
	// every one with All; and those drawn for the sample that could not
	// be compared by content, NotSampleable, counted in
	// NotComparedSelfChecked too) whose archived rows were checked
	// against their own executions row instead (selfcheck.go).
	// Inconsistent names those whose rows disagree with it (operations or
	// events fewer than it counts, or operations that do not give its
	// content_hash): rows lost from the archive, which, for an execution
	// the service has forgotten, nothing can read again; one the service
	// still has is marked AtService.
	SelfChecked            int          `json:"self_checked"`
	NotComparedSelfChecked int          `json:"not_sampleable_self_checked"`
	Inconsistent           []Difference `json:"inconsistent"`
	// Seed draws the sample; Sampled counts the executions compared by
	// content, Equal those found equal, NotSampleable those drawn that
	// could not be compared.
	Seed          uint64 `json:"seed"`
	Sampled       int    `json:"sampled"`
	Equal         int    `json:"sampled_equal"`
	NotSampleable int    `json:"not_sampleable"`
	// Running counts those of not_sampleable that the API says are still
	// running (or paused); the others were archived through state without
	// --history and verify has no token to read them again.
	Running int `json:"not_sampleable_running"`
	// ByHistory counts the sampled executions archived through state that
	// were compared by their history alone (no token, or a refused one:
	// see TokensRefused): their events, event counts and
	// GetDurableExecution's columns, not their operations.
	ByHistory int `json:"compared_by_history"`
	// TokensRefused names the sampled executions archived through state
	// whose checkpoint token the API refused (stale: every checkpoint replaces
	// it, and an ended execution has none): compared by their history
	// alone when their events were archived (--history), else not
	// compared (among not_sampleable). Not a fault of the archive.
	TokensRefused []string     `json:"tokens_refused"`
	ContentDiffer []Difference `json:"content_differs"`
	// LacksUnknown names the executions whose archived rows differ from
	// the API's only by members the API sends that etl's SDK does not
	// know (overflow_json's Unknown): archived before etl kept them, or
	// before the service sent them. `etl run --force` archives them again.
	LacksUnknown []Difference `json:"unknown_members_not_archived"`
	// LacksColumns names the executions whose rows (the executions row,
	// events) differ from the API's only by nulls in columns added to the
	// archive since they were written (execution_data_included, the pause
	// columns, ...): archived by an older etl. `etl run --force` archives
	// them again.
	LacksColumns []Difference `json:"columns_not_archived"`
	// WithoutPayloads names the executions archived without their
	// payloads (execution_data_included false: the service could not
	// decrypt them). Complete as archived; once the key works again, the
	// next etl run archives them again with their payloads.
	WithoutPayloads []string `json:"executions_without_payloads"`
	// PayloadsUnchecked names the executions archived with their payloads
	// whose content was compared without them: the service can no longer
	// decrypt them (their key was disabled or its grant removed since).
	// Not a fault of the archive, which holds them. One archived through
	// state is not compared at all (GetDurableExecutionState has no read
	// without them): it counts among not_sampleable too.
	PayloadsUnchecked []string `json:"payloads_not_compared"`
	// FunctionsNotListed tells the functions whose executions could not
	// be listed (access denied, retries run out): none of theirs was
	// verified, so the archive is not proven.
	FunctionsNotListed []string     `json:"functions_not_listed"`
	AtRisk             []AtRisk     `json:"retention_at_risk"`
	Errors             []Difference `json:"errors"`
	// UnreadableFiles names the files of the archive that are not Parquet
	// etl can read (a stray file, a damaged one): an executions file's
	// executions count as missing, another's as errors.
	UnreadableFiles []string `json:"unreadable_files,omitempty"`
	// APICalls counts the Lambda API calls verify made, listing
	// included; APIRetries the retries among their attempts (throttled,
	// or failed for a moment).
	APICalls   int64 `json:"api_calls"`
	APIRetries int64 `json:"api_retries"`
	DurationMS int64 `json:"duration_ms"`
}

// Difference names an execution and what is wrong with it.
type Difference struct {
	ExecutionArn string `json:"execution_arn"`
	What         string `json:"what"`
	// AtService, in Inconsistent only: the API still has the execution
	// (drawn for the sample, it was described, still running or paused
	// or with no token to compare it by), so a run with --force archives
	// it whole again (--rewrite-events too for events lost). Unset for
	// one past its retention or gone from the API, which nothing can read
	// again.
	AtService bool `json:"at_service,omitempty"`
}

// AtRisk is an execution whose history expires soon and that is not
// verified complete, or is archived without its payloads (which go with
// the history).
type AtRisk struct {
	ExecutionArn     string    `json:"execution_arn"`
	HistoryExpiresAt time.Time `json:"history_expires_at"`
}

// Faults are the lists of r that name an execution the archive does not
// hold as the API has it (each counts against the exit code and marks it
// at risk): one place to add a new such list.
func (r *Report) Faults() []*[]Difference {
	return []*[]Difference{&r.Stale, &r.Differing, &r.ContentDiffer, &r.LacksUnknown, &r.LacksColumns, &r.Inconsistent, &r.Errors}
}

// OK reports an archive proven to hold what the API has: nothing differs,
// and every function was listed.
func (r *Report) OK() bool { return !r.Differs() && len(r.FunctionsNotListed) == 0 }

// Differs reports an execution missing from the archive or held
// otherwise than the API has it.
func (r *Report) Differs() bool {
	n := len(r.Missing)
	for _, l := range r.Faults() {
		n += len(*l)
	}
	return n > 0
}

// Verdict is the last line of a report that differs: whether something
// differs, or could only not be checked (errors: an API or a destination
// that failed), which verifying again may settle.
func (r *Report) Verdict() string {
	differ := len(r.Missing)
	for _, l := range r.Faults() {
		if l != &r.Errors {
			differ += len(*l)
		}
	}
	what := "the archive differs from the API"
	if differ == len(r.Inconsistent) {
		what = "the archive's rows disagree with its own executions rows"
	}
	switch {
	case differ == 0:
		return fmt.Sprintf("could not check %d of the executions (see above or --report, errors): the archive is not proven for them; verify them again", len(r.Errors))
	case len(r.Errors) > 0:
		return fmt.Sprintf("%s, and verify could not check %d of the executions (see above or --report; %s)", what, len(r.Errors), mends)
	}
	return what + " (see above or --report; " + mends + ")"
}

// mends points an operator at what mends each finding.
const mends = "the README's Verification says what mends each finding"

// Execution is one execution verify checks, with what discovery or the
// manifest knew of it.
type Execution struct {
	ARN string
	// Token is the manifest's checkpoint token: with it, an execution
	// archived through state is compared by its operations too.
	Token string
	// Function, End and Deleting are discovery's (empty without it), for
	// Options.AtRisk: the function listed, the end in ms since the epoch
	// (0 when not known), and whether it was listed as DELETING (its
	// history goes now).
	Function string
	End      int64
	Deleting bool
	pos      int32 // the position in its listing (InRounds)
}

// Mendable is, sorted and each once, the executions that etl run --force
// --rewrite-events archives anew from the service, mending what this
// report found of them: the missing ones (such a run writes only the
// events a destination lacks, where a plain run would write again those
// an execution whose executions row was lost still has; one a manifest
// names that the service does not know fails that run as it fails any)
// and every fault
// (Faults) but the stale ones, which the next run archives without being
// told, the errors, verify's own, and the inconsistent ones the service
// has forgotten (not AtService), which no run can read again.
func (r *Report) Mendable() []string {
	arns := slices.Clone(r.Missing)
	for _, l := range r.Faults() {
		if l == &r.Stale || l == &r.Errors {
			continue
		}
		for _, d := range *l {
			if l != &r.Inconsistent || d.AtService {
				arns = append(arns, d.ExecutionArn)
			}
		}
	}
	slices.Sort(arns)
	return slices.Compact(arns)
}

// Lines are the report's findings for people, n of each kind at most; an
// expiry before now reads as past (the service may delete that history
// any time).
func (r *Report) Lines(n int, now time.Time) []string {
	var out []string
	add := func(kind string, ds []Difference) {
		for i, d := range ds {
			if i == n {
				out = append(out, fmt.Sprintf("... and %d more %s", len(ds)-n, kind))
				break
			}
			out = append(out, fmt.Sprintf("%s: %s: %s", kind, d.ExecutionArn, d.What))
		}
	}
	why := "not in the archive"
	if r.ListedFrom == "archive" { // listed for its other rows, found at the service
		why = "no executions row in the archive, only operations or events (the service still has it: etl run --force --rewrite-events archives it again, each event once)"
	}
	missing := make([]Difference, len(r.Missing))
	for i, m := range r.Missing {
		missing[i] = Difference{ExecutionArn: m, What: why}
	}
	add("missing", missing)
	add("stale", r.Stale)
	add("differs", r.Differing)
	add("content differs", r.ContentDiffer)
	add("lacks new members", r.LacksUnknown)
	add("lacks new columns", r.LacksColumns)
	inconsistent := make([]Difference, len(r.Inconsistent))
	for i, d := range r.Inconsistent {
		switch inconsistent[i] = d; {
		case d.AtService && strings.HasPrefix(d.What, eventsFewer):
			// Events are written once: a run writes them again only
			// when told to.
			inconsistent[i].What += " (the service still has it: etl run --force --rewrite-events writes its events again)"
		case d.AtService:
			inconsistent[i].What += " (the service still has it: etl run --force archives it again)"
		}
	}
	add("inconsistent", inconsistent)
	add("error", r.Errors)
	for _, f := range r.FunctionsNotListed {
		out = append(out, "not listed, not verified: "+f)
	}
	for i, a := range r.AtRisk {
		if i == n {
			out = append(out, fmt.Sprintf("... and %d more at risk", len(r.AtRisk)-n))
			break
		}
		when := "history expires " + a.HistoryExpiresAt.Format(time.RFC3339)
		if a.HistoryExpiresAt.Before(now) {
			when = "history was due to expire " + a.HistoryExpiresAt.Format(time.RFC3339) + ": the service may delete it any time"
		}
		out = append(out, fmt.Sprintf("at risk: %s: %s", a.ExecutionArn, when))
	}
	return out
}
