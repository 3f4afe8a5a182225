package transform

import (
	"strings"
	"testing"
)

// TestSpillAtPacking: a spilled payload's place survives its packing at
// the edges (offset 0 and the last placeable one, lengths 0 and the
// largest), and a payload the packing cannot place stays in memory and
// reads back the same: only the memory bound is lost.
func TestSpillAtPacking(t *testing.T) {
	for _, c := range []struct {
		off int64
		n   int
	}{{0, 0}, {0, 1}, {1, 0}, {spillMaxOffset, spillMaxLen}, {spillMaxOffset, 0}, {0, spillMaxLen}, {12345, 678}} {
		at := packSpill(c.off, c.n)
		if !at.spilled() {
			t.Errorf("offset %d, length %d: packed as not spilled", c.off, c.n)
		}
		if off, n := at.place(); off != c.off || n != c.n {
			t.Errorf("offset %d, length %d: unpacked as %d, %d", c.off, c.n, off, n)
		}
	}
	if (payload[*string]{}).at.spilled() {
		t.Error("a zero payload reads as spilled")
	}

	p := payloads{dir: t.TempDir()}
	defer p.close()
	first := p.keepString(new("first"))
	if !first.at.spilled() {
		t.Fatal("with no budget, a payload was kept in memory")
	}
	p.size = spillMaxOffset + 1 // as if 8 GiB of payloads were written before
	past := p.keepString(new(strings.Repeat("x", 100)))
	if past.at.spilled() || past.v == nil || *past.v != strings.Repeat("x", 100) {
		t.Fatalf("a payload past the placeable offsets: %+v", past)
	}
	if p.inMem != 100 {
		t.Errorf("the payload kept in memory counts %d bytes, want 100", p.inMem)
	}
	if s, err := p.stringOf(first); err != nil || *s != "first" {
		t.Errorf("the first payload reads back as %v, %v", s, err)
	}
}
