package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/store"
)

// trimmedKey holds the last position TrimLog removed, so that a log
// trimmed to nothing still continues after it when reopened.
var trimmedKey = metaKey("trimmed")

// TrimLog implements store.Trimmer: a range delete of the events and of
// each workspace's index up to through. Profile event indexes keep their
// entries; ProfileEvents skips the events that are gone.
func (s *Store) TrimLog(ctx context.Context, through int64) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.appender.mu.Lock()
	through = min(through, s.appender.seq)
	s.appender.mu.Unlock()
	durable, err := s.checkpointFor(through)
	if err != nil {
		return 0, err
	}
	// A crash restarts the profile processor from the written cursor: the
	// events after it must stay.
	through = min(through, durable)
	if through <= 0 {
		return 0, nil
	}
	workspaces, err := s.logWorkspaces(ctx)
	if err != nil {
		return 0, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(eventKey(math.MinInt64), eventKey(through+1), nil); err != nil {
		return 0, fmt.Errorf("pebble: trim the log: %w", err)
	}
	for _, ws := range workspaces {
		prefix := workspaceEventPrefix(ws)
		lower := appendInt64(append([]byte(nil), prefix...), math.MinInt64)
		upper := appendInt64(append([]byte(nil), prefix...), through+1)
		if err := b.DeleteRange(lower, upper, nil); err != nil {
			return 0, fmt.Errorf("pebble: trim the log of %q: %w", ws, err)
		}
	}
	prev, err := s.trimmed()
	if err != nil {
		return 0, err
	}
	if err := b.Set(trimmedKey, binary.BigEndian.AppendUint64(nil, uint64(max(prev, through))), nil); err != nil {
		return 0, fmt.Errorf("pebble: trim the log: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("pebble: trim the log: %w", err)
	}
	return through, nil
}

// checkpointFor writes what the profile processor applied and holds in
// memory (profiles_pending.go) when its written cursor is short of
// through, and returns the written cursor. The trim's synced commit that
// follows carries the unsynced checkpoint to the disk with it.
func (s *Store) checkpointFor(through int64) (int64, error) {
	durable, err := s.cursor(store.ProfileCursor)
	if err != nil || durable >= through {
		return durable, err
	}
	s.profiles.applying.Lock()
	defer s.profiles.applying.Unlock()
	if err := s.checkpoint(); err != nil {
		s.profiles.pending.clear(false) // as ApplyProfiles does: apply again from the written cursor
		return 0, err
	}
	return s.cursor(store.ProfileCursor)
}

// trimmed returns the last position TrimLog removed (0 for none).
func (s *Store) trimmed() (int64, error) {
	v, closer, err := s.db.Get(trimmedKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pebble: read the trimmed position: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("pebble: trimmed position: %w", errKey)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// logWorkspaces lists the workspaces in the log's index, a seek per
// workspace.
func (s *Store) logWorkspaces(ctx context.Context) ([]string, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixWorkspaceEv}, UpperBound: []byte{prefixWorkspaceEv + 1}})
	if err != nil {
		return nil, fmt.Errorf("pebble: list the log's workspaces: %w", err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; {
		ws, _, err := readString(it.Key()[1:])
		if err != nil {
			return nil, fmt.Errorf("pebble: list the log's workspaces: %w", err)
		}
		out = append(out, ws)
		ok = it.SeekGE(prefixEnd(workspaceEventPrefix(ws)))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: list the log's workspaces: %w", err)
	}
	return out, nil
}
