package postgres

import (
	"context"
	"fmt"
	"time"
)

// Lease implements store.Leases. Expiry is decided by the database's
// clock, so the nodes' clocks need not agree.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases AS l (name, holder, expires_at) VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()`,
		name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("postgres: lease %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Release implements store.Leases.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder); err != nil {
		return fmt.Errorf("postgres: release %s: %w", name, err)
	}
	return nil
}
