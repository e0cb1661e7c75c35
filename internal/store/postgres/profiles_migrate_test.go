package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// A database with profiles in the old tables (a row per trait) and a
// profile cursor past the log's start: the migration to records drops the
// old tables and sends the cursor back to 0, so that the processor
// rebuilds every profile from the log.
func TestMigrationToRecordsResetsTheCursor(t *testing.T) {
	url := pgtest.FreshSchema(t)
	ctx := context.Background()
	records := -1
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE profiles (") {
			records = i
		}
	}
	if records < 0 {
		t.Fatal("no migration creates the profiles table")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool, migrations[:records], discard()); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO cursors (name, seq) VALUES ('profiles', 42);
		INSERT INTO group_traits (workspace, group_id, key, name, value, ts, seq, source, message_id)
		VALUES ('ws', 'g1', 'plan', 'plan', '"old"', now(), 1, 'web', 'm0')`); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, url, store.Options{})
	if c, err := s.Cursor(ctx, store.ProfileCursor); err != nil || c != 0 {
		t.Fatalf("profile cursor after the migration = %d, %v; want 0", c, err)
	}
	var old bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('group_traits') IS NOT NULL").Scan(&old); err != nil || old {
		t.Errorf("group_traits still there: %v, %v", old, err)
	}
	if err := s.Append(ctx, []store.Event{storetest.Event("ws", "web", "m1")}, nil); err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, 100)
	if g, err := s.Group(ctx, "ws", "g1"); err != nil || g.Members != 1 || g.FirstMessageID != "m1" {
		t.Errorf("g1 rebuilt from the log = %+v, %v", g, err)
	}
}
