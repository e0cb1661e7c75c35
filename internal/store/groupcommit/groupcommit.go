// Package groupcommit lets many concurrent writers share one transaction:
// while a commit is in flight, new appends queue up and all of them go into
// the next one. Throughput then grows with concurrency instead of collapsing
// into one fsync per request.
package groupcommit

import (
	"context"
	"sync"

	"roster/internal/store"
)

// WriteFunc commits a batch in one transaction, durably.
type WriteFunc func(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error

// Committer batches appends into WriteFunc calls from a single goroutine.
type Committer struct {
	write     WriteFunc
	maxEvents int
	in        chan *request
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex // held for reading while sending to in; Close takes it to stop sends
	closed    bool
}

type request struct {
	events      []store.Event
	quarantined []store.Quarantined
	result      chan error
}

// New starts a Committer. maxEvents bounds one transaction (it is exceeded
// only by a single larger append).
func New(write WriteFunc, maxEvents int) *Committer {
	c := &Committer{
		write:     write,
		maxEvents: maxEvents,
		in:        make(chan *request, 4096),
		done:      make(chan struct{}),
	}
	go c.loop()
	return c
}

// Append queues the records and waits until they are committed. If ctx ends
// first, the records may or may not be committed; the caller must not
// acknowledge them.
func (c *Committer) Append(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	if len(events) == 0 && len(quarantined) == 0 {
		return nil
	}
	r := &request{events: events, quarantined: quarantined, result: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case c.in <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close commits everything queued and stops the loop.
func (c *Committer) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.in)
		c.mu.Unlock()
		<-c.done
	})
}

func (c *Committer) loop() {
	defer close(c.done)
	var (
		batch       []*request
		events      []store.Event
		quarantined []store.Quarantined
	)
	for first := range c.in {
		batch = append(batch[:0], first)
		n := len(first.events) + len(first.quarantined)
	gather:
		for n < c.maxEvents {
			select {
			case r, ok := <-c.in:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				n += len(r.events) + len(r.quarantined)
			default:
				break gather
			}
		}
		events, quarantined = events[:0], quarantined[:0]
		for _, r := range batch {
			events = append(events, r.events...)
			quarantined = append(quarantined, r.quarantined...)
		}
		// The requests' own contexts must not abort a transaction that
		// others share.
		err := c.write(context.Background(), events, quarantined)
		off := 0
		for _, r := range batch {
			// Each request's events get the positions (or 0 for a
			// duplicate) that write gave the group's copies.
			for i := range r.events {
				r.events[i].Seq = events[off+i].Seq
			}
			off += len(r.events)
			r.result <- err
		}
		clear(batch)
		clear(events)
		clear(quarantined)
	}
}
