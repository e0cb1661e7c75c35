package sqlite

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"roster/internal/spec"
	"roster/internal/store"
)

// TestMigrationBackfillsEventFields logs events with the first schema,
// then opens the store: the migration that adds the fields ingestion
// computes fills them from each body as spec does.
func TestMigrationBackfillsEventFields(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, r, err := openDB(filepath.Join(dir, "roster.db"), "FULL")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, w, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		`{"type":"group","messageId":"m1","userId":"u1","anonymousId":"a1","groupId":"g1","context":{"groupId":"other"}}`,
		`{"type":"track","messageId":"m2","anonymousId":"a\u00e9","event":"Signed Up","context":{"groupId":1e3}}`,
		`{"type":"track","messageId":"m3","userId":"u3","event":"E","context":{"groupId":12345678901234567890}}`,
		`{"type":"page","messageId":"m4","userId":"u4","name":"Home","context":{"groupId":"g\u0000x","ip":"1.2.3.4"}}`,
		`{"type":"screen","messageId":"m5","userId":"u5","name":7,"context":{"groupId":1.50}}`,
		`{"type":"alias","messageId":"m6","userId":"u6","previousId":"a6"}`,
		`{"type":"identify","messageId":"m7","userId":"u7","previousId":"ignored","context":{"groupId":true}}`,
		`{"type":"track","messageId":"m8","userId":"u8","event":"E","context":{"groupId":-0}}`,
		`{"type":"track","messageId":"m9","userId":"u9","event":"E","context":null}`,
	}
	for _, b := range bodies {
		if _, err := w.ExecContext(ctx, `INSERT INTO events(workspace, source, message_id, type, received_at, timestamp, body)
			VALUES ('ws', 'web', json_extract(?1, '$.messageId'), json_extract(?1, '$.type'), 0, 0, CAST(?1 AS BLOB))`, b); err != nil {
			t.Fatal(err)
		}
	}
	// A body that is not JSON must not stop the migration.
	if _, err := w.ExecContext(ctx, `INSERT INTO events(workspace, source, message_id, type, received_at, timestamp, body)
		VALUES ('ws', 'web', 'bad', 'track', 0, 0, x'7b6f6f70737d')`); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()

	s, err := Open(ctx, dir, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Read(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(bodies)+1 {
		t.Fatalf("read %d events, want %d", len(evs), len(bodies)+1)
	}
	for i, b := range bodies {
		m, err := spec.ReadStored([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		want := m.Routing
		e := evs[i]
		got := spec.Routing{UserID: e.UserID, AnonymousID: e.AnonymousID, PreviousID: e.PreviousID, GroupID: e.GroupID, Name: e.Name}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", b, got, want)
		}
	}
	if e := evs[1]; e.GroupID != "1000" || e.Name != "Signed Up" || e.AnonymousID != "aé" {
		t.Errorf("track with context.groupId 1e3 backfilled as %+v", e)
	}
	if e := evs[len(bodies)]; e.UserID != "" || e.GroupID != "" {
		t.Errorf("unreadable body got fields %+v", e)
	}
}
