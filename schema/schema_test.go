package schema_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/schema"
)

// contractColumn is one column as the product contract lists it.
type contractColumn struct {
	name, typ, pgType string
	nullable          bool
}

// parseContract reads the column tables of contract.md: the operations table
// has rows "| name | parquet / athena | postgres | null? | from |", the
// executions table "| names, ... | type | null? | meaning |".
func parseContract(t *testing.T, path string) map[string][]contractColumn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open contract: %v", err)
	}
	defer f.Close()
	out := map[string][]contractColumn{}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			table = strings.TrimSuffix(strings.Fields(line)[1], ":")
			continue
		}
		if table == "" || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| column") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch table {
		case "operations", "events":
			typ := strings.TrimSpace(strings.Split(cells[1], "/")[0])
			for _, name := range strings.Split(cells[0], ",") {
				out[table] = append(out[table], contractColumn{name: strings.TrimSpace(name), typ: typ, pgType: cells[2], nullable: cells[3] == "yes"})
			}
		case "executions":
			for _, name := range strings.Split(cells[0], ",") {
				out[table] = append(out[table], contractColumn{name: strings.TrimSpace(name), typ: cells[1], nullable: cells[2] == "yes"})
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// contractType is the contract's type word for a column ("string", "int64",
// "int32", "boolean", "timestamp", "list<string>").
func contractType(c schema.Column) string {
	return [...]string{schema.String: "string", schema.Int32: "int32", schema.Int64: "int64", schema.Bool: "boolean", schema.Timestamp: "timestamp", schema.StringList: "list<string>"}[c.Kind]
}

// proposed are columns of ours that the shared contract may not list yet:
// additive, recorded in the CHANGELOG and in testdata/contract.md. Where a
// contract lacks one, the comparison skips it.
var proposed = map[string]bool{"overflow_json": true, "event_count": true, "last_event_id": true, "execution_data_included": true,
	"reason": true, "request_time": true, "execution_timeout_paused": true, // ExecutionPaused / ExecutionResumed (November 2026)
	"expected_execution_timeout_time": true, "pause_request_time": true, "pause_execution_timeout_paused": true, "pause_reason": true}

func TestSchemaMatchesContract(t *testing.T) {
	paths := []string{filepath.Join("testdata", "contract.md")}
	// The living contract sits beside the clone (CI and developers have it);
	// the copy in testdata keeps the test meaningful without it.
	if shared := filepath.Join("..", "..", "shared", "reference", "contract.md"); fileExists(shared) {
		paths = append(paths, shared)
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("CI: %s is missing", shared)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			want := parseContract(t, path)
			for _, table := range schema.Tables() {
				cols := want[table.Name]
				listed := map[string]bool{}
				for _, c := range cols {
					listed[c.name] = true
				}
				var columns []schema.Column
				for _, c := range table.Columns {
					if !proposed[c.Name] || listed[c.Name] {
						columns = append(columns, c)
					}
				}
				table := &schema.Table{Name: table.Name, Columns: columns}
				if len(cols) != len(table.Columns) {
					t.Errorf("%s: contract lists %d columns, schema has %d", table.Name, len(cols), len(table.Columns))
				}
				for i := 0; i < len(cols) && i < len(table.Columns); i++ {
					w, g := cols[i], table.Columns[i]
					if w.name != g.Name {
						t.Errorf("%s column %d: contract %q, schema %q", table.Name, i, w.name, g.Name)
						continue
					}
					if w.typ != contractType(g) {
						t.Errorf("%s.%s: contract type %q, schema %q", table.Name, g.Name, w.typ, contractType(g))
					}
					if w.pgType != "" && w.pgType != g.PostgresType() {
						t.Errorf("%s.%s: contract postgres type %q, schema %q", table.Name, g.Name, w.pgType, g.PostgresType())
					}
					if w.nullable != g.Nullable {
						t.Errorf("%s.%s: contract nullable=%v, schema %v", table.Name, g.Name, w.nullable, g.Nullable)
					}
				}
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestParquetSchemaFollowsAthenaRules(t *testing.T) {
	for _, table := range schema.Tables() {
		s := table.ParquetSchema().String()
		for _, bad := range []string{"NANOS", "MICROS", "isAdjustedToUTC=false", "INT(32,false)", "INT(64,false)", "int96"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: parquet schema contains %s:\n%s", table.Name, bad, s)
			}
		}
		for _, f := range table.ParquetSchema().Fields() {
			if f.Name() != strings.ToLower(f.Name()) {
				t.Errorf("%s: column %q is not lower case", table.Name, f.Name())
			}
			if f.Repeated() {
				t.Errorf("%s: column %q is a bare repeated field, not a 3-level LIST", table.Name, f.Name())
			}
		}
	}
	if s := schema.Operations.ParquetSchema().String(); !strings.Contains(s, "optional group error_stack_trace (LIST)") {
		t.Errorf("error_stack_trace is not an optional LIST:\n%s", s)
	}
}

func TestPostgresDDLQuotesSchema(t *testing.T) {
	ddl := schema.PostgresDDL(`we"ird`)
	if !strings.Contains(ddl, `CREATE SCHEMA IF NOT EXISTS "we""ird"`) || !strings.Contains(ddl, `"we""ird"."operations"`) {
		t.Fatalf("schema name not quoted:\n%s", ddl)
	}
	if !strings.Contains(ddl, `PRIMARY KEY ("execution_arn", "operation_id")`) {
		t.Fatalf("operations key missing:\n%s", ddl)
	}
}
