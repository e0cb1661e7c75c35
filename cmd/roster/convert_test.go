//go:build cgo

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // writes the old-format fixtures

	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

// The old format's tables as the SQLite store's migrations shipped them,
// copied here so that the test outlives that package: the first migration
// (events without the columns of the second), and events as the second
// left it.
const (
	oldSchemaFirst = `CREATE TABLE events (
		seq         INTEGER PRIMARY KEY,
		workspace   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		message_id  TEXT    NOT NULL,
		type        TEXT    NOT NULL,
		received_at INTEGER NOT NULL,
		timestamp   INTEGER NOT NULL,
		warnings    TEXT,
		body        BLOB    NOT NULL
	);
	CREATE TABLE dedup_log (
		id      INTEGER PRIMARY KEY,
		key     BLOB    NOT NULL,
		seen_at INTEGER NOT NULL
	);
	CREATE TABLE quarantine (
		id          INTEGER PRIMARY KEY,
		workspace   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		received_at INTEGER NOT NULL,
		message_id  TEXT    NOT NULL,
		code        TEXT    NOT NULL,
		reason      TEXT    NOT NULL,
		raw         BLOB    NOT NULL
	);
	CREATE INDEX quarantine_workspace ON quarantine (workspace, id);
	CREATE TABLE sources (
		write_key  TEXT PRIMARY KEY,
		workspace  TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE access_tokens (
		hash       BLOB PRIMARY KEY,
		workspace  TEXT    NOT NULL,
		name       TEXT    NOT NULL,
		created_at INTEGER NOT NULL
	);
	PRAGMA user_version = 1;`
	oldSchemaRouting = `ALTER TABLE events ADD COLUMN user_id      TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN anonymous_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN previous_id  TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN group_id     TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN name         TEXT NOT NULL DEFAULT '';
	PRAGMA user_version = 2;`
)

var convertEpoch = time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)

// oldEvent is an event of a fixture and what the converted log must hold.
type oldEvent struct {
	store.Event
	// groupLost says that in an old directory with the routing columns
	// the group is empty, as the migration's SQL left a context.groupId
	// written 1e3.
	groupLost bool
}

func convertFixture() []oldEvent {
	at := func(minutes int) time.Time { return convertEpoch.Add(time.Duration(minutes) * time.Minute) }
	ev := func(minutes int, typ, id, body string) store.Event {
		return store.Event{Workspace: "default", Source: "web", MessageID: id, Type: typ,
			ReceivedAt: at(minutes), Timestamp: at(minutes).Add(-time.Second), Body: []byte(body)}
	}
	group := ev(0, "group", "m1", `{"type":"group","messageId":"m1","userId":"u1","groupId":"acme","traits":{"name":"Acme Inc","plan":"enterprise","employees":"many"}}`)
	group.Warnings = []string{"traits.employees: must be a number"}
	group.UserID, group.GroupID = "u1", "acme"
	identify := ev(1, "identify", "m2", `{"type":"identify","messageId":"m2","userId":"u1","anonymousId":"a1","traits":{"email":"ada@acme.test"}}`)
	identify.UserID, identify.AnonymousID = "u1", "a1"
	track := ev(2, "track", "m3", `{"type":"track","messageId":"m3","userId":"u1","event":"Signed Up","context":{"groupId":1e3}}`)
	track.UserID, track.GroupID, track.Name = "u1", "1000", "Signed Up"
	alias := ev(3, "alias", "m4", `{"type":"alias","messageId":"m4","userId":"u1","previousId":"a0"}`)
	alias.UserID, alias.PreviousID = "u1", "a0"
	page := ev(4, "page", "m5", `{"type":"page","messageId":"m5","anonymousId":"a2","name":"Pricing"}`)
	page.Workspace, page.AnonymousID, page.Name = "other", "a2", "Pricing"
	return []oldEvent{{group, false}, {identify, false}, {track, true}, {alias, false}, {page, false}}
}

var (
	convertSource = store.Source{Workspace: "default", Name: "web", WriteKey: "wk_old"}
	convertToken  = func() store.AccessToken {
		h := sha256.Sum256([]byte("tok_old"))
		return store.AccessToken{Workspace: "default", Name: "ops", Hash: h[:]}
	}()
	convertQuarantined = store.Quarantined{Workspace: "default", Source: "web", ReceivedAt: convertEpoch.Add(90 * time.Second),
		MessageID: "bad1", Code: "missing_field", Reason: "groupId: is required for group calls", Raw: []byte(`{"type":"group","messageId":"bad1","userId":"u1"}`)}
)

