package console

import (
	"sync"
	"time"

	"roster/internal/store"
)

const chartMinutes = 60

// rates counts committed calls per workspace, call type and minute over
// the last hour. It counts what this node acknowledged since it started:
// reading an hour of the log back would cost a busy server far more than
// the chart is worth.
type rates struct {
	now func() time.Time
	mu  sync.Mutex
	ws  map[string]*minuteRing
}

type minuteRing struct {
	// minute[i] is the Unix minute counts[i] is about.
	minute [chartMinutes]int64
	counts [chartMinutes][len(callTypesIndex)]int64
}

// callTypesIndex are the call types the overview charts, in the legend's
// order, and "quarantined" for rejected messages; the index of a type is
// its column in minuteRing.counts.
var callTypesIndex = [...]string{"group", "identify", "track", "page", "screen", "alias", "quarantined"}

func typeIndex(t string) int {
	for i, c := range callTypesIndex {
		if c == t {
			return i
		}
	}
	return -1
}

func newRates(now func() time.Time) *rates {
	return &rates{now: now, ws: map[string]*minuteRing{}}
}

func (r *rates) add(events []store.Event, quarantined []store.Quarantined) {
	if len(events) == 0 && len(quarantined) == 0 {
		return
	}
	minute := r.now().Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range events {
		r.count(events[i].Workspace, minute, typeIndex(events[i].Type))
	}
	q := typeIndex("quarantined")
	for i := range quarantined {
		r.count(quarantined[i].Workspace, minute, q)
	}
}

func (r *rates) count(workspace string, minute int64, col int) {
	if col < 0 {
		return
	}
	ring := r.ws[workspace]
	if ring == nil {
		ring = &minuteRing{}
		r.ws[workspace] = ring
	}
	slot := minute % chartMinutes
	if ring.minute[slot] != minute {
		ring.minute[slot] = minute
		ring.counts[slot] = [len(callTypesIndex)]int64{}
	}
	ring.counts[slot][col]++
}

// series is a workspace's counts per call type for the last chartMinutes
// minutes, oldest first; the last one is the minute under way.
func (r *rates) series(workspace string) (end time.Time, counts map[string][]int64) {
	minute := r.now().Unix() / 60
	counts = map[string][]int64{}
	for _, t := range callTypesIndex {
		counts[t] = make([]int64, chartMinutes)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ring := r.ws[workspace]; ring != nil {
		for i := range chartMinutes {
			m := minute - int64(chartMinutes-1-i)
			slot := ((m % chartMinutes) + chartMinutes) % chartMinutes
			if ring.minute[slot] != m {
				continue
			}
			for c, t := range callTypesIndex {
				counts[t][i] = ring.counts[slot][c]
			}
		}
	}
	return time.Unix((minute+1)*60, 0).UTC(), counts
}
