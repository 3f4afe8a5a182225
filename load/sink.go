package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// fileSink is where the Parquet loader's files go: a file is written in full,
// then published (made visible under its name) or discarded.
type fileSink interface {
	// create starts the file that will be visible as name, a slash-separated
	// path under the destination (TABLE/dt=DATE/FILE.parquet).
	create(name string) (sinkFile, error)
	// remove deletes a published file.
	remove(ctx context.Context, name string) error
	// list is the published files of table with their times and sizes.
	list(ctx context.Context, table string) ([]publishedFile, error)
	// read calls fn with a published file's content.
	read(ctx context.Context, name string, fn func(io.ReaderAt, int64) error) error
	// putRecord writes a small file that is no table's (a run's lease,
	// under _runs/), replacing any of that name.
	putRecord(ctx context.Context, name string, body []byte) error
	// records is the small files under dir (e.g. "_runs/"), with their
	// times and contents. A file removed while they are read is left out.
	records(ctx context.Context, dir string) ([]record, error)
}

// record is a small file that is no table's: its name under the
// destination, when it was last written, its content.
type record struct {
	name     string
	modified time.Time
	body     []byte
}

// publishedFile is a published file: its name under the destination
// (TABLE/dt=DATE/FILE.parquet), when it was published, its size.
type publishedFile struct {
	name     string
	modified time.Time
	size     int64
}

// sinkFile is one file being written.
type sinkFile interface {
	io.Writer
	// publish completes the file and makes it visible; it returns its size.
	// On error nothing is visible.
	publish() (int64, error)
	// discard drops the file; nothing of it becomes visible.
	discard()
}

// localSink writes under a directory: a file is written as
// DIR/_incoming/.@OWNER.NAME, then synced, renamed into
// DIR/TABLE/dt=.../NAME, and the folder synced.
//
// OWNER is the sink's own: at its first file it makes
// DIR/_incoming/.owner-OWNER (holding its host's name) and holds that file
// locked (flock) until release, or until its process ends, however it
// ends. A loader opened on the destination (NewParquetDir) on the same
// host removes at once the files of an owner whose file no process holds
// (removeLeftovers): what a killed run left. (Another host's are left to StaleIncomingAge: a
// network file system may keep each host's locks to itself.) Where the
// file system cannot lock, its files are named .NAME, left to
// StaleIncomingAge too.
type localSink struct {
	dir   string
	mu    sync.Mutex
	tried bool     // takeOwner was called since the last release
	owner string   // "": no lock, files named .NAME
	lock  *os.File // .owner-OWNER, locked
}

// ownerPrefix and ownerMark begin the names of an owner's lock file and
// of its files in _incoming.
const (
	ownerPrefix = ".owner-"
	ownerMark   = ".@"
)

// takeOwner makes and locks the sink's owner file: under a name no
// sink reads, renamed once locked, so that no sink finds it unlocked.
func (s *localSink) takeOwner() {
	id := fmt.Sprintf("%016x", rand.Uint64())
	incoming := filepath.Join(s.dir, IncomingDir)
	tmp := filepath.Join(incoming, ".owning-"+id)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return // its files are named .NAME: create says what fails
	}
	host, _ := os.Hostname()
	if _, err := f.WriteString(host + "\n"); err != nil || !lockFile(f) || os.Rename(tmp, filepath.Join(incoming, ownerPrefix+id)) != nil {
		f.Close()
		os.Remove(tmp)
		return
	}
	s.owner, s.lock = id, f
}

// release removes the owner's file and lets its lock go, once every file
// the sink made is published or discarded: nothing of the sink's is left
// in _incoming. A file made after takes a new owner.
func (s *localSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		os.Remove(filepath.Join(s.dir, IncomingDir, ownerPrefix+s.owner))
		s.lock.Close()
	}
	s.tried, s.owner, s.lock = false, "", nil
}

// hiddenPrefix begins the names of the sink's files in _incoming.
func (s *localSink) hiddenPrefix() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tried {
		s.tried = true
		s.takeOwner()
	}
	if s.owner == "" {
		return "."
	}
	return ownerMark + s.owner + "."
}

