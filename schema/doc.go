// Package schema is the single definition of the archive's two tables,
// operations and executions.
//
// The row structs [Operation] and [Execution] are the source of truth: each
// field's parquet tag names the column (snake_case, as Athena lower-cases
// names anyway), its Go type gives the column's type, a pointer or an
// "optional" tag makes it nullable, and its doc tag is the one-line
// description. Everything else is derived from them by reflection: the
// column lists ([Operations], [Executions]), the Parquet schema
// ([Table.ParquetSchema]), the Postgres DDL and the Athena DDL. A test holds
// the derived column lists against the product contract.
package schema
