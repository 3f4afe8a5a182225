// Package verify proves an archive holds what the Lambda API says now:
// etl verify's engine, apart from its flags and output (cmd/etl).
//
// Completeness: every listed execution (a Listing: discovery's, a
// manifest's or the archive's own) is in the archive, archived in a
// terminal state once the API says it ended, with the API's status and
// end time (GetDurableExecution, one call each). Content: for a sample (or all),
// the execution is read again by the source it was archived with
// (GetDurableExecutionState with its token, else its history) through
// the same transform a run uses, and every row is compared with the
// archive's newest snapshot (load.SnapshotReader), column by column; the
// first difference is named. An execution whose archived rows are too
// many to hold is compared as a stream of row digests (stream.go), when
// the reader can stream (load.RowStreamer). One the API can no longer
// compare (past its retention, or gone), or one drawn for the sample that
// cannot be compared (running, or archived through state with no token),
// is checked against its own executions row instead: its archived rows'
// counts and content hash (selfcheck.go).
//
// InRounds checks a listing in rounds (Options.RoundSize) so that memory
// follows a round, not the account; Check is one round. Both write what
// they find into a Report, never fail for one execution (its error is in
// Report.Errors), and return an error only when the archive cannot be
// read at all. NewCallGuard stops a verify whose credentials are refused
// or whose API cannot be reached, through the context's cause.
//
// Tested here for its parts (chunks, read ahead, older forms, the
// report's lines) and end to end in cmd/etl (verify_test.go and others),
// which archive the emulator's executions into real archives (a folder,
// MinIO, Postgres), alter them, and run etl verify, or InRounds and Check
// on them.
package verify
