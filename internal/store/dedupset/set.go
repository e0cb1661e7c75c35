// Package dedupset holds the dedup keys of the window in memory, compactly,
// for the embedded stores: each loads it at start from the keys it keeps on
// disk and checks every appended event against it.
package dedupset

import (
	"encoding/binary"

	"roster/internal/store"
)

// Set holds the dedup keys of the window with, for each, when it was
// last claimed (Unix seconds). It replaces a map[store.DedupKey]uint32, which
// cost 39-42 bytes a key (20-byte entries plus control bytes, at a load
// that swings between 44% and 88% with each doubling); at five million
// events that map was most of the server's memory, and because the
// collector lets the heap grow to twice what is live, every byte of it
// counted twice in RSS.
//
// Layout: 256 shards picked by the key's first byte, each an
// open-addressing table of 16-byte slots holding the next 12 key bytes
// and the time. The table is a Robin Hood table with linear probing whose
// home slot is monotone in the key (home = top 32 bits × capacity >> 32),
// which makes it simply a sorted array with gaps: every key sits at its
// home slot or right after its predecessor, in key order. That gives
//   - short probes for misses too (the common case: a new event), since a
//     lookup stops at the first larger key, so tables can run at 90% full;
//   - any capacity, not just powers of two, so a shard grows by a quarter
//     at a time and the load stays between 72% and 90% (about 20 bytes a
//     key), where doubling would leave it anywhere from 45% to 90%;
//   - growth and shrinking as one sequential pass over the old slots,
//     with no rehashing, one shard (1/256 of the set) at a time, so the set
//     never needs twice its memory at once;
//   - deletion by shifting the following run back one slot, which keeps
//     the layout exact with no tombstones.
//
// The tables have no wraparound: a few spare slots past the last home
// slot take the overflow, and a shard that runs out of them grows.
//
// Why 12 bytes (plus the shard byte: 104 bits) are enough although the
// stored key is 16: a new message is wrongly taken for a duplicate only if
// its key matches one of the N keys held on all 104 bits, which for random
// SHA-256 output has probability N/2^104; with N = 10 million that is
// about 5e-25 per event, and even 96 bits would give 1e-22. The stores
// keep all 16 bytes on disk, so nothing is lost there.
//
// Why the time stays 4-byte seconds rather than a 2-byte coarse stamp: 2
// bytes cannot cover a 7-day window in seconds, and any coarser unit would
// move the window's edge, whereas this keeps the old map's semantics
// exactly (claimed iff stored second >= cutoff second); it would save 2 of
// 16 bytes (about 12%).
//
// A zero time marks an empty slot, so Put stores 1 for 0 (1970-01-01).
// Set is not safe for concurrent use.
type Set struct {
	shards [256]keyShard
	n      int
	// The sweep cursor: the next shard and slot to look at.
	sweepShard, sweepPos int
}

type keySlot struct {
	hi uint64 // key bytes 1-8, big-endian, so that slots sort as keys
	lo uint32 // key bytes 9-12
	at uint32 // Unix seconds; 0 means empty
}

type keyShard struct {
	slots []keySlot // capacity home slots, then the spare ones
	cap   int       // number of home slots
	n     int
	limit int // n above which the shard grows
}

const (
	// keyMinCap is a new shard's capacity.
	keyMinCap = 16
	// A shard grows by a quarter when more than 90% full (at 90% a
	// lookup, hit or miss, is expected to look at about five slots, 80
	// bytes: one or two cache lines) and shrinks back to 80% full after a
	// sweep leaves it below 40%.
	keyMaxLoadPct    = 90
	keyShrinkLoadPct = 40
	keyFitLoadPct    = 80
)

// keySpare is how many slots past the last home slot take a run's
// overflow. At 90% load the overflow is a few slots on average with an
// exponential tail, so 1/128 of capacity is seldom reached; when it is,
// the shard grows.
func keySpare(capacity int) int { return 16 + capacity/128 }

func splitKey(k store.DedupKey) (shard int, hi uint64, lo uint32) {
	return int(k[0]), binary.BigEndian.Uint64(k[1:9]), binary.BigEndian.Uint32(k[9:13])
}

func (sh *keyShard) home(hi uint64) int {
	return int((hi >> 32) * uint64(sh.cap) >> 32)
}

