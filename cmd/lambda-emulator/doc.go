// Command lambda-emulator serves a local stand-in for the Lambda
// durable-execution API (GetDurableExecutionState, GetDurableExecution,
// GetDurableExecutionHistory, ListDurableExecutionsByFunction,
// ListVersionsByFunction, ListAliases, ListFunctions) with seeded, realistic
// executions of the durable functions orders, payments, shipping,
// notifications-ñ and inventory (and two functions that are not durable),
// and writes their manifest.
//
//	lambda-emulator -executions 300 -manifest m.jsonl -addr 127.0.0.1:9001
//	lambda-emulator -executions 300 -manifest m.jsonl -- etl run --manifest m.jsonl
//
// With a command after "--", it starts the command with
// AWS_ENDPOINT_URL_LAMBDA pointing at itself (and dummy credentials and a
// region, which the emulator does not check), waits for it, stops, and exits
// with the command's status. Without one, it serves until interrupted.
package main
