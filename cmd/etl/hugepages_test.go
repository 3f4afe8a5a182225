package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestHugeHeapSize: the advised heap follows --memory-limit, else the
// runtime's limit (GOMEMLIMIT), else the default, and never passes 1 GiB.
func TestHugeHeapSize(t *testing.T) {
	was := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(was)
	for _, c := range []struct {
		limit, runtime, want int64
	}{
		{100 << 20, math.MaxInt64, 100 << 20},
		{4 << 30, math.MaxInt64, maxHugeHeap},
		{0, math.MaxInt64, defaultHugeHeap},
		{0, 64 << 20, 64 << 20},
		{0, 8 << 30, maxHugeHeap},
	} {
		debug.SetMemoryLimit(c.runtime)
		if got := hugeHeapSize(c.limit); got != c.want {
			t.Errorf("limit %d, runtime's %d: %d, want %d", c.limit, c.runtime, got, c.want)
		}
	}
}