// writeOldDir writes a data directory in the old format with the driver
// alone: roster.db with the fixture, a lock file as a server leaves it.
func writeOldDir(t *testing.T, dir string, routing bool, events []oldEvent) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "roster.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(oldSchemaFirst)
	if routing {
		exec(oldSchemaRouting)
	}
	for _, e := range events {
		var warnings any
		if len(e.Warnings) > 0 {
			b, _ := json.Marshal(e.Warnings)
			warnings = string(b)
		}
		exec("INSERT INTO events(workspace, source, message_id, type, received_at, timestamp, warnings, body) VALUES (?,?,?,?,?,?,?,?)",
			e.Workspace, e.Source, e.MessageID, e.Type, e.ReceivedAt.UnixMilli(), e.Timestamp.UnixMilli(), warnings, e.Body)
		if routing {
			group := e.GroupID
			if e.groupLost {
				group = ""
			}
			exec("UPDATE events SET user_id = ?, anonymous_id = ?, previous_id = ?, group_id = ?, name = ? WHERE seq = last_insert_rowid()",
				e.UserID, e.AnonymousID, e.PreviousID, group, e.Name)
		}
	}
	q := convertQuarantined
	exec("INSERT INTO quarantine(workspace, source, received_at, message_id, code, reason, raw) VALUES (?,?,?,?,?,?,?)",
		q.Workspace, q.Source, q.ReceivedAt.UnixMilli(), q.MessageID, q.Code, q.Reason, q.Raw)
	exec("INSERT INTO sources(write_key, workspace, name, created_at) VALUES (?,?,?,?)",
		convertSource.WriteKey, convertSource.Workspace, convertSource.Name, convertEpoch.Add(-time.Hour).UnixMilli())
	exec("INSERT INTO access_tokens(hash, workspace, name, created_at) VALUES (?,?,?,?)",
		convertToken.Hash, convertToken.Workspace, convertToken.Name, convertEpoch.Add(-time.Hour).UnixMilli())
	if err := os.WriteFile(filepath.Join(dir, "roster.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every file of dir and its content, to show a directory
// untouched.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func runConvert(t *testing.T, from, to string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"convert", "--from", from, "--to", to}, &out, &errOut)
	return out.String(), errOut.String(), err
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConvertCopiesAnOldDataDirectory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		routing bool
	}{
		{"first migration, ids from the body", false},
		{"with the routing columns", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			old, to := t.TempDir(), filepath.Join(t.TempDir(), "new")
			fixture := convertFixture()
			writeOldDir(t, old, tc.routing, fixture)
			before := snapshot(t, old)

			stdout, stderr, err := runConvert(t, old, to)
			if err != nil {
				t.Fatalf("convert: %v\n%s", err, stderr)
			}
			for _, want := range []string{"converted 5 events, 1 quarantined messages, 1 sources and 1 access tokens",
				"roster serve --data " + to, old + " is untouched"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			if after := snapshot(t, old); !reflect.DeepEqual(after, before) {
				t.Errorf("the old directory changed: %v, was %v", after, before)
			}

			st, err := pebble.Open(ctx, to, store.Options{}, quiet())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got, err := st.Read(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(fixture) {
				t.Fatalf("%d events converted, want %d", len(got), len(fixture))
			}
			for i, e := range got {
				want := fixture[i].Event
				want.Seq = int64(i + 1)
				if !e.ReceivedAt.Equal(want.ReceivedAt) || !e.Timestamp.Equal(want.Timestamp) {
					t.Errorf("event %d: times %v, %v, want %v, %v", i+1, e.ReceivedAt, e.Timestamp, want.ReceivedAt, want.Timestamp)
				}
				e.ReceivedAt, e.Timestamp, want.ReceivedAt, want.Timestamp = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				if !reflect.DeepEqual(e, want) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i+1, e, want)
				}
			}
			checkConvertedCredentials(t, st)
			qs, err := st.RecentQuarantined(ctx, "default", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(qs) != 1 {
				t.Fatalf("quarantine holds %d messages, want 1", len(qs))
			}
			q, want := qs[0], convertQuarantined
			want.ID = q.ID
			if !q.ReceivedAt.Equal(want.ReceivedAt) {
				t.Errorf("quarantined at %v, want %v", q.ReceivedAt, want.ReceivedAt)
			}
			q.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(q, want) {
				t.Errorf("quarantined:\n got %+v\nwant %+v", q, want)
			}

			// What serve does first: profiles from cursor 0.
			n, err := pipeline.NewProcessor(st, st, quiet()).CatchUp(ctx)
			if err != nil || n != len(fixture) {
				t.Fatalf("CatchUp = %d, %v; want %d events", n, err, len(fixture))
			}
			traits, err := st.GroupTraits(ctx, "default", "acme")
			if err != nil {
				t.Fatal(err)
			}
			values := map[string]string{}
			for _, tr := range traits {
				values[tr.Name] = string(tr.Value)
			}
			if want := map[string]string{"name": `"Acme Inc"`, "plan": `"enterprise"`, "employees": `"many"`}; !reflect.DeepEqual(values, want) {
				t.Errorf("acme's traits = %v, want %v", values, want)
			}
			members, err := st.GroupMembers(ctx, "default", "acme", "", 10)
			if err != nil || len(members) != 1 {
				t.Errorf("acme's members = %+v, %v; want u1", members, err)
			}
		})
	}
}

