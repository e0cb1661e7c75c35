// Package pebble is the embedded backend: one Pebble database in the data
// directory holds the log, its dedup keys and quarantine, the credentials,
// the profiles derived from the log and the destinations' outbox (the key
// layout is in keys.go).
package pebble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"roster/internal/store"
	"roster/internal/store/dirlock"
)

// formatVersion is the layout of keys.go; Open refuses a directory written
// in another one rather than misread it.
const formatVersion = "1"

// ErrOldFormat is returned by Open for a data directory in the SQLite
// format of an earlier Roster.
var ErrOldFormat = errors.New("pebble: data directory in the SQLite format of an earlier Roster")

// Store is the Pebble backend.
type Store struct {
	db   *pebble.DB
	opts store.Options
	log  *slog.Logger
	dir  string
	fs   vfs.FS
	lock *os.File // held while open: one server per data directory

	// profiles serializes the profile writers (profiles.go).
	profiles profileState

	// state guards closed: every method of this file's siblings holds it
	// for reading, so that Close waits for them and none touches a closed
	// database (Pebble panics then).
	state  sync.RWMutex
	closed bool

	appender appender
	space    spaceGuard
	outboxMu sync.Mutex // RecordDeliveries and Redrive read, then write
	credMu   sync.Mutex // PutSource and PutAccessToken read, then write
	leases   leaseTable
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir.
func Open(ctx context.Context, dir string, opts store.Options, logger *slog.Logger) (*Store, error) {
	return openOn(ctx, dir, opts, logger, vfs.Default)
}

// openOn is Open on a given file system, which tests replace to fill the disk.
func openOn(ctx context.Context, dir string, opts store.Options, logger *slog.Logger, fs vfs.FS) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "roster.db")); err == nil {
		return nil, fmt.Errorf("%w: %s holds the SQLite format of an earlier Roster; start with a new --data directory, or convert it with `roster convert --from %s --to NEWDIR`",
			ErrOldFormat, dir, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pebble: create data dir: %w", err)
	}
	lock, err := dirlock.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	db, err := pebble.Open(dir, pebbleOptions(fs, logger))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts.WithDefaults(), log: logger, dir: dir, fs: fs, lock: lock}
	s.space = newSpaceGuard(fs, dir)
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, db.Close(), lock.Close())
	}
	return s, nil
}

// start checks the format and loads what Append keeps in memory.
func (s *Store) start(ctx context.Context) error {
	if err := s.checkFormat(); err != nil {
		return err
	}
	if err := s.upgradeProfileEvents(ctx); err != nil {
		return err
	}
	if err := s.profiles.pending.start(s.db); err != nil {
		return err
	}
	return s.appender.load(ctx, s)
}

func pebbleOptions(fs vfs.FS, logger *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{logger},
		// A small memory budget shared with the dedup set and the profile
		// cache (profiles_pending.go): the block cache holds what that
		// cache cannot, with many groups the filter and index blocks of the
		// profiles' tables (sizes and figures in docs/performance.md).
		// Writes stall only when four memtables wait to be flushed, which a
		// healthy disk never lets happen.
		CacheSize:                   48 << 20,
		MemTableSize:                16 << 20,
		MemTableStopWritesThreshold: 4,
		MaxOpenFiles:                500,
	}
	// Compactions rewrite what they compact, and zstd (through cgo) was
	// most of their cost and of every read of a block not cached: the upper
	// levels, which are rewritten often and read most, use the fastest
	// codec, and only the bottom ones, where most bytes end, zstd.
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.FastestCompression }
		if i >= len(o.Levels)-2 {
			o.Levels[i].Compression = compression
		}
		// Profiles are looked up one key at a time, mostly keys of other
		// tables or none yet: a filter answers most misses from memory.
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Events and history are written once and never changed: kept in blob
	// files beside the tables, they are not rewritten by every compaction
	// that passes their keys. Profiles change at every batch and are read
	// one by one, so they stay in the tables (spanPolicy).
	o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           128,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	o.Experimental.SpanPolicyFunc = spanPolicy
	return o
}

// spanPolicy separates the values of the log's events and of trait history
// into blob files, and keeps everything else in place, compressed fast.
func spanPolicy(start []byte) (pebble.SpanPolicy, []byte, error) {
	inPlace := pebble.SpanPolicy{PreferFastCompression: true, ValueStoragePolicy: pebble.ValueStorageLowReadLatency}
	if len(start) == 0 {
		return inPlace, []byte{0}, nil
	}
	end := []byte{start[0] + 1}
	if start[0] == 0xff {
		end = nil
	}
	switch start[0] {
	case prefixEvent, prefixHistory:
		return pebble.SpanPolicy{}, end, nil
	}
	return inPlace, end, nil
}

// compression is the bottom levels' codec; a var so that the test can
// measure the other.
var compression = func() *sstable.CompressionProfile { return sstable.ZstdCompression }

// checkFormat writes the format version into a new database and refuses
// one written in another.
func (s *Store) checkFormat() error {
	key := metaKey("format")
	v, closer, err := s.db.Get(key)
	if err == nil {
		got := string(v)
		closer.Close()
		if got != formatVersion {
			return fmt.Errorf("pebble: %s has format version %q, this roster reads %q", s.dir, got, formatVersion)
		}
		return nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("pebble: read format version: %w", err)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("pebble: read format version: %w", err)
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebble: read format version: %w", err)
	}
	if !empty {
		return fmt.Errorf("pebble: %s holds a database without a format version; it was not written by roster", s.dir)
	}
	if err := s.db.Set(key, []byte(formatVersion), pebble.Sync); err != nil {
		return fmt.Errorf("pebble: write format version: %w", err)
	}
	return nil
}

func metaKey(name string) []byte { return appendString([]byte{prefixMeta}, name) }

// enter holds the store open for one call; leave ends it.
func (s *Store) enter() error {
	s.state.RLock()
	if s.closed {
		s.state.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.state.RUnlock() }

// Close waits for the calls under way and closes the database.
func (s *Store) Close() error {
	s.state.Lock()
	defer s.state.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// What the profile processor applied since its last checkpoint goes
	// in now, so that a restart need not apply it again.
	s.profiles.applying.Lock()
	checkpointed := s.checkpoint()
	s.profiles.applying.Unlock()
	return errors.Join(checkpointed, s.db.Close(), s.lock.Close())
}

// Ping checks that the database answers and that appends are possible.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.appender.broken(); err != nil {
		return err
	}
	_, closer, err := s.db.Get(metaKey("format"))
	if err != nil {
		return fmt.Errorf("pebble: ping: %w", err)
	}
	return closer.Close()
}

// pebbleLogger sends Pebble's logs to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called when Pebble cannot go on (its commit pipeline is
// broken); like Pebble's own logger it ends the process, which the log
// survives as it survives kill -9: a panic could be recovered by an HTTP
// handler and leave a broken database serving.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
