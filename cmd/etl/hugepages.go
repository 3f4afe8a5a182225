package main

import (
	"math"
	"runtime/debug"
	"sync"

	"github.com/urfave/cli/v2"
)

// hugePagesFlag is --huge-pages, of the commands with --memory-limit.
func hugePagesFlag() cli.Flag {
	return &cli.BoolFlag{Name: "huge-pages", Usage: "on Linux, ask for transparent huge pages for the heap up to the memory limit where the system gives them only on request (madvise in /sys/kernel/mm/transparent_hugepage/enabled): far fewer page faults, a short run up to a quarter quicker; --huge-pages=false leaves the heap to the system's default", EnvVars: env("huge-pages"), Value: true}
}

// The heap hugeHeap advises: the memory limit, else defaultHugeHeap, and
// never more than maxHugeHeap (it is mapped up front, though not used).
const (
	defaultHugeHeap = 192 << 20
	maxHugeHeap     = 1 << 30
)

// hugeHeapSize is the heap hugeHeap advises for --memory-limit limit (0:
// none given, or GOMEMLIMIT's, which the runtime already holds).
func hugeHeapSize(limit int64) int64 {
	if limit <= 0 {
		limit = debug.SetMemoryLimit(-1) // reads it
	}
	if limit <= 0 || limit == math.MaxInt64 {
		limit = defaultHugeHeap
	}
	return min(limit, maxHugeHeap)
}

// hugeHeapOnce gives the heap's advice once a process: it is the
// process's, and tests run the commands in one.
var hugeHeapOnce sync.Once
