package pebble

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/store"
)

// pending holds the profile records and identities that applied batches
// changed and that are not in the database yet, with the cursor they are
// applied up to. Batches change the same profiles over and over (a group's
// last seen at every event), and writing a record at every batch was most
// of what the processor wrote and compacted; here a profile is written once
// a checkpoint, however often it changed. The state is derived from the
// log, so a crash loses only work: the processor starts again from the
// cursor of the last checkpoint, which was written with its records in one
// batch, and applies the same events to the same state again.
//
// The processor (under profileState.applying) is the only writer; readers
// of profiles look here before the database, under mu.
type pending struct {
	mu      sync.RWMutex
	records map[string][]byte // profile key → Record bytes; nil: deleted
	ids     map[string]string // identity key → user key
	cursor  int64             // 0 when nothing is pending
	bytes   int
	since   time.Time // when the first pending batch was applied
}

// Checkpoints come when the pending records reach pendingBudget bytes, or
// pendingAge after the first pending batch: at most that much work to redo
// after a crash, and at most that much memory.
const (
	pendingBudget = 32 << 20
	pendingAge    = 10 * time.Second
)

// record returns a pending record: found says whether the profile is
// pending, and a nil record that it was deleted.
func (p *pending) record(key []byte) (r []byte, found bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r, found = p.records[string(key)]
	return r, found
}

func (p *pending) identity(key []byte) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	k, ok := p.ids[string(key)]
	return k, ok
}

func (p *pending) appliedCursor() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cursor
}

// add takes what a batch changed in records and identities, applied up to
// upTo.
func (p *pending) add(changes *profile.Changes, upTo int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.records == nil {
		p.records, p.ids = map[string][]byte{}, map[string]string{}
	}
	if p.cursor == 0 {
		p.since = now
	}
	for _, rc := range changes.Records {
		if rc.Old == nil && rc.New == nil {
			continue // created and merged away within the batch: nothing stored
		}
		key := string(profileKey(rc.Ref))
		p.bytes -= len(p.records[key])
		var value []byte // nil: deleted
		if rc.New != nil {
			value = rc.New.Marshal(nil)
		}
		p.records[key] = value
		p.bytes += len(key) + len(value)
	}
	for id, userKey := range changes.Identities {
		key := string(identityKey(id))
		if _, ok := p.ids[key]; !ok {
			p.bytes += len(key) + len(userKey)
		}
		p.ids[key] = userKey
	}
	p.cursor = upTo
}

// due reports whether a checkpoint is due.
func (p *pending) due(now time.Time) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cursor != 0 && (p.bytes >= pendingBudget || now.Sub(p.since) >= pendingAge)
}

// clear forgets what is pending, once it is in the database or reset.
func (p *pending) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.records)
	clear(p.ids)
	p.cursor, p.bytes = 0, 0
}

// checkpoint writes the pending records and identities with their cursor in
// one batch. It runs under profileState.applying.
func (s *Store) checkpoint() error {
	p := &s.profiles.pending
	p.mu.RLock()
	if p.cursor == 0 {
		p.mu.RUnlock()
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	err := func() error {
		defer p.mu.RUnlock()
		for key, value := range p.records {
			var err error
			if value == nil {
				err = b.Delete([]byte(key), nil)
			} else {
				err = b.Set([]byte(key), value, nil)
			}
			if err != nil {
				return err
			}
		}
		for key, userKey := range p.ids {
			if err := b.Set([]byte(key), []byte(userKey), nil); err != nil {
				return err
			}
		}
		return b.Set(cursorKey(store.ProfileCursor), binary.BigEndian.AppendUint64(nil, uint64(p.cursor)), nil)
	}()
	if err != nil {
		return fmt.Errorf("pebble: checkpoint profiles: %w", err)
	}
	// Not synced, as every profile write: the next synced log commit
	// carries it to the disk.
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pebble: checkpoint profiles: %w", err)
	}
	p.clear()
	return nil
}
