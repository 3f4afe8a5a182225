package spool_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestWriteFileKilled: a process killed outright while writing leaves
// the file as it was and nothing beside it (Linux: elsewhere the
// documented path+".tmp" stays).
func TestWriteFileKilled(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "manifest.jsonl")
		if existing {
			if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "SPOOL_TEST_HANG_WRITING="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		cmd.Process.Kill()
		cmd.Wait()
		if line != "writing\n" {
			t.Fatalf("the child said %q", line)
		}
		want := []string(nil)
		if existing {
			want = []string{"manifest.jsonl"}
			if got, _ := os.ReadFile(path); string(got) != "old\n" {
				t.Errorf("the killed write changed the file: %d bytes", len(got))
			}
		}
		if n := names(t, dir); !slices.Equal(n, want) {
			t.Errorf("existing=%v: the killed write left %v", existing, n)
		}
	}
}
