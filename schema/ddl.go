package schema

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresSchema is the Postgres schema the tables live in unless the
// user names another.
const DefaultPostgresSchema = "durable_archive"

// primaryKeys are the Postgres keys: a later snapshot updates the rows it
// contains.
var primaryKeys = map[string][]string{
	"operations": {"execution_arn", "operation_id"},
	"executions": {"execution_arn"},
}

// PrimaryKey is the table's key in Postgres.
func (t *Table) PrimaryKey() []string { return primaryKeys[t.Name] }

// PostgresDDL is CREATE TABLE statements for both tables in pgSchema, every
// identifier quoted.
func PostgresDDL(pgSchema string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", quote(pgSchema))
	for _, t := range Tables() {
		fmt.Fprintf(&b, "\nCREATE TABLE IF NOT EXISTS %s (\n", pgx.Identifier{pgSchema, t.Name}.Sanitize())
		for _, c := range t.Columns {
			null := ""
			if !c.Nullable {
				null = " NOT NULL"
			}
			fmt.Fprintf(&b, "    %s %s%s,\n", quote(c.Name), c.PostgresType(), null)
		}
		keys := make([]string, len(t.PrimaryKey()))
		for i, k := range t.PrimaryKey() {
			keys[i] = quote(k)
		}
		fmt.Fprintf(&b, "    PRIMARY KEY (%s)\n);\n", strings.Join(keys, ", "))
	}
	return b.String()
}

// AthenaDDL is CREATE EXTERNAL TABLE statements for both tables, reading the
// Parquet archive under location (s3://BUCKET/PREFIX), partitioned by dt with
// partition projection so that no partition needs registering.
func AthenaDDL(database, location string) string {
	location = strings.TrimRight(location, "/")
	prefix := ""
	if database != "" {
		prefix = "`" + database + "`."
	}
	var b strings.Builder
	for i, t := range Tables() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s`%s` (\n", prefix, t.Name)
		for j, c := range t.Columns {
			sep := ","
			if j == len(t.Columns)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "  `%s` %s%s\n", c.Name, c.AthenaType(), sep)
		}
		loc := location + "/" + t.Name + "/"
		fmt.Fprintf(&b, `)
PARTITIONED BY (`+"`dt`"+` string)
STORED AS PARQUET
LOCATION '%[1]s'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.dt.type'='date',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.range'='2025-01-01,NOW',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'storage.location.template'='%[1]sdt=${dt}/');
`, loc)
	}
	return b.String()
}

func quote(id string) string { return pgx.Identifier{id}.Sanitize() }
