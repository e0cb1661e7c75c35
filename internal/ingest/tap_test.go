package ingest_test

import (
	"net/http"
	"sync"
	"testing"

	"roster/internal/ingest"
	"roster/internal/store"
)

// recordingTap keeps what it was shown.
type recordingTap struct {
	mu          sync.Mutex
	events      []store.Event
	quarantined []store.Quarantined
}

func (r *recordingTap) Committed(events []store.Event, quarantined []store.Quarantined) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	r.quarantined = append(r.quarantined, quarantined...)
}

// The tap is shown what was committed, accepted and quarantined, and
// nothing when the commit failed.
func TestTapSeesCommittedMessages(t *testing.T) {
	tap := &recordingTap{}
	s := newServerWith(t, ingest.Options{Tap: tap})
	if r := s.post(t, "/v1/batch", keyWeb, batchOf(typed("group", groupBody("acme")), `{"type":"group","userId":"u1"}`)); r.status != http.StatusOK {
		t.Fatalf("batch = %d", r.status)
	}
	if len(tap.events) != 1 || tap.events[0].GroupID != "acme-inc" || tap.events[0].Source != "web" || len(tap.events[0].Body) == 0 {
		t.Errorf("tap events = %+v, want the accepted group call", tap.events)
	}
	if len(tap.quarantined) != 1 || tap.quarantined[0].Code != "missing_field" {
		t.Errorf("tap quarantined = %+v, want the call without groupId", tap.quarantined)
	}

	failing := &recordingTap{}
	f := newServerWith(t, ingest.Options{Log: &failingLog{}, Tap: failing})
	if r := f.post(t, "/v1/group", keyWeb, groupBody("acme")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("failing log answered %d", r.status)
	}
	if len(failing.events)+len(failing.quarantined) != 0 {
		t.Errorf("the tap was shown a call the log did not commit")
	}
}
