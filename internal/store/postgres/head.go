package postgres

import (
	"context"
	"fmt"
)

// Head implements store.Log. log_head keeps the last position when
// retention has trimmed the events up to it (TrimLog).
func (s *Store) Head(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT greatest(coalesce(max(seq), 0), (SELECT seq FROM log_head WHERE id = 1)) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: log head: %w", err)
	}
	return seq, nil
}
