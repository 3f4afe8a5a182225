// Package emulator is a local stand-in for the Lambda durable-execution
// state API, GetDurableExecutionState, for tests, benchmarks and the demo.
//
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
