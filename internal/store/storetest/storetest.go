// Package storetest is the conformance suite every store backend passes.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/store"
)

// Opener opens a fresh, empty store with the given options.
type Opener func(t *testing.T, opts store.Options) store.Store

// Clock is a settable clock for dedup-window tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Run runs the whole suite against a backend.
func Run(t *testing.T, open Opener) {
	RunLog(t, open)
	RunProfiles(t, open)
	RunOutbox(t, open)
	RunTrim(t, open)
}

// RunLog runs the log's part of the suite: appends, reads, dedup, the
// quarantine, the credentials and the fields ingestion computes.
func RunLog(t *testing.T, open Opener) {
	t.Run("AppendAndRead", func(t *testing.T) { testAppendAndRead(t, open) })
	t.Run("Dedup", func(t *testing.T) { testDedup(t, open) })
	t.Run("AppendSetsPositions", func(t *testing.T) { testAppendSetsPositions(t, open) })
	t.Run("Sizes", func(t *testing.T) { testSizes(t, open) })
	t.Run("DedupWindow", func(t *testing.T) { testDedupWindow(t, open) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrentAppends(t, open) })
	t.Run("RecentEventsPaging", func(t *testing.T) { testRecentEventsPaging(t, open) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, open) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, open) })
	t.Run("EventFields", func(t *testing.T) { RunEventFields(t, open) })
}

// RunProfiles runs the profiles' part of the suite.
func RunProfiles(t *testing.T, open Opener) {
	t.Run("Profiles", func(t *testing.T) { runProfiles(t, open) })
	t.Run("OverlappingProcessors", func(t *testing.T) { testOverlappingProcessors(t, open) })
	t.Run("Reads", func(t *testing.T) { runReads(t, open) })
	t.Run("ApplyProfilesAfterCancel", func(t *testing.T) { testApplyProfilesAfterCancel(t, open) })
}

// RunOutbox runs the destinations' part of the suite: the outbox and the
// leases.
func RunOutbox(t *testing.T, open Opener) {
	t.Run("Outbox", func(t *testing.T) { runOutbox(t, open) })
	t.Run("Leases", func(t *testing.T) { runLeases(t, open) })
}

// Event makes a test event.
func Event(workspace, source, messageID string) store.Event {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return store.Event{
		Workspace: workspace, Source: source, MessageID: messageID, Type: "group",
		ReceivedAt: ts.Add(time.Second), Timestamp: ts, UserID: "u1", GroupID: "g1",
		Body: []byte(fmt.Sprintf(`{"type":"group","messageId":%q,"groupId":"g1","userId":"u1"}`, messageID)),
	}
}

