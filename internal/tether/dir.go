package tether

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TempDir makes a temporary folder for a server's files, named for this
// process (prefix-PID-*), having first removed the folders of the same
// prefix that processes no longer running left: a test process killed
// outright takes its servers with it (Start) but runs no cleanup, so
// without this each such kill left a cluster's or a bucket's files in
// the temporary directory. A folder whose process cannot be told dead
// (another user's, or one of another form) is left alone.
func TempDir(prefix string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-*"))
	for _, d := range dirs {
		pid, ok := ownerPID(filepath.Base(d), prefix)
		if ok && pid != os.Getpid() && gone(pid) {
			os.RemoveAll(d)
		}
	}
	return os.MkdirTemp("", prefix+"-"+strconv.Itoa(os.Getpid())+"-*")
}

// ownerPID is the process id in a folder name made by TempDir.
func ownerPID(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}
