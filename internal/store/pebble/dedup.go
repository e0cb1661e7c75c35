package pebble

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/store"
	"roster/internal/store/dedupset"
)

// The dedup keys of the window are held in memory (dedupset.Set, loaded at
// start) and written under prefixDedup in the batch of their events, keyed
// by the second they were seen and then the key: loading reads the window
// as one range, and forgetting the expired keys is one range delete, where
// keys in hash order would need a sweep over all of them.

// sweepBudget bounds how many in-memory slots one commit looks at for
// expired keys, so that forgetting never holds up an append for long.
const sweepBudget = 1 << 15

// window is the in-memory side of dedup. It is used under appender.mu.
type window struct {
	keys      dedupset.Set
	sweeping  bool
	nextSweep time.Time
	nextPrune time.Time
}

func dedupKey(seen time.Time, k store.DedupKey) []byte {
	b := appendInt64([]byte{prefixDedup}, seen.Unix())
	return append(b, k[:]...)
}

// loadWindow reads the keys seen since cutoff.
func loadWindow(ctx context.Context, db *pebble.DB, cutoff time.Time, w *window) error {
	it, err := db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: appendInt64([]byte{prefixDedup}, cutoff.Unix()),
		UpperBound: []byte{prefixDedup + 1},
	})
	if err != nil {
		return fmt.Errorf("pebble: load dedup keys: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		seen, rest, err := readInt64(k[1:])
		if err != nil || len(rest) != len(store.DedupKey{}) {
			it.Close()
			return fmt.Errorf("pebble: load dedup keys: %w", errKey)
		}
		w.keys.Put(store.DedupKey(rest), uint32(seen)) // keeps the latest if seen twice
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebble: load dedup keys: %w", err)
	}
	return nil
}

// claim reports which of the keys are new: not seen since cutoff, and the
// first of their kind in keys.
func (w *window) claim(keys []store.DedupKey, cutoff time.Time) []bool {
	c := uint32(cutoff.Unix())
	fresh := make([]bool, len(keys))
	var inBatch map[store.DedupKey]bool
	for i, k := range keys {
		if at, ok := w.keys.Get(k); ok && at >= c {
			continue
		}
		if inBatch == nil {
			inBatch = make(map[store.DedupKey]bool, len(keys))
		}
		if inBatch[k] {
			continue
		}
		inBatch[k] = true
		fresh[i] = true
	}
	return fresh
}

// prune forgets keys older than the window: on disk with a range delete
// in b once a minute, in memory a slice of the set per commit while a
// sweep, started every eighth of the window, is under way.
func (w *window) prune(b *pebble.Batch, now time.Time, span time.Duration) error {
	cutoff := now.Add(-span)
	if !w.sweeping && !now.Before(w.nextSweep) {
		w.sweeping = true
	}
	if w.sweeping && w.keys.Sweep(uint32(cutoff.Unix()), sweepBudget) {
		w.sweeping = false
		w.nextSweep = now.Add(max(span/8, time.Minute))
	}
	if now.Before(w.nextPrune) {
		return nil
	}
	w.nextPrune = now.Add(time.Minute)
	if err := b.DeleteRange([]byte{prefixDedup}, appendInt64([]byte{prefixDedup}, cutoff.Unix()), nil); err != nil {
		return fmt.Errorf("pebble: prune dedup keys: %w", err)
	}
	return nil
}
