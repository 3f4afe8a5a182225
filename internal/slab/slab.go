package slab

// Slab is the chunk values are put in; the zero value is ready to use.
type Slab[T any] []T

// firstChunk is the size of a Slab's first chunk (or size, if smaller).
const firstChunk = 8

// Put stores v and points at it, starting a new chunk when the current one
// is full: twice the size of the one before, from firstChunk up to size
// values. So a slab that holds few values holds little (rows that point
// into it may keep a chunk for as long as they wait to be written: a
// history of three events must not keep a chunk sized for a thousand),
// and a chunk is never more than about twice the values put in the slab.
func (s *Slab[T]) Put(v T, size int) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, min(size, max(firstChunk, 2*cap(*s))))
	}
	*s = append(*s, v)
	return &(*s)[len(*s)-1]
}
