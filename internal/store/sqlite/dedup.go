package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"roster/internal/store"
	"roster/internal/store/dedupset"
)

// Dedup keys are kept in memory and appended to dedup_log, not in a
// B-tree index: message ids are random, so an index would dirty about one
// page per event and each durable commit would write and checksum that many
// WAL frames, which capped the log at a third of its append speed. An
// append-only table costs one sequential row, and is read back into the set
// at start.

// dedup_log stores all 16 bytes of a store.DedupKey; memory holds 13 (see
// dedupset.Set for why that is still safe).

// seenSet knows, for each key claimed within the window, when, in Unix
// seconds (see dedupset.Set for how it is held).
type seenSet struct {
	keys      dedupset.Set
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
		s.keys.Put(k, uint32(at)) // keeps the latest if k is logged twice
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load dedup keys: %w", err)
	}
	return s, nil
}

func (s *seenSet) len() int { return s.keys.Len() }

func (s *seenSet) claim(events []store.Event, cutoff time.Time) ([]store.Event, []store.DedupKey) {
	return s.keys.Claim(events, cutoff)
}

func (s *seenSet) add(keys []store.DedupKey, now time.Time) { s.keys.Add(keys, now) }

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
	if s.sweeping && s.keys.Sweep(uint32(cutoff.Unix()), sweepBudget) {
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
