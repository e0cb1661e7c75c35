package pipeline

import (
	"sync"
	"syscall"
	"testing"
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

// othersAtNormalPriority checks, from many goroutines, that none runs
// lowered.
func othersAtNormalPriority(t *testing.T, when string) {
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if n := nice(t, syscall.Gettid()); n != 0 {
				t.Errorf("%s, a goroutine ran at nice %d", when, n)
			}
		})
	}
	wg.Wait()
}

func TestLowerPriorityOnlyItsOwnThread(t *testing.T) {
	got, exit := make(chan int), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := lowerPriority(); err != nil {
			t.Error(err)
		}
		got <- nice(t, syscall.Gettid())
		<-exit
	}()
	if n := <-got; n != backgroundNice {
		t.Fatalf("processor thread nice = %d, want %d", n, backgroundNice)
	}
	othersAtNormalPriority(t, "while the lowered goroutine ran")
	close(exit)
	<-done
	// Its thread must have gone with it, not back to the pool to run
	// other goroutines slowly.
	othersAtNormalPriority(t, "after the lowered goroutine ended")
}
