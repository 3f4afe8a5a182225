package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is -update, registered in every test binary that compares.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the output of now")

// Compare fails t, with a diff line by line, when got differs from the file
// at path (relative to the package's folder, under testdata/), or rewrites
// the file with got under -update. A missing file fails, naming -update.
func Compare(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")); diff != "" {
		t.Errorf("%s differs (-want +got, by line); if the change is intended, run go test with -update and review the diff:\n%s", path, diff)
	}
}
