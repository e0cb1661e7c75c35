package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// collector reads GOGC and the soft memory limit in force, without setting
// either (debug.SetGCPercent reads only by setting).
func collector() (gcPercent, memoryLimit int64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
}

// restoreRuntime puts back, after the test, what tuneRuntime changes.
func restoreRuntime(t *testing.T) {
	gc, limit := collector()
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		debug.SetGCPercent(int(gc))
		debug.SetMemoryLimit(limit)
		runtime.GOMAXPROCS(procs)
	})
}

func TestTuneRuntimeDefaults(t *testing.T) {
	restoreRuntime(t)
	procs := runtime.GOMAXPROCS(0)
	tuneRuntime(func(string) (string, bool) { return "", false })
	if gc, limit := collector(); gc != defaultGCPercent || limit != defaultMemoryLimit {
		t.Errorf("GC percent %d, memory limit %d; want %d and %d", gc, limit, defaultGCPercent, defaultMemoryLimit)
	}
	if got := runtime.GOMAXPROCS(0); got != procs+1 {
		t.Errorf("GOMAXPROCS = %d, want %d", got, procs+1)
	}
}

func TestTuneRuntimeLeavesWhatTheEnvironmentSets(t *testing.T) {
	restoreRuntime(t)
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(math.MaxInt64)
	procs := runtime.GOMAXPROCS(0)
	tuneRuntime(func(string) (string, bool) { return "set", true })
	if gc, limit := collector(); gc != 150 || limit != math.MaxInt64 {
		t.Errorf("GC percent %d, memory limit %d; want GOGC's 150 and GOMEMLIMIT's %d", gc, limit, int64(math.MaxInt64))
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS = %d, want GOMAXPROCS's %d", got, procs)
	}
}
