package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/store"
)

// appender assigns log positions and claims dedup keys, one append at a
// time; the WAL sync that makes an append durable is waited for outside
// its lock, so that concurrent appends share syncs through Pebble's commit
// pipeline, and each request hashes and encodes its own events. That was
// as fast as one goroutine gathering appends into a batch (groupcommit,
// BenchmarkAppend100GroupCommit), a little faster at the median, with no
// goroutine to run.
type appender struct {
	mu         sync.Mutex
	seq        int64 // the last log position assigned
	quarantine int64 // the last quarantine id assigned
	window     window
	// failed is set once a WAL sync has failed: Pebble's WAL keeps that
	// error and would end the process at the next commit, so appends are
	// refused (and Ping fails) until a restart replays the WAL.
	failed error
}

var quarantineCounterKey = metaKey("quarantine")

// load restores the last position and id, and the dedup window.
func (a *appender) load(ctx context.Context, s *Store) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return fmt.Errorf("pebble: find the last event: %w", err)
	}
	if it.Last() {
		if a.seq, _, err = readInt64(it.Key()[1:]); err != nil {
			it.Close()
			return fmt.Errorf("pebble: find the last event: %w", err)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebble: find the last event: %w", err)
	}
	trimmed, err := s.trimmed()
	if err != nil {
		return err
	}
	a.seq = max(a.seq, trimmed) // positions are not reused after a trim
	v, closer, err := s.db.Get(quarantineCounterKey)
	switch {
	case err == nil:
		if len(v) == 8 {
			a.quarantine = int64(binary.BigEndian.Uint64(v))
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("pebble: read the quarantine's last id: %w", err)
	}
	if err := loadWindow(ctx, s.db, s.opts.Now().Add(-s.opts.DedupWindow), &a.window); err != nil {
		return err
	}
	s.log.Debug("dedup keys loaded", "keys", a.window.keys.Len(), "last_seq", a.seq)
	return nil
}

func (a *appender) broken() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

func eventKey(seq int64) []byte { return appendInt64([]byte{prefixEvent}, seq) }

func workspaceEventPrefix(workspace string) []byte {
	return appendString([]byte{prefixWorkspaceEv}, workspace)
}

func quarantinePrefix(workspace string) []byte {
	return appendString([]byte{prefixQuarantine}, workspace)
}

// Append implements store.Log. It returns once the events are in the
// synced WAL.
func (s *Store) Append(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error {
	if len(events) == 0 && len(quarantined) == 0 {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.space.check(); err != nil {
		return err
	}
	// Hashing and encoding need no lock.
	keys := make([]store.DedupKey, len(events))
	values := make([][]byte, len(events))
	var buf []byte
	for i := range events {
		keys[i] = store.KeyOf(&events[i])
		start := len(buf)
		buf = appendEvent(buf, &events[i])
		values[i] = buf[start:len(buf):len(buf)]
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.apply(b, events, keys, values, quarantined); err != nil {
		return err
	}
	if err := b.SyncWait(); err != nil {
		err = fmt.Errorf("pebble: sync the log: %w", err)
		s.appender.mu.Lock()
		if s.appender.failed == nil {
			s.appender.failed = err
			s.log.Error("the log cannot be written; appends are refused until roster restarts", "err", err)
		}
		s.appender.mu.Unlock()
		return err
	}
	return nil
}

// apply claims the new events, gives them positions, and applies b to the
// database, all under the appender's lock, so that positions grow in
// commit order and a concurrent append of the same id finds it claimed.
// The WAL sync is left to the caller. The events become visible to readers
// before the sync, as in every Pebble commit; the WAL is one sequence, so
// nothing written after them (a processor's cursor) can be durable
// without them.
func (s *Store) apply(b *pebble.Batch, events []store.Event, keys []store.DedupKey, values [][]byte, quarantined []store.Quarantined) error {
	a := &s.appender
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed != nil {
		return a.failed
	}
	now := s.opts.Now()
	fresh := a.window.claim(keys, now.Add(-s.opts.DedupWindow))
	seq := a.seq
	var key []byte
	for i := range events {
		events[i].Seq = 0 // a duplicate, unless stored below
		if !fresh[i] {
			continue
		}
		seq++
		events[i].Seq = seq
		key = appendInt64(append(key[:0], prefixEvent), seq)
		if err := b.Set(key, values[i], nil); err != nil {
			return fmt.Errorf("pebble: write event: %w", err)
		}
		key = appendInt64(appendString(append(key[:0], prefixWorkspaceEv), events[i].Workspace), seq)
		if err := b.Set(key, nil, nil); err != nil {
			return fmt.Errorf("pebble: write event: %w", err)
		}
		if err := b.Set(dedupKey(now, keys[i]), nil, nil); err != nil {
			return fmt.Errorf("pebble: write dedup key: %w", err)
		}
	}
	qid := a.quarantine
	var value []byte
	for i := range quarantined {
		qid++
		q := &quarantined[i]
		key = appendInt64(appendString(append(key[:0], prefixQuarantine), q.Workspace), qid)
		value = appendQuarantined(value[:0], q)
		if err := b.Set(key, value, nil); err != nil {
			return fmt.Errorf("pebble: write quarantined: %w", err)
		}
	}
	if qid != a.quarantine {
		if err := b.Set(quarantineCounterKey, binary.BigEndian.AppendUint64(nil, uint64(qid)), nil); err != nil {
			return fmt.Errorf("pebble: write quarantined: %w", err)
		}
	}
	if err := a.window.prune(b, now, s.opts.DedupWindow); err != nil {
		return err
	}
	if b.Empty() {
		// Only duplicates: they may be of events whose append is not
		// synced yet, so this one waits for a sync too before it
		// acknowledges them. A WAL-only record goes through the pipeline.
		if err := b.LogData(nil, nil); err != nil {
			return fmt.Errorf("pebble: write log: %w", err)
		}
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: commit: %w", err)
	}
	a.seq, a.quarantine = seq, qid
	for i, k := range keys {
		if fresh[i] {
			a.window.keys.Put(k, uint32(now.Unix()))
		}
	}
	return nil
}

// Read implements store.Log.
func (s *Store) Read(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: eventKey(max(after, 0) + 1),
		UpperBound: []byte{prefixEvent + 1},
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: read log: %w", err)
	}
	var out []store.Event
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		seq, _, err := readInt64(it.Key()[1:])
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("pebble: read log: %w", err)
		}
		e, err := decodeEvent(seq, it.Value())
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("pebble: read event %d: %w", seq, err)
		}
		out = append(out, e)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pebble: read log: %w", err)
	}
	return out, nil
}

