package postgres

import (
	"context"
	"fmt"
)

// Head implements store.Log.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: log head: %w", err)
	}
	return seq, nil
}
