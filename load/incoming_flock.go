//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package load

import (
	"os"
	"syscall"
)

// lockFile takes f's exclusive lock, held until f is closed or the process
// ends, however it ends; false when the file system cannot lock.
func lockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// lockHeld reports whether a process holds path's lock (lockFile); true
// when it cannot tell (the file gone, or no locks on its file system).
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close() // releases the lock, should it have been taken
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
}
