package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"roster/internal/archive"
	"roster/internal/pipeline"
	"roster/internal/store"
)

// RunTrim runs the retention part of the suite: TrimLog, and a rebuild
// from archives plus the log.
func RunTrim(t *testing.T, open Opener) {
	t.Run("TrimLog", func(t *testing.T) { testTrimLog(t, open) })
	t.Run("RebuildFromArchiveAndLog", func(t *testing.T) { testRebuildFromArchive(t, open) })
}

func testTrimLog(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.Options{})
	mustAppend(t, s, []store.Event{Event("a", "web", "m1"), Event("b", "web", "m2"), Event("a", "web", "m3"), Event("b", "web", "m4"), Event("a", "web", "m5")}, nil)
	catchUp(t, s)
	all := readAll(t, s)
	if got, err := s.TrimLog(ctx, all[2].Seq); err != nil || got != all[2].Seq {
		t.Fatalf("TrimLog = %d, %v; want %d", got, err, all[2].Seq)
	}
	rest := readAll(t, s)
	if len(rest) != 2 || rest[0].MessageID != "m4" || rest[1].MessageID != "m5" {
		t.Fatalf("after trimming through m3 the log holds %v, want m4, m5", ids(rest))
	}
	for ws, want := range map[string][]string{"a": {"m5"}, "b": {"m4"}} {
		got, err := s.RecentEvents(ctx, ws, 0, 10)
		if err != nil || !equalStrings(ids(got), want) {
			t.Errorf("RecentEvents(%s) = %v, %v; want %v", ws, ids(got), err, want)
		}
	}
	// An event the profile processor has not applied stays, whatever
	// through says; trimming past the head removes the rest.
	mustAppend(t, s, []store.Event{Event("a", "web", "m6")}, nil)
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.TrimLog(ctx, head+100); err != nil || got != head-1 {
		t.Fatalf("TrimLog past the head = %d, %v; want %d (the profile cursor)", got, err, head-1)
	}
	if got := ids(readAll(t, s)); !equalStrings(got, []string{"m6"}) {
		t.Fatalf("after trimming everything the log holds %v, want m6 (not yet applied to profiles)", got)
	}
	catchUp(t, s)
	if _, err := s.TrimLog(ctx, head); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s); len(got) != 0 {
		t.Fatalf("the log holds %v, want nothing", ids(got))
	}
	if h, err := s.Head(ctx); err != nil || h != head {
		t.Errorf("Head = %d, %v; want %d (trimming does not move it)", h, err, head)
	}
	next := []store.Event{Event("a", "web", "m7")}
	mustAppend(t, s, next, nil)
	if next[0].Seq != head+1 {
		t.Errorf("the append after a trim got position %d, want %d (positions are not reused)", next[0].Seq, head+1)
	}
}

func ids(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.MessageID
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testRebuildFromArchive archives and trims the start of the log: the
// profiles do not change, profile events skip the trimmed events, and a
// rebuild from the archive plus the log gives the same profiles.
func testRebuildFromArchive(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.Options{})
	scenario(t, s,
		call{"identify", "i1", 0, `"anonymousId":"a1","traits":{"email":"a@x.io","plan":"free"}`},
		call{"group", "g1", time.Second, `"anonymousId":"a1","groupId":"acme","traits":{"name":"Acme","plan":"trial"}`},
		call{"identify", "i2", 2 * time.Second, `"anonymousId":"a1","userId":"u1","traits":{"plan":"pro"}`},
		call{"group", "g2", -time.Hour, `"userId":"u2","groupId":"acme","traits":{"plan":"old","seats":3}`},
		call{"group", "g3", 3 * time.Second, `"userId":"u2","groupId":"globex","traits":{"name":"Globex"}`},
		call{"track", "t1", 4 * time.Second, `"userId":"u1","event":"Signed Up","context":{"groupId":"acme"}`},
		call{"group", "g4", 5 * time.Second, `"userId":"u1","groupId":"acme","traits":{"plan":"enterprise"}`},
	)
	before := dump(t, s)
	all := readAll(t, s)
	dir := t.TempDir()
	if _, err := archive.Write(dir, all[:4]); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TrimLog(ctx, all[3].Seq); err != nil || got != all[3].Seq {
		t.Fatalf("TrimLog = %d, %v; want %d", got, err, all[3].Seq)
	}
	// A profile's list of events loses the trimmed ones; nothing else
	// changes.
	trimmed := dump(t, s)
	if a, b := withoutEventLists(before), withoutEventLists(trimmed); a != b {
		t.Fatalf("trimming changed the profiles:\nbefore:\n%s\nafter:\n%s", a, b)
	}
	evs, err := s.ProfileEvents(ctx, "ws", store.Accounts, "acme", store.EventPage{Limit: 10})
	if err != nil {
		t.Fatalf("ProfileEvents after a trim: %v", err)
	}
	if got := ids(evs); !equalStrings(got, []string{"g4", "t1"}) {
		t.Errorf("acme's events after the trim = %v, want [g4 t1]", got)
	}
	if err := s.ResetProfiles(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := archive.NewLog(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := pipeline.NewProcessor(log, s, discardLogger())
	p.Batch = 3
	n, err := p.CatchUp(ctx)
	if err != nil || n != len(all) {
		t.Fatalf("rebuild read %d events, %v; want %d", n, err, len(all))
	}
	if got := dump(t, s); got != trimmed {
		t.Fatalf("a rebuild from archive and log differs:\nbefore:\n%s\nrebuilt:\n%s", trimmed, got)
	}
}

func withoutEventLists(dump string) string {
	var b strings.Builder
	for line := range strings.Lines(dump) {
		if !strings.HasPrefix(strings.TrimSpace(line), "events [") {
			b.WriteString(line)
		}
	}
	return b.String()
}
