//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package load

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes f's exclusive lock, held until f is closed or the process
// ends, however it ends; false when the file system cannot lock.
func lockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// lockState tells whether a process holds path's lock (lockFile): held,
// free, or unknown when it cannot tell (the file gone, or no locks on its
// file system).
func lockState(path string) int {
	// Opened for writing: a network file system may grant an exclusive
	// lock only to a file open for writing.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return lockUnknown
	}
	defer f.Close() // releases the lock, should it have been taken
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return lockFree
	case errors.Is(err, syscall.EWOULDBLOCK):
		return lockHeld
	}
	return lockUnknown
}
