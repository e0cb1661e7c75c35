// Package sqlite is the embedded backend: the log in roster.db (WAL,
// synchronous=FULL, one group-committing writer), the profiles derived
// from it in profiles.db, written by the profile processor, and the
// destinations' cursors, retries and dead letters in outbox.db.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"roster/internal/store"
	"roster/internal/store/dirlock"
	"roster/internal/store/groupcommit"
	"roster/internal/writeback"
)

// maxTxEvents bounds one group commit.
const maxTxEvents = 20000

// Store is the SQLite backend.
type Store struct {
	w      *sql.DB // one connection: SQLite has one writer
	r      *sql.DB
	pw     *sql.DB // profiles.db, written by the profile processor only
	pr     *sql.DB
	ow     *sql.DB // outbox.db, written by delivery
	or     *sql.DB
	opts   store.Options
	commit *groupcommit.Committer
	lock   *os.File // held while open: one server per data directory
	// seen is touched only by the committer's goroutine, in write.
	seen *seenSet
	// historyMerge is historyMergeEvents, which tests lower to merge often.
	historyMerge int64
	buffers      sync.Pool // of *rowBuffers, for ApplyProfiles
	// applying serializes ApplyProfiles and ResetProfiles, and guards
	// cache, the last batch's identities and traits, and whether the
	// next batch should have it.
	applying sync.Mutex
	cache    *profileCache
	carrying carryPolicy
	// stopWriteback ends the steady write-out of profiles.db.
	stopWriteback func()
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir and applies
// migrations.
func Open(ctx context.Context, dir string, opts store.Options, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	lock, err := dirlock.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The log is fsync'd at every commit; profiles and deliveries are
	// derived from it and redone from their cursors, so losing their last
	// commits to a power cut costs only reprocessing (and a redelivery).
	var dbs []*sql.DB
	fail := func(err error) (*Store, error) {
		for _, db := range dbs {
			db.Close()
		}
		lock.Close()
		return nil, err
	}
	for _, f := range []struct{ name, sync string }{{"roster.db", "FULL"}, {"profiles.db", "NORMAL"}, {"outbox.db", "NORMAL"}} {
		w, r, err := openDB(filepath.Join(dir, f.name), f.sync)
		if err != nil {
			return fail(err)
		}
		dbs = append(dbs, w, r)
	}
	w, r, pw, pr, ow, or := dbs[0], dbs[1], dbs[2], dbs[3], dbs[4], dbs[5]
	opts = opts.WithDefaults()
	if err := migrate(ctx, w, migrations); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, pw, profileMigrations); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, ow, outboxMigrations); err != nil {
		return fail(err)
	}
	// Profiles rewrite the same hot pages batch after batch; every page in
	// the WAL is written again into the file when it is checkpointed, so
	// checkpointing less often copies each hot page once for several
	// batches. Every 40 MB of WAL instead of 4 MB made processing twice as
	// fast; every 200 MB instead of 40 MB rebuilt 400,000 events in 39 s
	// instead of 43 s and wrote 3.3 GB to the disk instead of 4.7 GB. The
	// price was in the log's tail: each checkpoint's fsyncs filled the
	// disk's queue, and a log commit behind them waited 0.3-0.6 s (p99 of
	// batches at 10,000 events/s 418 ms; 135 ms checkpointing every 40 MB,
	// which applied profiles 12% slower). Writing the pages out as they
	// come (writeback, below) took most of that away. The WAL file keeps
	// its largest size, up to about 200 MB or one batch's pages. pw has
	// exactly one connection, kept open, so this holds.
	if _, err := pw.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 50000"); err != nil {
		return fail(fmt.Errorf("sqlite: profiles checkpoint interval: %w", err))
	}
	// A batch of profile updates touches pages all over profiles.db's
	// B-trees. With the default 2 MB page cache, most of them were read
	// back from the file (a pread each) and dirty ones spilled early; a
	// cache of up to 16 MB (allocated as pages are used) keeps the hot
	// part of the tables in memory (64 and 256 MB were no faster, and cost
	// memory the server is meant to do without). Same single
	// connection as above. Statement journals stay in temporary files:
	// temp_store = MEMORY applied a quarter faster, but with a million
	// profiles their journals took the server from 350 MB to 775 MB.
	if _, err := pw.ExecContext(ctx, "PRAGMA cache_size = -16384"); err != nil {
		return fail(fmt.Errorf("sqlite: profiles cache: %w", err))
	}
	seen, err := loadSeen(ctx, w, opts.Now().Add(-opts.DedupWindow))
	if err != nil {
		return fail(err)
	}
	log.Debug("dedup keys loaded", "keys", seen.len())
	s := &Store{w: w, r: r, pw: pw, pr: pr, ow: ow, or: or, opts: opts, lock: lock, seen: seen, historyMerge: historyMergeEvents}
	// Profiles write about 50 MB/s at 10,000 events/s. Left for the
	// checkpoint to fsync, that came out every 4 s in a burst that held the
	// log's commits 0.2-0.3 s: ingest p99 at that rate in batches of 100
	// was 207-256 ms, and 41-53 ms written out as it came (single calls at
	// 5,000/s: 242-283 against 72-87 ms). Processing was no slower.
	profiles := filepath.Join(dir, "profiles.db")
	s.stopWriteback = writeback.Start(log, 100*time.Millisecond, profiles+"-wal", profiles)
	s.commit = groupcommit.New(s.write, maxTxEvents)
	return s, nil
}

