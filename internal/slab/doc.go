// Package slab hands out pointers to values kept in chunks, so that many
// small values that live and die together (a page's strings and times, a
// history's folded times) cost one allocation a chunk instead of one
// each. A chunk never grows, so a pointer handed out stays valid for as
// long as it is held, whatever is put after it; a chunk stays in memory
// while any pointer into it is held.
package slab
