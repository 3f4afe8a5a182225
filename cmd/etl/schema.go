package main

import (
	"fmt"

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
				Usage: "CREATE EXTERNAL TABLE statements with partition projection on dt",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "location", Usage: "the archive's `s3://BUCKET/PREFIX`", EnvVars: env("location"), Value: "s3://BUCKET/PREFIX"},
					&cli.StringFlag{Name: "database", Usage: "the Athena `DATABASE` to create the tables in", EnvVars: env("database")},
				},
				Action: func(c *cli.Context) error {
					fmt.Fprint(c.App.Writer, schema.AthenaDDL(c.String("database"), c.String("location")))
					return nil
				},
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
