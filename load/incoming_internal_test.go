package load

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestKilledLoadersFilesRemoved: a loader opened on a local destination
// removes at once the files in _incoming of a loader whose lock no process
// holds (killed: the kernel lets a dead process's locks go as it closes
// its files), and leaves those of a live loader, and an older etl's files
// younger than StaleIncomingAge (TestStaleIncomingFilesRemoved: older
// ones).
func TestKilledLoadersFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	incoming := filepath.Join(dir, IncomingDir)
	if err := os.MkdirAll(incoming, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(s *localSink, name string) *localFile {
		t.Helper()
		f, err := s.create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("PAR1 half a file")); err != nil {
			t.Fatal(err)
		}
		lf := f.(*localFile)
		if err := lf.buf.Flush(); err != nil {
			t.Fatal(err)
		}
		return lf
	}
	killed, live := &localSink{dir: dir}, &localSink{dir: dir}
	dead := write(killed, "events/dt=2026-01-01/part-killed-00001.parquet")
	write(killed, "executions/dt=2026-01-01/part-killed-00001.parquet")
	kept := write(live, "events/dt=2026-01-01/part-live-00001.parquet")
	if killed.owner == "" || live.owner == "" || killed.owner == live.owner {
		t.Fatalf("owners %q and %q: this file system cannot lock, or two sinks share one", killed.owner, live.owner)
	}
	older := filepath.Join(incoming, ".part-older-00001.parquet") // an older etl's, being written
	// A loader of another host, whose lock this host may not see, and
	// one of it untouched for longer than StaleIncomingAge.
	elsewhere := []string{ownerPrefix + "elsewhere", ownerMark + "elsewhere.events~dt-2026-01-01~part-elsewhere-00001.parquet"}
	stale := []string{ownerPrefix + "stale", ownerMark + "stale.events~dt-2026-01-01~part-stale-00001.parquet"}
	for _, name := range append(append([]string{filepath.Base(older)}, elsewhere...), stale...) {
		if err := os.WriteFile(filepath.Join(incoming, name), []byte("another-host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-StaleIncomingAge - time.Hour)
	for _, name := range stale {
		os.Chtimes(filepath.Join(incoming, name), old, old)
	}
	dead.f.Close()
	killed.lock.Close() // as the process's end would

	if _, err := NewParquetDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(incoming)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := append([]string{filepath.Base(older), filepath.Base(kept.tmp), ownerPrefix + live.owner}, elsewhere...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("_incoming holds %v, want %v (the killed loader's files gone, and another host's untouched for a day; the live one's, another host's and the older etl's kept)", got, want)
	}
	for _, name := range elsewhere {
		os.Remove(filepath.Join(incoming, name))
	}

	// The live loader publishes its file; released, it leaves nothing.
	if _, err := kept.publish(); err != nil {
		t.Fatal(err)
	}
	live.release()
	os.Remove(older)
	if entries, _ := os.ReadDir(incoming); len(entries) != 0 {
		t.Errorf("left in _incoming: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "events", "dt=2026-01-01", "part-live-00001.parquet")); err != nil {
		t.Errorf("the live loader's file was not published: %v", err)
	}
}
