package discovery

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/scratch"
)

// List is what discovery found, kept compact: a run over an account
// lists millions of executions, and keeps them all to the end of the run
// (the report's per-function counts, the retention warning, verify's
// rounds). In memory, about 65 bytes an execution: times as
// milliseconds, the status as a number, the watch's state in place,
// where its ARN is, and its ARN's 64-bit hash in a sorted index. The ARN
// itself is in a temporary file: the part past "/durable-execution/"
// (NAME/ID), beside an index into the prefixes its function and
// qualifier share, which stay in memory. Making an ARN again costs a read
// of the file (the page cache's, most of the time), done for the
// manifest, the report's at-risk executions, verify's rounds, and to
// confirm a match by hash (Find).
//
// Executions are added (Add), then the list is sealed (Seal), which puts
// them in order of start (oldest first: the manifest's order, and verify's
// rounds then each cover a span of start dates), sorts the index and drops
// an ARN listed twice; only then is it searched.
//
// A failed write or read of the file (a full or failing disk) is kept:
// Add and Seal return it, and the methods that read (ARN, Find) give ""
// or -1 and keep the first for Err, which callers check once done.
type List struct {
	items    []item
	prefixes []string
	prefixAt map[string]uint32
	statuses []types.ExecutionStatus // an item's status is its index here
	// hash is the ARN's hash (maphash's, seeded per list; tests make it
	// collide). Once sealed, hashes[k] is the hash of items[at[k]], in
	// order of hash: ARNs of one hash (a collision, about one run in 10^7
	// at a million executions) are told apart by reading them.
	hash   func(string) uint64
	hashes []uint64
	at     []int32

	file  *scratch.File // the ARNs' parts, back to back
	w     *bufio.Writer // nil once sealed
	size  int64         // bytes given to w
	errMu sync.Mutex
	err   error
}

// item is one discovered execution and what the run told of it.
type item struct {
	at         int64 // where the ARN's part past its prefix is in the file
	start, end int64 // ms since the epoch, or noTime
	prefix     uint32
	fn         uint32 // index into the functions discover returns
	n          uint32 // length of the ARN's part in the file
	status     uint8  // index into statuses
	watchState
}

// noTime stands for a time the listing did not give.
const noTime = -1 << 63

// arnSplit is where a durable execution ARN's shared part ends.
const arnSplit = "/durable-execution/"

