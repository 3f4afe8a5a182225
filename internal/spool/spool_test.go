package spool_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/durable-etl/durable-etl/internal/spool"
)

// TestWrite: what write streams, past the buffer's size, is in the file
// once Write returns; write's error is returned and the file is closed
// either way.
func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 KB
	if err := spool.Write(f, func(w io.Writer) error {
		for i := 0; i < len(want); i += 1000 {
			if _, err := w.Write(want[i:min(i+1000, len(want))]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("file holds %d bytes (%v), want %d", len(got), err, len(want))
	}
	if err := f.Close(); err == nil {
		t.Error("the file was left open")
	}
	broke := errors.New("listing broke")
	g, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := spool.Write(g, func(io.Writer) error { return broke }); !errors.Is(err, broke) {
		t.Errorf("write's failure: %v, want %v", err, broke)
	}
	if err := g.Close(); err == nil {
		t.Error("the file was left open after a failure")
	}
}
