// Package sqliteimport reads the log, quarantine and credentials of a data
// directory in the SQLite format of an earlier Roster (roster.db), read-only,
// for `roster convert`. It knows that format's tables as they were shipped,
// so that the SQLite store itself can go.
package sqliteimport

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

// ErrNeedsCgo is returned by Open in a build without cgo, which has no
// SQLite driver.
var ErrNeedsCgo = errors.New("sqliteimport: reading the SQLite format needs a roster built with cgo: CGO_ENABLED=1 go build ./cmd/roster")

// LogFile is the old format's log database; the other two files
// (profiles.db, outbox.db) hold only state derived from it.
const LogFile = "roster.db"

// Source is a source as the old store kept it, with its creation time.
type Source struct {
	store.Source
	CreatedAt time.Time
}

// AccessToken is an access token (its hash) as the old store kept it.
type AccessToken struct {
	store.AccessToken
	CreatedAt time.Time
}

// routingColumns are the columns the second migration added to events;
// a directory last opened by a Roster before it lacks them.
var routingColumns = []string{"user_id", "anonymous_id", "previous_id", "group_id", "name"}

// Reader reads one old data directory.
type Reader struct {
	db *sql.DB
	// hasRouting says whether events has routingColumns.
	hasRouting bool
}

// Open opens dir/roster.db read-only. It fails when the file is missing,
// so that a mistyped --from does not convert an empty log.
func Open(ctx context.Context, dir string) (*Reader, error) {
	path := filepath.Join(dir, LogFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqliteimport: %w", err)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{db: db}
	if err := r.detectColumns(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the database.
func (r *Reader) Close() error { return r.db.Close() }

func (r *Reader) detectColumns(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "SELECT name FROM pragma_table_info('events')")
	if err != nil {
		return fmt.Errorf("sqliteimport: read the events table's columns: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("sqliteimport: read the events table's columns: %w", err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqliteimport: read the events table's columns: %w", err)
	}
	if !have["seq"] || !have["body"] {
		return errors.New("sqliteimport: roster.db has no events table of Roster's format")
	}
	r.hasRouting = true
	for _, c := range routingColumns {
		r.hasRouting = r.hasRouting && have[c]
	}
	return nil
}

// Counts returns how many events and quarantined messages the directory
// holds.
func (r *Reader) Counts(ctx context.Context) (events, quarantined int64, err error) {
	if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&events); err != nil {
		return 0, 0, fmt.Errorf("sqliteimport: count events: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM quarantine").Scan(&quarantined); err != nil {
		return 0, 0, fmt.Errorf("sqliteimport: count quarantined: %w", err)
	}
	return events, quarantined, nil
}

// Events returns up to limit events with seq > after, in seq order, each
// with its old Seq: the caller pages through the log with the last one's.
func (r *Reader) Events(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	columns := "seq, workspace, source, message_id, type, received_at, timestamp, warnings, body"
	if r.hasRouting {
		columns += ", user_id, anonymous_id, previous_id, group_id, name"
	}
	rows, err := r.db.QueryContext(ctx, "SELECT "+columns+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: read events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e            store.Event
			received, ts int64
			warnings     sql.NullString
			routing      [5]sql.NullString
		)
		dest := []any{&e.Seq, &e.Workspace, &e.Source, &e.MessageID, &e.Type, &received, &ts, &warnings, &e.Body}
		if r.hasRouting {
			for i := range routing {
				dest = append(dest, &routing[i])
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqliteimport: read events: %w", err)
		}
		e.ReceivedAt = time.UnixMilli(received).UTC()
		e.Timestamp = time.UnixMilli(ts).UTC()
		if warnings.Valid {
			if err := json.Unmarshal([]byte(warnings.String), &e.Warnings); err != nil {
				return nil, fmt.Errorf("sqliteimport: warnings of event %d: %w", e.Seq, err)
			}
		}
		setRouting(&e, routing)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteimport: read events: %w", err)
	}
	return out, nil
}

// setRouting fills the ids, group and name of e from the stored columns,
// or from the body where they are missing (a log older than the columns)
// or NULL. A body that cannot be read leaves them empty, as the migration
// that added the columns did: the event is still converted.
func setRouting(e *store.Event, columns [5]sql.NullString) {
	fields := [5]*string{&e.UserID, &e.AnonymousID, &e.PreviousID, &e.GroupID, &e.Name}
	complete := true
	for i, c := range columns {
		*fields[i] = c.String
		complete = complete && c.Valid
	}
	// The migration that added the columns filled the group of older rows
	// with SQL, which loses a context.groupId written with an exponent
	// (1e3); the body says it by spec's rules.
	regroup := e.Type != spec.Group && bytes.Contains(e.Body, []byte(`"groupId"`))
	if complete && !regroup {
		return
	}
	msg, err := spec.ReadStored(e.Body)
	if err != nil {
		msg = &spec.Message{}
	}
	derived := [5]string{msg.Routing.UserID, msg.Routing.AnonymousID, msg.Routing.PreviousID, msg.Routing.GroupID, msg.Routing.Name}
	for i, c := range columns {
		if !c.Valid {
			*fields[i] = derived[i]
		}
	}
	if regroup {
		e.GroupID = msg.Routing.GroupID
	}
}

// Quarantined returns up to limit quarantined messages with id > after,
// in id order, each with its old ID.
func (r *Reader) Quarantined(ctx context.Context, after int64, limit int) ([]store.Quarantined, error) {
	rows, err := r.db.QueryContext(ctx,
		"SELECT id, workspace, source, received_at, message_id, code, reason, raw FROM quarantine WHERE id > ? ORDER BY id LIMIT ?",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: read quarantine: %w", err)
	}
	defer rows.Close()
	var out []store.Quarantined
	for rows.Next() {
		var (
			q        store.Quarantined
			received int64
		)
		if err := rows.Scan(&q.ID, &q.Workspace, &q.Source, &received, &q.MessageID, &q.Code, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("sqliteimport: read quarantine: %w", err)
		}
		q.ReceivedAt = time.UnixMilli(received).UTC()
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteimport: read quarantine: %w", err)
	}
	return out, nil
}

// Sources returns the sources created at run time, oldest first.
func (r *Reader) Sources(ctx context.Context) ([]Source, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT workspace, name, write_key, created_at FROM sources ORDER BY created_at, rowid")
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: read sources: %w", err)
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		var (
			s       Source
			created int64
		)
		if err := rows.Scan(&s.Workspace, &s.Name, &s.WriteKey, &created); err != nil {
			return nil, fmt.Errorf("sqliteimport: read sources: %w", err)
		}
		s.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteimport: read sources: %w", err)
	}
	return out, nil
}

// AccessTokens returns the access tokens' hashes, oldest first.
func (r *Reader) AccessTokens(ctx context.Context) ([]AccessToken, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT workspace, name, hash, created_at FROM access_tokens ORDER BY created_at, rowid")
	if err != nil {
		return nil, fmt.Errorf("sqliteimport: read access tokens: %w", err)
	}
	defer rows.Close()
	var out []AccessToken
	for rows.Next() {
		var (
			t       AccessToken
			created int64
		)
		if err := rows.Scan(&t.Workspace, &t.Name, &t.Hash, &created); err != nil {
			return nil, fmt.Errorf("sqliteimport: read access tokens: %w", err)
		}
		t.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteimport: read access tokens: %w", err)
	}
	return out, nil
}
