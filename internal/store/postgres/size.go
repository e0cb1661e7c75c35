package postgres

import (
	"context"
	"fmt"
)

// partOf names the part of the data each table belongs to, for Sizes.
var partOf = map[string]string{
	"events": "log", "log_head": "log", "dedup": "log",
	"quarantine": "quarantine",
	"profiles":   "profiles", "identities": "profiles", "memberships": "profiles",
	"profile_events": "profiles", "trait_history": "profiles", "cursors": "profiles",
	"destinations": "outbox", "deliveries": "outbox",
	"sources": "other", "access_tokens": "other", "leases": "other", "schema_migrations": "other",
}

// Sizes implements store.Sizer: each table with its indexes and TOAST,
// as PostgreSQL counts them; total is the sum of Roster's tables (the
// database may hold others).
func (s *Store) Sizes(ctx context.Context) (map[string]int64, error) {
	tables := make([]string, 0, len(partOf))
	for t := range partOf {
		tables = append(tables, t)
	}
	rows, err := s.pool.Query(ctx, `SELECT t, coalesce(pg_total_relation_size(to_regclass(t)), 0) FROM unnest($1::text[]) AS u(t)`, tables)
	if err != nil {
		return nil, fmt.Errorf("postgres: sizes: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("postgres: sizes: %w", err)
		}
		out[partOf[t]] += n
		out["total"] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: sizes: %w", err)
	}
	return out, nil
}
