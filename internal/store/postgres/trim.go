package postgres

import (
	"context"
	"fmt"
)

// trimBatch bounds the events one statement deletes, so that a first
// trim of a long log does not hold one huge transaction.
const trimBatch = 50000

// TrimLog implements store.Trimmer. log_head keeps the last position, so
// positions are never reused; profile_events keeps its rows and
// ProfileEvents, which joins events, skips the ones that are gone.
func (s *Store) TrimLog(ctx context.Context, through int64) error {
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE seq <= least($1, (SELECT seq FROM log_head WHERE id = 1)) ORDER BY seq LIMIT $2)`,
			through, trimBatch)
		if err != nil {
			return fmt.Errorf("postgres: trim the log: %w", err)
		}
		if tag.RowsAffected() < trimBatch {
			return nil
		}
	}
}
