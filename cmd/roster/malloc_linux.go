//go:build linux && cgo

package main

/*
#include <malloc.h>

// limitCHeap bounds what glibc's malloc keeps for SQLite (the only C code).
static void limitCHeap(int arenas, int mmapAbove) {
#if defined(M_ARENA_MAX) && defined(M_MMAP_THRESHOLD)
	mallopt(M_ARENA_MAX, arenas);
	mallopt(M_MMAP_THRESHOLD, mmapAbove);
#endif
}
*/
import "C"

// limitCHeap keeps SQLite's memory from piling up in malloc's free lists.
// glibc gives each thread that allocates its own arena (up to 8 per core),
// and every thread that enters SQLite does; each arena keeps what it freed.
// It also raises its mmap threshold to the largest block freed, up to
// 32 MB, so the processor's statements (megabytes of JSON, and SQLite's
// parse of it) came to be served from arenas that keep them. After a
// million groups and 1.5 million events (roster bench), six arenas held
// 73 MB and the server peaked at 281 MB. With two arenas (one per core
// here), and blocks past 256 KB mapped and unmapped as they come and go,
// the arenas held 21 MB and the peak was 237 MB.
func limitCHeap() { C.limitCHeap(2, 256<<10) }
