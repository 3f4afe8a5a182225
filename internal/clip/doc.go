// Package clip bounds the text that reaches a message, a log line or a
// report. Values come from manifests and from the API and can be megabytes
// long (nothing stops a manifest line from holding a 5 MB "ARN"); printed
// whole they drown a log and bloat a report. A clipped value keeps its first
// [Max] bytes and says how long it was.
package clip
