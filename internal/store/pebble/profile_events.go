package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/store"
)

// A profile's events are filed by their corrected timestamp, then their
// log position, so that /events reads them in time order in either
// direction, a late event among its own time's.

func profileEventKey(e profile.EventRef) []byte {
	return appendUint64(appendInt64(profileEventPrefix(e.Workspace, e.Collection, e.Key), e.At), uint64(e.Seq))
}

func readProfileEventKey(b []byte) (store.EventPosition, error) {
	at, rest, err := readInt64(b)
	if err != nil || len(rest) != 8 {
		return store.EventPosition{}, errKey
	}
	return store.EventPosition{At: at, Seq: int64(binary.BigEndian.Uint64(rest))}, nil
}

// ProfileEvents implements store.Profiles. A user's events are those filed
// under its key and under the keys of the profiles merged into it: each
// key's first are read in order, then the first of them all kept.
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, page store.EventPage) ([]store.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var keys []string
	switch collection {
	case store.Users:
		r, err := s.user(workspace, key)
		if err != nil {
			return nil, err
		}
		keys = append([]string{key}, r.Merged...)
	case store.Accounts:
		if _, err := s.group(workspace, key); err != nil {
			return nil, err
		}
		keys = []string{key}
	default:
		return nil, fmt.Errorf("pebble: profile events: unknown collection %q: want users or accounts", collection)
	}
	limit := store.PageLimit(page.Limit)
	var found []store.EventPosition
	for _, k := range keys {
		prefix := profileEventPrefix(workspace, collection, k)
		var start []byte
		if page.After.Seq != 0 {
			start = appendUint64(appendInt64(bytes.Clone(prefix), page.After.At), uint64(page.After.Seq))
			if page.Ascending {
				start = append(start, 0) // past After itself
			}
		}
		n := 0
		err := s.scanPrefix(prefix, start, !page.Ascending, func(key, _ []byte) (bool, error) {
			p, err := readProfileEventKey(key)
			if err != nil {
				return false, err
			}
			found = append(found, p)
			n++
			return n < limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("pebble: events of %s/%q: %w", collection, key, err)
		}
	}
	slices.SortFunc(found, func(a, b store.EventPosition) int {
		if a == b {
			return 0
		}
		if a.Before(b) == page.Ascending {
			return -1
		}
		return 1
	})
	found = found[:min(len(found), limit)]
	events := make([]store.Event, 0, len(found))
	for _, p := range found {
		e, err := s.eventAt(p.Seq)
		if errors.Is(err, pebble.ErrNotFound) {
			continue // trimmed by retention (TrimLog)
		}
		if err != nil {
			return nil, fmt.Errorf("pebble: events of %s/%q: %w", collection, key, err)
		}
		if e.Workspace == workspace {
			events = append(events, e)
		}
	}
	return events, nil
}

// profileEventsLayout names the layout of the profile event keys; a
// database without it files them by log position only.
const profileEventsLayout = "time-seq"

// upgradeProfileEvents refiles the profile events of a database written
// before they were filed by time: each key gets its event's timestamp.
func (s *Store) upgradeProfileEvents(ctx context.Context) error {
	key := metaKey("profile-events")
	v, closer, err := s.db.Get(key)
	if err == nil {
		got := string(v)
		closer.Close()
		if got != profileEventsLayout {
			return fmt.Errorf("pebble: %s files profile events as %q, this roster reads %q", s.dir, got, profileEventsLayout)
		}
		return nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("pebble: read profile events layout: %w", err)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixProfileEv}, UpperBound: []byte{prefixProfileEv + 1}})
	if err != nil {
		return fmt.Errorf("pebble: upgrade profile events: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		old := it.Key()
		rest, err := skipStrings(old[1:], 3) // workspace, collection, key
		if err == nil && len(rest) == 16 {
			continue // refiled before an interruption
		}
		if err != nil || len(rest) != 8 {
			it.Close()
			return fmt.Errorf("pebble: upgrade profile events: %w", errKey)
		}
		seq := int64(binary.BigEndian.Uint64(old[len(old)-8:]))
		e, err := s.eventAt(seq)
		if err != nil {
			it.Close()
			return fmt.Errorf("pebble: upgrade profile events: %w", err)
		}
		refiled := appendUint64(appendInt64(bytes.Clone(old[:len(old)-8]), e.Timestamp.UnixMilli()), uint64(seq))
		if err := errors.Join(b.Delete(old, nil), b.Set(refiled, nil, nil)); err != nil {
			it.Close()
			return fmt.Errorf("pebble: upgrade profile events: %w", err)
		}
		n++
		// A large log is refiled in several commits: the layout is
		// written last, so an interrupted upgrade goes on at the next
		// open, and keys refiled already are left as they are.
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				it.Close()
				return fmt.Errorf("pebble: upgrade profile events: %w", err)
			}
			b.Reset()
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebble: upgrade profile events: %w", err)
	}
	if err := b.Set(key, []byte(profileEventsLayout), nil); err != nil {
		return fmt.Errorf("pebble: upgrade profile events: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: upgrade profile events: %w", err)
	}
	if n > 0 {
		s.log.Info("pebble: filed profile events by time", "events", n)
	}
	return nil
}

// skipStrings returns what follows n strings appendString wrote.
func skipStrings(b []byte, n int) ([]byte, error) {
	var err error
	for range n {
		if _, b, err = readString(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}
