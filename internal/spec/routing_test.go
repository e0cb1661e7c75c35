package spec

import (
	"testing"
	"time"
)

func TestNormalizeRouting(t *testing.T) {
	cases := []struct {
		name, typ, body, batch string
		want                   Routing
	}{
		{"group names its groupId, not context's", Group, `{"userId":"u1","groupId":42,"context":{"groupId":"other"}}`, "",
			Routing{UserID: "u1", GroupID: "42"}},
		{"numeric context.groupId as a numeric groupId", Track, `{"anonymousId":7,"event":"E","context":{"groupId":1e3}}`, "",
			Routing{AnonymousID: "7", GroupID: "1000", Name: "E"}},
		{"fraction", Track, `{"userId":"u","event":"E","context":{"groupId":1.50}}`, "",
			Routing{UserID: "u", GroupID: "1.5", Name: "E"}},
		{"string context.groupId", Page, `{"userId":"u","name":"Home","context":{"ip":"1.2.3.4","groupId":"g\u0031"}}`, "",
			Routing{UserID: "u", GroupID: "g1", Name: "Home"}},
		{"escaped name", Track, `{"userId":"u","event":"E","context":{"group\u0049d":"g"}}`, "",
			Routing{UserID: "u", GroupID: "g", Name: "E"}},
		{"nested groupId is not the call's", Track, `{"userId":"u","event":"E","context":{"page":{"groupId":"g"}}}`, "",
			Routing{UserID: "u", Name: "E"}},
		{"neither string nor number", Screen, `{"userId":"u","name":7,"context":{"groupId":true}}`, "",
			Routing{UserID: "u"}},
		{"the top-level groupId of a track is no group", Track, `{"userId":"u","event":"E","groupId":"g"}`, "",
			Routing{UserID: "u", Name: "E"}},
		{"identify with context.groupId", Identify, `{"userId":"u","previousId":"p","context":{"groupId":"g"}}`, "",
			Routing{UserID: "u", GroupID: "g"}},
		{"alias", Alias, `{"userId":"u","previousId":5}`, "",
			Routing{UserID: "u", PreviousID: "5"}},
		{"the batch's context.groupId", Track, `{"userId":"u","event":"E","context":{"ip":"1.2.3.4"}}`, `{"context":{"groupId":9},"batch":[]}`,
			Routing{UserID: "u", GroupID: "9", Name: "E"}},
		{"the batch's, with no context", Track, `{"userId":"u","event":"E"}`, `{"context":{"groupId":"b"},"batch":[]}`,
			Routing{UserID: "u", GroupID: "b", Name: "E"}},
		{"a context.groupId with a NUL names no group", Track, `{"userId":"u","event":"E","context":{"groupId":"g\u0000x"}}`, "",
			Routing{UserID: "u", Name: "E"}},
		{"the message's wins, null too", Track, `{"userId":"u","event":"E","context":{"groupId":null}}`, `{"context":{"groupId":"b"},"batch":[]}`,
			Routing{UserID: "u", Name: "E"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNormalizer()
			var d *Defaults
			if tc.batch != "" {
				d = &mustDecodeBatch(t, n, tc.batch).Defaults
			}
			msg, _ := normalizeOK(t, n, tc.body, tc.typ, d)
			if msg.Routing != tc.want {
				t.Errorf("Routing = %+v, want %+v", msg.Routing, tc.want)
			}
			// What a reader with only the stored body reads back is the same.
			back, err := ReadStored(msg.JSON)
			if err != nil {
				t.Fatal(err)
			}
			if back.Routing != tc.want || back.Type != tc.typ || back.MessageID != msg.MessageID {
				t.Errorf("ReadStored(%s) = %+v, want %+v", msg.JSON, back, tc.want)
			}
		})
	}
}

func TestReadStoredDoesNotValidate(t *testing.T) {
	m, err := ReadStored([]byte(`{"type":"track","messageId":"m","userId":"u","event":3,"context":{"groupId":"g"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Routing{UserID: "u", GroupID: "g"}); m.Routing != want {
		t.Errorf("Routing = %+v, want %+v", m.Routing, want)
	}
	if _, err := ReadStored([]byte(`{oops}`)); err == nil {
		t.Error("ReadStored of a body that is not JSON: no error")
	}
}

// An id with a NUL is refused: it could not be a key of the PostgreSQL
// backend's profile tables, where it would stop the profile processor.
func TestIDsWithNULAreInvalid(t *testing.T) {
	for _, tc := range []struct{ typ, body, field string }{
		{Group, `{"userId":"u","groupId":"g\u0000x"}`, "groupId"},
		{Track, `{"userId":"u\u0000","event":"E"}`, "userId"},
		{Identify, `{"anonymousId":"\u0000"}`, "anonymousId"},
		{Alias, `{"userId":"u","previousId":"p\u0000"}`, "previousId"},
	} {
		_, err := newTestNormalizer().Normalize([]byte(tc.body), tc.typ, nil, time.Now())
		asError(t, err, CodeInvalidValue, tc.field)
	}
}
