// Package extract reads the manifest of executions to archive and drains
// each execution's state, page by page, from GetDurableExecutionState
// through the AWS SDK for Go v2.
//
// [OpenManifest] checks the whole manifest first (so a bad line stops the run
// before anything is fetched) and then streams its entries through a
// [Manifest] iterator (Next/Entry/Err); duplicate ARNs come out once.
// [NewClient] builds the SDK client from the standard AWS configuration
// chain. [Drain] walks one execution's pages with the SDK's paginator and
// hands each page to a callback, so memory holds the pages in flight and
// never a whole execution. A failure that belongs to one execution comes back
// as an [*ExecutionError], whose Reason is safe to log and report: checkpoint
// tokens never appear in errors.
package extract
