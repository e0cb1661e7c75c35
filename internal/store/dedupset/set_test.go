package dedupset

import (
	"encoding/binary"
	"math/rand/v2"
	"roster/internal/store"
	"runtime"
	"testing"
	"time"
)

// heldKey is what a Set tells keys apart by: the first 13 bytes.
type heldKey [13]byte

func held(k store.DedupKey) heldKey { return heldKey(k[:13]) }

// checkKeySet verifies the layout every operation relies on: each key at
// or after its home slot, right after its predecessor when not at home,
// keys strictly increasing through a shard, and the counts right.
func checkKeySet(t *testing.T, ks *Set) {
	t.Helper()
	total := 0
	for shard := range ks.shards {
		sh := &ks.shards[shard]
		if len(sh.slots) != 0 && len(sh.slots) != sh.cap+keySpare(sh.cap) {
			t.Fatalf("shard %d: %d slots for capacity %d", shard, len(sh.slots), sh.cap)
		}
		n := 0
		prev := -1
		for i, s := range sh.slots {
			if s.at == 0 {
				if s != (keySlot{}) {
					t.Fatalf("shard %d slot %d: empty slot not zeroed: %+v", shard, i, s)
				}
				continue
			}
			n++
			h := sh.home(s.hi)
			if i < h {
				t.Fatalf("shard %d slot %d: before its home %d", shard, i, h)
			}
			if i > h && prev != i-1 {
				t.Fatalf("shard %d slot %d: away from home %d after a gap", shard, i, h)
			}
			if prev >= 0 {
				p := sh.slots[prev]
				if p.hi > s.hi || p.hi == s.hi && p.lo >= s.lo {
					t.Fatalf("shard %d slot %d: not above slot %d", shard, i, prev)
				}
			}
			prev = i
		}
		if n != sh.n {
			t.Fatalf("shard %d: %d keys counted, n = %d", shard, n, sh.n)
		}
		if sh.n > sh.limit && sh.cap > 0 {
			t.Fatalf("shard %d: %d keys over the limit %d", shard, sh.n, sh.limit)
		}
		total += n
	}
	if total != ks.Len() {
		t.Fatalf("%d keys held, len() = %d", total, ks.Len())
	}
}

// keyGen draws keys from a few distributions, to exercise full keys,
// keys crowded into a few shards (growth, spare-slot overflow), keys
// sharing a home or their first 8 bytes (ties broken on lo), and keys
// that differ only past byte 13 (which the set cannot tell apart, like
// the reference), and runs that overflow a shard's spare slots.
func keyGen(r *rand.Rand, mode int) store.DedupKey {
	var k store.DedupKey
	binary.LittleEndian.PutUint64(k[:8], r.Uint64())
	binary.LittleEndian.PutUint64(k[8:], r.Uint64())
	switch mode {
	case 1: // three shards
		k[0] = byte(r.IntN(3))
	case 2: // one shard, few distinct high words: many equal homes
		k[0] = 7
		binary.BigEndian.PutUint64(k[1:9], uint64(r.IntN(8))<<40)
	case 3: // few values in every byte: repeats, and ties down to byte 12
		for i := range k {
			k[i] = byte(r.IntN(2))
		}
	case 4: // two shards, one key in 40 homed in the last slot: overflow
		k[0] = byte(r.IntN(2))
		if r.IntN(40) == 0 {
			binary.BigEndian.PutUint32(k[1:5], 0xffffffff)
		}
	}
	return k
}

func TestKeysetMatchesMap(t *testing.T) {
	for mode := range 5 {
		for seed := range uint64(5) {
			r := rand.New(rand.NewPCG(seed, uint64(mode)))
			var ks Set
			ref := map[heldKey]uint32{}
			var keys []store.DedupKey // put so far, to get and re-put some
			now := uint32(1000)
			for op := range 30000 {
				switch c := r.IntN(100); {
				case c < 55: // put a new or a known key, the time mostly rising
					var k store.DedupKey
					if len(keys) > 0 && r.IntN(4) == 0 {
						k = keys[r.IntN(len(keys))]
					} else {
						k = keyGen(r, mode)
						keys = append(keys, k)
					}
					now += uint32(r.IntN(3))
					at := now - uint32(r.IntN(50)) // sometimes older than held
					if r.IntN(200) == 0 {
						at = 0 // stored as 1
					}
					ks.Put(k, at)
					ref[held(k)] = max(ref[held(k)], at, 1)
				case c < 95: // get a known or an unknown key
					k := keyGen(r, mode)
					if len(keys) > 0 && r.IntN(2) == 0 {
						k = keys[r.IntN(len(keys))]
					}
					at, ok := ks.Get(k)
					want, wantOK := ref[held(k)]
					if at != want || ok != wantOK {
						t.Fatalf("mode %d seed %d op %d: get = %d, %v; want %d, %v", mode, seed, op, at, ok, want, wantOK)
					}
				default: // sweep a slice; what goes must have been expired
					cutoff := now - uint32(r.IntN(400))
					ks.Sweep(cutoff, r.IntN(3000))
					for k, want := range ref {
						var full store.DedupKey
						copy(full[:], k[:])
						at, ok := ks.Get(full)
						switch {
						case !ok && want >= cutoff:
							t.Fatalf("mode %d seed %d op %d: sweep below %d dropped a key at %d", mode, seed, op, cutoff, want)
						case !ok:
							delete(ref, k)
						case at != want:
							t.Fatalf("mode %d seed %d op %d: after sweep at = %d, want %d", mode, seed, op, at, want)
						}
					}
				}
				if op%1000 == 0 {
					checkKeySet(t, &ks)
				}
			}
			checkKeySet(t, &ks)
			if ks.Len() != len(ref) {
				t.Fatalf("mode %d seed %d: len = %d, want %d", mode, seed, ks.Len(), len(ref))
			}
		}
	}
}

