package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// restoreRuntime puts back what tuneRuntime changes, for the tests after.
func restoreRuntime(t *testing.T) {
	gc, limit, procs := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1), runtime.GOMAXPROCS(0)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
		runtime.GOMAXPROCS(procs)
	})
}

func TestTuneRuntimeDefaults(t *testing.T) {
	restoreRuntime(t)
	procs := runtime.GOMAXPROCS(0)
	tuneRuntime(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(-1); got != defaultGCPercent {
		t.Errorf("GC percent = %d, want %d", got, defaultGCPercent)
	}
	debug.SetGCPercent(defaultGCPercent)
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Errorf("memory limit = %d, want %d", got, defaultMemoryLimit)
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
	if got := debug.SetGCPercent(-1); got != 150 {
		t.Errorf("GC percent = %d, want GOGC's 150", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit = %d, want GOMEMLIMIT's", got)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS = %d, want GOMAXPROCS's %d", got, procs)
	}
}
