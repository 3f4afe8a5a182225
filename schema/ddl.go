package schema

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresSchema is the Postgres schema the tables live in unless the
// user names another.
const DefaultPostgresSchema = "durable_archive"

// PrimaryKey is the table's key in Postgres: its Key.
func (t *Table) PrimaryKey() []string { return t.Key }

// PostgresDDL is CREATE TABLE statements for every table in pgSchema, every
// identifier quoted.
func PostgresDDL(pgSchema string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", quote(pgSchema))
	for _, t := range Tables() {
		b.WriteString("\n" + t.PostgresCreate(pgSchema))
	}
	return b.String()
}

// PostgresCreate is the CREATE TABLE IF NOT EXISTS statement of t in
// pgSchema, with its key as the primary key.
func (t *Table) PostgresCreate(pgSchema string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", pgx.Identifier{pgSchema, t.Name}.Sanitize())
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
	return b.String()
}

// AthenaDDL is AthenaStatements one after the other, for a file to read or
// a tool that runs several statements.
func AthenaDDL(database, location string) string {
	var b strings.Builder
	for i, s := range AthenaStatements(database, location) {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s.SQL)
	}
	return b.String()
}

// A Statement is one SQL statement, ending with a semicolon and a newline,
// and a short name for it (the table or view it makes).
type Statement struct {
	Name string
	SQL  string
}

// AthenaStatements are the statements that make the archive queryable in
// Athena, in the order they must run (Athena runs one statement a query):
// CREATE DATABASE IF NOT EXISTS when database is given; CREATE EXTERNAL
// TABLE for every table, reading the Parquet archive under location
// (s3://BUCKET/PREFIX), partitioned by dt with partition projection so
// that no partition needs registering; and a view TABLE_latest of each
// (see LatestViewSQL).
func AthenaStatements(database, location string) []Statement {
	location = strings.TrimRight(location, "/")
	prefix, viewPrefix := "", ""
	var out []Statement
	if database != "" {
		prefix, viewPrefix = "`"+database+"`.", `"`+database+`".`
		out = append(out, Statement{Name: "database", SQL: fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`;\n", database)})
	}
	for _, t := range Tables() {
		var b strings.Builder
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
		out = append(out, Statement{Name: t.Name, SQL: b.String()})
	}
	for _, t := range Tables() {
		out = append(out, Statement{Name: t.Name + "_latest", SQL: fmt.Sprintf("CREATE OR REPLACE VIEW %s\"%s_latest\" AS\n%s;\n", viewPrefix, t.Name, LatestViewSQL(t, viewPrefix+`"`+t.Name+`"`))})
	}
	return out
}

func quote(id string) string { return pgx.Identifier{id}.Sanitize() }

// LatestViewSQL is the SELECT of the view that keeps, of table t, only the
// newest snapshot of each key (by extracted_at, then run_id), so that
// reruns and re-archived executions never double-count. from is the
// relation to read (the Athena table, or a read_parquet(...) call). The SQL
// is standard (double-quoted identifiers, row_number), for Athena (Trino)
// and DuckDB alike.
//
// The window is partitioned by dt as well as by the key, so that an engine
// can push a filter on dt below it and read only that partition's files
// (Trino pushes predicates on the window's partitioning columns only). An
// execution's dt is its start date, which does not change between
// snapshots, with one exception: a snapshot taken before the EXECUTION
// operation's start was known falls back on GetDurableExecution's start
// when the run read it (through history, or state with --history), else
// on the earliest operation start or the run date. Should a later
// snapshot land in another dt, the view keeps
// the newest snapshot of each partition, so that execution shows under both
// dates until `etl compact --keep latest` drops the older one.
func LatestViewSQL(t *Table, from string) string {
	cols := make([]string, 0, len(t.Columns)+1)
	for _, c := range t.Columns {
		cols = append(cols, `"`+c.Name+`"`)
	}
	cols = append(cols, `"`+PartitionKey+`"`)
	keys := make([]string, 0, len(t.PrimaryKey())+1)
	keys = append(keys, `"`+PartitionKey+`"`)
	for _, k := range t.PrimaryKey() {
		keys = append(keys, `"`+k+`"`)
	}
	list := strings.Join(cols, ", ")
	return fmt.Sprintf(`SELECT %s FROM (SELECT %s, row_number() OVER (PARTITION BY %s ORDER BY "extracted_at" DESC, "run_id" DESC) AS "snapshot_rank" FROM %s) WHERE "snapshot_rank" = 1`,
		list, list, strings.Join(keys, ", "), from)
}
