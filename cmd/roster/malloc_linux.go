//go:build linux && cgo

package main

/*
#include <malloc.h>

// limitCHeap bounds what glibc's malloc keeps for Pebble's block cache and
// memtables and for zstd (the C code).
static void limitCHeap(int arenas, int mmapAbove) {
#if defined(M_ARENA_MAX) && defined(M_MMAP_THRESHOLD)
	mallopt(M_ARENA_MAX, arenas);
	mallopt(M_MMAP_THRESHOLD, mmapAbove);
#endif
}
*/
import "C"

// limitCHeap keeps C memory from piling up in malloc's free lists. glibc
// gives each thread that allocates its own arena (up to 8 per core), each
// keeping what it freed, and raises its mmap threshold to the largest block
// freed, so that big blocks (memtables, cache) come to be served from
// arenas that keep them. Few arenas, and big blocks mapped and unmapped
// as they come and go, bound that.
func limitCHeap() { C.limitCHeap(2, 256<<10) }
