package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"roster/internal/store"
)

func runOutbox(t *testing.T, open Opener) {
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	retry := func(seq int64, attempts int, next time.Time) store.Delivery {
		return store.Delivery{Destination: "ws/Hook", Seq: seq, Body: []byte(`{"type":"group"}`),
			Attempts: attempts, NextAt: next, Status: 503, Error: "503 Service Unavailable",
			Response: []byte("busy"), FailedAt: at}
	}
	stats := func(t *testing.T, s store.Store, dest string) store.DeliveryStats {
		t.Helper()
		st, err := s.DeliveryStats(ctx, dest)
		if err != nil {
			t.Fatalf("DeliveryStats: %v", err)
		}
		return st
	}
	record := func(t *testing.T, s store.Store, upTo int64, o store.DeliveryOutcome) {
		t.Helper()
		if err := s.RecordDeliveries(ctx, "ws/Hook", upTo, o); err != nil {
			t.Fatalf("RecordDeliveries: %v", err)
		}
	}
	due := func(t *testing.T, s store.Store, now time.Time) []store.Delivery {
		t.Helper()
		ds, err := s.DueRetries(ctx, "ws/Hook", now, 100)
		if err != nil {
			t.Fatalf("DueRetries: %v", err)
		}
		return ds
	}

	t.Run("CursorAndOutcomeMoveTogether", func(t *testing.T) {
		s := open(t, store.Options{})
		if c, err := s.DeliveryCursor(ctx, "ws/Hook"); err != nil || c != 0 {
			t.Fatalf("new cursor = %d, %v; want 0", c, err)
		}
		dead := retry(4, 1, time.Time{})
		dead.Status, dead.Error, dead.Response = 400, "400 Bad Request", []byte(`{"error":"bad"}`)
		record(t, s, 10, store.DeliveryOutcome{Delivered: []int64{1, 2}, Retry: []store.Delivery{retry(3, 1, at.Add(time.Minute))},
			Dead: []store.Delivery{dead}, Skipped: 6})
		if got, want := stats(t, s, "ws/Hook"), (store.DeliveryStats{Cursor: 10, Retrying: 1, Delivered: 2, Dead: 1}); got != want {
			t.Errorf("stats = %+v, want %+v", got, want)
		}
		// Another destination has its own state.
		if got := stats(t, s, "ws/Other"); got != (store.DeliveryStats{}) {
			t.Errorf("other destination's stats = %+v, want zero", got)
		}
		// The cursor never moves back.
		record(t, s, 5, store.DeliveryOutcome{})
		if c, _ := s.DeliveryCursor(ctx, "ws/Hook"); c != 10 {
			t.Errorf("cursor = %d after a lower upTo, want 10", c)
		}
		dl, err := s.DeadLetters(ctx, "ws/Hook", 0, 10)
		if err != nil || len(dl) != 1 {
			t.Fatalf("DeadLetters = %v, %v; want one", dl, err)
		}
		if d := dl[0]; d.Seq != 4 || d.Status != 400 || string(d.Response) != `{"error":"bad"}` || string(d.Body) != `{"type":"group"}` || !d.FailedAt.Equal(at) {
			t.Errorf("dead letter = %+v", d)
		}
	})

	t.Run("StartDeliveryOnlyOnce", func(t *testing.T) {
		s := open(t, store.Options{})
		if err := s.StartDelivery(ctx, "ws/Hook", 7); err != nil {
			t.Fatal(err)
		}
		if c, err := s.DeliveryCursor(ctx, "ws/Hook"); err != nil || c != 7 {
			t.Fatalf("cursor after start = %d, %v; want 7", c, err)
		}
		record(t, s, 9, store.DeliveryOutcome{Delivered: []int64{8, 9}})
		if err := s.StartDelivery(ctx, "ws/Hook", 20); err != nil {
			t.Fatal(err)
		}
		if got, want := stats(t, s, "ws/Hook"), (store.DeliveryStats{Cursor: 9, Delivered: 2}); got != want {
			t.Errorf("stats after a second start = %+v, want %+v", got, want)
		}
		// Started on an empty log, a destination keeps position 0: what
		// arrives later is its to deliver, even across restarts.
		if err := s.StartDelivery(ctx, "ws/New", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.StartDelivery(ctx, "ws/New", 30); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.DeliveryCursor(ctx, "ws/New"); c != 0 {
			t.Errorf("cursor of a destination started at 0 = %d after a restart", c)
		}
	})

	t.Run("RetriesComeDueAndSettle", func(t *testing.T) {
		s := open(t, store.Options{})
		record(t, s, 3, store.DeliveryOutcome{Retry: []store.Delivery{retry(3, 1, at.Add(2*time.Minute)), retry(2, 1, at.Add(time.Minute))}})
		if ds := due(t, s, at); len(ds) != 0 {
			t.Errorf("due before their time: %+v", ds)
		}
		ds := due(t, s, at.Add(2*time.Minute))
		if len(ds) != 2 || ds[0].Seq != 2 || ds[1].Seq != 3 {
			t.Fatalf("due = %+v; want seq 2 then 3", ds)
		}
		want := retry(2, 1, at.Add(time.Minute))
		if got := ds[0]; got.Destination != want.Destination || !reflect.DeepEqual(got.Body, want.Body) || got.Attempts != 1 ||
			!got.NextAt.Equal(want.NextAt) || got.Status != 503 || got.Error != want.Error || string(got.Response) != "busy" {
			t.Errorf("retry read back as %+v, want %+v", got, want)
		}
		// Seq 2 fails again (rescheduled), seq 3 is delivered.
		record(t, s, 0, store.DeliveryOutcome{Retry: []store.Delivery{retry(2, 2, at.Add(10*time.Minute))}, Delivered: []int64{3}})
		ds = due(t, s, at.Add(5*time.Minute))
		if len(ds) != 0 {
			t.Errorf("due after rescheduling: %+v", ds)
		}
		ds = due(t, s, at.Add(10*time.Minute))
		if len(ds) != 1 || ds[0].Attempts != 2 {
			t.Fatalf("rescheduled retry = %+v; want seq 2 with 2 attempts", ds)
		}
		// Then it is given up on.
		record(t, s, 0, store.DeliveryOutcome{Dead: []store.Delivery{retry(2, 3, time.Time{})}})
		if got, want := stats(t, s, "ws/Hook"), (store.DeliveryStats{Cursor: 3, Retrying: 0, Delivered: 1, Dead: 1}); got != want {
			t.Errorf("stats = %+v, want %+v", got, want)
		}
	})

	t.Run("DeadLettersPageAndRedrive", func(t *testing.T) {
		s := open(t, store.Options{})
		var dead []store.Delivery
		for seq := int64(1); seq <= 5; seq++ {
			dead = append(dead, retry(seq, 8, time.Time{}))
		}
		record(t, s, 5, store.DeliveryOutcome{Dead: dead})
		page, err := s.DeadLetters(ctx, "ws/Hook", 0, 2)
		if err != nil || len(page) != 2 || page[0].Seq != 5 || page[1].Seq != 4 {
			t.Fatalf("first page = %+v, %v; want 5, 4", page, err)
		}
		page, err = s.DeadLetters(ctx, "ws/Hook", 4, 10)
		if err != nil || len(page) != 3 || page[0].Seq != 3 {
			t.Fatalf("second page = %+v, %v; want 3, 2, 1", page, err)
		}
		n, err := s.Redrive(ctx, "ws/Hook", at)
		if err != nil || n != 5 {
			t.Fatalf("Redrive = %d, %v; want 5", n, err)
		}
		if got, want := stats(t, s, "ws/Hook"), (store.DeliveryStats{Cursor: 5, Retrying: 5}); got != want {
			t.Errorf("stats after redrive = %+v, want %+v", got, want)
		}
		ds := due(t, s, at)
		if len(ds) != 5 || ds[0].Attempts != 0 || string(ds[0].Body) != `{"type":"group"}` {
			t.Errorf("redriven retries = %+v; want 5, due now, attempts reset, body kept", ds)
		}
	})
}

func runLeases(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.Options{})
	has := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.Lease(ctx, "profiles", holder, ttl)
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
		return ok
	}
	if !has("a", time.Hour) {
		t.Fatal("a free lease was not granted")
	}
	if has("b", time.Hour) {
		t.Fatal("a held lease was granted to another holder")
	}
	if !has("a", time.Hour) {
		t.Fatal("the holder could not renew its lease")
	}
	if ok, err := s.Lease(ctx, "other", "b", time.Hour); err != nil || !ok {
		t.Fatalf("another lease name = %v, %v; want granted", ok, err)
	}
	if err := s.Release(ctx, "profiles", "b"); err != nil {
		t.Fatal(err)
	}
	if has("b", time.Hour) {
		t.Fatal("a lease was released by a node that does not hold it")
	}
	if err := s.Release(ctx, "profiles", "a"); err != nil {
		t.Fatal(err)
	}
	if !has("b", 200*time.Millisecond) {
		t.Fatal("a released lease was not granted")
	}
	time.Sleep(400 * time.Millisecond)
	if !has("a", time.Hour) {
		t.Fatal("an expired lease was not granted")
	}
}

