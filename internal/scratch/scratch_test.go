package scratch_test

import (
	"os"
	"testing"

	"github.com/durable-etl/durable-etl/internal/scratch"
)

// TestCreateLeavesNothing: the file works for reading and writing but has
// no name in its folder from the start, and Close releases it.
func TestCreateLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := scratch.Create(dir, ".x-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("spilled"), 0); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 7)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "spilled" {
		t.Fatalf("read %q, %v", b, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("named in its folder while open: %v", left)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left after Close: %v", left)
	}
}
