package postgres

import (
	"context"
	"fmt"

	"roster/internal/store"
)

// trimBatch bounds the events one statement deletes, so that a first
// trim of a long log does not hold one huge transaction.
const trimBatch = 50000

// TrimLog implements store.Trimmer, no further than the log head and the
// profile cursor, which PostgreSQL commits with each batch it applies.
// log_head keeps the last position, so positions are never reused;
// profile_events keeps its rows and ProfileEvents, which joins events,
// skips the ones that are gone.
func (s *Store) TrimLog(ctx context.Context, through int64) (int64, error) {
	err := s.pool.QueryRow(ctx, `SELECT least($1::bigint, (SELECT seq FROM log_head WHERE id = 1),
		coalesce((SELECT seq FROM cursors WHERE name = $2), 0))`, through, store.ProfileCursor).Scan(&through)
	if err != nil {
		return 0, fmt.Errorf("postgres: trim the log: %w", err)
	}
	if through <= 0 {
		return 0, nil
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2)`, through, trimBatch)
		if err != nil {
			return 0, fmt.Errorf("postgres: trim the log: %w", err)
		}
		if tag.RowsAffected() < trimBatch {
			return through, nil
		}
	}
}