// openDB opens a database file as one writer connection and a pool of
// readers (WAL lets them read while the writer writes).
func openDB(path, synchronous string) (w, r *sql.DB, err error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", synchronous)
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	// Processing and ingestion repeat a few statements; re-preparing them
	// was a third of the profile processor's time.
	q.Set("_stmt_cache_size", "64")
	dsn := "file:" + path + "?" + q.Encode()
	if w, err = sql.Open("sqlite3", dsn); err != nil {
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if r, err = sql.Open("sqlite3", dsn); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	return w, r, nil
}

// Close flushes pending appends and closes the databases.
func (s *Store) Close() error {
	s.commit.Close()
	s.stopWriteback()
	return errors.Join(s.w.Close(), s.r.Close(), s.pw.Close(), s.pr.Close(), s.ow.Close(), s.or.Close(), s.lock.Close())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Append implements store.Log through the group committer.
func (s *Store) Append(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	return s.commit.Append(ctx, events, quarantined)
}

// rowsPerInsert bounds a multi-row INSERT.
const rowsPerInsert = 64

// write commits one group: the events not seen within the dedup window,
// their dedup keys, and the quarantine.
func (s *Store) write(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	now := s.opts.Now()
	fresh, keys := s.seen.claim(events, now.Add(-s.opts.DedupWindow))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := insertKeys(ctx, tx, keys, now); err != nil {
		return err
	}
	if err := insertEvents(ctx, tx, fresh); err != nil {
		return err
	}
	if err := insertQuarantined(ctx, tx, quarantined); err != nil {
		return err
	}
	if err := s.seen.prune(ctx, tx, now, s.opts.DedupWindow); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	s.seen.add(keys, now)
	return nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	const columns = 13
	args := make([]any, 0, len(events)*columns)
	for _, e := range events {
		var warnings any
		if len(e.Warnings) > 0 {
			b, err := json.Marshal(e.Warnings)
			if err != nil {
				return fmt.Errorf("sqlite: encode warnings: %w", err)
			}
			warnings = string(b)
		}
		args = append(args, e.Workspace, e.Source, e.MessageID, e.Type,
			e.ReceivedAt.UnixMilli(), e.Timestamp.UnixMilli(), warnings,
			e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name, e.Body)
	}
	if err := insertMany(ctx, tx, "INSERT INTO events(workspace, source, message_id, type, received_at, timestamp, warnings, user_id, anonymous_id, previous_id, group_id, name, body) VALUES ", columns, "", args); err != nil {
		return fmt.Errorf("sqlite: insert events: %w", err)
	}
	return nil
}

// insertMany inserts rows of columns values each, given flat in args,
// rowsPerInsert to a statement: prefix ends in VALUES, suffix may add an
// ON CONFLICT clause. A statement per row was most of the cost of writing.
func insertMany(ctx context.Context, tx *sql.Tx, prefix string, columns int, suffix string, args []any) error {
	tuple := "(" + strings.Repeat("?,", columns-1) + "?)"
	step := rowsPerInsert * columns
	for start := 0; start < len(args); start += step {
		chunk := args[start:min(start+step, len(args))]
		var sb strings.Builder
		sb.WriteString(prefix)
		for i := 0; i < len(chunk)/columns; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(tuple)
		}
		sb.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, sb.String(), chunk...); err != nil {
			return err
		}
	}
	return nil
}

