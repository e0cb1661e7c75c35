package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/store"
)

// Profiles are written by the profile engine (internal/profile) and kept
// here as bytes: a record a profile, an identity → user key a key, a row a
// membership, and a key per event filed under a profile, all in log order
// where it matters. This file is the write side; profiles_read.go reads.

// profileState serializes ApplyProfiles, ResetProfiles and checkpoints:
// the engine reads the state a batch starts from, and no other writer may
// change it before the batch is written. pending holds the records and
// identities the processor read or wrote lately, those not written yet
// among them (profiles_pending.go).
type profileState struct {
	applying sync.Mutex
	pending  pending
	// writes reports how the last batch's writes went (writeChanges),
	// which run while the processor works out the next batch; nil when
	// none are under way.
	writes chan error
	// unsettled is held for writing while they are: a read of what they
	// write waits for them, and sees every batch applied before it began.
	unsettled sync.RWMutex
}

// settle waits for the batch writes under way.
func (p *profileState) settle() {
	p.unsettled.RLock()
	p.unsettled.RUnlock()
}

// awaitWrites waits for the last batch's writes and returns their error.
// It runs under applying.
func (p *profileState) awaitWrites() error {
	if p.writes == nil {
		return nil
	}
	err := <-p.writes
	p.writes = nil
	return err
}

func profileKey(ref profile.Ref) []byte {
	b := appendString([]byte{prefixProfile}, ref.Workspace)
	b = append(b, byte(ref.Kind))
	return appendString(b, ref.ID)
}

func identityKey(id profile.Identity) []byte {
	b := appendString([]byte{prefixIdentity}, id.Workspace)
	b = appendString(b, id.Type)
	return appendString(b, id.ID)
}

func memberPrefix(workspace, groupID string) []byte {
	return appendString(appendString([]byte{prefixMember}, workspace), groupID)
}

func profileEventPrefix(workspace, collection, key string) []byte {
	b := appendString([]byte{prefixProfileEv}, workspace)
	b = appendString(b, collection)
	return appendString(b, key)
}

func historyPrefix(workspace, groupID string) []byte {
	return appendString(appendString([]byte{prefixHistory}, workspace), groupID)
}

// ListGroups' orders. Records themselves are in id order, but a new one
// waits for a checkpoint (pending), so the id order has its entries too,
// written as the group is created.
const (
	orderID        = 'i'
	orderName      = 'n'
	orderFirstSeen = 'f'
	orderLastSeen  = 'l'
)

func groupOrderPrefix(workspace string, order byte) []byte {
	return append(appendString([]byte{prefixGroupOrder}, workspace), order)
}

// groupOrderKeys returns a group's index entries.
func groupOrderKeys(workspace, groupID string, o profile.Order) [4][]byte {
	return [4][]byte{
		appendString(groupOrderPrefix(workspace, orderID), groupID),
		appendString(appendString(groupOrderPrefix(workspace, orderName), o.Name), groupID),
		appendString(appendInt64(groupOrderPrefix(workspace, orderFirstSeen), o.First), groupID),
		appendString(appendInt64(groupOrderPrefix(workspace, orderLastSeen), o.Last), groupID),
	}
}

func cursorKey(name string) []byte { return appendString([]byte{prefixCursor}, name) }

// Cursor implements store.Profiles.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	if name == store.ProfileCursor {
		if c := s.profiles.pending.appliedCursor(); c != 0 {
			return c, nil
		}
	}
	return s.cursor(name)
}

