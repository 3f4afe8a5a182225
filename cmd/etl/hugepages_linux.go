package main

import (
	"bytes"
	"os"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"
)

// thpEnabled is where Linux says which memory it backs with transparent
// huge pages: all of it ([always]), none ([never]), or only the memory
// that asks with madvise(MADV_HUGEPAGE) ([madvise], as on the machines
// the benchmarks ran on).
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// hugePageSize is the x86-64 and arm64 (4 KiB base pages) huge page.
const hugePageSize = 2 << 20

// hugeHeap asks Linux to back the first n bytes of the Go heap with
// transparent huge pages where they go only to memory that asks for them
// ([madvise] in thpEnabled). The Go runtime never asks for its heap, so
// there every 4 KiB of it is faulted in on its own: about 50,000 page
// faults for a run's 200 MiB, a fifth of a short run's CPU on a VM
// (docs/BENCHMARKS.md, "Huge pages"). It allocates n bytes, which the
// runtime maps as heap and never touches (fresh memory is known to be
// zero), advises their whole huge pages MADV_HUGEPAGE, drops them and
// releases them to the system (debug.FreeOSMemory: a collection, then
// MADV_DONTNEED, which keeps the advice): no memory stays in use, and the
// runtime hands out the lowest free addresses first, these among them.
// It returns the advised range [lo, hi); lo == hi where the system gives
// huge pages to all memory or to none, or has none (nothing is done). An
// error is the advice's: the heap is as it would have been.
func hugeHeap(n int64) (lo, hi uintptr, err error) {
	mode, err := os.ReadFile(thpEnabled)
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return 0, 0, nil
	}
	b := make([]byte, n)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo = (start + hugePageSize - 1) &^ (hugePageSize - 1)
	hi = (start + uintptr(n)) &^ (hugePageSize - 1)
	if lo < hi {
		err = unix.Madvise(b[lo-start:hi-start], unix.MADV_HUGEPAGE)
	}
	b = nil
	debug.FreeOSMemory()
	if err != nil || lo >= hi {
		return 0, 0, err
	}
	return lo, hi, nil
}
