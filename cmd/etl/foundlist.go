package main

import (
	"hash/maphash"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
)

// foundList is what discovery found, kept compact: a run over an account
// lists millions of executions, and keeps them all to the end of the run
// (the report's per-function counts, the retention warning). An ARN is
// kept as its execution's part (NAME/ID) beside an index into the
// prefixes its function and qualifier share; times as milliseconds.
// About 160 bytes an execution, index included, against 290 for the
// listed values kept as they come (extract.Found: the ARN's string, two
// *time.Time; a map keyed by ARN): BenchmarkDiscoveredBytes.
type foundList struct {
	items    []foundItem
	prefixes []string
	prefixAt map[string]uint32
	// index finds an item by its ARN's hash; an ARN whose hash an earlier
	// one has (a 64-bit collision: about one run in 10^7 at a million
	// executions) is in clash instead.
	seed  maphash.Seed
	index map[uint64]int32
	clash map[string]int32
}

// foundItem is one discovered execution and what the run told of it.
type foundItem struct {
	suffix     string // the ARN past prefixes[prefix]
	start, end int64  // ms since the epoch, or noTime
	status     types.ExecutionStatus
	prefix     uint32
	fn         uint32 // index into the functions discover returns
	watchState
}

// noTime stands for a time the listing did not give.
const noTime = -1 << 63

// arnSplit is where a durable execution ARN's shared part ends.
const arnSplit = "/durable-execution/"

func newFoundList() *foundList {
	return &foundList{prefixAt: map[string]uint32{}, seed: maphash.MakeSeed(), index: map[uint64]int32{}}
}

// add appends f, found under function fn, unless its ARN is listed
// already (a function named twice, by name and by ARN): it reports
// whether f was new. What it keeps of f is copied (f's strings share the
// listing page's buffer).
func (l *foundList) add(f extract.Found, fn int) bool {
	h := maphash.String(l.seed, f.ARN)
	i, taken := l.index[h]
	if taken && l.is(int(i), f.ARN) {
		return false
	}
	if _, ok := l.clash[f.ARN]; ok {
		return false
	}
	prefix, suffix := "", f.ARN
	if i := strings.Index(f.ARN, arnSplit); i >= 0 {
		prefix, suffix = f.ARN[:i+len(arnSplit)], f.ARN[i+len(arnSplit):]
	}
	p, ok := l.prefixAt[prefix]
	if !ok {
		p = uint32(len(l.prefixes))
		prefix = strings.Clone(prefix)
		l.prefixes = append(l.prefixes, prefix)
		l.prefixAt[prefix] = p
	}
	n := int32(len(l.items))
	l.items = append(l.items, foundItem{suffix: strings.Clone(suffix), start: msOf(f.Start), end: msOf(f.End), status: ownStatus(f.Status), prefix: p, fn: uint32(fn)})
	if !taken {
		l.index[h] = n
		return true
	}
	if l.clash == nil {
		l.clash = map[string]int32{}
	}
	l.clash[strings.Clone(f.ARN)] = n
	return true
}

// executionStatuses are the statuses the SDK knows.
var executionStatuses = types.ExecutionStatus("").Values()

// ownStatus is s in a string of its own: one of the SDK's values, or a
// copy of a value it does not know.
func ownStatus(s types.ExecutionStatus) types.ExecutionStatus {
	for _, v := range executionStatuses {
		if s == v {
			return v
		}
	}
	return types.ExecutionStatus(strings.Clone(string(s)))
}

// find is the position of arn, or -1.
func (l *foundList) find(arn string) int {
	if i, ok := l.index[maphash.String(l.seed, arn)]; ok && l.is(int(i), arn) {
		return int(i)
	}
	if i, ok := l.clash[arn]; ok {
		return int(i)
	}
	return -1
}

// is reports whether the i'th execution's ARN is arn, without making it.
func (l *foundList) is(i int, arn string) bool {
	it := &l.items[i]
	p := l.prefixes[it.prefix]
	return len(arn) == len(p)+len(it.suffix) && strings.HasPrefix(arn, p) && strings.HasSuffix(arn, it.suffix)
}

func (l *foundList) len() int { return len(l.items) }

// arn is the i'th execution's ARN.
func (l *foundList) arn(i int) string {
	return l.prefixes[l.items[i].prefix] + l.items[i].suffix
}

// start is the i'th execution's start, nil when not listed.
func (l *foundList) start(i int) *time.Time { return timeOf(l.items[i].start) }

func msOf(t *time.Time) int64 {
	if t == nil {
		return noTime
	}
	return t.UnixMilli()
}

func timeOf(ms int64) *time.Time {
	if ms == noTime {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
