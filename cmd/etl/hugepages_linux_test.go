package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestHugeHeap: where the system gives transparent huge pages only on
// request, hugeHeap advises whole huge pages of the heap (their mappings
// carry the kernel's "hg" flag in /proc/self/smaps); elsewhere it does
// nothing.
func TestHugeHeap(t *testing.T) {
	const n = 64 << 20
	lo, hi, err := hugeHeap(n)
	if err != nil {
		t.Fatal(err)
	}
	if mode, err := os.ReadFile(thpEnabled); err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		if lo != hi {
			t.Fatalf("%s: %q (%v): advised [%#x, %#x), want nothing done", thpEnabled, bytes.TrimSpace(mode), err, lo, hi)
		}
		return
	}
	if lo%hugePageSize != 0 || hi%hugePageSize != 0 || hi-lo < n-2*hugePageSize {
		t.Fatalf("advised [%#x, %#x): want whole huge pages covering nearly %d bytes", lo, hi, n)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var start, end uintptr
	covered := uintptr(0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if a, b, ok := strings.Cut(strings.SplitN(line, " ", 2)[0], "-"); ok {
			s, err1 := strconv.ParseUint(a, 16, 64)
			e, err2 := strconv.ParseUint(b, 16, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("smaps: %q", line)
			}
			start, end = uintptr(s), uintptr(e)
			continue
		}
		flags, ok := strings.CutPrefix(line, "VmFlags:")
		if !ok || end <= lo || start >= hi {
			continue
		}
		if !strings.Contains(" "+flags+" ", " hg ") {
			t.Errorf("mapping %#x-%#x inside the advised range lacks hg: %s", start, end, flags)
		}
		covered += min(end, hi) - max(start, lo)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if covered != hi-lo {
		t.Errorf("mappings cover %d of the %d advised bytes", covered, hi-lo)
	}
}
