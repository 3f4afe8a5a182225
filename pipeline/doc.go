// Package pipeline runs the archive job: it feeds the manifest's executions
// to workers, each of which drains one execution (extract), maps its pages to
// rows (transform) and hands them to the loader (load), committing the
// execution once its last page is in.
//
// An execution that fails (the API refuses it, retries run out, its
// operations cannot be represented) is aborted in every destination, recorded
// with its reason in the [Summary], and the run goes on; one whose calls ran
// out of attempts for a passing reason (extract.ExecutionError.Passing:
// throttled, a 5xx, no answer) is first tried once more after every other
// execution ([Config.RetryFailedAfter]). A destination that
// fails stops the run: Run returns a [*DestinationError] after closing the
// loader, which publishes only what was committed before the failure. A
// destination's transient failure (load.Transient: a database restarting)
// is first met by archiving the execution again from the start, up to
// [Config.DestinationRetries] times with a backoff.
//
// Two failures say every execution left would fail alike, and stop the run
// at once, the executions in flight abandoned: the AWS credentials refused
// ([*CredentialsError]), and the API unreachable for
// [Config.UnreachableAfter] executions in a row ([*UnreachableError]).
//
// When the manifest gives start times (discovery's does, oldest first),
// the run counts the executions expected on each start date and, once the
// last of a date is done, tells a loader that implements
// load.PartitionFinisher, which can then publish that date during the run.
package pipeline
