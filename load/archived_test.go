package load_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/load"
)

// TestOrphanOperationsFileRemoved: an operations file published without its
// executions sibling (a kill between the pair's two renames) is removed when
// its run is resumed, and only then.
func TestOrphanOperationsFileRemoved(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) string {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orphan := write("operations/dt=2026-01-01/part-r1-ab12-00003.parquet")
	other := write("operations/dt=2026-01-01/part-r2-cd34-00001.parquet")
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Archived(context.Background(), "r3"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("another run's files must be left alone")
	}
	if _, err := pd.Archived(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Error("the resumed run's orphan operations file is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("run r2's orphan was removed by r1's resume")
	}
}

func TestStaleIncomingFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, load.IncomingDir), 0o755)
	stale := filepath.Join(dir, load.IncomingDir, ".part-killed-00001.parquet")
	fresh := filepath.Join(dir, load.IncomingDir, ".part-running-00001.parquet")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	old := time.Now().Add(-load.StaleIncomingAge - time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := load.NewParquetDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a day-old leftover is still in _incoming")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a file another run may be writing was removed")
	}
}
