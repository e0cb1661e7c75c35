package api_test

import (
	"net/http"
	"testing"
	"time"

	"roster/internal/store"
)

func TestProcessingSaysHowFarProfilesAre(t *testing.T) {
	st := newFakeStore()
	st.head, st.cursor = 10, 4
	st.unapplied = []store.Event{{Seq: 5, ReceivedAt: time.Now().Add(-3 * time.Second)}}
	f := serveFake(t, st)
	var v struct {
		Head, Cursor, Behind int64
		Lag                  float64 `json:"lag_seconds"`
	}
	f.getOK(t, "/v1/workspaces/acme/processing", &v)
	if v.Head != 10 || v.Cursor != 4 || v.Behind != 6 || v.Lag < 3 || v.Lag > 60 {
		t.Errorf("processing = %+v; want head 10, cursor 4, 6 behind, about 3 s of lag", v)
	}

	st.cursor = 10
	f.getOK(t, "/v1/workspaces/acme/processing", &v)
	if v.Behind != 0 || v.Lag != 0 {
		t.Errorf("caught up: %+v; want nothing behind and no lag", v)
	}
	if status, _, _ := f.get(t, "/v1/workspaces/acme/processing", basic(tokBeta)); status != http.StatusForbidden {
		t.Errorf("another workspace's token: status %d, want 403", status)
	}
}
