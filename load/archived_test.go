package load_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/load"
)

// fileWriter writes a one-byte file at a path under dir (its folders
// made) and returns the file's path.
func fileWriter(t *testing.T, dir string) func(rel string) string {
	return func(rel string) string {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// TestOrphanOperationsFileRemoved: an operations file published without its
// executions sibling (a kill between the pair's two renames) is removed when
// its run is resumed, and only then.
func TestOrphanOperationsFileRemoved(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
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

// TestOrphansOfOtherShardsKept: the shards of one run share its id and
// publish at once; a shard that starts or resumes removes the operations
// and events files its own killed attempt left without their executions
// sibling, never another shard's (whose sibling may be a moment away), nor
// the unsharded run's, and the unsharded run none of the shards'.
func TestOrphansOfOtherShardsKept(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	mine := write("operations/dt=2026-01-01/part-r5-s1of2-ab12cd34ef56-00003.parquet")
	myEvents := write("events/dt=2026-01-01/part-r5-s1of2-ab12cd34ef56-00003.parquet")
	shard2 := write("operations/dt=2026-01-01/part-r5-s2of2-0123456789ab-00001.parquet")
	unsharded := write("events/dt=2026-01-02/part-r5-77aa77aa77aa-00001.parquet")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	archived := func(prefix string) {
		t.Helper()
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pd.Archived(context.Background(), "r5"); err != nil {
			t.Fatal(err)
		}
	}
	archived("part-r5-9f9f9f9f9f9f") // the unsharded run
	if !exists(mine) || !exists(shard2) {
		t.Fatal("the unsharded run removed a shard's files")
	}
	if exists(unsharded) {
		t.Error("the unsharded run's own orphan is still there")
	}
	archived("part-r5-s2of2-1e1e1e1e1e1e") // shard 2 resumes
	if !exists(mine) || !exists(myEvents) {
		t.Fatal("shard 2 removed shard 1's files")
	}
	if exists(shard2) {
		t.Error("shard 2's own orphan is still there")
	}
	archived("part-r5-s1of2-2d2d2d2d2d2d") // shard 1 resumes
	if exists(mine) || exists(myEvents) {
		t.Error("shard 1's own orphans are still there")
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