func (s *localSink) create(name string) (sinkFile, error) {
	final := filepath.Join(s.dir, filepath.FromSlash(name))
	// The hidden name carries the whole path: every table's files of a
	// partition share their base name.
	hidden := s.hiddenPrefix()
	tmp := filepath.Join(s.dir, IncomingDir, hidden+strings.NewReplacer("/", "~", "=", "-").Replace(name))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &localFile{f: f, buf: bufio.NewWriterSize(f, localFileBuffer), tmp: tmp, final: final}, nil
}

// localFileBuffer gathers the writer's small writes (page headers, pages,
// indexes, footer) into fewer system calls.
const localFileBuffer = 64 << 10

// localFile hides its *os.File: a writer that found io.ReaderFrom on it
// would write around the buffer.
type localFile struct {
	f          *os.File
	buf        *bufio.Writer
	tmp, final string
}

func (f *localFile) Write(p []byte) (int, error) { return f.buf.Write(p) }

func (f *localFile) publish() (int64, error) {
	size, err := f.finish()
	if err != nil {
		f.discard()
	}
	return size, err
}

func (f *localFile) finish() (int64, error) {
	if err := f.buf.Flush(); err != nil {
		return 0, err
	}
	if err := f.f.Sync(); err != nil {
		return 0, err
	}
	size, err := f.complete()
	if err != nil {
		return 0, err
	}
	if err := f.reveal(); err != nil {
		return 0, err
	}
	return size, syncDir(filepath.Dir(f.final))
}

// complete writes out and closes the file, unsynced and still hidden.
func (f *localFile) complete() (int64, error) {
	if err := f.buf.Flush(); err != nil {
		return 0, err
	}
	info, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	if err := f.f.Close(); err != nil {
		return 0, err
	}
	f.buf = nil // a staged file waits for its sync without its buffer
	return info.Size(), nil
}

// reveal renames a completed file into place.
func (f *localFile) reveal() error {
	dir := filepath.Dir(f.final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(f.final); err == nil {
		return fmt.Errorf("%s exists already; give each run its own file prefix", f.final)
	}
	return os.Rename(f.tmp, f.final)
}

// stagedFile is a file that can be completed and made visible in two steps
// (a local directory's), so that many files share one sync.
type stagedFile interface {
	sinkFile
	complete() (int64, error) // written in full and closed, not synced, not visible
	reveal() error            // visible under its name
}

// batchSink is a sink whose files are stagedFiles: sync makes every file
// completed so far, and every rename, durable at once. A local directory is
// one on Linux (syncfs); elsewhere each file is synced on its own.
type batchSink interface {
	sync() error
}

func (f *localFile) discard() {
	f.f.Close()
	os.Remove(f.tmp)
}

func (s *localSink) list(ctx context.Context, table string) ([]publishedFile, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, filepath.FromSlash(table), "dt=*", "*.parquet"))
	if err != nil {
		return nil, err
	}
	out := make([]publishedFile, 0, len(files))
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			continue // removed meanwhile
		}
		rel, _ := filepath.Rel(s.dir, f)
		out = append(out, publishedFile{name: filepath.ToSlash(rel), modified: info.ModTime(), size: info.Size()})
	}
	return out, nil
}

func (s *localSink) read(ctx context.Context, name string, fn func(io.ReaderAt, int64) error) error {
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return fn(f, info.Size())
}

func (s *localSink) putRecord(ctx context.Context, name string, body []byte) error {
	final := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	// Written whole, then renamed over the last: a reader never sees half.
	tmp := filepath.Join(filepath.Dir(final), fmt.Sprintf(".%s.%d", filepath.Base(final), os.Getpid()))
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

func (s *localSink) records(ctx context.Context, dir string) ([]record, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []record
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		name := path.Join(dir, e.Name())
		p := filepath.Join(s.dir, filepath.FromSlash(name))
		body, err := os.ReadFile(p)
		info, serr := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(serr, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err = errors.Join(err, serr); err != nil {
			return nil, err
		}
		out = append(out, record{name: name, modified: info.ModTime(), body: body})
	}
	return out, nil
}

func (s *localSink) remove(ctx context.Context, name string) error {
	return os.Remove(filepath.Join(s.dir, filepath.FromSlash(name)))
}
