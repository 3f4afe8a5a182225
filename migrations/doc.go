// Package migrations holds the Postgres schema's migrations, embedded in the
// binary, and applies them with jackc/tern: each migration in its own
// transaction, under an advisory lock that a second migrator waits for (at
// most LockTimeout), recorded in SCHEMA.schema_version.
//
// The SQL files are templates: {{.schema}} is the target schema, quoted as
// an identifier. A migration never changes once released; a new column is a
// new migration (and an entry in the CHANGELOG).
package migrations