func readAll(t *testing.T, s store.Store) []store.Event {
	t.Helper()
	var all []store.Event
	var after int64
	for {
		page, err := s.Read(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

func mustAppend(t *testing.T, s store.Store, events []store.Event, q []store.Quarantined) {
	t.Helper()
	if err := s.Append(context.Background(), events, q); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func testAppendAndRead(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	e := Event("ws", "web", "m1")
	e.Warnings = []string{"traits.employees: reserved trait employees should be a number or numeric string"}
	mustAppend(t, s, []store.Event{e, Event("ws", "web", "m2"), Event("other", "web", "m3")}, nil)
	got := readAll(t, s)
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, want := range []string{"m1", "m2", "m3"} {
		if got[i].MessageID != want {
			t.Errorf("event %d: messageId %q, want %q (log order)", i, got[i].MessageID, want)
		}
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Errorf("seq not increasing: %d then %d", got[i-1].Seq, got[i].Seq)
		}
	}
	g := got[0]
	if g.Workspace != "ws" || g.Source != "web" || g.Type != "group" ||
		!g.Timestamp.Equal(e.Timestamp) || !g.ReceivedAt.Equal(e.ReceivedAt) ||
		!bytes.Equal(g.Body, e.Body) || len(g.Warnings) != 1 || g.Warnings[0] != e.Warnings[0] {
		t.Errorf("round trip changed the event:\n got %+v\nwant %+v", g, e)
	}
	if got[1].Warnings != nil {
		t.Errorf("event without warnings read back with %v", got[1].Warnings)
	}
	// Read resumes after a cursor.
	rest, err := s.Read(context.Background(), got[0].Seq, 10)
	if err != nil || len(rest) != 2 || rest[0].MessageID != "m2" {
		t.Errorf("Read after first seq = %v, %v; want m2, m3", rest, err)
	}
}

func testDedup(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	// Same id twice in one append, again in a later append, and under
	// another source and workspace (which are different messages).
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1"), Event("ws", "web", "m1")}, nil)
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1"), Event("ws", "ios", "m1"), Event("ws2", "web", "m1")}, nil)
	// Concurrent appends of the same id: one of them stores it.
	var (
		wg     sync.WaitGroup
		stored atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			evs := []store.Event{Event("ws", "web", "m2")}
			if err := s.Append(context.Background(), evs, nil); err != nil {
				t.Errorf("Append: %v", err)
			}
			if evs[0].Seq != 0 {
				stored.Add(1)
			}
		})
	}
	wg.Wait()
	if n := stored.Load(); n != 1 {
		t.Errorf("%d of 8 concurrent appends of one id say they stored it, want 1", n)
	}
	got := readAll(t, s)
	count := map[string]int{}
	for _, e := range got {
		count[e.Workspace+"/"+e.Source+"/"+e.MessageID]++
	}
	want := map[string]int{"ws/web/m1": 1, "ws/ios/m1": 1, "ws2/web/m1": 1, "ws/web/m2": 1}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", count, want)
	}
}

func testDedupWindow(t *testing.T, open Opener) {
	clock := &Clock{now: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	s := open(t, store.Options{DedupWindow: 24 * time.Hour, Now: clock.Now})
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1")}, nil)
	clock.Advance(23 * time.Hour)
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1")}, nil)
	if n := len(readAll(t, s)); n != 1 {
		t.Fatalf("within the window: %d events stored, want 1", n)
	}
	clock.Advance(2 * time.Hour) // 25 h after the first sighting
	mustAppend(t, s, []store.Event{Event("ws", "web", "m1")}, nil)
	if n := len(readAll(t, s)); n != 2 {
		t.Fatalf("after the window: %d events stored, want 2", n)
	}
}

func testConcurrentAppends(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	const writers, perWriter = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				batch := []store.Event{Event("ws", "web", fmt.Sprintf("w%d-%d-a", w, i)), Event("ws", "web", fmt.Sprintf("w%d-%d-b", w, i))}
				if err := s.Append(context.Background(), batch, nil); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readAll(t, s)
	if len(got) != writers*perWriter*2 {
		t.Fatalf("stored %d events, want %d", len(got), writers*perWriter*2)
	}
	// A request's events stay together and in order in the log.
	pos := map[string]int{}
	for i, e := range got {
		pos[e.MessageID] = i
	}
	for w := range writers {
		for i := range perWriter {
			a, b := pos[fmt.Sprintf("w%d-%d-a", w, i)], pos[fmt.Sprintf("w%d-%d-b", w, i)]
			if b != a+1 {
				t.Fatalf("events of one append are not adjacent: %d and %d", a, b)
			}
		}
	}
}

func testRecentEventsPaging(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	for i := range 25 {
		mustAppend(t, s, []store.Event{Event("ws", "web", fmt.Sprintf("m%02d", i)), Event("other", "web", fmt.Sprintf("o%02d", i))}, nil)
	}
	var seen []string
	var before int64
	for {
		page, err := s.RecentEvents(context.Background(), "ws", before, 10)
		if err != nil {
			t.Fatalf("RecentEvents: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Workspace != "ws" {
				t.Fatalf("workspace ws listed an event of %q", e.Workspace)
			}
			seen = append(seen, e.MessageID)
		}
		before = page[len(page)-1].Seq
	}
	if len(seen) != 25 || seen[0] != "m24" || seen[24] != "m00" {
		t.Fatalf("paged newest first: got %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first at %d: %v", i, seen)
		}
	}
}