// find returns where the key is, or where it belongs: the first slot from
// its home on that is empty or holds a larger key.
func (sh *keyShard) find(hi uint64, lo uint32) (int, bool) {
	slots := sh.slots
	i := 0
	if sh.cap > 0 {
		i = sh.home(hi)
	}
	for ; i < len(slots); i++ {
		s := &slots[i]
		if s.at == 0 || s.hi > hi || s.hi == hi && s.lo >= lo {
			return i, s.at != 0 && s.hi == hi && s.lo == lo
		}
	}
	return i, false
}

func (ks *Set) Len() int { return ks.n }

// Get returns when the key was last put, if it is held.
func (ks *Set) Get(k store.DedupKey) (uint32, bool) {
	shard, hi, lo := splitKey(k)
	sh := &ks.shards[shard]
	if i, ok := sh.find(hi, lo); ok {
		return sh.slots[i].at, true
	}
	return 0, false
}

// Put records the key at the given time, keeping the later time if the
// key is already held.
func (ks *Set) Put(k store.DedupKey, at uint32) {
	at = max(at, 1)
	shard, hi, lo := splitKey(k)
	sh := &ks.shards[shard]
	for {
		i, ok := sh.find(hi, lo)
		if ok {
			sh.slots[i].at = max(sh.slots[i].at, at)
			return
		}
		if sh.n < sh.limit {
			// Make room at i by moving the run after it one slot on.
			j := i
			for j < len(sh.slots) && sh.slots[j].at != 0 {
				j++
			}
			if j < len(sh.slots) {
				copy(sh.slots[i+1:j+1], sh.slots[i:j])
				sh.slots[i] = keySlot{hi: hi, lo: lo, at: at}
				sh.n++
				ks.n++
				return
			}
		}
		ks.resize(shard, max(keyMinCap, sh.cap+sh.cap/4))
	}
}

// resize rebuilds a shard with (at least) the given capacity: one pass in
// key order, each key at its new home or after its predecessor.
func (ks *Set) resize(shard, capacity int) {
	sh := &ks.shards[shard]
	for ; ; capacity += capacity/4 + 1 {
		next := keyShard{slots: make([]keySlot, capacity+keySpare(capacity)), cap: capacity, n: sh.n, limit: capacity * keyMaxLoadPct / 100}
		last := -1
		for _, s := range sh.slots {
			if s.at == 0 {
				continue
			}
			last = max(next.home(s.hi), last+1)
			if last >= len(next.slots) {
				break
			}
			next.slots[last] = s
		}
		if last < len(next.slots) {
			*sh = next
			break
		}
	}
	if shard == ks.sweepShard {
		ks.sweepPos = 0
	}
}

// Sweep forgets keys put before cutoff, looking at about budget slots
// from where the last call stopped. It reports whether that finished a
// pass over the whole set (the next call starts another). A shard left
// mostly empty is shrunk once swept.
func (ks *Set) Sweep(cutoff uint32, budget int) bool {
	for budget > 0 {
		shard := ks.sweepShard
		sh := &ks.shards[shard]
		slots := sh.slots
		i := ks.sweepPos
		for ; i < len(slots) && budget > 0; budget-- {
			if slots[i].at == 0 || slots[i].at >= cutoff {
				i++
				continue
			}
			// Delete by moving back the keys after it that are not at
			// their home slot; the slot at i is then looked at again.
			j := i + 1
			for ; j < len(slots) && slots[j].at != 0 && sh.home(slots[j].hi) < j; j++ {
				slots[j-1] = slots[j]
			}
			slots[j-1] = keySlot{}
			sh.n--
			ks.n--
			budget -= (j - i - 1) / 4 // the moves cost too, if less than a look
		}
		ks.sweepPos = i
		if i < len(slots) {
			return false
		}
		budget-- // an empty shard still costs a step
		if sh.n == 0 {
			*sh = keyShard{}
		} else if sh.cap > keyMinCap && sh.n*100 < sh.cap*keyShrinkLoadPct {
			ks.resize(shard, max(keyMinCap, sh.n*100/keyFitLoadPct))
		}
		ks.sweepShard, ks.sweepPos = shard+1, 0
		if ks.sweepShard == len(ks.shards) {
			ks.sweepShard = 0
			return true
		}
	}
	return false
}
