package schema_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/internal/golden"
	"github.com/durable-etl/durable-etl/schema"
)

// TestDDLGolden holds the DDL users run (Athena's, Postgres's) to
// testdata/*.sql: a change to a column, a type or a view shows as a diff
// to review. go test ./schema -update rewrites them.
func TestDDLGolden(t *testing.T) {
	compareGolden(t, "athena.sql", schema.AthenaDDL("durable", "s3://my-archive/durable/"))
	compareGolden(t, "athena-no-database.sql", schema.AthenaDDL("", "s3://my-archive"))
	compareGolden(t, "postgres.sql", schema.PostgresDDL(schema.DefaultPostgresSchema))
}

// TestAthenaStatementsOneEach: Athena runs one statement a query, so each
// of AthenaStatements is exactly one (one semicolon, at its end), the
// database first, every table before any view, and each view after the
// table it reads.
func TestAthenaStatementsOneEach(t *testing.T) {
	st := schema.AthenaStatements("durable", "s3://b/p")
	if st[0].Name != "database" || !strings.HasPrefix(st[0].SQL, "CREATE DATABASE IF NOT EXISTS `durable`") {
		t.Fatalf("first statement %q: want the database", st[0].Name)
	}
	made := map[string]bool{}
	for i, s := range st {
		if strings.Count(s.SQL, ";") != 1 || !strings.HasSuffix(s.SQL, ";\n") {
			t.Errorf("statement %d (%s) is not one statement ending with ;", i, s.Name)
		}
		if table, ok := strings.CutSuffix(s.Name, "_latest"); ok && !made[table] {
			t.Errorf("view %s comes before its table", s.Name)
		}
		made[s.Name] = true
	}
	for _, tb := range schema.Tables() {
		if !made[tb.Name] || !made[tb.Name+"_latest"] {
			t.Errorf("table %s or its view missing", tb.Name)
		}
	}
	if len(schema.AthenaStatements("", "s3://b/p")) != len(st)-1 {
		t.Error("without a database, every statement but CREATE DATABASE")
	}
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, filepath.Join("testdata", name), got)
}
