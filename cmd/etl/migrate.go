package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/migrations"
	"github.com/durable-etl/durable-etl/schema"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:   "migrate",
		Before: summaryOnly,
		Usage:  "apply the embedded Postgres migrations (tables, indexes, audit views)",
		Description: `Creates the schema if needed and applies every pending migration, each in its
own transaction. Two concurrent migrations are safe: the second waits for the
first, then finds nothing to do.

  etl migrate --dest postgres://user@host:5432/db?sslmode=require`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dest", Usage: "the database `URL` (postgres://...)", EnvVars: env("dest"), Required: true},
			&cli.StringFlag{Name: "pg-schema", Usage: "the Postgres `SCHEMA`", EnvVars: env("pg-schema"), Value: schema.DefaultPostgresSchema},
		},
		Action: func(c *cli.Context) error {
			d, err := load.ParseDest(c.String("dest"))
			if err != nil {
				return usageError("--dest: %v", err)
			}
			if d.Kind != load.DestPostgres {
				return usageError("--dest %s: migrate needs a postgres:// URL", d)
			}
			ctx, cancel := context.WithTimeout(c.Context, migrations.LockTimeout+time.Minute)
			defer cancel()
			conn, err := pgx.Connect(ctx, d.URL)
			if err != nil {
				return usageError("--dest %s: %s", d, redactedErr(err, d.URL))
			}
			defer conn.Close(context.Background())
			var applied []string
			if err := migrations.Migrate(ctx, conn, c.String("pg-schema"), migrations.OnApply(func(_ int32, name string) { applied = append(applied, name) })); err != nil {
				code := exitFailed
				if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == pgerrcode.InsufficientPrivilege {
					code = exitUsage // the role's rights are configuration, as the URL is
				}
				return &exitError{code: code, err: fmt.Errorf("%s: %s", d, redactedErr(err, d.URL))}
			}
			if len(applied) == 0 {
				fmt.Fprintf(c.App.Writer, "schema %q of %s was up to date: nothing applied\n", c.String("pg-schema"), d)
			} else {
				fmt.Fprintf(c.App.Writer, "schema %q of %s is up to date: applied %s\n", c.String("pg-schema"), d, strings.Join(applied, ", "))
			}
			return nil
		},
	}
}

func redactedErr(err error, url string) string { return load.RedactError(err, url) }
