//go:build !linux

package tether

import (
	"os/exec"
	"syscall"
)

// Start starts cmd: only Linux signals a child when its parent dies, so
// elsewhere a test process killed outright leaves the server running.
func Start(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Start() }
