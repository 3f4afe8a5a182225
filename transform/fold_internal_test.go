package transform

import "testing"

// TestStrTableGrowsWithUse: a short history's string table is small (its
// rows point into it and may wait in a partition's buffer long after the
// fold), and a long one's strings keep their indexes and the pointers
// handed out for them as the table grows.
func TestStrTableGrowsWithUse(t *testing.T) {
	var small strTable
	for _, s := range []string{"a", "b", "c"} {
		small.add(s)
	}
	if c := cap(small.chunks[0]); c > 16 {
		t.Errorf("a table of 3 strings holds %d", c)
	}
	var big strTable
	var ptrs []*string
	for i := range 3000 {
		s := string(rune('a' + i%26))
		ix := big.add(s)
		ptrs = append(ptrs, big.ptr(ix))
		if got := big.at(ix); got != s {
			t.Fatalf("string %d reads %q, want %q", i, got, s)
		}
	}
	for i, p := range ptrs {
		if want := string(rune('a' + i%26)); *p != want || big.at(uint32(i+1)) != want {
			t.Fatalf("string %d reads %q / %q after the table grew, want %q", i, *p, big.at(uint32(i+1)), want)
		}
	}
	for i, c := range big.chunks {
		if cap(c) > strChunk {
			t.Errorf("chunk %d holds %d, past %d", i, cap(c), strChunk)
		}
	}
}
