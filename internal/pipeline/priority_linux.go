package pipeline

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// backgroundNice is the niceness of the profile processor's thread: the
// lowest, so that while requests keep both cores busy, acknowledging them
// comes first and profiles catch up after. With nice 10 the processor
// still took enough to hold single calls at 6,500-8,000 requests/s; with
// 19 they reached 8,800-9,100.
const backgroundNice = 19

// backgroundSlice is how long the processor's thread may keep a core once
// the kernel has given it one (EEVDF's custom slice, Linux 6.12 and
// later). Niceness alone did not keep it off the cores: a request's
// thread that wakes does not preempt the running thread before that
// thread's slice (1.4 ms here) is used up, and the request threads sleep
// and wake all the time. At nice 19 the processor still took a quarter of
// the machine under a flood of batches; with a 0.1 ms slice, batches of
// 100 went from 57,700-57,800 to 64,800-66,800 events/s, with the lag at
// 20,000 events/s unchanged. SCHED_IDLE gave batches 71,000-72,500 but
// starved the processor at 20,000 events/s (lag 1.6-4 s); and a thread
// starved while it runs Go code would hold up the GC's stop-the-world
// pauses for every request.
const backgroundSlice = 100 * time.Microsecond

// lowerPriority makes the calling goroutine run, from now on and alone, on
// a thread the kernel schedules after everything else. The goroutine stays
// locked to that thread for good: unlocked, the thread would go back to
// Go's pool and run other goroutines at the low priority; locked, it exits
// with the goroutine.
func lowerPriority() error {
	runtime.LockOSThread()
	// Pid 0 is the calling thread: on Linux, threads are scheduled as
	// processes.
	err := unix.SchedSetAttr(0, &unix.SchedAttr{
		Size:    unix.SizeofSchedAttr,
		Policy:  unix.SCHED_NORMAL,
		Nice:    backgroundNice,
		Runtime: uint64(backgroundSlice.Nanoseconds()),
	}, 0)
	if err == nil {
		return nil
	}
	// A kernel without sched_setattr still has nice.
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice); err != nil {
		return fmt.Errorf("lower the processor's priority: %w", err)
	}
	return nil
}
