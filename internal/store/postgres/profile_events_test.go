package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
)

// Profile events filed before they had a time get their events' times, so
// that /events reads old events in time order.
func TestMigrationFilesProfileEventsByTime(t *testing.T) {
	ctx := context.Background()
	url := pgtest.FreshSchema(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrate(ctx, pool, migrations[:6], discard()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// Logged newest first: the log order is the reverse of the time order.
	for i, id := range []string{"m0", "m1", "m2"} {
		seq := int64(i + 1)
		if _, err := pool.Exec(ctx, `INSERT INTO events (seq, workspace, source, message_id, type, received_at, timestamp, body, user_id, anonymous_id, previous_id, group_id, name)
			VALUES ($1, 'ws', 'web', $2, 'group', $3, $4, '{}', 'u1', '', '', 'g1', '')`,
			seq, id, t0, t0.Add(-time.Duration(i)*time.Hour+time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO profile_events (workspace, collection, profile_key, seq) VALUES ('ws', 'accounts', 'g1', $1)`, seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE log_head SET seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO profiles (workspace, kind, id, record) VALUES ('ws', 'g', 'g1', '\x01')`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, migrations, discard()); err != nil {
		t.Fatal(err)
	}
	var ats []int64
	rows, err := pool.Query(ctx, `SELECT at FROM profile_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		ats = append(ats, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []int64{t0.UnixMilli() + 1, t0.Add(-time.Hour).UnixMilli() + 1, t0.Add(-2*time.Hour).UnixMilli() + 1}
	if !slices.Equal(ats, want) {
		t.Errorf("times of the profile events = %v, want their events' %v", ats, want)
	}
	s := openAt(t, url, store.Options{})
	evs, err := s.ProfileEvents(ctx, "ws", store.Accounts, "g1", store.EventPage{Ascending: true, Limit: 10})
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.MessageID)
	}
	if err != nil || !slices.Equal(ids, []string{"m2", "m1", "m0"}) {
		t.Errorf("events oldest first = %v, %v; want m2 m1 m0", ids, err)
	}
}
