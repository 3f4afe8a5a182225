// Package schema is the single definition of the archive's three tables:
// operations, executions and events.
//
// The row structs [Operation], [Execution] and [Event] are the source of
// truth: each field's parquet tag names the column (snake_case, as Athena
// lower-cases names anyway), its Go type gives the column's type, a pointer
// or an "optional" tag makes it nullable, its doc tag is the one-line
// description, a large tag marks payload text and a data tag the columns a
// read without the execution's data leaves out ([DataKind]). Each table is declared
// with its key and which column orders a key's duplicates ([Declare]). Everything else is derived from them: the
// column lists ([Operations], [Executions], [Events]), the Parquet schema
// ([Table.ParquetSchema]), writer ([Table.NewParquetWriter]) and reader
// ([Reader]: column by column into the row structs), the Postgres DDL and the
// Athena DDL, row comparison ([DiffRow]), and the type-erased batches
// loaders take ([Rows], [RowsOf]), so that a loader writes any declared
// table alike. A
// test holds the derived column lists against the product contract.
package schema
