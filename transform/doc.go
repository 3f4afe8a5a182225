// Package transform turns the API's operations into archive rows.
//
// [Snapshot] follows one execution's pages in order: [Snapshot.Add] turns each
// page's operations into [schema.Operation] rows (seq counts across pages),
// and [Snapshot.Finish] yields the [schema.Execution] row: the EXECUTION
// operation's status, times and input, the counts, the content hash and the
// partition date. [Reconstruct] is the inverse of the row mapping; the tests
// use it to prove that nothing the SDK hands over is lost.
//
// # Details
//
// An operation carries at most one details object in practice; detail_kind
// names it (execution, context, step, wait, callback, chained_invoke), or is
// null when there is none. Each details object's own members have their own
// columns; Result and Error, which four of them share, fill the result and
// error_* columns.
//
// Should an operation carry several details objects, detail_kind lists them
// all, comma-separated, the one holding Result or Error first and the rest in
// the order above, so the row still keeps everything. When more than one of
// them holds a Result or an Error, or an Error object has no members at all
// (it would read back as no error), the row cannot hold the operation
// without loss: Add returns an [*UnrepresentableError] naming the operation,
// and the caller fails that execution with it rather than archive a lossy
// copy.
package transform
