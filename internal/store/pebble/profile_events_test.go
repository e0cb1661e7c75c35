package pebble

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/profile"
	"roster/internal/store"
)

// A database that filed profile events by log position only is refiled by
// time when opened, so that /events reads its old events in time order.
func TestProfileEventsAreRefiledByTime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(ctx, dir, store.Options{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// Logged newest first: the log order is the reverse of the time order.
	var evs []store.Event
	for i := range 3 {
		id := fmt.Sprintf("m%d", i)
		evs = append(evs, store.Event{Workspace: "ws", Source: "web", MessageID: id, Type: "group", GroupID: "g1", UserID: "u1",
			ReceivedAt: t0, Timestamp: t0.Add(-time.Duration(i) * time.Hour), Body: []byte(`{"type":"group","groupId":"g1","userId":"u1"}`)})
	}
	if err := s.Append(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	logged, err := s.Read(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var updates []store.ProfileUpdate
	for _, e := range logged {
		u, err := profile.FromEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		updates = append(updates, u)
	}
	if err := s.ApplyProfiles(ctx, updates, logged[len(logged)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Write the keys as a roster before the change did.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	for _, e := range logged {
		for _, ref := range []profile.EventRef{{Workspace: "ws", Collection: store.Accounts, Key: "g1"}, {Workspace: "ws", Collection: store.Users, Key: "user_id:u1"}} {
			ref.At, ref.Seq = e.Timestamp.UnixMilli(), e.Seq
			if err := b.Delete(profileEventKey(ref), nil); err != nil {
				t.Fatal(err)
			}
			old := binary.BigEndian.AppendUint64(profileEventPrefix(ref.Workspace, ref.Collection, ref.Key), uint64(e.Seq))
			if err := b.Set(old, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Delete(metaKey("profile-events"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, dir, store.Options{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct{ collection, key string }{{store.Accounts, "g1"}, {store.Users, "user_id:u1"}} {
		got, err := s.ProfileEvents(ctx, "ws", tc.collection, tc.key, store.EventPage{Ascending: true, Limit: 10})
		var ids []string
		for _, e := range got {
			ids = append(ids, e.MessageID)
		}
		if err != nil || !slices.Equal(ids, []string{"m2", "m1", "m0"}) {
			t.Errorf("%s/%s events oldest first after the upgrade = %v, %v; want m2 m1 m0", tc.collection, tc.key, ids, err)
		}
	}
}
