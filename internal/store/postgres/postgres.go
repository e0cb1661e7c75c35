// Package postgres is the scale-out backend: the log, the profiles derived
// from it, the outbox and the leases in one PostgreSQL database, shared by
// any number of Roster nodes.
//
// Appends from all nodes are serialized by one row lock (log_head), so log
// positions are dense and assigned in commit order: a processor reading
// "seq > cursor" never passes an event that commits later. Dedup keys are
// a primary key, so every node sees every claim. Profile processing locks
// its cursor row and skips what is at or below it, so two nodes that
// overlap apply each event once. Leases expire by the database's clock.
// Times are stored to the millisecond, as the embedded backend keeps them.
//
// The SQL is kept to what CockroachDB and YugabyteDB also speak (ON
// CONFLICT, RETURNING, unnest of arrays, = ANY, row comparisons,
// greatest, DELETE ... USING, LATERAL, partial indexes, identity columns).
// PostgreSQL-only features used:
//   - pg_advisory_xact_lock, taken by the migrations so that nodes starting
//     at once do not apply them twice;
//   - transactional DDL: migrations and their schema_migrations rows
//     commit together;
//   - COPY FROM STDIN (binary), which appends events several times faster
//     than an INSERT of arrays;
//   - jsonb, for the events' warnings (read back as text, never queried);
//   - COLLATE "C" on the text that reads sort by, for byte order whatever
//     the database's locale;
//   - READ COMMITTED: after ApplyProfiles waits for the cursor row lock,
//     its later statements see what the other transaction committed. Under
//     SERIALIZABLE (CockroachDB's default) the waiting transaction would
//     fail instead, and the processor retry.
//
// Behind PgBouncer in transaction mode, add
// default_query_exec_mode=exec (or simple_protocol) to the URL: pgx
// otherwise caches prepared statements per connection.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"roster/internal/store"
	"roster/internal/store/groupcommit"
)

const (
	// maxTxEvents bounds one group commit: a commit holds the log head
	// lock of every node, so it is kept short.
	maxTxEvents = 10000
	// connectTimeout applies when the URL sets no connect_timeout: a
	// database that does not answer must turn into an error (and a 503)
	// quickly, not a request that hangs.
	connectTimeout = 5 * time.Second
	// writeTimeout bounds one group commit; the committer runs it without
	// the callers' contexts.
	writeTimeout = 10 * time.Second
	// pingTimeout bounds Ping, which /ready calls.
	pingTimeout = 2 * time.Second
	// minPoolSize raises pgxpool's default (the number of CPUs, at least
	// 4) when the URL sets no pool_max_conns: the committer, the profile
	// processor and every destination each hold a connection while they
	// work, and reads need some left.
	minPoolSize = 10
)

// Store is the PostgreSQL backend.
type Store struct {
	pool   *pgxpool.Pool
	opts   store.Options
	log    *slog.Logger
	commit *groupcommit.Committer
	// prune is touched only by the committer's goroutine, in write.
	prune pruneSchedule
	// writeTimeout and pingTimeout are the constants of the same names;
	// tests shorten them.
	writeTimeout, pingTimeout time.Duration
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url, applies migrations and fills the
// fields of events logged before they were stored (so before any processor
// reads them). url is a
// postgres:// URL or a key=value DSN; pgx's pool_* parameters are honoured
// and any other unknown parameter (search_path=…) is set on every
// connection.
func Open(ctx context.Context, url string, opts store.Options, logger *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(url, "pool_max_conns") && cfg.MaxConns < minPoolSize {
		cfg.MaxConns = minPoolSize
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool, migrations, logger); err != nil {
		pool.Close()
		return nil, err
	}
	if err := backfillEventFields(ctx, pool, backfillBatch, logger); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, opts: opts.WithDefaults(), log: logger, writeTimeout: writeTimeout, pingTimeout: pingTimeout}
	s.commit = groupcommit.New(s.write, maxTxEvents)
	return s, nil
}

// Close flushes pending appends and closes the pool.
func (s *Store) Close() error {
	s.commit.Close()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers, within pingTimeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.pingTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// inTx runs f in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ms is how precisely Roster keeps times (the rest of it works in
// milliseconds, and the embedded backend stores them so); both backends
// then read back the same instants.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
