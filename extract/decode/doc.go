// Package decode decodes the Lambda durable API's two paged responses,
// GetDurableExecutionState and GetDurableExecutionHistory, straight from
// the response body into the SDK's own output types, about twice as fast
// as the SDK's generic schema-driven decoder and with a fraction of its
// allocations: those pages are most of what a run reads, and decoding them
// was half of a run's CPU.
//
// [Protocol] wraps the client's protocol (lambda.Options.Protocol). The
// decoder is built from the SDK's schemas and Go types when the client is
// made, and it takes only what it decodes exactly as the SDK does: member
// names, null members and null list elements, unknown members skipped,
// escapes and invalid UTF-8, epoch-second timestamps to the millisecond.
// Anything else (a malformed or unusual body, a member given twice, an
// escaped member name) is declined and handed whole to the SDK, so a
// caller never sees a value or an error the SDK would not have given. A
// differential test and a fuzz target hold it to that.
//
// What the SDK skips, the protocol can report: under a context from
// [WithUnknown], a response's members unknown to the SDK's model
// (GetDurableExecution's too) are handed back as JSON, by record, for the
// archive to keep ([Unknown]).
package decode
