// Package peakrss runs a command and reports its own peak resident set
// size, for the memory benchmarks.
//
// The obvious measure, the rusage of a child (ProcessState.SysUsage's
// Maxrss), is wrong on Linux for a child of a large process: Go starts
// children with vfork, so the child's exec takes over the parent's memory
// map, and the kernel records that map's high-water mark as the child's
// ru_maxrss. A benchmark whose own process holds 900 MiB (an emulator with
// its page cache) reported 900 MiB for every child, whatever the child used.
// GNU time (/usr/bin/time, Debian package "time", which scripts/test-deps.sh
// installs) is a small process that fork()s the command and reports the
// command's own high-water mark.
package peakrss
