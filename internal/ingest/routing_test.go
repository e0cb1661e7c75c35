package ingest_test

import (
	"testing"

	"roster/internal/config"
)

// The stored event carries what Normalize computed: a context.groupId of
// 1e3 is the group "1000", as a numeric groupId would be.
func TestStoredEventCarriesRouting(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	assertOK(t, s.post(t, "/v1/track", keyWeb, `{"messageId":"t1","userId":42,"anonymousId":"a1","event":"Signed Up","context":{"groupId":1e3}}`))
	if r := s.post(t, "/v1/batch", keyWeb, `{"context":{"groupId":"acme"},"batch":[`+
		`{"type":"page","messageId":"p1","anonymousId":"a2","name":"Home"},`+
		`{"type":"alias","messageId":"al1","userId":"u3","previousId":"a2"},`+
		`{"type":"group","messageId":"g1","userId":"u3","groupId":7}]}`); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	for _, want := range []struct {
		id, user, anon, prev, group, name string
	}{
		{"t1", "42", "a1", "", "1000", "Signed Up"},
		{"p1", "", "a2", "", "acme", "Home"},
		{"al1", "u3", "", "a2", "acme", ""},
		{"g1", "u3", "", "", "7", ""},
	} {
		e := s.event(t, want.id)
		if e == nil {
			t.Fatalf("%s not stored", want.id)
		}
		if e.UserID != want.user || e.AnonymousID != want.anon || e.PreviousID != want.prev || e.GroupID != want.group || e.Name != want.name {
			t.Errorf("%s stored as user %q anon %q previous %q group %q name %q; want %+v",
				want.id, e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name, want)
		}
	}
}
