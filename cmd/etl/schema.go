package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/schema"
)

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:      "schema",
		Usage:     "print the tables' schema as Athena DDL, Postgres DDL or Parquet",
		ArgsUsage: "athena|postgres|parquet",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "location", Usage: "athena: the archive's s3://BUCKET/PREFIX", EnvVars: []string{"ETL_LOCATION"}, Value: "s3://BUCKET/PREFIX"},
			&cli.StringFlag{Name: "database", Usage: "athena: the database to create the tables in", EnvVars: []string{"ETL_DATABASE"}},
			&cli.StringFlag{Name: "pg-schema", Usage: "postgres: the schema to create the tables in", EnvVars: []string{"ETL_PG_SCHEMA"}, Value: schema.DefaultPostgresSchema},
		},
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			switch c.Args().First() {
			case "athena":
				fmt.Fprint(w, schema.AthenaDDL(c.String("database"), c.String("location")))
			case "postgres":
				fmt.Fprint(w, schema.PostgresDDL(c.String("pg-schema")))
			case "parquet":
				for i, t := range schema.Tables() {
					if i > 0 {
						fmt.Fprintln(w)
					}
					fmt.Fprintf(w, "-- %s: %s/dt=YYYY-MM-DD/*.parquet\n", t.Name, t.Name)
					fmt.Fprintln(w, t.ParquetSchema().String())
				}
			default:
				return usageError("schema: want athena, postgres or parquet, got %q", c.Args().First())
			}
			return nil
		},
	}
}
