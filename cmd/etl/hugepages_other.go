//go:build !linux

package main

// hugeHeap does nothing: transparent huge pages, and the advice that asks
// for them, are Linux's.
func hugeHeap(int64) (lo, hi uintptr, err error) { return 0, 0, nil }
