// Package spool writes content that a function streams into a file,
// through a buffer, and closes the file (or, with Fill, leaves it open to
// be read back): the way a manifest of millions of
// executions reaches disk without being held in memory (a run's discovered
// manifest, one read from standard input or S3). WriteFile does it for the
// files users read (etl discover --output, the reports): whole or not at
// all, and on Linux nothing left behind by a process killed while writing.
package spool
