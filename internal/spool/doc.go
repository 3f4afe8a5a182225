// Package spool writes content that a function streams into a file,
// through a buffer, and closes the file (or, with Fill, leaves it open to
// be read back): the way a manifest of millions of
// executions reaches disk without being held in memory (a run's discovered
// manifest, one read from standard input or S3, etl discover --output).
package spool
