package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"roster/internal/store"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// Several nodes starting at once on an empty database: one applies the
// migrations, the others wait for it and find nothing left to do.
func TestNodesMigrateAtOnce(t *testing.T) {
	url := pgtest.FreshSchema(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Go(func() {
			s, err := Open(context.Background(), url, store.Options{}, discard())
			if err != nil {
				t.Errorf("node %d: Open: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	if t.Failed() {
		return
	}
	var versions []int
	rows, err := stores[0].pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) != len(migrations) || versions[len(versions)-1] != len(migrations) {
		t.Errorf("schema_migrations = %v, want 1…%d once each", versions, len(migrations))
	}
}

// Two nodes append at once while a processor tails the log from a cursor,
// as the profile processor does: positions are dense and assigned in
// commit order, so the tail never passes an event that commits later, and
// a message sent to both nodes is stored once.
func TestNodesShareOneLog(t *testing.T) {
	url := pgtest.FreshSchema(t)
	nodes := []*Store{openAt(t, url, store.Options{}), openAt(t, url, store.Options{})}
	const writers, appends = 8, 40
	var done atomic.Bool
	tailed := make(chan []store.Event)
	go func() {
		var got []store.Event
		var cursor int64
		for {
			finished := done.Load()
			page, err := nodes[0].Read(context.Background(), cursor, 1000)
			if err != nil {
				t.Error(err)
				break
			}
			got = append(got, page...)
			if len(page) > 0 {
				cursor = page[len(page)-1].Seq
			} else if finished {
				break
			}
		}
		tailed <- got
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			node := nodes[w%2]
			for i := range appends {
				batch := []store.Event{
					storetest.Event("ws", "web", fmt.Sprintf("w%d-%d-a", w, i)),
					storetest.Event("ws", "web", fmt.Sprintf("w%d-%d-b", w, i)),
					// Sent to both nodes, by two writers at once.
					storetest.Event("ws", "web", fmt.Sprintf("shared-%d-%d", w/2, i)),
				}
				if err := node.Append(context.Background(), batch, nil); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	done.Store(true)
	got := <-tailed
	want := writers*appends*2 + writers/2*appends
	if len(got) != want {
		t.Errorf("the tail read %d events, want %d", len(got), want)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d of the tail has seq %d: positions must be dense and read in order", i, e.Seq)
		}
		if seen[e.MessageID] {
			t.Errorf("%s stored twice", e.MessageID)
		}
		seen[e.MessageID] = true
	}
}
