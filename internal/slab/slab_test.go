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
	}); n != 4 {
		t.Errorf("%v allocations for 64 values in chunks of up to 64, want 4 (8, 16, 32, 64)", n)
	}
}

// TestFewValuesHoldLittle: a slab's chunks grow with the values put in
// it, so that a slab of a few values, which rows pointing into it may keep
// alive for as long as they wait, does not hold a whole chunk of the
// largest size; and a chunk never exceeds that size.
func TestFewValuesHoldLittle(t *testing.T) {
	for _, n := range []int{1, 3, 8, 9, 100, 1000, 5000} {
		var s slab.Slab[int]
		for i := range n {
			s.Put(i, 1024)
		}
		if c := cap(s); c > 1024 || c > 2*n+8 {
			t.Errorf("%d values: the last chunk holds %d, want at most 1,024 and about 2 x %d", n, c, n)
		}
	}
}
