package sqlite

import (
	"fmt"
	"testing"
)

// A profile's traits are found by a scan up to indexAt and through the
// index past it; both must find every trait, once.
func TestTraitSetFindsEveryTrait(t *testing.T) {
	for _, n := range []int{1, indexAt, indexAt + 1, 5 * indexAt} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newTraitSet()
			for i := range n {
				s.loaded(fmt.Sprintf("k%d", i), version{value: fmt.Sprint(i), seq: int64(i)})
			}
			// Loading a trait again replaces it instead of adding another.
			s.loaded("k0", version{value: "again"})
			if len(s.traits) != n {
				t.Fatalf("%d traits, want %d", len(s.traits), n)
			}
			for i := range n {
				j := s.find(fmt.Sprintf("k%d", i))
				if j < 0 || s.traits[j].key != fmt.Sprintf("k%d", i) {
					t.Fatalf("find(k%d) = %d", i, j)
				}
				if !s.traits[j].inTable || s.traits[j].dirty {
					t.Errorf("k%d: loaded trait not marked as in the table", i)
				}
			}
			if got := s.traits[s.find("k0")].cur.value; got != "again" {
				t.Errorf("k0 = %q, want the value loaded last", got)
			}
			if s.find("absent") != -1 {
				t.Error("found a trait never added")
			}
		})
	}
}
