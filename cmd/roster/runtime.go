package main

import (
	"runtime"
	"runtime/debug"
)

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is unset.
const defaultMemoryLimit = 180 << 20

// defaultGCPercent is GOGC when it is unset: how far the heap may grow
// past what is live before the collector runs, in percent.
const defaultGCPercent = 300

// tuneRuntime sets what roster serve needs of Go's runtime and of the C
// heap, leaving alone each setting its environment variable gives.
func tuneRuntime(lookupEnv func(string) (string, bool)) {
	if _, ok := lookupEnv("GOMEMLIMIT"); !ok {
		// Go lets the heap grow to twice what is live before it collects.
		// A soft limit makes it collect sooner instead: with 5 million
		// events and a million groups the server peaked at 396 MB without
		// it and 292 MB with 200 MiB. Once the processor read its next
		// batch while applying one, 200 MiB peaked at 298 MB and 180 MiB
		// at 272 MB. GOMEMLIMIT overrides it.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if _, ok := lookupEnv("GOGC"); !ok {
		// At Go's 100% the collector ran 7 times a second under batches
		// (75 cycles in 10 s, with 75-90 MB live: dedup keys, the
		// processor's batch), and each cycle's assists and its pauses (up
		// to 5 ms with both cores busy) landed in some request's latency.
		// At 300% it ran 44 times: Profile API reads at 2,000 requests/s
		// while ingesting 10,000 events/s went from a p99 of 5.7-8.2 ms to
		// 3.5-3.8 ms, ingestion was no slower, and the peak resident
		// memory of that run went from 218 to 229 MB. Where more is live
		// (a million profiles), the memory limit above decides when it
		// runs, as before.
		debug.SetGCPercent(defaultGCPercent)
	}
	limitCHeap()
	if _, ok := lookupEnv("GOMAXPROCS"); !ok {
		// A P for the low-priority processor's thread, which holds it even
		// while the kernel makes it wait (pipeline.Processor.Run).
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}
