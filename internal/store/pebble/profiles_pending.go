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
	// dirtyRecords and dirtyIDs list the keys of the dirty values, so that
	// a checkpoint need not look through the whole cache.
	dirtyRecords, dirtyIDs []string
	cursor                 int64 // 0 when nothing is pending
	// bytes is what the maps hold; dirty what a checkpoint would write.
	bytes, dirty int
	since        time.Time // when the first pending batch was applied
	// complete says the maps hold every record and identity there is, so
	// that a key they lack is absent, not merely uncached: from an empty
	// store (a first start, a rebuild) until the first trim. New profiles
	// then cost no lookup in the database.
	complete bool
	// budget is the cache's size in bytes; 0 means cacheBudget.
	budget int
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
	cacheBudget   = 64 << 20
)

// record returns a cached record: found says whether it is cached, and a
// nil record that it was deleted.
func (p *pending) record(key []byte) (r []byte, found bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, found := p.records[string(key)]
	return v.value, found || p.complete
}

// identity returns a cached identity's user key: found says whether it is
// cached, and known whether the cache knows, which it does of an absent
// identity once it is complete.
func (p *pending) identity(key []byte) (userKey string, found, known bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, found := p.ids[string(key)]
	return string(v.value), found, found || p.complete
}

func (p *pending) appliedCursor() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cursor
}

// entryCost is what a map entry takes beyond its key's and value's bytes:
// the key's and value's headers and the map's own slot, which outweigh
// many an identity's bytes.
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

// start sets the cache complete when the database holds no record and no
// identity.
func (p *pending) start(db *pebble.DB) error {
	for _, prefix := range []byte{prefixProfile, prefixIdentity} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return fmt.Errorf("pebble: look for profiles: %w", err)
		}
		some := it.First()
		if err := it.Close(); err != nil {
			return fmt.Errorf("pebble: look for profiles: %w", err)
		}
		if some {
			return nil
		}
	}
	p.clear(true)
	return nil
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
	// Encoded before the lock is taken: readers wait only for the maps.
	type entry struct {
		key   string
		value []byte
	}
	records := make([]entry, 0, len(changes.Records))
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
		records = append(records, entry{string(profileKey(rc.Ref)), value})
	}
	ids := make([]entry, 0, len(changes.Identities))
	for id, userKey := range changes.Identities {
		ids = append(ids, entry{string(identityKey(id)), []byte(userKey)})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if p.cursor == 0 {
		p.since = now
	}
	for _, e := range records {
		if !p.records[e.key].dirty {
			p.dirtyRecords = append(p.dirtyRecords, e.key)
		}
		p.set(p.records, e.key, cachedValue{value: e.value, dirty: true})
	}
	for _, e := range ids {
		if !p.ids[e.key].dirty {
			p.dirtyIDs = append(p.dirtyIDs, e.key)
		}
		p.set(p.ids, e.key, cachedValue{value: e.value, dirty: true})
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
// deleted records, and trims the cache to its budget. Only the processor
// changes the maps, so it may read them without the lock while readers
// do; it takes the lock to change them.
func (p *pending) written() {
	p.mu.Lock()
	for _, d := range []struct {
		m    map[string]cachedValue
		keys []string
	}{{p.records, p.dirtyRecords}, {p.ids, p.dirtyIDs}} {
		for _, key := range d.keys {
			v := d.m[key]
			if v.value == nil {
				delete(d.m, key)
				p.bytes -= cost(key, v)
				continue
			}
			d.m[key] = cachedValue{value: v.value}
		}
	}
	p.dirtyRecords, p.dirtyIDs = p.dirtyRecords[:0], p.dirtyIDs[:0]
	p.cursor, p.dirty = 0, 0
	budget := p.budget
	if budget == 0 {
		budget = cacheBudget
	}
	over := p.bytes > budget
	p.mu.Unlock()
	if !over {
		return
	}
	// Copied into new maps, not deleted from the old ones: a Go map keeps
	// the room it once needed.
	var kept int
	records, ids := keep(p.records, budget*3/4, &kept), keep(p.ids, budget*3/4, &kept)
	p.mu.Lock()
	p.records, p.ids, p.bytes = records, ids, kept
	p.complete = false
	p.mu.Unlock()
}

// keep returns a map with as many of m's entries as fit in what is left of
// limit bytes after kept bytes, in map order (random), and adds theirs to
// kept.
func keep(m map[string]cachedValue, limit int, kept *int) map[string]cachedValue {
	out := make(map[string]cachedValue)
	for key, v := range m {
		if *kept+cost(key, v) > limit {
			break
		}
		out[key] = v
		*kept += cost(key, v)
	}
	return out
}

// clear forgets everything, what is pending too: after a failure, so that
// the processor applies again from the last checkpoint, or a reset, after
// which the store holds no profile (empty).
func (p *pending) clear(empty bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records, p.ids = nil, nil // not cleared: a Go map keeps its room
	p.dirtyRecords, p.dirtyIDs = nil, nil
	p.cursor, p.bytes, p.dirty = 0, 0, 0
	p.complete = empty
}

// checkpoint writes the pending records and identities with their cursor in
// one batch. It runs under profileState.applying.
func (s *Store) checkpoint() error {
	// The cursor goes in after every write of the batches it covers.
	if err := s.profiles.awaitWrites(); err != nil {
		s.profiles.pending.clear(false)
		return fmt.Errorf("pebble: checkpoint profiles: %w", err)
	}
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
		for _, d := range []struct {
			m    map[string]cachedValue
			keys []string
		}{{p.records, p.dirtyRecords}, {p.ids, p.dirtyIDs}} {
			for _, key := range d.keys {
				var err error
				if v := d.m[key]; v.value == nil {
					err = b.Delete([]byte(key), nil)
				} else {
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
