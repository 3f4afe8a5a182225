// Package duckdb reads the archive back with an independent SQL engine,
// DuckDB, as Athena would: it lints every file's Parquet schema, builds the
// _latest views from the same SQL the Athena DDL uses, and runs the README's
// analytics queries against results computed from the source data. It is a
// module of its own so that DuckDB (cgo) never reaches the etl binary.
package duckdb
