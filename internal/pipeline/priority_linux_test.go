package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"roster/internal/spec"
	"roster/internal/store"
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

// sliceLog is a log in memory; seqs are 1-based positions.
type sliceLog []store.Event

func (l sliceLog) Read(_ context.Context, after int64, limit int) ([]store.Event, error) {
	return l[after:min(int(after)+limit, len(l))], nil
}

// niceRecorder is a profile store that records the niceness of the thread
// each batch was applied on.
type niceRecorder struct {
	t       *testing.T
	cursor  int64
	nices   []int
	applied func(cursor int64)
}

func (r *niceRecorder) Cursor(context.Context, string) (int64, error) { return r.cursor, nil }

func (r *niceRecorder) ApplyProfiles(_ context.Context, _ []store.ProfileUpdate, upTo int64) error {
	r.nices = append(r.nices, nice(r.t, syscall.Gettid()))
	r.cursor = upTo
	r.applied(upTo)
	return nil
}

// A yielding processor applies on its low-priority thread while it keeps
// up, at normal priority while the oldest event it has yet to apply is
// older than YieldLag, and yields again once it has caught up.
func TestYieldingProcessorTakesTheCPUWhenBehind(t *testing.T) {
	now := time.Now()
	var events sliceLog
	for seq := range int64(10) {
		at := now
		if seq < 4 {
			at = now.Add(-time.Minute)
		}
		events = append(events, store.Event{Seq: seq + 1, Workspace: "ws", Type: spec.Track, UserID: "u", Name: "E", ReceivedAt: at, Timestamp: at})
	}
	ctx, cancel := context.WithCancel(context.Background())
	profiles := &niceRecorder{t: t, applied: func(cursor int64) {
		if cursor == 10 {
			cancel()
		}
	}}
	p := NewProcessor(events, profiles, slog.New(slog.DiscardHandler))
	p.Batch, p.Yield, p.YieldLag = 2, true, time.Second
	p.Run(ctx)
	// The first batch is applied before the processor knows it is behind;
	// the second and the third start with an old event; the third shows it
	// has caught up.
	want := []int{backgroundNice, 0, 0, backgroundNice, backgroundNice}
	if !slices.Equal(profiles.nices, want) {
		t.Errorf("niceness of each batch's thread = %v, want %v", profiles.nices, want)
	}
	othersAtNormalPriority(t, "after the processor stopped")
}
