// Command etl archives AWS Lambda durable executions as Athena-ready
// Parquet (local or S3) and Postgres tables. Run "etl --help" for the
// commands.
//
// This package is the command line only: it reads and checks flags, builds
// the extract, transform and load parts from them (explicitly, no registries)
// and reports. Each command has its file:
//
//   - main.go: the app, exit codes (0, 1 for a run with failures, 2 for bad
//     usage found before anything is fetched) and one-line errors;
//   - run.go: etl run, its options and their checks, the run's client and
//     destinations, signals; discover.go: etl discover, the discovery
//     flags and discovery's errors as exit codes (the discovering is
//     package discovery's);
//   - verify.go: etl verify's flags, its listing (discovery's or a
//     manifest's), its summary, report, metrics and exit; the comparing
//     is package verify's;
//   - compact.go, migrate.go, schema.go: etl compact, migrate, schema;
//   - s3.go: S3 clients per bucket region; operate.go: shards and the
//     metrics textfile; progress.go: the progress bar or log line;
//     hugepages*.go: transparent huge pages for the heap on Linux.
//
// The tests run the real binary's code (run with arguments, stdout and
// stderr) against the emulator, a real Postgres and a real MinIO.
package main
