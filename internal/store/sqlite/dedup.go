package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"roster/internal/store"
)

// Dedup keys are kept in memory and appended to dedup_log, not in a
// B-tree index: message ids are random, so an index would dirty about one
// page per event and each durable commit would write and checksum that many
// WAL frames, which capped the log at a third of its append speed. An
// append-only table costs one sequential row, and is read back into the set
// at start.

// dedup_log stores all 16 bytes of a store.DedupKey; memory holds 13 (see
// keySet for why that is still safe).

// seenSet knows, for each key claimed within the window, when, in Unix
// seconds (see keySet for how it is held).
type seenSet struct {
	keys      keySet
	nextSweep time.Time
	// sweeping is set while a sweep pass over keys is under way, a
	// budget of slots per commit.
	sweeping  bool
	nextPrune time.Time
}

func loadSeen(ctx context.Context, db *sql.DB, cutoff time.Time) (*seenSet, error) {
	s := &seenSet{}
	rows, err := db.QueryContext(ctx, "SELECT key, seen_at FROM dedup_log WHERE seen_at >= ?", cutoff.Unix())
	if err != nil {
		return nil, fmt.Errorf("sqlite: load dedup keys: %w", err)
	}
	defer rows.Close()
	var raw []byte
	var at int64
	for rows.Next() {
		if err := rows.Scan(&raw, &at); err != nil {
			return nil, fmt.Errorf("sqlite: load dedup keys: %w", err)
		}
		var k store.DedupKey
		copy(k[:], raw)
		s.keys.put(k, uint32(at)) // keeps the latest if k is logged twice
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load dedup keys: %w", err)
	}
	return s, nil
}

func (s *seenSet) len() int { return s.keys.len() }

// claim returns the events not seen since cutoff, first copy only, and
// their keys. Nothing is recorded until add, after the commit.
func (s *seenSet) claim(events []store.Event, cutoff time.Time) ([]store.Event, []store.DedupKey) {
	c := uint32(cutoff.Unix())
	fresh := make([]store.Event, 0, len(events))
	keys := make([]store.DedupKey, 0, len(events))
	var inGroup map[store.DedupKey]bool
	for i := range events {
		k := store.KeyOf(&events[i])
		if at, ok := s.keys.get(k); ok && at >= c {
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

func (s *seenSet) add(keys []store.DedupKey, now time.Time) {
	at := uint32(now.Unix())
	for _, k := range keys {
		// Only keys not seen since the cutoff were claimed, so the later
		// time put keeps is this one, as assigning it was in the map.
		s.keys.put(k, at)
	}
}

func insertKeys(ctx context.Context, tx *sql.Tx, keys []store.DedupKey, now time.Time) error {
	args := make([]any, 0, len(keys)*2)
	for i := range keys {
		args = append(args, keys[i][:], now.Unix())
	}
	if err := insertMany(ctx, tx, "INSERT INTO dedup_log(key, seen_at) VALUES ", 2, "", args); err != nil {
		return fmt.Errorf("sqlite: record dedup keys: %w", err)
	}
	return nil
}

// pruneBatch bounds how many expired dedup rows one commit deletes, so
// that forgetting never holds up ingestion for long.
const pruneBatch = 5000

// sweepBudget bounds how many in-memory slots one commit looks at for
// expired keys, for the same reason (the map this replaced was swept
// whole in one commit): measured at 0.1-0.2 ms a commit, small next to
// its fsync; a pass over five million keys is spread over about 200
// commits.
const sweepBudget = 1 << 15

// prune forgets keys older than the window: a slice of dedup_log rows in
// the caller's transaction when due, and a slice of the in-memory set
// while a sweep, started every eighth of the window, is under way.
func (s *seenSet) prune(ctx context.Context, tx *sql.Tx, now time.Time, window time.Duration) error {
	cutoff := now.Add(-window)
	if !s.sweeping && !now.Before(s.nextSweep) {
		s.sweeping = true
	}
	if s.sweeping && s.keys.sweep(uint32(cutoff.Unix()), sweepBudget) {
		s.sweeping = false
		s.nextSweep = now.Add(max(window/8, time.Minute))
	}
	if now.Before(s.nextPrune) {
		return nil
	}
	// Rows are appended in time order, so the expired ones are the first.
	res, err := tx.ExecContext(ctx,
		"DELETE FROM dedup_log WHERE id IN (SELECT id FROM dedup_log WHERE seen_at < ? ORDER BY id LIMIT ?)",
		cutoff.Unix(), pruneBatch)
	if err != nil {
		return fmt.Errorf("sqlite: prune dedup keys: %w", err)
	}
	if n, _ := res.RowsAffected(); n < pruneBatch {
		s.nextPrune = now.Add(time.Minute)
	}
	return nil
}
