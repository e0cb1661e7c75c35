package dedupset

import (
	"time"

	"roster/internal/store"
)

// Claim returns the events not seen since cutoff, first copy only, and
// their keys. Nothing is recorded: the caller calls Add once the events
// are committed, so that a failed commit leaves them claimable.
func (ks *Set) Claim(events []store.Event, cutoff time.Time) ([]store.Event, []store.DedupKey) {
	c := uint32(cutoff.Unix())
	fresh := make([]store.Event, 0, len(events))
	keys := make([]store.DedupKey, 0, len(events))
	var inGroup map[store.DedupKey]bool
	for i := range events {
		k := store.KeyOf(&events[i])
		if at, ok := ks.Get(k); ok && at >= c {
			continue
		}
		if inGroup == nil {
			inGroup = make(map[store.DedupKey]bool, len(events))
		}
		if inGroup[k] {
			continue
		}
		inGroup[k] = true
		fresh = append(fresh, events[i])
		keys = append(keys, k)
	}
	return fresh, keys
}

// Add records claimed keys as seen at now.
func (ks *Set) Add(keys []store.DedupKey, now time.Time) {
	at := uint32(now.Unix())
	for _, k := range keys {
		// Only keys not seen since the cutoff were claimed, so the later
		// time Put keeps is this one.
		ks.Put(k, at)
	}
}
