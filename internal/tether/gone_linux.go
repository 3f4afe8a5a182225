package tether

import (
	"errors"
	"syscall"
)

// gone reports whether no process has id pid (signal 0 finds none).
// On Linux only: there the servers die with their test process (Start),
// so its folder is nobody's once it is gone.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
