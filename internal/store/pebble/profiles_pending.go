package pebble

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/store"
)

// pending holds the profile records and identities that the processor
// read or wrote lately, as bytes, and which of them changed since they were
// last written to the database, with the cursor those changes are applied
// up to. Batches change the same profiles over and over (a group's last
// seen at every event), and writing a record at every batch was most of
// what the processor wrote and compacted; here a profile is written once a
// checkpoint, however often it changed, and read from memory while it is
// hot. The state is derived from the log, so a crash loses only work: the
// processor starts again from the cursor of the last checkpoint, which was
// written with its records in one batch, and applies the same events to
// the same state again.
//
// The processor (under profileState.applying) is the only writer; readers
// of profiles look here before the database, under mu.
type pending struct {
	mu      sync.RWMutex
	records map[string]cachedValue // profile key → Record bytes
	ids     map[string]cachedValue // identity key → user key
	cursor  int64                  // 0 when nothing is pending
	// bytes is what the maps hold; dirty what a checkpoint would write.
	bytes, dirty int
	since        time.Time // when the first pending batch was applied
}

// cachedValue is a value as the database has it (clean) or as it will once
// the next checkpoint writes it (dirty). A dirty nil record is deleted.
type cachedValue struct {
	value []byte
	dirty bool
}

// Checkpoints come when the pending changes reach pendingBudget bytes, or
// pendingAge after the first pending batch: at most that much work to redo
// after a crash. Clean values are kept up to cacheBudget, then dropped at
// random (map order) down to three quarters of it.
const (
	pendingBudget = 8 << 20
	pendingAge    = 10 * time.Second
	cacheBudget   = 48 << 20
)

// record returns a cached record: found says whether it is cached, and a
// nil record that it was deleted.
func (p *pending) record(key []byte) (r []byte, found bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, found := p.records[string(key)]
	return v.value, found
}

func (p *pending) identity(key []byte) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.ids[string(key)]
	return string(v.value), ok
}

func (p *pending) appliedCursor() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cursor
}

// entryCost is what a map entry takes beyond its key's and value's bytes:
// the key's and value's headers and the map's own slot, about 100 bytes,
// more than many identities' bytes.
const entryCost = 100

func cost(key string, v cachedValue) int { return entryCost + len(key) + len(v.value) }

// set puts a value in m and keeps the counts.
func (p *pending) set(m map[string]cachedValue, key string, v cachedValue) {
	if old, ok := m[key]; ok {
		p.bytes -= cost(key, old)
		if old.dirty {
			p.dirty -= cost(key, old)
		}
	}
	m[key] = v
	p.bytes += cost(key, v)
	if v.dirty {
		p.dirty += cost(key, v)
	}
}

func (p *pending) init() {
	if p.records == nil {
		p.records, p.ids = map[string]cachedValue{}, map[string]cachedValue{}
	}
}

// loaded caches values read from the database.
func (p *pending) loaded(records, ids map[string][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	for key, v := range records {
		p.set(p.records, key, cachedValue{value: v})
	}
	for key, v := range ids {
		p.set(p.ids, key, cachedValue{value: v})
	}
}

// add takes what a batch changed in records and identities, applied up to
// upTo.
func (p *pending) add(changes *profile.Changes, upTo int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if p.cursor == 0 {
		p.since = now
	}
	var scratch []byte
	for _, rc := range changes.Records {
		if !rc.Existed && rc.New == nil {
			continue // created and merged away within the batch: nothing stored
		}
		var value []byte // nil: deleted
		if rc.New != nil {
			// A copy of the exact size: the cache holds many.
			scratch = rc.New.Marshal(scratch[:0])
			value = bytes.Clone(scratch)
		}
		p.set(p.records, string(profileKey(rc.Ref)), cachedValue{value: value, dirty: true})
	}
	for id, userKey := range changes.Identities {
		p.set(p.ids, string(identityKey(id)), cachedValue{value: []byte(userKey), dirty: true})
	}
	p.cursor = upTo
}

// due reports whether a checkpoint is due.
func (p *pending) due(now time.Time) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cursor != 0 && (p.dirty >= pendingBudget || now.Sub(p.since) >= pendingAge)
}

// written marks everything clean once a checkpoint wrote it, forgets
// deleted records, and trims the cache to its budget.
func (p *pending) written() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range []map[string]cachedValue{p.records, p.ids} {
		for key, v := range m {
			switch {
			case !v.dirty:
			case v.value == nil:
				delete(m, key)
				p.bytes -= cost(key, v)
			default:
				m[key] = cachedValue{value: v.value}
			}
		}
	}
	p.cursor, p.dirty = 0, 0
	if p.bytes <= cacheBudget {
		return
	}
	// Copied into new maps, not deleted from the old ones: a Go map keeps
	// the room it once needed.
	p.bytes = 0
	p.records, p.ids = p.keep(p.records), p.keep(p.ids)
}

// keep returns a map with as many of m's entries as fit in what is left of
// three quarters of the budget, in map order (random).
func (p *pending) keep(m map[string]cachedValue) map[string]cachedValue {
	kept := make(map[string]cachedValue)
	for key, v := range m {
		if p.bytes+cost(key, v) > cacheBudget*3/4 {
			break
		}
		kept[key] = v
		p.bytes += cost(key, v)
	}
	return kept
}

// clear forgets everything, what is pending too: after a failure, so that
// the processor applies again from the last checkpoint, or a reset.
func (p *pending) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records, p.ids = nil, nil // not cleared: a Go map keeps its room
	p.cursor, p.bytes, p.dirty = 0, 0, 0
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
		for _, m := range []map[string]cachedValue{p.records, p.ids} {
			for key, v := range m {
				var err error
				switch {
				case !v.dirty:
				case v.value == nil:
					err = b.Delete([]byte(key), nil)
				default:
					err = b.Set([]byte(key), v.value, nil)
				}
				if err != nil {
					return err
				}
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
	p.written()
	return nil
}