// RecentEvents implements store.Log, through the workspace's index.
func (s *Store) RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := workspaceEventPrefix(workspace)
	upper := prefixEnd(prefix)
	if before > 0 {
		upper = appendInt64(append([]byte(nil), prefix...), before)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: recent events: %w", err)
	}
	defer it.Close()
	var out []store.Event
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		seq, _, err := readInt64(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: recent events: %w", err)
		}
		e, err := s.eventAt(seq)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: recent events: %w", err)
	}
	return out, nil
}

// eventAt reads the event at seq.
func (s *Store) eventAt(seq int64) (store.Event, error) {
	v, closer, err := s.db.Get(eventKey(seq))
	if err != nil {
		return store.Event{}, fmt.Errorf("pebble: read event %d: %w", seq, err)
	}
	defer closer.Close()
	e, err := decodeEvent(seq, v)
	if err != nil {
		return store.Event{}, fmt.Errorf("pebble: read event %d: %w", seq, err)
	}
	return e, nil
}

// RecentQuarantined implements store.Log.
func (s *Store) RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := quarantinePrefix(workspace)
	upper := prefixEnd(prefix)
	if before > 0 {
		upper = appendInt64(append([]byte(nil), prefix...), before)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: recent quarantined: %w", err)
	}
	defer it.Close()
	var out []store.Quarantined
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		id, _, err := readInt64(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: recent quarantined: %w", err)
		}
		q, err := decodeQuarantined(workspace, id, it.Value())
		if err != nil {
			return nil, fmt.Errorf("pebble: read quarantined %d: %w", id, err)
		}
		if q.ReplayedAt, err = s.replayedAt(workspace, id); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: recent quarantined: %w", err)
	}
	return out, nil
}
