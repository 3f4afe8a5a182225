// Package discovery finds the executions to archive when the user names
// functions rather than executions: the functions (named, or every
// durable function of the region), then each one's executions through
// [extract.Discover] (every version and alias), several functions at
// once, into a [List] that holds millions of executions in about 65
// bytes each (the ARNs in a temporary file). The list becomes the run's
// manifest ([Manifest], oldest first), verify's listing, and, through a
// [Watch] that follows the run, the report's per-function account and
// its retention warning ([Watch.AtRisk], [HistoryExpires]).
//
// Flow: Discover -> List -> Manifest -> pipeline.Run (Watch.Skip,
// Watch.Done, Watch.Described) -> Watch.Functions, Watch.AtRisk.
//
// A function whose listing fails is noted in its [Function] and the
// others are listed all the same; only a named function that does not
// exist, refused credentials and the context stop a discovery. The
// caller turns those into exit codes and messages.
package discovery
