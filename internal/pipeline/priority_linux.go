package pipeline

import (
	"fmt"
	"runtime"
	"syscall"
)

// backgroundNice is the niceness of the profile processor's thread: the
// lowest, so that while requests keep both cores busy, acknowledging them
// comes first and profiles catch up after. With nice 10 the processor
// still took enough to hold single calls at 6,500-8,000 requests/s; with
// 19 they reached 8,800-9,100.
const backgroundNice = 19

// lowerPriority makes the calling goroutine run, from now on and alone, on
// a thread the kernel schedules after everything else. The goroutine stays
// locked to that thread for good: unlocked, the thread would go back to
// Go's pool and run other goroutines at the low priority; locked, it exits
// with the goroutine.
func lowerPriority() error {
	runtime.LockOSThread()
	// PRIO_PROCESS with a thread id sets that one thread's niceness: on
	// Linux, threads are scheduled as processes.
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice); err != nil {
		return fmt.Errorf("lower the processor's priority: %w", err)
	}
	return nil
}
