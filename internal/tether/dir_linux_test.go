package tether

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestTempDirSweepsTheDead: TempDir removes the folders of its prefix
// whose process has ended, keeps those of live processes, other names
// and other prefixes, and makes its own named for this process.
func TestTempDirSweepsTheDead(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	mk := func(name string) string {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(p, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := mk("etl-x-" + strconv.Itoa(ended.Process.Pid) + "-123")
	kept := []string{
		mk("etl-x-" + strconv.Itoa(live.Process.Pid) + "-456"),
		mk("etl-x-789"),    // the old form: no process id
		mk("etl-xy-1-789"), // another prefix
		mk("etl-y-" + strconv.Itoa(ended.Process.Pid) + "-1"),
	}
	dir, err := TempDir("etl-x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the ended process's folder is still there (%v)", err)
	}
	for _, k := range kept {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if pid, ok := ownerPID(filepath.Base(dir), "etl-x"); !ok || pid != os.Getpid() || filepath.Dir(dir) != tmp {
		t.Errorf("made %s: owner %d %v", dir, pid, ok)
	}
}