func (s *Store) cursor(name string) (int64, error) {
	v, closer, err := s.db.Get(cursorKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pebble: read cursor %s: %w", name, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("pebble: cursor %s: %w", name, errKey)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// ApplyProfiles implements store.Profiles: the engine works out the batch's
// changes from the records it loads. What only grows (event references,
// history) and the rows kept beside the records (members, ListGroups'
// orders) are written at once; records and identities wait in pending for
// the next checkpoint, which writes them with the cursor. Nothing is
// synced: profiles are derived from the log, and the next synced log
// commit carries them to the disk. Whatever goes wrong, pending is dropped
// and the processor applies again from the last checkpoint: every write
// here is one that applying the same events to the same state writes
// again.
func (s *Store) ApplyProfiles(ctx context.Context, updates []store.ProfileUpdate, upTo int64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pebble: apply profiles: %w", err)
	}
	s.profiles.applying.Lock()
	defer s.profiles.applying.Unlock()
	cursor := s.profiles.pending.appliedCursor()
	if cursor == 0 {
		var err error
		if cursor, err = s.cursor(store.ProfileCursor); err != nil {
			return err
		}
	}
	if upTo <= cursor {
		return nil
	}
	changes, err := profile.Apply(ctx, loader{s}, updates, cursor)
	if err != nil {
		return fmt.Errorf("pebble: %w", err)
	}
	if err := s.profiles.awaitWrites(); err != nil {
		s.profiles.pending.clear(false)
		return fmt.Errorf("pebble: apply profiles: %w", err)
	}
	// Pending first: a reader that finds a new profile's events finds the
	// profile. The rest is written while the processor works out its next
	// batch, which reads only pending: with a core to spare, that takes
	// the writes off its path.
	// A reader that sees this batch's cursor waits in settle for its
	// writes: the lock is taken before the cursor moves.
	s.profiles.unsettled.Lock()
	s.profiles.pending.add(changes, upTo, time.Now())
	writes := make(chan error, 1)
	s.profiles.writes = writes
	go func() {
		defer s.profiles.unsettled.Unlock()
		writes <- s.writeChanges(changes)
	}()
	if s.profiles.pending.due(time.Now()) {
		if err := s.checkpoint(); err != nil {
			s.profiles.pending.clear(false)
			return err
		}
	}
	return nil
}

// writeChanges writes what the engine changed besides records and
// identities.
func (s *Store) writeChanges(c *profile.Changes) error {
	b := s.db.NewBatch()
	defer b.Close()
	var buf []byte
	for _, rc := range c.Records {
		if rc.Ref.Kind == profile.Group {
			if err := writeGroupOrder(b, rc); err != nil {
				return err
			}
		}
	}
	for _, m := range c.Memberships {
		key := appendString(memberPrefix(m.Workspace, m.GroupID), m.UserKey)
		var err error
		if m.Deleted {
			err = b.Delete(key, nil)
		} else {
			err = b.Set(key, binary.AppendVarint(binary.AppendVarint(buf[:0], m.Member.First), m.Member.Last), nil)
		}
		if err != nil {
			return err
		}
	}
	for _, e := range c.Events {
		if err := b.Set(profileEventKey(e), nil, nil); err != nil {
			return err
		}
	}
	for _, h := range c.History {
		key := appendUint64(historyPrefix(h.Workspace, h.GroupID), uint64(h.Seq))
		if err := b.Set(key, profile.MarshalHistory(buf[:0], h.Changes), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

// writeGroupOrder moves a group's entries in ListGroups' orders: those
// that changed are deleted and set anew.
func writeGroupOrder(b *pebble.Batch, rc profile.RecordChange) error {
	var old, cur [4][]byte
	if rc.Existed {
		old = groupOrderKeys(rc.Ref.Workspace, rc.Ref.ID, rc.Was)
	}
	if rc.New != nil {
		cur = groupOrderKeys(rc.Ref.Workspace, rc.Ref.ID, rc.New.Order())
	}
	for i := range old {
		if bytes.Equal(old[i], cur[i]) {
			continue
		}
		if old[i] != nil {
			if err := b.Delete(old[i], nil); err != nil {
				return err
			}
		}
		if cur[i] != nil {
			if err := b.Set(cur[i], nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// ResetProfiles implements store.Profiles.
func (s *Store) ResetProfiles(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.profiles.applying.Lock()
	defer s.profiles.applying.Unlock()
	// The last batch's writes land before the reset, not after it; whether
	// they failed no longer matters.
	_ = s.profiles.awaitWrites()
	s.profiles.pending.clear(false)
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixCursor, prefixProfile, prefixIdentity, prefixMember, prefixProfileEv, prefixHistory, prefixGroupOrder} {
		if err := b.DeleteRange([]byte{p}, []byte{p + 1}, nil); err != nil {
			return fmt.Errorf("pebble: reset profiles: %w", err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: reset profiles: %w", err)
	}
	s.profiles.pending.clear(true)
	return nil
}

// loader reads what a batch starts from for the engine: pending state
// first, then the database.
type loader struct{ s *Store }

// LoadIdentities implements profile.Loader.
func (l loader) LoadIdentities(ctx context.Context, ids []profile.Identity) (map[profile.Identity]string, error) {
	found := make(map[profile.Identity]string, len(ids))
	var keys [][]byte
	var unknown []profile.Identity
	for _, id := range ids {
		key := identityKey(id)
		if userKey, found0, known := l.s.profiles.pending.identity(key); known {
			if found0 {
				found[id] = userKey
			}
			continue
		}
		keys, unknown = append(keys, key), append(unknown, id)
	}
	read := make(map[string][]byte, len(keys))
	err := l.getSorted(keys, func(i int, v []byte) error {
		found[unknown[i]] = string(v)
		read[string(keys[i])] = bytes.Clone(v)
		return nil
	})
	l.s.profiles.pending.loaded(nil, read)
	return found, err
}

// LoadRecords implements profile.Loader.
func (l loader) LoadRecords(ctx context.Context, refs []profile.Ref) (map[profile.Ref]*profile.Record, error) {
	found := make(map[profile.Ref]*profile.Record, len(refs))
	var keys [][]byte
	var unknown []profile.Ref
	for _, ref := range refs {
		key := profileKey(ref)
		if v, ok := l.s.profiles.pending.record(key); ok {
			if v != nil {
				r, err := profile.Unmarshal(v)
				if err != nil {
					return nil, fmt.Errorf("profile %v: %w", ref, err)
				}
				found[ref] = r
			}
			continue
		}
		keys, unknown = append(keys, key), append(unknown, ref)
	}
	read := make(map[string][]byte, len(keys))
	err := l.getSorted(keys, func(i int, v []byte) error {
		r, err := profile.Unmarshal(v)
		if err != nil {
			return fmt.Errorf("profile %v: %w", unknown[i], err)
		}
		found[unknown[i]] = r
		read[string(keys[i])] = bytes.Clone(v)
		return nil
	})
	l.s.profiles.pending.loaded(read, nil)
	return found, err
}

// getSorted looks keys up in key order, which visits each block of the
// LSM once for the keys it holds, and calls found with the index of each
// key that exists and its value (valid only during the call). Gets, not an
// iterator: the tables' filters answer most misses from memory.
func (l loader) getSorted(keys [][]byte, found func(i int, v []byte) error) error {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	for _, i := range order {
		v, closer, err := l.s.db.Get(keys[i])
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		err = found(i, v)
		closer.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