// NewList makes an empty list, its file in the temporary directory
// (TMPDIR): removed from the directory at once where the system allows
// (the open file lives on until the process ends, kill -9 included),
// else by Close.
func NewList() (*List, error) {
	f, err := scratch.Create("", "etl-found-*")
	if err != nil {
		return nil, fmt.Errorf("discovery's list: %w", err)
	}
	seed := maphash.MakeSeed()
	return &List{prefixAt: map[string]uint32{}, hash: func(s string) uint64 { return maphash.String(seed, s) },
		statuses: append([]types.ExecutionStatus(nil), executionStatuses...), file: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Close releases the list's file. The list is not used after.
func (l *List) Close() error { return l.file.Close() }

// Add appends f, found under function fn (its position in the caller's
// functions). What it keeps of f is copied
// (f's strings share the listing page's buffer). An error is the file's:
// f is not listed. It is not safe for concurrent use: discovery's
// workers take turns.
func (l *List) Add(f extract.Found, fn int) error {
	if l.w == nil {
		return errors.New("discovery's list: added to once sealed")
	}
	if err := l.Err(); err != nil {
		return err
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
	if _, err := l.w.WriteString(suffix); err != nil {
		l.fail(err)
		return l.Err()
	}
	l.items = append(l.items, item{at: l.size, n: uint32(len(suffix)), start: msOf(f.Start), end: msOf(f.End), status: l.statusOf(f.Status), prefix: p, fn: uint32(fn)})
	l.hashes = append(l.hashes, l.hash(f.ARN))
	l.size += int64(len(suffix))
	return nil
}

// Seal ends the adding: what add wrote reaches the file, the executions
// are put in order of start (sortByStart), an ARN listed twice (a
// function named twice, by name and by ARN; an archive's execution under
// two start dates) is kept once, its first listing, with the earliest
// start and the latest end of its listings (dropped is called with the
// function of each listing dropped, when not nil), and the index by hash
// is sorted. After it the list may be read from several goroutines at
// once.
func (l *List) Seal(dropped func(fn int)) error {
	if l.w == nil {
		return l.Err()
	}
	if err := l.w.Flush(); err != nil {
		l.fail(err)
		return l.Err()
	}
	l.w = nil
	l.sortByStart()
	order := l.byHash()
	if l.dropRepeats(order, dropped) {
		// Positions moved, and a start may have: rare (a function named
		// twice, an execution archived under two dates).
		l.sortByStart()
		order = l.byHash()
	}
	if err := l.Err(); err != nil {
		return err
	}
	l.indexBy(order)
	return nil
}

// Retime sets, on a sealed list, the times of the executions that times
// gives (ok false: left as they are; i is the position before), then puts
// the list in order of start again, as Seal does: for a list whose
// executions' start dates come from elsewhere once it is made (a
// manifest's, from the archive). Not safe beside readers of the list.
func (l *List) Retime(times func(i int) (start, end *time.Time, ok bool)) {
	for i := range l.items {
		if start, end, ok := times(i); ok {
			l.items[i].start, l.items[i].end = msOf(start), msOf(end)
		}
	}
	byItem := make([]uint64, len(l.items)) // the hashes back in the items' order
	for k, i := range l.at {
		byItem[i] = l.hashes[k]
	}
	l.hashes = byItem
	l.sortByStart()
	l.indexBy(l.byHash())
}

// indexBy makes the index by hash (l.at, l.hashes in its order) from
// order (byHash) and l.hashes in the items' order.
func (l *List) indexBy(order []int32) {
	hashes := make([]uint64, len(order))
	for k, i := range order {
		hashes[k] = l.hashes[i]
	}
	l.hashes, l.at = hashes, order
}

// byHash is the items' positions in order of their hash (l.hashes, one
// an item until Seal is done), then of listing (compareListed).
func (l *List) byHash() []int32 {
	order := make([]int32, len(l.items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		return cmp.Or(cmp.Compare(l.hashes[i], l.hashes[j]), l.compareListed(i, j))
	})
	return order
}

// dropRepeats removes the items (and their hashes) whose ARN an item
// listed earlier has, that item taking the earlier start and the later
// end of the two (noTime: none), order being the positions by hash
// (byHash), and reports whether it removed any.
func (l *List) dropRepeats(order []int32, dropped func(fn int)) bool {
	drop := map[int32]bool{}
	for k := 0; k < len(order); {
		e := k + 1
		for e < len(order) && l.hashes[order[e]] == l.hashes[order[k]] {
			e++
		}
		for a := k; a < e; a++ { // a run of one hash: rarely more than one
			if drop[order[a]] || e-k == 1 {
				continue
			}
			arn := l.ARN(int(order[a]))
			for b := a + 1; b < e; b++ {
				if !drop[order[b]] && l.is(int(order[b]), arn) {
					drop[order[b]] = true
					kept, other := &l.items[order[a]], &l.items[order[b]]
					if compareStarts(other.start, kept.start) < 0 {
						kept.start = other.start
					}
					if other.end != noTime && (kept.end == noTime || other.end > kept.end) {
						kept.end = other.end
					}
				}
			}
		}
		k = e
	}
	if len(drop) == 0 {
		return false
	}
	kept, hashes := l.items[:0], l.hashes[:0]
	for i, it := range l.items {
		if drop[int32(i)] {
			if dropped != nil {
				dropped(int(it.fn))
			}
			continue
		}
		kept, hashes = append(kept, it), append(hashes, l.hashes[i])
	}
	l.items, l.hashes = kept, hashes
	return true
}

// sortByStart puts the items (and their hashes) in order of start, oldest
// first, an execution the listing gave no start last, those of one start
// in the order listed (compareListed). It moves them in place, following the cycles of
// the order (a copy of the items would be 48 bytes an execution more, for
// a moment, at the run's fullest).
func (l *List) sortByStart() {
	order := make([]int32, len(l.items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		return cmp.Or(compareStarts(l.items[i].start, l.items[j].start), l.compareListed(i, j))
	})
	for i := range order { // items[i] is to hold what items[order[i]] holds
		if order[i] < 0 || int(order[i]) == i {
			continue
		}
		it, h := l.items[i], l.hashes[i]
		j := i
		for {
			k := int(order[j])
			order[j] = -1
			if k == i {
				l.items[j], l.hashes[j] = it, h
				break
			}
			l.items[j], l.hashes[j] = l.items[k], l.hashes[k]
			j = k
		}
	}
}

// compareListed orders items i and j as discovery listed them: by
// function (in the order named), then by place in that function's listing
// (where its ARN is in the file: add writes them in turn, and a
// function's listing is added by one goroutine, while several functions'
// may interleave).
func (l *List) compareListed(i, j int32) int {
	return cmp.Or(cmp.Compare(l.items[i].fn, l.items[j].fn), cmp.Compare(l.items[i].at, l.items[j].at))
}

// compareStarts orders two starts (ms, or noTime), noTime last.
func compareStarts(a, b int64) int {
	switch {
	case a == b:
		return 0
	case a == noTime:
		return 1
	case b == noTime:
		return -1
	}
	return cmp.Compare(a, b)
}

// Err is the first error of the list's file, if any.
func (l *List) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *List) fail(err error) {
	l.errMu.Lock()
	if l.err == nil {
		l.err = fmt.Errorf("discovery's list (a temporary file): %w", err)
	}
	l.errMu.Unlock()
}

// readAt reads the bytes of b at off in the file (sealed: all written).
func (l *List) readAt(b []byte, off int64) bool {
	if _, err := l.file.ReadAt(b, off); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		l.fail(err)
		return false
	}
	return true
}

// statusOf is s's index in statuses, which gains a copy of s when s is
// none of the SDK's values (nor an unknown one seen before).
func (l *List) statusOf(s types.ExecutionStatus) uint8 {
	for i, v := range l.statuses {
		if s == v {
			return uint8(i)
		}
	}
	if len(l.statuses) == 256 { // 250 statuses the SDK does not know: the last stands for the rest
		return 255
	}
	l.statuses = append(l.statuses, types.ExecutionStatus(strings.Clone(string(s))))
	return uint8(len(l.statuses) - 1)
}

// Status is the i'th execution's status as listed.
func (l *List) Status(i int) types.ExecutionStatus { return l.statuses[l.items[i].status] }

// executionStatuses are the statuses the SDK knows.
var executionStatuses = types.ExecutionStatus("").Values()

// Find is the position of arn, or -1 (also when the file cannot be read:
// see Err). The list is sealed.
func (l *List) Find(arn string) int {
	h := l.hash(arn)
	k, _ := slices.BinarySearch(l.hashes, h)
	for ; k < len(l.hashes) && l.hashes[k] == h; k++ {
		if i := int(l.at[k]); l.is(i, arn) {
			return i
		}
	}
	return -1
}

// is reports whether the i'th execution's ARN is arn, reading its part
// past the prefix from the file only when the rest matches.
func (l *List) is(i int, arn string) bool {
	it := &l.items[i]
	p := l.prefixes[it.prefix]
	if len(arn) != len(p)+int(it.n) || !strings.HasPrefix(arn, p) {
		return false
	}
	var buf [160]byte
	var b []byte
	if int(it.n) <= len(buf) {
		b = buf[:it.n]
	} else {
		b = make([]byte, it.n)
	}
	return l.readAt(b, it.at) && string(b) == arn[len(p):]
}

// Len is how many executions the list holds.
func (l *List) Len() int { return len(l.items) }

// ARN is the i'th execution's ARN ("" when the file cannot be read: see
// Err).
func (l *List) ARN(i int) string {
	it := &l.items[i]
	p := l.prefixes[it.prefix]
	b := make([]byte, len(p)+int(it.n))
	copy(b, p)
	if !l.readAt(b[len(p):], it.at) {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not kept elsewhere
}

// Start is the i'th execution's start, nil when not listed.
func (l *List) Start(i int) *time.Time { return timeOf(l.items[i].start) }

// End is the i'th execution's end, nil when not listed (running).
func (l *List) End(i int) *time.Time { return timeOf(l.items[i].end) }

// Function is the position, in the functions Discover returned, of the
// function that listed the i'th execution.
func (l *List) Function(i int) int { return int(l.items[i].fn) }

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
