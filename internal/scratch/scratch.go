package scratch

import (
	"errors"
	"os"
)

// File is a scratch file: unlinked as soon as it is made where the system
// allows, so that a killed run leaves nothing of it behind (the kernel
// frees it with the process), else removed when closed.
type File struct {
	*os.File
	path string // "" once unlinked
}

// Create makes a scratch file under dir (os.CreateTemp's dir and pattern:
// "" is the system's temporary folder).
func Create(dir, pattern string) (*File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	t := &File{File: f, path: f.Name()}
	if os.Remove(t.path) == nil {
		t.path = ""
	}
	return t, nil
}

// Close closes the file and removes it if it still has a name.
func (t *File) Close() error {
	err := t.File.Close()
	if t.path != "" {
		err = errors.Join(err, os.Remove(t.path))
	}
	return err
}
