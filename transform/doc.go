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
// all, comma-separated, the one whose Result and Error fill the result and
// error_* columns first and the rest in the order above. Nothing is ever
// refused: what the typed columns cannot hold (an Error object with no
// members, which they would read back as no error; a Result or Error on a
// second details object; a missing Id) goes to overflow_json as JSON in the
// API's member names (see [Overflow]), null in the normal case.
// [Reconstruct] reads both back into the operation the SDK handed over.
package transform
