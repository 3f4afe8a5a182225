package s3test

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startTied starts cmd so that the kernel kills it when this process dies,
// however it dies (a test binary killed by its -timeout runs no cleanup,
// and the server would outlive it). Linux sends the parent-death signal
// when the thread that started the child ends, and Go ends a thread only
// when a goroutine locked to it returns: so cmd is started from a
// goroutine locked to its thread that never returns (one parked thread
// per server, for the life of the test process).
func startTied(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		select {}
	}()
	return <-started
}
