package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/schema"
)

// schemaCommand prints the tables' definitions. Each form is a subcommand, so
// that its flags may follow it: etl schema athena --location s3://b/p.
func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:      "schema",
		Usage:     "print the tables' schema as Athena DDL, Postgres DDL or Parquet",
		ArgsUsage: "athena|postgres|parquet",
		Action: func(c *cli.Context) error {
			return usageError("schema: want athena, postgres or parquet, got %q", c.Args().First())
		},
		Subcommands: []*cli.Command{
			{
				Name:  "athena",
				Usage: "CREATE EXTERNAL TABLE statements with partition projection on dt, and the _latest views",
				Description: "Athena runs one statement a query: --out-dir writes each to a file of its own, numbered in the\n" +
					"order they must run (the database, the tables, then the views).",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "location", Usage: "the archive's `s3://BUCKET/PREFIX`", EnvVars: env("location"), Value: "s3://BUCKET/PREFIX"},
					&cli.StringFlag{Name: "database", Usage: "the Athena `DATABASE` to create the tables in (created if missing)", EnvVars: env("database")},
					&cli.StringFlag{Name: "out-dir", Usage: "write each statement to a file of its own in `DIR` (NN-NAME.sql), instead of all to standard output", EnvVars: env("out-dir")},
				},
				Action: athenaSchema,
			},
			{
				Name:  "postgres",
				Usage: "CREATE TABLE statements",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "pg-schema", Usage: "the Postgres `SCHEMA` to create the tables in", EnvVars: env("pg-schema"), Value: schema.DefaultPostgresSchema},
				},
				Action: func(c *cli.Context) error {
					fmt.Fprint(c.App.Writer, schema.PostgresDDL(c.String("pg-schema")))
					return nil
				},
			},
			{
				Name:  "parquet",
				Usage: "the Parquet schema of each table's files",
				Action: func(c *cli.Context) error {
					for i, t := range schema.Tables() {
						if i > 0 {
							fmt.Fprintln(c.App.Writer)
						}
						fmt.Fprintf(c.App.Writer, "-- %s/dt=YYYY-MM-DD/*.parquet\n%s\n", t.Name, t.ParquetSchema())
					}
					return nil
				},
			},
		},
	}
}

// athenaSchema prints (or writes to --out-dir) the Athena statements, after
// checking that --location and --database make valid DDL: a location
// without s3:// (a local path given by mistake) or a name that breaks its
// quotes is a usage error, not a statement Athena refuses later.
func athenaSchema(c *cli.Context) error {
	location, database := c.String("location"), c.String("database")
	if bucket, _, _ := strings.Cut(strings.TrimPrefix(location, "s3://"), "/"); !strings.HasPrefix(location, "s3://") || bucket == "" {
		return usageError("schema athena: --location %q: want s3://BUCKET/PREFIX, where the archive's Parquet is", location)
	}
	if strings.ContainsAny(database, "`\".; \t\n") {
		return usageError("schema athena: --database %q: want a name of letters, digits and underscores", database)
	}
	dir := c.String("out-dir")
	if dir == "" {
		fmt.Fprint(c.App.Writer, schema.AthenaDDL(database, location))
		return nil
	}
	statements := schema.AthenaStatements(database, location)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageError("schema athena: --out-dir: %v", err)
	}
	// A statement an earlier write numbered otherwise (with or without
	// --database) would run twice: files named for a statement go first.
	// The folder's other files, a user's own, stay.
	for _, s := range schema.AthenaStatements("database", location) {
		stale, _ := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-"+s.Name+".sql"))
		for _, f := range stale {
			if err := os.Remove(f); err != nil {
				return usageError("schema athena: --out-dir: %v", err)
			}
		}
	}
	for i, s := range statements {
		name := filepath.Join(dir, fmt.Sprintf("%02d-%s.sql", i+1, s.Name))
		if err := os.WriteFile(name, []byte(s.SQL), 0o644); err != nil {
			return usageError("schema athena: --out-dir: %v", err)
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "%d statements written to %s, one a file: run them in the order of their names\n", len(statements), dir)
	return nil
}
