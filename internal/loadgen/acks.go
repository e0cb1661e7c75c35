package loadgen

import (
	"math/bits"
	"sync"
)

// bitset is a growable set of message numbers. MessageIds are a run prefix
// and a counter, so one bit per event is enough to remember which were
// acknowledged: 125 KB per million events, where a set of strings would
// take a hundred times more on a long run.
type bitset struct{ words []uint64 }

func (s *bitset) add(n uint64) {
	w := int(n / 64)
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
	}
	s.words[w] |= 1 << (n % 64)
}

func (s *bitset) has(n uint64) bool {
	w := int(n / 64)
	return w < len(s.words) && s.words[w]&(1<<(n%64)) != 0
}

// each calls f for every member in increasing order.
func (s *bitset) each(f func(n uint64)) {
	for w, word := range s.words {
		for word != 0 {
			f(uint64(w)*64 + uint64(bits.TrailingZeros64(word)))
			word &= word - 1 // clear the lowest bit
		}
	}
}

// ackSet is the bitset of acknowledged messages, shared by the workers.
// One lock per request is nothing next to an HTTP round trip.
type ackSet struct {
	mu  sync.Mutex
	set bitset
}

// addRange marks first..first+k-1 acknowledged except the rejected ones,
// given by their index in the request.
func (a *ackSet) addRange(first uint64, k int, rejected map[int]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range k {
		if !rejected[i] {
			a.set.add(first + uint64(i))
		}
	}
}
