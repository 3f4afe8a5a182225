//go:build unix

package load

import (
	"errors"
	"syscall"
)

// processAlive tells whether a process of this host has the ID pid.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
