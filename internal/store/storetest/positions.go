package storetest

import (
	"context"
	"sync"
	"testing"

	"roster/internal/store"
)

// testAppendSetsPositions: Append tells its caller which events it stored
// (their positions) and which were duplicates (0), which is how ingestion
// counts deduplicated events. Concurrent appends, which the backends
// commit together, each get their own answer.
func testAppendSetsPositions(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	first := []store.Event{Event("ws", "web", "m1"), Event("ws", "web", "m2")}
	mustAppend(t, s, first, nil)
	if first[0].Seq <= 0 || first[1].Seq != first[0].Seq+1 {
		t.Fatalf("first append: positions %d, %d; want two consecutive positions", first[0].Seq, first[1].Seq)
	}
	// A repeat of m1, m3 twice in one append, and m2 again.
	again := []store.Event{Event("ws", "web", "m1"), Event("ws", "web", "m3"), Event("ws", "web", "m3"), Event("ws", "web", "m2")}
	mustAppend(t, s, again, nil)
	if again[0].Seq != 0 || again[1].Seq != first[1].Seq+1 || again[2].Seq != 0 || again[3].Seq != 0 {
		t.Fatalf("second append: positions %d %d %d %d; want 0, %d, 0, 0", again[0].Seq, again[1].Seq, again[2].Seq, again[3].Seq, first[1].Seq+1)
	}
	head, err := s.Head(context.Background())
	if err != nil || head != again[1].Seq {
		t.Fatalf("Head = %d, %v; want %d", head, err, again[1].Seq)
	}

	const callers = 8
	batches := make([][]store.Event, callers)
	var wg sync.WaitGroup
	for i := range callers {
		// Every caller sends m4; each also sends an id of its own.
		batches[i] = []store.Event{Event("ws", "web", "m4"), Event("ws", "own", string(rune('a'+i)))}
		wg.Go(func() {
			if err := s.Append(context.Background(), batches[i], nil); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	stored, seen := 0, map[int64]bool{}
	for _, b := range batches {
		if b[0].Seq != 0 {
			stored++
		}
		if b[1].Seq == 0 {
			t.Errorf("an event of its own was not given a position: %+v", b[1])
		}
		for _, e := range b {
			if e.Seq != 0 && seen[e.Seq] {
				t.Errorf("position %d given twice", e.Seq)
			}
			seen[e.Seq] = true
		}
	}
	if stored != 1 {
		t.Errorf("m4 was given a position %d times, want once", stored)
	}
}
