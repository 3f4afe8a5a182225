package main

import (
	"math"
	"testing"
)

// TestKeyMemory: compact --keep latest lets its keys take half of the
// runtime's memory limit (--memory-limit, or GOMEMLIMIT, which the
// runtime applies itself), at least 1 MiB; without a limit
// (--memory-limit 0), every key.
func TestKeyMemory(t *testing.T) {
	for _, c := range []struct {
		limit, want int64
	}{{192 << 20, 96 << 20}, {64 << 20, 32 << 20}, {1 << 10, 1 << 20}, {math.MaxInt64, math.MaxInt64}, {0, math.MaxInt64}} {
		if got := keyMemory(c.limit); got != c.want {
			t.Errorf("limit %d: keys take %d bytes at most, want %d", c.limit, got, c.want)
		}
	}
}
