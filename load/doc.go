// Package load writes archive rows to their destinations.
//
// A [Loader] receives whole executions: [Loader.Begin] opens one, its
// [Execution] takes the rows of the child tables (operations, events) page by
// page, as [schema.Rows] (Write), and then either the executions row
// (Commit) or nothing (Abort). The loaders are table-generic: they write
// whatever tables schema/ declares, by their declared key and immutability. An execution is all or
// nothing in every destination: nothing of an aborted execution is ever
// visible, and a committed one is visible entirely once the loader
// publishes it. [Fanout] sends one extraction to several loaders.
//
// [Parquet] writes Athena-ready Parquet to a local directory or to S3 (see its
// documentation for the layout and the publication rules). [ParseDest] reads
// the --dest forms.
//
// Optional capabilities are asked through interfaces at run time: what a
// destination holds ([ArchivedReader], [SnapshotReader]), hints that free
// memory early ([PartitionFinisher], [TableEnder]), and one run at a time
// over the same functions ([Leaser]: Parquet keeps a record per live run
// under DEST/_runs/).
//
// A destination's failure that the same work may get past when tried again
// shortly (a database connection lost, a server restarting) carries a
// Transient() bool method; [Transient] asks for it. The pipeline then
// archives the execution again from the start, since nothing of it was
// kept. A Postgres destination's reads are made again alike; an S3
// destination's calls are retried by its client, and a download whose
// body breaks off is made again.
package load
