package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/durable-etl/durable-etl/internal/spool"
)

// TestMain runs this test binary as a writer that hangs half-way
// (TestWriteFileKilled's child) when asked to.
func TestMain(m *testing.M) {
	if path := os.Getenv("SPOOL_TEST_HANG_WRITING"); path != "" {
		err := spool.WriteFile(path, func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("partial "), 100_000)) // past the buffer: on disk
			fmt.Println("writing")
			select {} // until killed
		})
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// TestWriteFile: a new file, a file replaced, and a failed write that
// leaves the old content and nothing else.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.jsonl")
	want := bytes.Repeat([]byte("0123456789abcdef"), 10_000)
	put := func(b []byte, fail error) error {
		return spool.WriteFile(path, func(w io.Writer) error {
			if _, err := w.Write(b); err != nil {
				return err
			}
			return fail
		})
	}
	for _, content := range [][]byte{want, []byte("second, shorter\n")} {
		if err := put(content, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(content))
		}
		if n := names(t, dir); !slices.Equal(n, []string{"manifest.jsonl"}) {
			t.Fatalf("folder holds %v", n)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("mode %v (%v): the owner cannot read and write it", fi.Mode(), err)
	}
	boom := errors.New("listing failed")
	if err := put(want, boom); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the write's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "second, shorter\n" {
		t.Errorf("a failed write changed the file: %d bytes", len(got))
	}
	if n := names(t, dir); !slices.Equal(n, []string{"manifest.jsonl"}) {
		t.Errorf("a failed write left %v", n)
	}
	if err := spool.WriteFile(filepath.Join(dir, "missing", "f"), func(io.Writer) error { return nil }); err == nil {
		t.Error("a folder that does not exist: no error")
	}
}
