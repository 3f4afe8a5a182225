package slab

// Slab is the chunk values are put in; the zero value is ready to use.
type Slab[T any] []T

// Put stores v and points at it, starting a chunk of size values when the
// current one is full.
func (s *Slab[T]) Put(v T, size int) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, size)
	}
	*s = append(*s, v)
	return &(*s)[len(*s)-1]
}
