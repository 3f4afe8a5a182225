package peakrss

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// TimeBin is GNU time.
const TimeBin = "/usr/bin/time"

// Cmd is a command run under GNU time.
type Cmd struct {
	*exec.Cmd
	report string
}

// Command is name with args, run under GNU time, which writes the peak RSS
// into a file under dir.
func Command(dir, name string, args ...string) *Cmd {
	report := filepath.Join(dir, fmt.Sprintf("peak-rss-%d", os.Getpid()))
	return &Cmd{Cmd: exec.Command(TimeBin, append([]string{"-o", report, "-f", "peak-rss-kib %M", name}, args...)...), report: report}
}

// Peak is the command's peak RSS in bytes, once it has run.
func (c *Cmd) Peak() (int64, error) {
	b, err := os.ReadFile(c.report)
	if err != nil {
		return 0, fmt.Errorf("peak rss: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "peak-rss-kib "); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss: %q: %w", line, err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("peak rss: no figure in %q", b)
}
