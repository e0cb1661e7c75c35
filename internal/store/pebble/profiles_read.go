package pebble

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// record reads a profile's record, pending or stored; ErrNotFound when
// there is none.
func (s *Store) record(ref profile.Ref) (*profile.Record, error) {
	key := profileKey(ref)
	if v, ok := s.profiles.pending.record(key); ok {
		if v == nil {
			return nil, fmt.Errorf("pebble: profile %q: %w", ref.ID, store.ErrNotFound)
		}
		return profile.Unmarshal(v)
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("pebble: profile %q: %w", ref.ID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble: profile %q: %w", ref.ID, err)
	}
	defer closer.Close()
	r, err := profile.Unmarshal(v)
	if err != nil {
		return nil, fmt.Errorf("pebble: profile %q: %w", ref.ID, err)
	}
	return r, nil
}

func (s *Store) group(workspace, groupID string) (*profile.Record, error) {
	return s.record(profile.Ref{Workspace: workspace, Kind: profile.Group, ID: groupID})
}

func (s *Store) user(workspace, key string) (*profile.Record, error) {
	return s.record(profile.Ref{Workspace: workspace, Kind: profile.User, ID: key})
}

// guardedGroup and guardedUser are group and user for a read that does
// nothing else with the database: they hold the store open for it.
func (s *Store) guardedGroup(workspace, groupID string) (*profile.Record, error) {
	return s.guarded(profile.Ref{Workspace: workspace, Kind: profile.Group, ID: groupID})
}

func (s *Store) guardedUser(workspace, key string) (*profile.Record, error) {
	return s.guarded(profile.Ref{Workspace: workspace, Kind: profile.User, ID: key})
}

func (s *Store) guarded(ref profile.Ref) (*profile.Record, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.record(ref)
}

func groupOf(workspace, groupID string, r *profile.Record) store.Group {
	return store.Group{Workspace: workspace, ID: groupID, Activity: r.Activity(), Members: r.Members}
}

// Group implements store.Profiles.
func (s *Store) Group(ctx context.Context, workspace, groupID string) (store.Group, error) {
	r, err := s.guardedGroup(workspace, groupID)
	if err != nil {
		return store.Group{}, err
	}
	return groupOf(workspace, groupID, r), nil
}

// GroupTraits implements store.Profiles.
func (s *Store) GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error) {
	r, err := s.guardedGroup(workspace, groupID)
	if err != nil {
		return nil, err
	}
	return r.Traits, nil
}

