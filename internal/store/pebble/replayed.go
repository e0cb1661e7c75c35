package pebble

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/binrec"
	"roster/internal/store"
)

// A replay mark is a key of its own next to the quarantined message, so
// that the message's value stays as it was received.
func replayedKey(workspace string, id int64) []byte {
	return appendInt64(appendString([]byte{prefixReplayed}, workspace), id)
}

// MarkReplayed implements store.Log.
func (s *Store) MarkReplayed(ctx context.Context, workspace string, id int64, at time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, closer, err := s.db.Get(appendInt64(quarantinePrefix(workspace), id))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("pebble: quarantined %d: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("pebble: read quarantined %d: %w", id, err)
	}
	closer.Close()
	if err := s.db.Set(replayedKey(workspace, id), binrec.AppendTime(nil, at), pebble.Sync); err != nil {
		return fmt.Errorf("pebble: mark quarantined %d replayed: %w", id, err)
	}
	return nil
}

// replayedAt returns when quarantined message id was replayed, zero if never.
func (s *Store) replayedAt(workspace string, id int64) (time.Time, error) {
	v, closer, err := s.db.Get(replayedKey(workspace, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("pebble: read replay mark %d: %w", id, err)
	}
	defer closer.Close()
	d := binrec.NewReader(v)
	at := d.Time()
	return at, valueErr(d)
}
