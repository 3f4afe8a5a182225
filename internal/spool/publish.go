package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes what write streams to path, which shows either its old
// content or the whole new one, never a part: the content goes to a file
// of its own in path's folder, is synced, and replaces path only once
// complete. On a failure path is left as it was and nothing else remains.
//
// Where the system can make a file with no name (Linux's O_TMPFILE), the
// content is written to one and named only when complete, so that a
// process killed outright (SIGKILL, the OOM killer) while writing leaves
// nothing behind; replacing an existing path then takes a name of its own
// for the two system calls between naming and renaming. Elsewhere the
// content goes through path+".tmp", which such a kill leaves (the next
// WriteFile to path overwrites it).
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := createUnnamed(filepath.Dir(path))
	if err != nil {
		return writeThroughTmp(path, write)
	}
	defer f.Close()
	if err := Fill(f, write); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := nameUnnamed(f, path); err == nil || !errors.Is(err, errNoName) {
		return err
	}
	// The file could not be named (no /proc, say): copy it.
	return writeThroughTmp(path, func(w io.Writer) error {
		_, err := io.Copy(w, io.NewSectionReader(f, 0, 1<<62))
		return err
	})
}

// errNoName is nameUnnamed's failure to give the unnamed file any name.
var errNoName = errors.New("the unnamed file cannot be named")

// replace names the complete file at from path, through a name of its own
// beside path (link makes it, never replacing a file) and a rename, the
// one atomic way to replace a file.
func replace(path string, link func(name string) error) error {
	var b [6]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(b[:]))
	if err := link(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeThroughTmp is WriteFile through a named temporary file, path+".tmp".
func writeThroughTmp(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = Fill(f, write)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