func testQuarantine(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var qs []store.Quarantined
	for i := range 5 {
		qs = append(qs, store.Quarantined{
			Workspace: "ws", Source: "web", ReceivedAt: at, MessageID: fmt.Sprintf("q%d", i),
			Code: "missing_field", Reason: "groupId: is required for group calls", Raw: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		})
	}
	mustAppend(t, s, nil, qs[:3])
	mustAppend(t, s, []store.Event{Event("ws", "web", "ok")}, qs[3:])
	mustAppend(t, s, nil, []store.Quarantined{{Workspace: "other", Source: "web", ReceivedAt: at, Code: "invalid_json", Reason: "x", Raw: []byte("{")}})

	first, err := s.RecentQuarantined(context.Background(), "ws", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.RecentQuarantined(context.Background(), "ws", first[len(first)-1].ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, second...)
	if len(all) != 5 {
		t.Fatalf("quarantine of ws has %d entries, want 5", len(all))
	}
	for i, q := range all {
		want := qs[4-i]
		if q.MessageID != want.MessageID || q.Code != want.Code || q.Reason != want.Reason ||
			!bytes.Equal(q.Raw, want.Raw) || !q.ReceivedAt.Equal(at) || q.Source != "web" {
			t.Errorf("entry %d = %+v, want %+v", i, q, want)
		}
	}
	if n := len(readAll(t, s)); n != 1 {
		t.Errorf("log has %d events, want 1 (quarantined messages are not events)", n)
	}
	testMarkReplayed(t, s, all)
}

// testMarkReplayed marks one quarantined message replayed: it stays in the
// quarantine as received, with the time of the replay.
func testMarkReplayed(t *testing.T, s store.Store, all []store.Quarantined) {
	ctx := context.Background()
	for _, q := range all {
		if !q.ReplayedAt.IsZero() {
			t.Fatalf("entry %d is replayed before any replay: %v", q.ID, q.ReplayedAt)
		}
	}
	at := time.Date(2024, 5, 2, 3, 4, 5, 6e6, time.UTC)
	if err := s.MarkReplayed(ctx, "ws", all[1].ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReplayed(ctx, "other", all[1].ID, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkReplayed of another workspace's id = %v, want ErrNotFound", err)
	}
	if err := s.MarkReplayed(ctx, "ws", 1<<40, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkReplayed of an unknown id = %v, want ErrNotFound", err)
	}
	after, err := s.RecentQuarantined(ctx, "ws", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(all) {
		t.Fatalf("quarantine has %d entries after a replay, want %d (the copy is kept)", len(after), len(all))
	}
	for i, q := range after {
		want := time.Time{}
		if q.ID == all[1].ID {
			want = at
		}
		if !q.ReplayedAt.Equal(want) || !bytes.Equal(q.Raw, all[i].Raw) || q.Reason != all[i].Reason {
			t.Errorf("entry %d after the replay = %+v, want replayed at %v and the same message", q.ID, q, want)
		}
	}
}

func testCredentials(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	ctx := context.Background()
	if err := s.PutSource(ctx, store.Source{Workspace: "default", Name: "web", WriteKey: "wk_1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSource(ctx, store.Source{Workspace: "default", Name: "web2", WriteKey: "wk_1"}); err != nil {
		t.Fatal(err)
	}
	srcs, err := s.Sources(ctx)
	if err != nil || len(srcs) != 1 || srcs[0].Name != "web2" || srcs[0].WriteKey != "wk_1" {
		t.Errorf("Sources = %v, %v; want one source web2 (a key is unique)", srcs, err)
	}
	hash := []byte{1, 2, 3}
	if err := s.PutAccessToken(ctx, store.AccessToken{Workspace: "default", Name: "ops", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	toks, err := s.AccessTokens(ctx)
	if err != nil || len(toks) != 1 || !bytes.Equal(toks[0].Hash, hash) || toks[0].Workspace != "default" {
		t.Errorf("AccessTokens = %v, %v", toks, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