func insertQuarantined(ctx context.Context, tx *sql.Tx, qs []store.Quarantined) error {
	for _, q := range qs {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO quarantine(workspace, source, received_at, message_id, code, reason, raw) VALUES (?,?,?,?,?,?,?)",
			q.Workspace, q.Source, q.ReceivedAt.UnixMilli(), q.MessageID, q.Code, q.Reason, q.Raw); err != nil {
			return fmt.Errorf("sqlite: insert quarantined: %w", err)
		}
	}
	return nil
}

// timeMillis reads a stored time: Unix milliseconds, shown in UTC.
func timeMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

const eventColumns = "seq, workspace, source, message_id, type, received_at, timestamp, warnings, user_id, anonymous_id, previous_id, group_id, name, body"

// Read implements store.Log.
func (s *Store) Read(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+eventColumns+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read log: %w", err)
	}
	return scanEvents(rows)
}

// RecentEvents implements store.Log.
func (s *Store) RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+eventColumns+" FROM events WHERE workspace = ? AND seq < ? ORDER BY seq DESC LIMIT ?", workspace, before, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent events: %w", err)
	}
	return scanEvents(rows)
}

func scanEvents(rows *sql.Rows) ([]store.Event, error) {
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e            store.Event
			received, ts int64
			warnings     sql.NullString
		)
		if err := rows.Scan(&e.Seq, &e.Workspace, &e.Source, &e.MessageID, &e.Type, &received, &ts, &warnings,
			&e.UserID, &e.AnonymousID, &e.PreviousID, &e.GroupID, &e.Name, &e.Body); err != nil {
			return nil, fmt.Errorf("sqlite: scan event: %w", err)
		}
		e.ReceivedAt = timeMillis(received)
		e.Timestamp = timeMillis(ts)
		if warnings.Valid {
			if err := json.Unmarshal([]byte(warnings.String), &e.Warnings); err != nil {
				return nil, fmt.Errorf("sqlite: decode warnings of event %d: %w", e.Seq, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: scan events: %w", err)
	}
	return out, nil
}

// RecentQuarantined implements store.Log.
func (s *Store) RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT id, workspace, source, received_at, message_id, code, reason, raw FROM quarantine WHERE workspace = ? AND id < ? ORDER BY id DESC LIMIT ?",
		workspace, before, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent quarantined: %w", err)
	}
	defer rows.Close()
	var out []store.Quarantined
	for rows.Next() {
		var (
			q        store.Quarantined
			received int64
		)
		if err := rows.Scan(&q.ID, &q.Workspace, &q.Source, &received, &q.MessageID, &q.Code, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("sqlite: scan quarantined: %w", err)
		}
		q.ReceivedAt = timeMillis(received)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: scan quarantined: %w", err)
	}
	return out, nil
}

// Sources implements store.Credentials.
func (s *Store) Sources(ctx context.Context) ([]store.Source, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT workspace, name, write_key FROM sources ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("sqlite: sources: %w", err)
	}
	defer rows.Close()
	var out []store.Source
	for rows.Next() {
		var src store.Source
		if err := rows.Scan(&src.Workspace, &src.Name, &src.WriteKey); err != nil {
			return nil, fmt.Errorf("sqlite: sources: %w", err)
		}
		out = append(out, src)
	}
	return out, rows.Err()
}

// PutSource implements store.Credentials.
func (s *Store) PutSource(ctx context.Context, src store.Source) error {
	_, err := s.w.ExecContext(ctx,
		"INSERT INTO sources(write_key, workspace, name, created_at) VALUES (?,?,?,?) ON CONFLICT(write_key) DO UPDATE SET workspace = excluded.workspace, name = excluded.name",
		src.WriteKey, src.Workspace, src.Name, s.opts.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: put source: %w", err)
	}
	return nil
}

// AccessTokens implements store.Credentials.
func (s *Store) AccessTokens(ctx context.Context) ([]store.AccessToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT workspace, name, hash FROM access_tokens ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("sqlite: access tokens: %w", err)
	}
	defer rows.Close()
	var out []store.AccessToken
	for rows.Next() {
		var t store.AccessToken
		if err := rows.Scan(&t.Workspace, &t.Name, &t.Hash); err != nil {
			return nil, fmt.Errorf("sqlite: access tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutAccessToken implements store.Credentials.
func (s *Store) PutAccessToken(ctx context.Context, t store.AccessToken) error {
	_, err := s.w.ExecContext(ctx,
		"INSERT INTO access_tokens(hash, workspace, name, created_at) VALUES (?,?,?,?) ON CONFLICT(hash) DO UPDATE SET workspace = excluded.workspace, name = excluded.name",
		t.Hash, t.Workspace, t.Name, s.opts.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: put access token: %w", err)
	}
	return nil
}
