package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"roster/internal/store"
)

// RunEventFields checks that every field of store.Event reads back as it
// was appended, the ids ingestion computed included. RunLog runs it.
func RunEventFields(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	at := time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	full := store.Event{
		Workspace: "ws", Source: "web", MessageID: "m1", Type: "alias",
		ReceivedAt: at.Add(1500 * time.Millisecond), Timestamp: at,
		Warnings: []string{"traits.employees: should be a number", ""},
		UserID:   "u1", AnonymousID: "a1", PreviousID: "old-u1", GroupID: "g\x00odd",
		Name: "Signed Up é", Body: []byte(`{"type":"alias","userId":"u1","previousId":"old-u1"}`),
	}
	// Before 1970, and fields left empty, read back the same way too.
	bare := store.Event{Workspace: "ws", Source: "web", MessageID: "m2", Type: "track",
		ReceivedAt: at, Timestamp: time.Date(1969, 12, 31, 23, 59, 59, 1_000_000, time.UTC), Body: []byte(`{}`)}
	mustAppend(t, s, []store.Event{full, bare}, nil)
	got := readAll(t, s)
	if len(got) != 2 {
		t.Fatalf("read %d events, want 2", len(got))
	}
	for i, want := range []store.Event{full, bare} {
		want.Seq = got[i].Seq
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("event %d read back as\n%+v\nwant\n%+v", i, got[i], want)
		}
	}
	recent, err := s.RecentEvents(context.Background(), "ws", 0, 1)
	if err != nil || len(recent) != 1 || !reflect.DeepEqual(recent[0], got[1]) {
		t.Errorf("RecentEvents = %+v, %v; want the same event as Read", recent, err)
	}
}
