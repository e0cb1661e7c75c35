package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"roster/internal/store"
)

// leases is one lease name held by whoever asks first.
type leases struct {
	mu     sync.Mutex
	holder string
}

func (l *leases) Lease(_ context.Context, _, holder string, _ time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == "" {
		l.holder = holder
	}
	return l.holder == holder, nil
}

func (l *leases) Release(_ context.Context, _, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == holder {
		l.holder = ""
	}
	return nil
}

func TestLoopRetriesAndRunsOnlyUnderTheLease(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &leases{holder: "other"}
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan int, 10)
	n := 0
	done := make(chan struct{})
	go func() {
		Loop(ctx, store.NewKeeper(l, "job", "me", 3*time.Second), logger, time.Millisecond, func(context.Context) (time.Duration, error) {
			n++
			calls <- n
			if n <= 2 {
				return 0, errors.New("database away")
			}
			return time.Hour, nil
		})
		close(done)
	}()
	select {
	case <-calls:
		t.Fatal("step ran while another node held the lease")
	case <-time.After(100 * time.Millisecond):
	}
	l.Release(ctx, "job", "other") //nolint:errcheck
	for want := 1; want <= 3; want++ {
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("call %d, want %d", got, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("step not called again after %d calls (failures are retried)", want-1)
		}
	}
	cancel()
	<-done
	if l.holder != "" {
		t.Errorf("lease still held by %q after the loop ended", l.holder)
	}
}
