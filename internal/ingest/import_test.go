package ingest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"roster/internal/config"
)

// Only /v1/import keeps a message's recorded receivedAt; the other batch
// endpoints take server time, whatever the client says.
func TestImportKeepsRecordedReceivedAt(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	recorded := time.Date(2020, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		path string
		keep bool
	}{{"/v1/import", true}, {"/v1/batch", false}, {"/b", false}} {
		id := "recorded" + c.path
		msg := `{"type":"identify","messageId":"` + id + `","userId":"u1","receivedAt":"2020-05-01T10:00:00.000Z"}`
		r := s.post(t, c.path, keyWeb, batchOf(msg))
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.path, r.status, r.raw)
		}
		e := s.event(t, id)
		if e == nil {
			t.Fatalf("%s: not stored", c.path)
		}
		if got := e.ReceivedAt.Equal(recorded); got != c.keep {
			t.Errorf("%s: receivedAt = %s, kept = %v, want kept = %v", c.path, e.ReceivedAt, got, c.keep)
		}
		if got := e.Timestamp.Equal(recorded); got != c.keep {
			t.Errorf("%s: timestamp = %s, want it to follow receivedAt", c.path, e.Timestamp)
		}
	}
}

// /v1/import says how many messages were duplicates, as every batch route
// does, for roster import's summary.
func TestImportCountsDuplicates(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	body := batchOf(typed("group", groupBody("d1")), typed("group", groupBody("d2")))
	for i, want := range []struct{ accepted, duplicates int }{{2, 0}, {0, 2}} {
		r := s.post(t, "/v1/import", keyWeb, body)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		var got struct{ Accepted, Duplicates *int }
		if err := json.Unmarshal([]byte(r.raw), &got); err != nil || got.Accepted == nil || got.Duplicates == nil {
			t.Fatalf("send %d: response %s: %v", i, r.raw, err)
		}
		if *got.Accepted != want.accepted || *got.Duplicates != want.duplicates {
			t.Errorf("send %d: %s, want %d accepted, %d duplicates", i, r.raw, want.accepted, want.duplicates)
		}
	}
}