// testOverlappingProcessors applies the same events twice at once, as two
// nodes do when one takes over from another that only seemed dead.
func testOverlappingProcessors(t *testing.T, open Opener) {
	calls := []call{
		{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial"}`},
		{"identify", "m2", time.Second, `"userId":"u1","anonymousId":"a1","traits":{"name":"Ann"}`},
		{"group", "m3", 2 * time.Second, `"anonymousId":"a2","groupId":"g1","traits":{"plan":"pro"}`},
		{"track", "m4", 3 * time.Second, `"userId":"u1","event":"Signed Up","context":{"groupId":"g1"}`},
		{"group", "m5", 4 * time.Second, `"userId":"u2","groupId":"g2","traits":{"plan":"pro","seats":3}`},
	}
	once := open(t, store.Options{})
	scenario(t, once, calls...)

	s := open(t, store.Options{})
	for _, c := range calls {
		mustAppend(t, s, []store.Event{c.event("ws")}, nil)
	}
	evs := readAll(t, s)
	var updates []store.ProfileUpdate
	for _, e := range evs {
		updates = append(updates, mustUpdate(t, e))
	}
	errs := make(chan error, 2)
	go func() { errs <- s.ApplyProfiles(context.Background(), updates[:3], evs[2].Seq) }()
	go func() { errs <- s.ApplyProfiles(context.Background(), updates, evs[len(evs)-1].Seq) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// And a stale processor that read before both commits comes last.
	if err := s.ApplyProfiles(context.Background(), updates[1:4], evs[3].Seq); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(context.Background(), store.ProfileCursor); err != nil || c != evs[len(evs)-1].Seq {
		t.Errorf("cursor = %d, %v; want %d", c, err, evs[len(evs)-1].Seq)
	}
	if got, want := dump(t, s), dump(t, once); got != want {
		t.Errorf("overlapping processors:\n%s\nwant (applied once):\n%s", got, want)
	}
}
