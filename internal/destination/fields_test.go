package destination_test

import (
	"sync"
	"testing"

	"roster/internal/destination"
	"roster/internal/store"
)

// recorder converts nothing and keeps the events it was handed.
type recorder struct {
	mu  sync.Mutex
	got []destination.Event
}

func (r *recorder) Convert(ev destination.Event) ([]destination.Request, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ev)
	return nil, nil
}

// A round hands conversions the ids, group and name the log stores with
// the event, and decodes no body of an event it does not take.
func TestRoundUsesTheLoggedFields(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	logged := store.Event{Workspace: "ws", Source: "web", MessageID: "t1", Type: "track",
		UserID: "42", AnonymousID: "a1", GroupID: "1000", Name: "Signed Up", Timestamp: clock.Now(), ReceivedAt: clock.Now(),
		Body: []byte(`{"type":"track","messageId":"t1","userId":42,"anonymousId":"a1","event":"Signed Up","context":{"groupId":1e3},"properties":{"plan":"pro"}}`)}
	foreign := store.Event{Workspace: "other", Source: "web", MessageID: "o1", Type: "track", Body: []byte(`not json`)}
	untaken := store.Event{Workspace: "ws", Source: "web", MessageID: "i1", Type: "identify", Body: []byte(`not json either`)}
	if err := s.Append(ctx, []store.Event{logged, foreign, untaken}, nil); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	d := deliverer(s, rec, clock, "track")
	if n, _ := round(t, d); n != 3 {
		t.Fatalf("round handled %d events, want 3", n)
	}
	if len(rec.got) != 1 {
		t.Fatalf("converted %d events, want 1", len(rec.got))
	}
	ev := rec.got[0]
	if ev.UserID != "42" || ev.AnonymousID != "a1" || ev.GroupID != "1000" || ev.Name != "Signed Up" || string(ev.Properties) != `{"plan":"pro"}` {
		t.Errorf("converted %+v", ev)
	}
	if st := stats(t, s); st.Dead != 0 {
		t.Errorf("%d dead letters: events the destination does not take were decoded", st.Dead)
	}
}

// A retry has only the body the outbox keeps: Parse reads the same fields
// back from it.
func TestParseReadsTheLoggedFieldsBack(t *testing.T) {
	ev, err := destination.Parse(7, []byte(`{"type":"page","messageId":"p1","anonymousId":"a1","name":"Home","context":{"groupId":1e3},"timestamp":"2024-05-01T12:00:00.000Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 7 || ev.Type != "page" || ev.MessageID != "p1" || ev.AnonymousID != "a1" || ev.GroupID != "1000" || ev.Name != "Home" || ev.Timestamp.IsZero() {
		t.Errorf("Parse = %+v", ev)
	}
}
