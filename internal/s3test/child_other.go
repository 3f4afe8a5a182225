//go:build !linux

package s3test

import "os/exec"

// startTied starts cmd: only Linux kills a child when its parent dies, so
// elsewhere a test binary killed outright leaves the server running.
func startTied(cmd *exec.Cmd) error { return cmd.Start() }
