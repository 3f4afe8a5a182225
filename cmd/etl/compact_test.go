package main

import (
	"math"
	"testing"
)

// TestKeysInMemory: compact --keep latest holds a hundredth of the
// runtime's memory limit in keys (--memory-limit, or GOMEMLIMIT, which
// the runtime applies itself), at least a thousand; without a limit
// (--memory-limit 0), every key.
func TestKeysInMemory(t *testing.T) {
	for _, c := range []struct {
		limit int64
		want  int
	}{{192 << 20, 2013265}, {64 << 20, 671088}, {1 << 10, 1000}, {math.MaxInt64, math.MaxInt}, {0, math.MaxInt}} {
		if got := keysInMemory(c.limit); got != c.want {
			t.Errorf("limit %d: %d keys in memory, want %d", c.limit, got, c.want)
		}
	}
}
