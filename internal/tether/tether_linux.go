package tether

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd so that the kernel sends it sig when this process dies
// (PR_SET_PDEATHSIG; set after cmd.SysProcAttr's credentials, which would
// clear it). Linux sends the signal when the thread that started the
// child ends, and Go ends a thread only when a goroutine locked to it
// returns: so cmd is started from a goroutine locked to its thread that
// never returns (one parked thread per server, for the life of the
// process).
func Start(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		select {}
	}()
	return <-started
}
