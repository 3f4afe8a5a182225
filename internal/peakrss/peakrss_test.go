package peakrss_test

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/durable-etl/durable-etl/internal/peakrss"
)

// TestPeakIsTheChilds: while this process holds 256 MiB, a child's rusage
// says it used as much (the vfork inheritance the package works around),
// and Peak says what the child itself used (sh allocates next to nothing).
func TestPeakIsTheChilds(t *testing.T) {
	held := make([]byte, 256<<20)
	for i := range held {
		held[i] = 1
	}
	plain := exec.Command("/bin/sh", "-c", "exit 0")
	if err := plain.Run(); err != nil {
		t.Fatal(err)
	}
	if rss := plain.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10; rss < 200<<20 {
		t.Logf("this kernel does not pass the parent's RSS to a child (%d MiB): the package is not needed here", rss>>20)
	}
	c := peakrss.Command(t.TempDir(), "/bin/sh", "-c", "exit 0")
	if err := c.Run(); err != nil {
		t.Fatalf("%s: %v", peakrss.TimeBin, err)
	}
	peak, err := c.Peak()
	if err != nil {
		t.Fatal(err)
	}
	if peak <= 0 || peak > 64<<20 {
		t.Errorf("peak RSS of sh: %d MiB", peak>>20)
	}
	_ = held[len(held)-1]
}
