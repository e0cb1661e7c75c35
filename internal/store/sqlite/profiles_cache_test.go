package sqlite

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"roster/internal/store"
)

// epoch is when these tests' updates start: seq n is at epoch + n minutes.
var epoch = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// groupCall is a group call of u1 to group that sets its plan trait.
func groupCall(seq int64, group, plan string) store.ProfileUpdate {
	return store.ProfileUpdate{Seq: seq, Workspace: "ws", Source: "web", MessageID: "m", Type: "group",
		Timestamp: epoch.Add(time.Duration(seq) * time.Minute), UserID: "u1", GroupID: group,
		Traits: []store.TraitValue{{Name: "plan", Key: "plan", Value: json.RawMessage(`"` + plan + `"`)}}}
}

// The identities and traits a batch read are kept for the next batch only
// if it committed: a batch that failed may have changed them, and its
// retry must find the tables' values, not its own.
func TestFailedBatchLeavesNoCache(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Options{}).(*Store)
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{groupCall(1, "g1", "trial")}, 1); err != nil {
		t.Fatal(err)
	}
	// The second batch fails as it moves the cursor, after its traits are
	// written and cached.
	if _, err := s.pw.ExecContext(ctx, `CREATE TRIGGER fail AFTER UPDATE ON cursors WHEN new.seq = 2
		BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{groupCall(2, "g1", "pro")}, 2); err == nil {
		t.Fatal("the injected failure did not fail the batch")
	}
	if _, err := s.pw.ExecContext(ctx, "DROP TRIGGER fail"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{groupCall(2, "g1", "pro")}, 2); err != nil {
		t.Fatal(err)
	}
	wantPlan(t, "g1 after the retry", "pro")(s.GroupTraits(ctx, "ws", "g1"))
}

// wantPlan returns a check that a profile's traits, as read, are its plan
// alone, with the value want.
func wantPlan(t *testing.T, what, want string) func([]store.Trait, error) {
	return func(traits []store.Trait, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(traits) != 1 || string(traits[0].Value) != `"`+want+`"` {
			t.Errorf("traits of %s = %s, want plan %q", what, fmtTraits(traits), want)
		}
	}
}

// A profile the batch did not prefetch, nor the batch before keep, is
// read when an event first writes it: here the user an alias merges an
// anonymous profile onto. Its own later trait must win over the older
// one the merge brings.
func TestTraitsReadWhenNotPrefetched(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Options{}).(*Store)
	identify := func(seq int64, minute int, userID, anonymousID, plan string) store.ProfileUpdate {
		return store.ProfileUpdate{Seq: seq, Workspace: "ws", Source: "web", MessageID: "m", Type: "identify",
			Timestamp: epoch.Add(time.Duration(minute) * time.Minute), UserID: userID, AnonymousID: anonymousID,
			Traits: []store.TraitValue{{Name: "plan", Key: "plan", Value: json.RawMessage(`"` + plan + `"`)}}}
	}
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{identify(1, 5, "", "anon1", "old"), identify(2, 10, "u1", "", "new")}, 2); err != nil {
		t.Fatal(err)
	}
	s.cache = nil // as after a restart
	alias := store.ProfileUpdate{Seq: 3, Workspace: "ws", Source: "web", MessageID: "m", Type: "alias",
		Timestamp: epoch.Add(20 * time.Minute), UserID: "u1", PreviousID: "anon1"}
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{alias}, 3); err != nil {
		t.Fatal(err)
	}
	wantPlan(t, "u1 after the alias", "new")(s.UserTraits(ctx, "ws", store.IDUserID+":u1"))
}

// A batch passes its cache on while the next batches find their profiles
// in it; once they do not, batches start afresh, and try again after
// twice as many batches each time the try fails.
func TestCacheKeptOnlyWhereItHits(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Options{}).(*Store)
	seq := int64(0)
	batch := func(groups ...string) {
		t.Helper()
		var us []store.ProfileUpdate
		for _, g := range groups {
			seq++
			us = append(us, groupCall(seq, g, "pro"))
		}
		if err := s.ApplyProfiles(ctx, us, seq); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() bool { return s.cache != nil }
	for range 3 {
		if batch("a", "b"); !kept() {
			t.Fatal("batches on the same groups: the cache was dropped")
		}
	}
	// Every batch on new groups from now on: none finds its groups in the
	// cache it starts from, if any. After each failed try, the next comes
	// 1, 2, 4 and 8 batches later.
	n := 0
	fresh := func() string { n++; return "new-" + string(rune('a'+n%26)) + string(rune('a'+n/26)) }
	var pattern []bool
	for range 12 {
		batch(fresh(), fresh(), fresh())
		pattern = append(pattern, kept())
	}
	want := []bool{false, true, false, false, true, false, false, false, false, true, false, false}
	for i := range want {
		if pattern[i] != want[i] {
			t.Fatalf("kept after each batch on new groups: %v, want %v", pattern, want)
		}
	}
}

// A write that only moves a trait's version leaves its value out of the
// update; one batch can move a trait and then change it, or change it and
// then repeat the new value, and the table must end with the new value.
func TestMovedThenChangedInOneBatch(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Options{}).(*Store)
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{groupCall(1, "g1", "trial"), groupCall(2, "g2", "trial")}, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyProfiles(ctx, []store.ProfileUpdate{
		groupCall(3, "g1", "trial"), groupCall(4, "g1", "pro"), // moved, then changed
		groupCall(5, "g2", "pro"), groupCall(6, "g2", "pro"), // changed, then repeated
	}, 6); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g2"} {
		wantPlan(t, g, "pro")(s.GroupTraits(ctx, "ws", g))
	}
}
