package slab_test

import (
	"testing"

	"github.com/durable-etl/durable-etl/internal/slab"
)

// TestPointersStay: values put across several chunks keep their values
// through the puts after them, and a chunk costs one allocation.
func TestPointersStay(t *testing.T) {
	var s slab.Slab[int]
	var ps []*int
	for i := range 100 {
		ps = append(ps, s.Put(i, 8))
	}
	for i, p := range ps {
		if *p != i {
			t.Fatalf("value %d reads %d", i, *p)
		}
	}
	var s2 slab.Slab[int]
	if n := testing.AllocsPerRun(10, func() {
		s2 = s2[:0:0]
		for i := range 64 {
			s2.Put(i, 64)
		}
	}); n != 1 {
		t.Errorf("%v allocations for 64 values in a chunk of 64, want 1", n)
	}
}