func checkConvertedCredentials(t *testing.T, st *pebble.Store) {
	t.Helper()
	ctx := context.Background()
	sources, err := st.Sources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Source{convertSource}; !reflect.DeepEqual(sources, want) {
		t.Errorf("sources = %+v, want %+v", sources, want)
	}
	tokens, err := st.AccessTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.AccessToken{convertToken}; !reflect.DeepEqual(tokens, want) {
		t.Errorf("access tokens = %+v, want %+v", tokens, want)
	}
}

// The store refuses the old directory and says how to convert it.
func TestPebbleRefusesTheOldFormat(t *testing.T) {
	old := t.TempDir()
	writeOldDir(t, old, false, convertFixture())
	st, err := pebble.Open(context.Background(), old, store.Options{}, quiet())
	if err == nil {
		st.Close()
		t.Fatal("pebble.Open took a directory in the SQLite format")
	}
	if !errors.Is(err, pebble.ErrOldFormat) {
		t.Errorf("Open = %v, want ErrOldFormat", err)
	}
	if want := "roster convert --from " + old + " --to NEWDIR"; !strings.Contains(err.Error(), want) {
		t.Errorf("Open = %q, which does not say %q", err, want)
	}
}

func TestConvertRefusesATargetInUse(t *testing.T) {
	old, to := t.TempDir(), t.TempDir()
	writeOldDir(t, old, true, convertFixture())
	if err := os.WriteFile(filepath.Join(to, "something"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runConvert(t, old, to); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("convert into a non-empty directory: %v", err)
	}
	if _, _, err := runConvert(t, filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "new")); err == nil {
		t.Error("convert from a directory without roster.db succeeded")
	}
}

// convertAndOpen converts old into a new directory and opens the result.
func convertAndOpen(t *testing.T, old string) *pebble.Store {
	t.Helper()
	to := filepath.Join(t.TempDir(), "new")
	if _, stderr, err := runConvert(t, old, to); err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr)
	}
	st, err := pebble.Open(context.Background(), to, store.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A messageId that came again after the dedup window is in the old log
// twice and comes across twice; one repeated within it cannot have been
// taken by the old store, and the conversion says so rather than drop it.
func TestConvertKeepsRepeatsAfterTheWindowAndFailsOnDuplicates(t *testing.T) {
	repeat := func(after time.Duration) []oldEvent {
		first := convertFixture()[1]
		again := first
		again.ReceivedAt = first.ReceivedAt.Add(after)
		again.Timestamp = again.ReceivedAt
		return []oldEvent{first, again}
	}
	old := t.TempDir()
	writeOldDir(t, old, true, repeat(store.DefaultDedupWindow+time.Hour+time.Minute))
	st := convertAndOpen(t, old)
	head, err := st.Head(context.Background())
	st.Close()
	if err != nil || head != 2 {
		t.Errorf("Head = %d, %v; want both copies", head, err)
	}

	old = t.TempDir()
	writeOldDir(t, old, true, repeat(time.Minute))
	_, _, err = runConvert(t, old, filepath.Join(t.TempDir(), "new"))
	if err == nil || !strings.Contains(err.Error(), "repeats of earlier messageIds") {
		t.Errorf("convert of a log with a duplicate: %v", err)
	}
}

// A server that was killed left committed events in roster.db-wal (and no
// -shm, say after a copy): they come across too.
func TestConvertReadsEventsLeftInTheWAL(t *testing.T) {
	live := t.TempDir()
	fixture := convertFixture()
	writeOldDir(t, live, true, fixture[:4])
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(live, "roster.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	last := fixture[4]
	if _, err := db.Exec("PRAGMA wal_autocheckpoint = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO events(workspace, source, message_id, type, received_at, timestamp, body, anonymous_id, name) VALUES (?,?,?,?,?,?,?,?,?)",
		last.Workspace, last.Source, last.MessageID, last.Type, last.ReceivedAt.UnixMilli(), last.Timestamp.UnixMilli(),
		last.Body, last.AnonymousID, last.Name); err != nil {
		t.Fatal(err)
	}
	// The server is gone; its files are what it left.
	old := t.TempDir()
	for _, name := range []string{"roster.db", "roster.db-wal"} {
		b, err := os.ReadFile(filepath.Join(live, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := convertAndOpen(t, old)
	defer st.Close()
	got, err := st.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fixture) || got[4].MessageID != last.MessageID || got[4].Name != "Pricing" {
		t.Errorf("converted %d events (last %+v), want %d ending with %s", len(got), got[len(got)-1], len(fixture), last.MessageID)
	}
}
