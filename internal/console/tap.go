package console

import (
	"sync"
	"sync/atomic"
	"time"

	"roster/internal/store"
)

// subscriberBuffer is how many messages a debugger may fall behind before
// it loses some: a browser that reads slower than ingestion loses
// messages from its own view, never slowing anyone else.
const subscriberBuffer = 256

// Hub is the ingest tap: it counts committed calls for the overview's
// chart and hands them to the debuggers watching a workspace. Committed
// never blocks.
type Hub struct {
	rates *rates

	mu   sync.RWMutex
	subs map[*subscription]struct{}
	// watched lets Committed skip the lock when no debugger is open.
	watched atomic.Int32
}

// NewHub returns a Hub whose chart uses now as its clock (nil: time.Now).
func NewHub(now func() time.Time) *Hub {
	if now == nil {
		now = time.Now
	}
	return &Hub{rates: newRates(now), subs: map[*subscription]struct{}{}}
}

// tapped is one committed message as a debugger receives it: an event or
// a quarantined message.
type tapped struct {
	event       *store.Event
	quarantined *store.Quarantined
}

// subscription is one debugger's view of a workspace.
type subscription struct {
	workspace string
	ch        chan tapped
	dropped   atomic.Int64
}

// Committed implements ingest.Tap.
func (h *Hub) Committed(events []store.Event, quarantined []store.Quarantined) {
	h.rates.add(events, quarantined)
	if h.watched.Load() == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		for i := range events {
			if events[i].Workspace == s.workspace {
				s.offer(tapped{event: &events[i]})
			}
		}
		for i := range quarantined {
			if quarantined[i].Workspace == s.workspace {
				s.offer(tapped{quarantined: &quarantined[i]})
			}
		}
	}
}

// offer hands a message over, or counts it lost when the reader is behind.
func (s *subscription) offer(t tapped) {
	select {
	case s.ch <- t:
	default:
		s.dropped.Add(1)
	}
}

// subscribe starts a view of workspace; cancel ends it.
func (h *Hub) subscribe(workspace string) (sub *subscription, cancel func()) {
	s := &subscription{workspace: workspace, ch: make(chan tapped, subscriberBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.watched.Add(1)
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.watched.Add(-1)
		h.mu.Unlock()
	}
}
