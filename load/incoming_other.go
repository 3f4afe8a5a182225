//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package load

import "os"

// lockFile cannot lock here: a loader's files in _incoming are then left to
// StaleIncomingAge alone.
func lockFile(f *os.File) bool { return false }

// lockState cannot tell here.
func lockState(path string) int { return lockUnknown }
