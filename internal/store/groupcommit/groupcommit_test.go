package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/store"
)

// slowWriter records each transaction and takes a while, as an fsync does.
type slowWriter struct {
	mu    sync.Mutex
	txs   [][]store.Event
	err   error
	delay time.Duration
}

func (w *slowWriter) write(_ context.Context, events []store.Event, _ []store.Quarantined) error {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.txs = append(w.txs, append([]store.Event(nil), events...))
	return w.err
}

func TestConcurrentAppendsShareTransactions(t *testing.T) {
	w := &slowWriter{delay: 5 * time.Millisecond}
	c := New(w.write, 10000)
	defer c.Close()
	const callers = 50
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if err := c.Append(context.Background(), []store.Event{{MessageID: string(rune('a' + i))}}, nil); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, tx := range w.txs {
		total += len(tx)
	}
	if total != callers {
		t.Fatalf("%d events written, want %d", total, callers)
	}
	if len(w.txs) >= callers/2 {
		t.Errorf("%d transactions for %d concurrent appends: commits are not shared", len(w.txs), callers)
	}
}

func TestMaxEventsBoundsATransaction(t *testing.T) {
	w := &slowWriter{delay: 20 * time.Millisecond}
	c := New(w.write, 3)
	defer c.Close()
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() { c.Append(context.Background(), []store.Event{{}}, nil) }) //nolint:errcheck
	}
	wg.Wait()
	for _, tx := range w.txs {
		if len(tx) > 3 {
			t.Errorf("a transaction held %d events, limit 3", len(tx))
		}
	}
}

func TestErrorReachesEveryCallerOfTheTransaction(t *testing.T) {
	boom := errors.New("disk full")
	w := &slowWriter{err: boom, delay: 5 * time.Millisecond}
	c := New(w.write, 100)
	defer c.Close()
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := c.Append(context.Background(), []store.Event{{}}, nil); errors.Is(err, boom) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 10 {
		t.Fatalf("%d of 10 callers saw the write error", failed.Load())
	}
}

func TestCloseFlushesAndRefusesLaterAppends(t *testing.T) {
	w := &slowWriter{delay: 10 * time.Millisecond}
	c := New(w.write, 100)
	var wg sync.WaitGroup
	var acked atomic.Int32
	for range 20 {
		wg.Go(func() {
			if c.Append(context.Background(), []store.Event{{}}, nil) == nil {
				acked.Add(1)
			}
		})
	}
	time.Sleep(time.Millisecond)
	c.Close()
	wg.Wait()
	written := 0
	for _, tx := range w.txs {
		written += len(tx)
	}
	if int(acked.Load()) > written {
		t.Fatalf("%d appends acknowledged but only %d written", acked.Load(), written)
	}
	if err := c.Append(context.Background(), []store.Event{{}}, nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestCancelledCallerDoesNotAbortOthers(t *testing.T) {
	w := &slowWriter{delay: 30 * time.Millisecond}
	c := New(w.write, 100)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Append(ctx, []store.Event{{MessageID: "gone"}}, nil) }()
	other := make(chan error, 1)
	go func() { other <- c.Append(context.Background(), []store.Event{{MessageID: "stays"}}, nil) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Append = %v, want context.Canceled", err)
	}
	if err := <-other; err != nil {
		t.Errorf("the other caller's Append failed: %v", err)
	}
}
