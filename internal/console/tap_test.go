package console

import (
	"testing"
	"time"

	"roster/internal/store"
)

// A debugger that does not read loses messages from its own view; the
// tap never waits for it, and another workspace's debugger gets nothing.
func TestHubNeverBlocksIngestion(t *testing.T) {
	h := NewHub(nil)
	slow, cancel := h.subscribe("ws")
	defer cancel()
	other, cancelOther := h.subscribe("other")
	defer cancelOther()
	events := make([]store.Event, 100)
	for i := range events {
		events[i] = store.Event{Workspace: "ws", Type: "track"}
	}
	start := time.Now()
	for range 100 {
		h.Committed(events, nil)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10,000 committed events took %v with a stuck reader", d)
	}
	if got, want := len(slow.ch), subscriberBuffer; got != want {
		t.Errorf("buffered %d, want %d", got, want)
	}
	if got, want := slow.dropped.Load(), int64(10000-subscriberBuffer); got != want {
		t.Errorf("dropped %d, want %d", got, want)
	}
	if len(other.ch) != 0 {
		t.Errorf("another workspace's debugger got %d messages", len(other.ch))
	}
	_, counts := h.rates.series("ws")
	if n := counts["track"][chartMinutes-1]; n != 10000 {
		t.Errorf("the chart counted %d tracks this minute, want 10000", n)
	}
}

func TestRatesKeepTheLastHour(t *testing.T) {
	now := time.Date(2024, 1, 1, 10, 0, 30, 0, time.UTC)
	r := newRates(func() time.Time { return now })
	r.add([]store.Event{{Workspace: "ws", Type: "group"}, {Workspace: "ws", Type: "identify"}}, []store.Quarantined{{Workspace: "ws"}})
	now = now.Add(30 * time.Minute)
	r.add([]store.Event{{Workspace: "ws", Type: "group"}}, nil)
	_, c := r.series("ws")
	if c["group"][chartMinutes-31] != 1 || c["group"][chartMinutes-1] != 1 || c["identify"][chartMinutes-31] != 1 || c["quarantined"][chartMinutes-31] != 1 {
		t.Errorf("series = %v", c)
	}
	now = now.Add(31 * time.Minute)
	_, c = r.series("ws")
	for _, n := range c["identify"] {
		if n != 0 {
			t.Errorf("a count older than an hour is still charted: %v", c["identify"])
		}
	}
}
