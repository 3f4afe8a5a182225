package spool

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// createUnnamed makes a file with no name in dir (O_TMPFILE), readable
// and writable; an error where the file system cannot.
func createUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// nameUnnamed gives f, made by createUnnamed, the name path: at once when
// path does not exist (linkat never replaces a file), else through a name
// of its own and a rename. errNoName when f cannot be linked at all (no
// /proc to link it through).
func nameUnnamed(f *os.File, path string) error {
	proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	link := func(name string) error {
		err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(err, unix.ENOENT) {
			if _, serr := os.Stat(proc); serr != nil {
				return errNoName
			}
		}
		if err != nil {
			return &os.LinkError{Op: "link", Old: proc, New: name, Err: err}
		}
		return nil
	}
	err := link(path)
	if errors.Is(err, unix.EEXIST) {
		return replace(path, link)
	}
	return err
}