// A sweep pass is bounded per call, and two passes (the first may start
// midway) leave nothing expired; shards shrink and empty ones are freed.
func TestKeysetSweepPasses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ks Set
	const n = 200000
	for i := range n {
		ks.Put(keyGen(r, 0), uint32(1+i%100))
	}
	checkKeySet(t, &ks)
	slots := func() int {
		n := 0
		for i := range ks.shards {
			n += len(ks.shards[i].slots)
		}
		return n
	}
	slotsBefore := slots()
	ks.Sweep(10, 100) // start a pass midway through
	for pass := range 2 {
		// A pass looks at every slot once, a budget's worth a call, and
		// deleting costs budget too; the second pass has less to see.
		inPass := slots()
		calls := 0
		for !ks.Sweep(91, 5000) {
			calls++
			if calls > 2*inPass/5000+300 {
				t.Fatalf("pass %d did not finish in %d calls", pass, calls)
			}
		}
		if calls < inPass/5000/2 {
			t.Fatalf("pass %d: %d calls for %d slots, so more than the budget a call", pass, calls, inPass)
		}
	}
	checkKeySet(t, &ks)
	if want := n / 10; ks.Len() != want {
		t.Fatalf("after sweeping: %d keys, want %d", ks.Len(), want)
	}
	slotsAfter := slots()
	for i := range ks.shards {
		for _, s := range ks.shards[i].slots {
			if s.at != 0 && s.at < 91 {
				t.Fatalf("expired key at %d left", s.at)
			}
		}
	}
	if slotsAfter*3 > slotsBefore {
		t.Errorf("%d slots after dropping 90%% of keys, from %d: shards not shrunk", slotsAfter, slotsBefore)
	}
	for !ks.Sweep(1000, 1<<20) {
	}
	for !ks.Sweep(1000, 1<<20) {
	}
	for i := range ks.shards {
		if ks.shards[i].slots != nil {
			t.Fatalf("shard %d kept %d slots with no keys", i, len(ks.shards[i].slots))
		}
	}
	if ks.Len() != 0 {
		t.Fatalf("len = %d after expiring all", ks.Len())
	}
	// And it fills again.
	k := keyGen(r, 0)
	ks.Put(k, 5)
	if at, ok := ks.Get(k); !ok || at != 5 {
		t.Fatalf("get after refill = %d, %v", at, ok)
	}
}

// benchKey derives the i-th benchmark key (splitmix64), so that millions
// of keys need no memory of their own to skew the measurement.
func benchKey(i uint64) store.DedupKey {
	var k store.DedupKey
	for j := range 2 {
		z := (i*2+uint64(j))*0x9e3779b97f4a7c15 + 0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(k[8*j:], z^z>>31)
	}
	return k
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkKeyset adds 5M keys as ingestion does (a get that misses, then
// a put) and then looks each up again, reporting the time per key (ns/op
// is both phases, per key) and the heap the set holds per key, against
// the map it replaced. -benchtime=1x is enough: one op is 5M keys.
func BenchmarkKeyset(b *testing.B) {
	const n = 5_000_000
	type set interface {
		Get(store.DedupKey) (uint32, bool)
		Put(store.DedupKey, uint32)
	}
	run := func(b *testing.B, mk func() set) {
		var bytesPerKey, addNs, getNs float64
		b.StopTimer() // timed below, per phase
		for range b.N {
			before := heapInuse()
			s := mk()
			t0 := time.Now()
			for i := range uint64(n) {
				k := benchKey(i)
				if _, ok := s.Get(k); !ok {
					s.Put(k, uint32(i))
				}
			}
			t1 := time.Now()
			for i := range uint64(n) {
				if _, ok := s.Get(benchKey(i)); !ok {
					b.Fatal("key lost")
				}
			}
			t2 := time.Now()
			addNs += float64(t1.Sub(t0)) / n
			getNs += float64(t2.Sub(t1)) / n
			bytesPerKey += float64(heapInuse()-before) / n
			runtime.KeepAlive(s)
		}
		// ns/op is per key here: a missing get, a put and a hitting get.
		b.ReportMetric((addNs+getNs)/float64(b.N), "ns/op")
		b.ReportMetric(addNs/float64(b.N), "add-ns/key")
		b.ReportMetric(getNs/float64(b.N), "hit-ns/key")
		b.ReportMetric(bytesPerKey/float64(b.N), "B/key")
	}
	b.Run("Set", func(b *testing.B) { run(b, func() set { return new(Set) }) })
	b.Run("map", func(b *testing.B) { run(b, func() set { return mapSet{} }) })
}

// mapSet is the map the Set replaced, for comparison.
type mapSet map[store.DedupKey]uint32

func (m mapSet) Get(k store.DedupKey) (uint32, bool) { at, ok := m[k]; return at, ok }
func (m mapSet) Put(k store.DedupKey, at uint32)     { m[k] = max(m[k], at) }
