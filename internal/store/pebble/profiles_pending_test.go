package pebble

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"roster/internal/pipeline"
	"roster/internal/spec"
	"roster/internal/store"
	"roster/internal/store/storetest"
)

// mixedLog is n events over a few groups and users, with identifies that
// merge anonymous profiles into users, aliases, late events and
// context.groupId, and the ids Dump needs to reach every profile.
func mixedLog(n int) ([]store.Event, []storetest.ID) {
	r := rand.New(rand.NewPCG(3, 5))
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var events []store.Event
	var ids []storetest.ID
	for i := range 8 {
		ids = append(ids, storetest.ID{Type: store.IDUserID, ID: fmt.Sprint("u", i)}, storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprint("a", i)})
	}
	for i := range n {
		u, a, g := r.IntN(8), r.IntN(8), r.IntN(5)
		var body string
		switch r.IntN(5) {
		case 0:
			body = fmt.Sprintf(`{"type":"group","anonymousId":"a%d","groupId":"g%d","traits":{"plan":"p%d","seats":%d}}`, a, g, r.IntN(3), i)
		case 1:
			body = fmt.Sprintf(`{"type":"group","userId":"u%d","groupId":"g%d","traits":{"name":"Group %d","Plan":null}}`, u, g, r.IntN(4))
		case 2:
			body = fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","traits":{"email":"u%d@x.io"}}`, u, a, i)
		case 3:
			body = fmt.Sprintf(`{"type":"alias","userId":"u%d","previousId":"a%d"}`, u, a)
		default:
			body = fmt.Sprintf(`{"type":"track","userId":"u%d","event":"E","context":{"groupId":"g%d"}}`, u, g)
		}
		m, err := spec.ReadStored([]byte(body))
		if err != nil {
			panic(err)
		}
		at := t0.Add(time.Duration(i) * time.Minute)
		if r.IntN(10) == 0 {
			at = at.Add(-time.Duration(r.IntN(60)) * time.Minute) // late
		}
		rt := m.Routing
		events = append(events, store.Event{Workspace: "ws", Source: "web", MessageID: fmt.Sprint("m", i), Type: m.Type,
			ReceivedAt: t0.Add(time.Duration(i) * time.Minute), Timestamp: at, Body: []byte(body),
			UserID: rt.UserID, AnonymousID: rt.AnonymousID, PreviousID: rt.PreviousID, GroupID: rt.GroupID, Name: rt.Name})
	}
	return events, ids
}

// A crash loses what is pending since the last checkpoint; applying the
// log again from the checkpoint's cursor gives the state that applying it
// once, without a crash, gave.
func TestLostPendingIsAppliedAgain(t *testing.T) {
	ctx := context.Background()
	events, ids := mixedLog(600)
	once := openForProfiles(t, store.Options{}).(*Store)
	crashed := openForProfiles(t, store.Options{}).(*Store)
	for _, s := range []*Store{once, crashed} {
		if err := s.Append(ctx, events, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pipeline.NewProcessor(once, once, discard()).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	p := pipeline.NewProcessor(crashed, crashed, discard())
	p.Batch = 50
	for step := range 8 {
		if _, err := p.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if step == 3 {
			crashed.profiles.applying.Lock()
			err := crashed.checkpoint()
			crashed.profiles.applying.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if c, _ := crashed.Cursor(ctx, store.ProfileCursor); c != 400 {
		t.Fatalf("cursor after 8 batches of 50 = %d, want 400", c)
	}
	crashed.profiles.pending.clear(false) // the crash
	if c, _ := crashed.Cursor(ctx, store.ProfileCursor); c != 200 {
		t.Fatalf("cursor after the crash = %d, want the checkpoint's 200", c)
	}
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	want, got := storetest.Dump(t, once, "ws", ids), storetest.Dump(t, crashed, "ws", ids)
	if got != want {
		t.Errorf("state after the crash and a second application differs:\n got:\n%s\nwant:\n%s", got, want)
	}
}

// Records and identities the cache dropped are read from the database: a
// cache trimmed at every checkpoint gives the state an untrimmed one gives.
// A store starts with a complete cache, which takes a miss for an absent
// profile; a trimmed one must not.
func TestTrimmedCacheReadsTheDatabase(t *testing.T) {
	ctx := context.Background()
	events, ids := mixedLog(600)
	whole := openForProfiles(t, store.Options{}).(*Store)
	trimmed := openForProfiles(t, store.Options{}).(*Store)
	if !trimmed.profiles.pending.complete {
		t.Fatal("a new store's profile cache is not complete")
	}
	trimmed.profiles.pending.budget = 1
	for _, s := range []*Store{whole, trimmed} {
		if err := s.Append(ctx, events, nil); err != nil {
			t.Fatal(err)
		}
		p := pipeline.NewProcessor(s, s, discard())
		p.Batch = 50
		for {
			n, err := p.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			s.profiles.applying.Lock()
			err = s.checkpoint()
			s.profiles.applying.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if trimmed.profiles.pending.complete || len(trimmed.profiles.pending.records) != 0 {
		t.Fatalf("the cache was not trimmed: complete %v, %d records", trimmed.profiles.pending.complete, len(trimmed.profiles.pending.records))
	}
	want, got := storetest.Dump(t, whole, "ws", ids), storetest.Dump(t, trimmed, "ws", ids)
	if got != want {
		t.Errorf("state with a trimmed cache differs:\n got:\n%s\nwant:\n%s", got, want)
	}
}
