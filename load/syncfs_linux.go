package load

import (
	"os"

	"golang.org/x/sys/unix"
)

// sync makes everything written to the directory's filesystem durable with
// one syncfs(2): cheaper than an fsync per file when Close publishes
// hundreds.
func (s *localSink) sync() error {
	f, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
