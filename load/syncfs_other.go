//go:build !linux

package load

import "syscall"

// syncFS makes everything written durable: sync(2) where syncfs(2) is
// missing.
func syncFS(dir string) error {
	syscall.Sync()
	return nil
}
