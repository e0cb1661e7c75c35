package pipeline

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nice reads a thread's niceness; the raw getpriority returns 20 - nice.
func nice(t *testing.T, tid int) int {
	t.Helper()
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		t.Errorf("getpriority(%d): %v", tid, err)
	}
	return 20 - p
}

// slice reads a thread's slice; 0 from kernels before 6.12, which have
// no custom slices.
func slice(t *testing.T, tid int) time.Duration {
	t.Helper()
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Errorf("sched_getattr(%d): %v", tid, err)
		return 0
	}
	return time.Duration(a.Runtime)
}

// othersAtNormalPriority checks, from many goroutines, that none runs
// lowered.
func othersAtNormalPriority(t *testing.T, when string) {
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			tid := syscall.Gettid()
			if n := nice(t, tid); n != 0 {
				t.Errorf("%s, a goroutine ran at nice %d", when, n)
			}
			if s := slice(t, tid); s == backgroundSlice {
				t.Errorf("%s, a goroutine ran with the processor's %v slice", when, s)
			}
		})
	}
	wg.Wait()
}

func TestLowerPriorityOnlyItsOwnThread(t *testing.T) {
	type priority struct {
		nice  int
		slice time.Duration
	}
	got, exit := make(chan priority), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := lowerPriority(); err != nil {
			t.Error(err)
		}
		tid := syscall.Gettid()
		got <- priority{nice(t, tid), slice(t, tid)}
		<-exit
	}()
	p := <-got
	if p.nice != backgroundNice {
		t.Fatalf("processor thread nice = %d, want %d", p.nice, backgroundNice)
	}
	switch p.slice {
	case backgroundSlice:
	case 0:
		t.Log("this kernel has no custom slices (Linux 6.12); only the niceness is checked")
	default:
		t.Errorf("processor thread slice = %v, want %v", p.slice, backgroundSlice)
	}
	othersAtNormalPriority(t, "while the lowered goroutine ran")
	close(exit)
	<-done
	// Its thread must have gone with it, not back to the pool to run
	// other goroutines slowly.
	othersAtNormalPriority(t, "after the lowered goroutine ended")
}
