package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"roster/internal/store"
)

// testApplyProfilesAfterCancel: a batch is not begun once its context has
// ended, so a shutdown mid-catch-up leaves nothing of it and the cursor
// where it was; the next apply then does the whole batch.
func testApplyProfilesAfterCancel(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	e := call{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial"}`}.event("ws")
	mustAppend(t, s, []store.Event{e}, nil)
	logged := readAll(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.ApplyProfiles(ctx, []store.ProfileUpdate{mustUpdate(t, logged[0])}, logged[0].Seq)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ApplyProfiles after cancel = %v, want context.Canceled", err)
	}
	if c, err := s.Cursor(context.Background(), store.ProfileCursor); err != nil || c != 0 {
		t.Fatalf("cursor = %d, %v; want 0", c, err)
	}
	if _, err := s.GroupTraits(context.Background(), "ws", "g1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("g1 after a cancelled batch: %v, want not found", err)
	}
	catchUp(t, s)
	if got, want := groupTraits(t, s, "g1"), map[string]string{"plan": `"trial"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("g1 after the next apply = %v, want %v", got, want)
	}
}
