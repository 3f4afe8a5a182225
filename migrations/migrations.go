package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable is tern's version table, in the target schema.
const VersionTable = "schema_version"

// LockTimeout bounds how long Migrate waits for another migrator's lock.
const LockTimeout = 5 * time.Minute

// PendingError reports a schema that is behind the binary's migrations.
type PendingError struct {
	Schema          string
	Current, Latest int32
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("postgres schema %q is at migration %d of %d: run etl migrate --dest URL (or etl run --migrate)", e.Schema, e.Current, e.Latest)
}

func newMigrator(ctx context.Context, conn *pgx.Conn, schema string) (*migrate.Migrator, error) {
	quoted := pgx.Identifier{schema}.Sanitize()
	// tern runs RESET ALL after each migration, so the version table is named
	// in full rather than found through search_path. (For a name that needs
	// quoting, tern's check for the table misses it and it falls back on an
	// idempotent CREATE TABLE IF NOT EXISTS.)
	m, err := migrate.NewMigrator(ctx, conn, pgx.Identifier{schema, VersionTable}.Sanitize())
	if err != nil {
		return nil, err
	}
	m.Data = map[string]any{"schema": quoted}
	if err := m.LoadMigrations(files); err != nil {
		return nil, err
	}
	return m, nil
}

// Option configures Migrate.
type Option func(*options)

type options struct {
	onApply func(version int32, name string)
}

// OnApply has fn told of each migration Migrate applies, as it starts it
// (default: nobody is told).
func OnApply(fn func(version int32, name string)) Option {
	return func(o *options) { o.onApply = fn }
}

// Migrate creates schema if needed and applies every pending migration. Two
// concurrent callers are serialised: the second waits for the first (at most
// LockTimeout), then finds nothing to do. A failed migration is rolled back
// whole; those before it stay applied.
func Migrate(ctx context.Context, conn *pgx.Conn, schema string, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		var unique interface{ SQLState() string }
		// Two migrators creating the schema at once: one loses the race on the
		// catalog's unique index; the schema exists all the same.
		if !errors.As(err, &unique) || unique.SQLState() != pgerrcode.UniqueViolation {
			return fmt.Errorf("create schema %q: %w", schema, err)
		}
	}
	// A role's statement_timeout would cut short a migration of a large
	// archive (an index built over every row): lifted for the session's
	// migrations, as pg_dump does, and set again after.
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET lock_timeout = '%dms'; SET statement_timeout = 0", LockTimeout.Milliseconds())); err != nil {
		return err
	}
	m, err := newMigrator(ctx, conn, schema)
	if err != nil {
		return fmt.Errorf("migrate %q: %w", schema, err)
	}
	if o.onApply != nil {
		m.OnStart = func(version int32, name, direction, _ string) {
			if direction == "up" {
				o.onApply(version, name)
			}
		}
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %q: %w", schema, err)
	}
	_, err = conn.Exec(ctx, "RESET lock_timeout; RESET statement_timeout")
	return err
}

// Check returns a *PendingError when schema lacks migrations this binary
// has, and nil when it is up to date. It changes nothing.
func Check(ctx context.Context, conn *pgx.Conn, schema string) error {
	latest := int32(len(mustFind()))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2)",
		schema, VersionTable).Scan(&exists); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if !exists {
		return &PendingError{Schema: schema, Latest: latest}
	}
	var current int32
	if err := conn.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema, VersionTable}.Sanitize()).Scan(&current); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if current < latest {
		return &PendingError{Schema: schema, Current: current, Latest: latest}
	}
	return nil
}

func mustFind() []string {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		panic(err)
	}
	return names
}
