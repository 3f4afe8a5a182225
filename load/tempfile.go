package load

import (
	"errors"
	"os"
)

// tempFile is a scratch file only this process reads (a stage's or the
// partition buffer's spill): unlinked as soon as it is made where the
// system allows, so that a killed run leaves nothing of it behind (the
// kernel frees it with the process; a named one would wait under
// _incoming for the day-old sweep), else removed when closed.
type tempFile struct {
	*os.File
	path string // "" once unlinked
}

// createTemp makes a tempFile under dir (os.CreateTemp's pattern).
func createTemp(dir, pattern string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	t := &tempFile{File: f, path: f.Name()}
	if os.Remove(t.path) == nil {
		t.path = ""
	}
	return t, nil
}

// Close closes the file and removes it if it still has a name.
func (t *tempFile) Close() error {
	err := t.File.Close()
	if t.path != "" {
		err = errors.Join(err, os.Remove(t.path))
	}
	return err
}
