// Package extract reads the manifest of executions to archive (or discovers
// them with ListDurableExecutionsByFunction: [Discover]) and drains each
// execution, page by page, through the AWS SDK for Go v2: its state from
// GetDurableExecutionState with a checkpoint token ([Drain]), or without
// one its description ([Describe]) and its history ([DrainHistory], oldest
// event first under either reading of ReverseOrder: see [HistoryOrder]).
//
// [OpenManifest] checks the whole manifest first (so a bad line stops the run
// before anything is fetched) and then streams its entries through a
// [Manifest] iterator (Next/Entry/Err); duplicate ARNs come out once, and
// the entries that give a StartTimestamp are counted per start date
// ([Manifest.StartDates]).
// [NewClient] builds the SDK client from the standard AWS configuration
// chain. [Drain] walks one execution's pages with the SDK's paginator and
// hands each page to a callback, so memory holds the pages in flight and
// never a whole execution ([DrainHistory] likewise). A failure that
// belongs to one execution comes back as an [*ExecutionError], whose Reason
// is safe to log and report (checkpoint tokens never appear in errors) and
// whose predicates say what a caller can do: NotFound, Rejected (a stale
// token, an expired marker), Changed, Interrupted, Undecryptable (a KMS
// error: read again [WithoutExecutionData]). The client does not retry
// what no retry changes (4xx, KMS errors). [Denials] wraps a client so
// that a function whose executions the credentials' policy denies is
// asked a few times, not once per execution.
package extract
