//go:build !linux

package spool

import (
	"errors"
	"os"
)

// createUnnamed: only Linux makes files with no name; WriteFile goes
// through a named temporary file.
func createUnnamed(string) (*os.File, error) { return nil, errors.ErrUnsupported }

// nameUnnamed is never called where createUnnamed fails.
func nameUnnamed(*os.File, string) error { return errNoName }
