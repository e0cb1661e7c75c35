package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"roster/internal/profile"
	"roster/internal/store"
)

// A profile's events are filed by their corrected timestamp, then their
// log position, so that /events reads them in time order in either
// direction from the primary key.

// profileEventTimesMigration files each profile event by its event's
// timestamp (Unix milliseconds, as store.EventPosition has it). A row whose
// event is gone from the log sorts first.
const profileEventTimesMigration = `ALTER TABLE profile_events ADD COLUMN at bigint;
UPDATE profile_events p SET at = floor(extract(epoch FROM e.timestamp) * 1000)::bigint FROM events e WHERE e.seq = p.seq;
UPDATE profile_events SET at = 0 WHERE at IS NULL;
ALTER TABLE profile_events ALTER COLUMN at SET NOT NULL;
ALTER TABLE profile_events DROP CONSTRAINT profile_events_pkey;
ALTER TABLE profile_events ADD PRIMARY KEY (workspace, collection, profile_key, at, seq);`

func queueEvents(b *pgx.Batch, events []profile.EventRef) {
	if len(events) == 0 {
		return
	}
	n := len(events)
	ws, collections, keys, ats, seqs := make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
	for i, e := range events {
		ws[i], collections[i], keys[i], ats[i], seqs[i] = e.Workspace, e.Collection, e.Key, e.At, e.Seq
	}
	b.Queue(`INSERT INTO profile_events (workspace, collection, profile_key, at, seq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) ON CONFLICT DO NOTHING`,
		ws, collections, keys, ats, seqs)
}

// ProfileEvents implements store.Profiles. A user's events are those filed
// under its key and under the keys of the profiles merged into it; each
// key's first are read by the primary key, then the first of those kept.
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, page store.EventPage) ([]store.Event, error) {
	keys := []string{key}
	switch collection {
	case store.Users:
		r, err := s.record(ctx, workspace, profile.User, key)
		if err != nil {
			return nil, err
		}
		keys = append(keys, r.Merged...)
	case store.Accounts:
	default:
		return nil, fmt.Errorf("postgres: profile events: unknown collection %q: want users or accounts", collection)
	}
	// Row comparisons use the primary key in either direction.
	cmp, order := "<", "DESC"
	if page.Ascending {
		cmp, order = ">", "ASC"
	}
	after := page.After
	if after.Seq == 0 { // from the first: past every event
		after = store.EventPosition{At: math.MaxInt64, Seq: math.MaxInt64}
		if page.Ascending {
			after = store.EventPosition{At: math.MinInt64, Seq: 0}
		}
	}
	bound := "(at, seq) " + cmp + " ($4, $5)"
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events JOIN
		(SELECT p.at, p.seq AS pseq FROM unnest($3::text[]) AS k(key) CROSS JOIN LATERAL
			(SELECT at, seq FROM profile_events WHERE workspace = $1 AND collection = $2 AND profile_key = k.key AND `+bound+`
			 ORDER BY at `+order+`, seq `+order+` LIMIT $6) AS p
		ORDER BY p.at `+order+`, p.seq `+order+` LIMIT $6) AS page ON events.seq = page.pseq
		WHERE workspace = $1
		ORDER BY page.at `+order+`, page.pseq `+order,
		workspace, collection, keys, after.At, after.Seq, store.PageLimit(page.Limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: profile events of %s/%q: %w", collection, key, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 && collection == store.Accounts {
		return nil, s.require(ctx, workspace, profile.Group, key)
	}
	return events, nil
}
