package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/spec"
	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
)

// oldBodies are events as ingestion logged them before the fields had
// columns; the last one is not JSON.
var oldBodies = []string{
	`{"type":"group","messageId":"m1","userId":"u1","groupId":"acme","traits":{"name":"Acme"},"context":{"groupId":"other"}}`,
	`{"type":"track","messageId":"m2","anonymousId":"a2","event":"Signed Up","context":{"groupId":1e3}}`,
	`{"type":"group","messageId":"m3","anonymousId":"a2","groupId":"beta"}`,
	`{"type":"alias","messageId":"m4","userId":"u2","previousId":"a2"}`,
	`{"type":"page","messageId":"m5","userId":"u4","name":"Home","context":{"groupId":"g\u00e9x"}}`,
	`{"type":"screen","messageId":"m6","userId":"u5","name":7,"context":{"groupId":1.50}}`,
	`{"type":"identify","messageId":"m7","userId":"u6","previousId":"ignored","context":{"groupId":true}}`,
	`{oops}`,
}

// logOld inserts bodies at the next positions as a node that predates
// the fields' columns did: without them.
func logOld(t *testing.T, pool *pgxpool.Pool, bodies []string) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, b := range bodies {
		var head struct{ Type, MessageID string }
		json.Unmarshal([]byte(b), &head) //nolint:errcheck // the body that is not JSON keeps ""
		if _, err := pool.Exec(ctx, `WITH head AS (UPDATE log_head SET seq = seq + 1 RETURNING seq)
			INSERT INTO events (seq, workspace, source, message_id, type, received_at, timestamp, body)
			SELECT seq, 'ws', 'web', $1, $2, $3, $3, $4 FROM head`,
			head.MessageID, head.Type, at.Add(time.Duration(i)*time.Second), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFields fails unless each event's fields are what spec.ReadStored
// reads from its body (none for a body it cannot read).
func checkFields(t *testing.T, evs []store.Event) {
	t.Helper()
	for _, e := range evs {
		var want spec.Routing
		if m, err := spec.ReadStored(e.Body); err == nil {
			want = m.Routing
		}
		got := spec.Routing{UserID: e.UserID, AnonymousID: e.AnonymousID, PreviousID: e.PreviousID, GroupID: e.GroupID, Name: e.Name}
		if got != want {
			t.Errorf("event %d %s:\n got %+v\nwant %+v", e.Seq, e.Body, got, want)
		}
	}
}

// schemaBeforeFields returns a fresh schema migrated up to the one before
// the events' field columns, and a pool on it.
func schemaBeforeFields(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.FreshSchema(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrate(context.Background(), pool, migrations[:4], discard()); err != nil {
		t.Fatal(err)
	}
	return url, pool
}

// Events logged before the fields' columns, and one logged by a node that
// did not know them after they were added (so with their default ""),
// are filled when the store opens, and a rebuild of profiles from the
// whole log then finds their identities and groups.
func TestOpenBackfillsEventFields(t *testing.T) {
	url, pool := schemaBeforeFields(t)
	ctx := context.Background()
	logOld(t, pool, oldBodies[:len(oldBodies)-2])
	if err := migrate(ctx, pool, migrations[:5], discard()); err != nil {
		t.Fatal(err)
	}
	logOld(t, pool, oldBodies[len(oldBodies)-2:])

	s := openAt(t, url, store.Options{})
	evs, err := s.Read(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(oldBodies) {
		t.Fatalf("read %d events, want %d", len(evs), len(oldBodies))
	}
	checkFields(t, evs)
	if e := evs[1]; e.GroupID != "1000" || e.Name != "Signed Up" || e.AnonymousID != "a2" {
		t.Errorf("track with context.groupId 1e3 filled as %+v", e)
	}
	if e := evs[3]; e.UserID != "u2" || e.PreviousID != "a2" {
		t.Errorf("alias filled as %+v", e)
	}

	applyAll(t, s, 100)
	if g, err := s.Group(ctx, "ws", "acme"); err != nil || g.Members != 1 {
		t.Errorf("group acme = %+v, %v; want 1 member", g, err)
	}
	ku, err := s.ResolveUser(ctx, "ws", store.IDUserID, "u2")
	if err != nil {
		t.Fatal(err)
	}
	if ka, err := s.ResolveUser(ctx, "ws", store.IDAnonymousID, "a2"); err != nil || ka != ku {
		t.Errorf("anonymous_id:a2 → %q, %v; want the profile of user_id:u2, %q", ka, err, ku)
	}
	if gs, err := s.UserGroups(ctx, "ws", ku); err != nil || len(gs) != 1 || gs[0].GroupID != "beta" {
		t.Errorf("groups of u2 = %+v, %v; want beta, joined while anonymous", gs, err)
	}
	if evs, err := s.ProfileEvents(ctx, "ws", store.Accounts, "1000", store.EventPage{Limit: 10}); err != nil || len(evs) != 1 || evs[0].MessageID != "m2" {
		t.Errorf("events of group 1000 = %+v, %v; want the track of context.groupId 1e3", evs, err)
	}

	// Rows logged after the mark keep what was appended, even where it
	// is not what the body says: a reopen fills nothing again.
	e := evs[0]
	e.MessageID, e.Name = "later", "kept"
	if err := s.Append(ctx, []store.Event{e}, nil); err != nil {
		t.Fatal(err)
	}
	again := openAt(t, url, store.Options{})
	if evs, err := again.Read(ctx, int64(len(oldBodies)), 10); err != nil || len(evs) != 1 || evs[0].Name != "kept" {
		t.Errorf("event appended after the backfill reads back as %+v, %v", evs, err)
	}
}

// Nodes that open the database together share the backfill batch by
// batch, and the result is the same as one node's.
func TestConcurrentBackfills(t *testing.T) {
	url, pool := schemaBeforeFields(t)
	ctx := context.Background()
	var bodies []string
	for i := range 50 {
		bodies = append(bodies, fmt.Sprintf(`{"type":"track","messageId":"m%d","userId":"u%d","event":"E%d","context":{"groupId":%d}}`, i, i, i, i))
	}
	logOld(t, pool, bodies)
	if err := migrate(ctx, pool, migrations, discard()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = backfillEventFields(ctx, pool, 7, discard()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var done, upto int64
	if err := pool.QueryRow(ctx, "SELECT done, upto FROM event_fields_backfill").Scan(&done, &upto); err != nil || done != 50 || upto != 50 {
		t.Fatalf("backfill progress = %d of %d, %v; want 50 of 50", done, upto, err)
	}
	s := openAt(t, url, store.Options{})
	evs, err := s.Read(ctx, 0, 100)
	if err != nil || len(evs) != 50 {
		t.Fatalf("read %d events, %v; want 50", len(evs), err)
	}
	checkFields(t, evs)
	if e := evs[49]; e.UserID != "u49" || e.GroupID != "49" || e.Name != "E49" {
		t.Errorf("last event filled as %+v", e)
	}
}
