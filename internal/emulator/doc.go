// Package emulator is a local stand-in for the Lambda durable-execution
// API, for tests, benchmarks and the demo: GetDurableExecutionState (with a
// checkpoint token), and GetDurableExecution, GetDurableExecutionHistory and
// ListDurableExecutionsByFunction (without one), with ListFunctions,
// ListVersionsByFunction and ListAliases for discovery. An execution's
// history is the truth its state derives from: folding the history gives
// the state back, as far as history can tell. Histories carry the shapes
// AWS's producers write: retried steps, invocation records (one per
// invocation: one more after each suspension; with an empty Error in every
// other execution, as AWS's JavaScript test server writes),
// a next-attempt delay of 0 on a step's last event in every other
// operation (AWS's Python testing server), wait-for-condition checks not
// met yet as StepSucceeded with a delay (AWS's recorded histories),
// unknown event types; and, with [WithFutureMembers], members the SDK does
// not know.
//
// The state operation:
// It speaks the real restJson1 wire form: GET
// /2025-12-01/durable-executions/{DurableExecutionArn}/state with the query
// parameters CheckpointToken, Marker and MaxItems; a 200 body of
// {"Operations":[...],"NextMarker":"..."} whose absent members are omitted
// (never null) and whose timestamps are epoch seconds with fractional
// milliseconds; errors as an HTTP status, an x-amzn-errortype header and a
// JSON body with the message under the member name the service model gives
// each exception. MaxItems defaults to 100 and accepts 0..1000; markers are
// opaque, signed, bound to their ARN and (optionally) expire.
//
// Executions come from [Generate] (realistic, seeded, built lazily so that an
// execution of a million operations costs no memory) or [Fixed] (a given list
// of operations). Knobs for latency and injected faults (throttling with
// Retry-After, 5xx, connection resets and clean cuts mid-body) serve the
// reliability tests and benchmarks.
package emulator