// scanPrefix calls each for the keys under prefix, from start (nil: the
// first) on, newest-last or, with reverse, from before start (nil: the
// last) back; each returns false to stop.
func (s *Store) scanPrefix(prefix, start []byte, reverse bool, each func(key, value []byte) (bool, error)) error {
	opts := &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)}
	if start != nil {
		if reverse {
			opts.UpperBound = start
		} else {
			opts.LowerBound = start
		}
	}
	it, err := s.db.NewIter(opts)
	if err != nil {
		return err
	}
	defer it.Close()
	valid := it.First
	next := it.Next
	if reverse {
		valid, next = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := each(it.Key()[len(prefix):], v)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// GroupMembers implements store.Profiles.
func (s *Store) GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := memberPrefix(workspace, groupID)
	var start []byte
	if afterUser != "" {
		start = prefixEnd(appendString(bytes.Clone(prefix), afterUser))
	}
	limit = store.PageLimit(limit)
	var out []store.Membership
	err := s.scanPrefix(prefix, start, false, func(key, v []byte) (bool, error) {
		user, _, err := readString(key)
		if err != nil {
			return false, err
		}
		first, n := binary.Varint(v)
		last, m := binary.Varint(v[max(n, 0):])
		if n <= 0 || m <= 0 {
			return false, errKey
		}
		out = append(out, store.Membership{GroupID: groupID, UserKey: user, FirstSeen: millis(first), LastSeen: millis(last)})
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: members of %q: %w", groupID, err)
	}
	if len(out) == 0 {
		if _, err := s.group(workspace, groupID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TraitHistory implements store.Profiles. A page never ends inside an
// event: the caller's cursor is a seq, so cutting an event's changes short
// would make the next page skip the rest of them.
func (s *Store) TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := historyPrefix(workspace, groupID)
	var start []byte
	if before > 0 {
		start = appendUint64(bytes.Clone(prefix), uint64(before))
	}
	if key != "" {
		key = spec.FoldKey(key)
	}
	limit = store.PageLimit(limit)
	var out []store.TraitChange
	err := s.scanPrefix(prefix, start, true, func(_, v []byte) (bool, error) {
		changes, err := profile.UnmarshalHistory(v)
		if err != nil {
			return false, err
		}
		if key != "" {
			changes = slices.DeleteFunc(changes, func(c store.TraitChange) bool { return c.Key != key })
		}
		slices.SortFunc(changes, func(a, b store.TraitChange) int { return cmp.Compare(a.Key, b.Key) })
		out = append(out, changes...)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: trait history of %q: %w", groupID, err)
	}
	if len(out) == 0 {
		if _, err := s.group(workspace, groupID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ResolveUser implements store.Profiles.
func (s *Store) ResolveUser(ctx context.Context, workspace, idType, id string) (string, error) {
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	key := identityKey(profile.Identity{Workspace: workspace, Type: idType, ID: id})
	userKey, found, known := s.profiles.pending.identity(key)
	if found {
		return userKey, nil
	}
	if known {
		return "", fmt.Errorf("pebble: identity %s:%s: %w", idType, id, store.ErrNotFound)
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", fmt.Errorf("pebble: identity %s:%s: %w", idType, id, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("pebble: resolve %s:%s: %w", idType, id, err)
	}
	defer closer.Close()
	return string(v), nil
}

// User implements store.Profiles.
func (s *Store) User(ctx context.Context, workspace, key string) (store.User, error) {
	r, err := s.guardedUser(workspace, key)
	if err != nil {
		return store.User{}, err
	}
	return store.User{Workspace: workspace, Key: key, Activity: r.Activity()}, nil
}

// UserTraits implements store.Profiles.
func (s *Store) UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error) {
	r, err := s.guardedUser(workspace, key)
	if err != nil {
		return nil, err
	}
	return r.Traits, nil
}

// ExternalIDs implements store.Profiles: oldest first.
func (s *Store) ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error) {
	r, err := s.guardedUser(workspace, key)
	if err != nil {
		return nil, err
	}
	return r.ExternalIDs(), nil
}

// UserGroups implements store.Profiles.
func (s *Store) UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error) {
	r, err := s.guardedUser(workspace, key)
	if err != nil {
		return nil, err
	}
	return r.Memberships(key), nil
}

// ProfileEvents implements store.Profiles. A user's events are those filed
// under its key and under the keys of the profiles merged into it.
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, before int64, limit int) ([]store.Event, error) {
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
	if before <= 0 {
		before = math.MaxInt64
	}
	limit = store.PageLimit(limit)
	var seqs []int64
	for _, k := range keys {
		prefix := profileEventPrefix(workspace, collection, k)
		n := 0
		err := s.scanPrefix(prefix, appendUint64(bytes.Clone(prefix), uint64(before)), true, func(key, _ []byte) (bool, error) {
			if len(key) != 8 {
				return false, errKey
			}
			seqs = append(seqs, int64(binary.BigEndian.Uint64(key)))
			n++
			return n < limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("pebble: events of %s/%q: %w", collection, key, err)
		}
	}
	slices.SortFunc(seqs, func(a, b int64) int { return cmp.Compare(b, a) })
	seqs = seqs[:min(len(seqs), limit)]
	events := make([]store.Event, 0, len(seqs))
	for _, seq := range seqs {
		e, err := s.eventAt(seq)
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
