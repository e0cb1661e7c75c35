package ingest_test

import (
	"net/http"
	"strings"
	"testing"

	"roster/internal/config"
)

// A message that cannot be parsed, inside a batch whose array is intact,
// is quarantined with its index and reason; the rest of the batch is
// stored: the SDKs drop a batch answered 400, which would lose them.
func TestBatchKeepsMessagesBesideOneThatCannotBeParsed(t *testing.T) {
	valid1, valid2 := typed("group", groupBody("ok-1")), typed("group", groupBody("ok-2"))
	deep := `{"type":"track","messageId":"deep","userId":"u1","event":"x","properties":{"a":` +
		strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}}`
	tests := []struct {
		name, bad, reason string
	}{
		{"nested 10,000 deep", deep, `exceeded max depth within "/batch/1/properties/a/`},
		{"20k {} nested in traits", `{"type":"group","userId":"u1","groupId":"g","traits":` + strings.Repeat(`{"":`, 20_000) + "1" + strings.Repeat("}", 20_000) + `}`,
			`exceeded max depth within "/batch/1/traits/`},
		{"invalid UTF-8 in its userId", "{\"type\":\"track\",\"userId\":\"u\xff1\",\"event\":\"x\"}", `invalid UTF-8 within "/batch/1/userId"`},
		{"invalid UTF-8 in a name", "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"x\",\"\xc3\x28\":1}", `invalid UTF-8 within "/batch/1"`},
		{"a stray comma", `{"type":"track","userId":"u1","event":"x",}`, `within "/batch/1"`},
		{"a duplicate name", `{"type":"track","userId":"u1","userId":"u2","event":"x"}`, `duplicate object member name "userId"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			r := s.post(t, "/v1/batch", keyWeb, batchOf(valid1, tt.bad, valid2))
			b := decodeBatch(t, r)
			if r.status != http.StatusOK || !*b.Success || *b.Accepted != 2 {
				t.Fatalf("status %d: %.400s; want 200 with both valid messages accepted", r.status, r.raw)
			}
			if len(b.Rejected) != 1 || b.Rejected[0].Index == nil || *b.Rejected[0].Index != 1 || b.Rejected[0].Code != "invalid_json" ||
				!strings.Contains(b.Rejected[0].Message, tt.reason) {
				t.Errorf("rejected %+v; want index 1, invalid_json, saying %q", b.Rejected, tt.reason)
			}
			for _, id := range []string{"ok-1", "ok-2"} {
				if s.event(t, id) == nil {
					t.Errorf("%s was not stored", id)
				}
			}
			if n := len(s.events(t)); n != 2 {
				t.Errorf("stored %d events, want the 2 valid ones", n)
			}
			qs := s.quarantined(t, "acme")
			if len(qs) != 1 || qs[0].Code != "invalid_json" || string(qs[0].Raw) != tt.bad || !strings.Contains(qs[0].Reason, tt.reason) {
				t.Fatalf("quarantined %.300v; want the broken message as sent, saying %q", qs, tt.reason)
			}
			s.assertAlive(t)
		})
	}
}

// A batch of only broken messages is refused like any batch whose every
// message is rejected, each message quarantined on its own.
func TestBatchOfOnlyBrokenMessages(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	bad := []string{`{"type":"track",}`, "{\"type\":\"track\",\"event\":\"\xc3\x28\"}"}
	r := s.post(t, "/v1/batch", keyWeb, batchOf(bad...))
	b := decodeBatch(t, r)
	if r.status != http.StatusBadRequest || *b.Success || b.Code != "invalid_batch" || len(b.Rejected) != 2 {
		t.Fatalf("status %d: %s; want 400 invalid_batch with both rejected", r.status, r.raw)
	}
	qs := s.quarantined(t, "acme")
	if len(qs) != 2 || string(qs[0].Raw) != bad[0] || string(qs[1].Raw) != bad[1] {
		t.Fatalf("quarantined %+v; want each broken message", qs)
	}
}

// A body whose own structure is broken is still a 400 and kept whole.
func TestBatchWithBrokenStructureStaysRefused(t *testing.T) {
	for _, body := range []string{
		`{"batch":[{"type":"group","userId":"u1","groupId":"g"},{"type":"track"]}`,
		`{"batch":[{"type":"group","userId":"u1","groupId":"g"},{"a":1,}`,
		`{"batch":[{"type":"group","userId":"u1","groupId":"g"},{"a":1,}],"context":{"a":1,}}`,
		`{"batch":[{"type":"group","userId":"u1","groupId":"g"} {"a":1}]}`,
	} {
		s := newServer(t, config.DefaultLimits)
		r := s.post(t, "/v1/batch", keyWeb, body)
		assertError(t, r, http.StatusBadRequest, "invalid_json", "")
		if n := len(s.events(t)); n != 0 {
			t.Errorf("%s: stored %d events", body, n)
		}
		if qs := s.quarantined(t, "acme"); len(qs) != 1 || string(qs[0].Raw) != body {
			t.Errorf("%s: quarantined %+v, want the body whole", body, qs)
		}
	}
}

// analytics.js sends the write key in each message: a broken first
// message does not hide it.
func TestBatchWriteKeyAfterABrokenMessage(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	body := `{"batch":[{"type":"track","writeKey":"wk_web",},` + typed("group", `{"writeKey":"wk_web",`+strings.TrimPrefix(groupBody("ok"), "{")) + `]}`
	r := s.post(t, "/v1/batch", "", body)
	b := decodeBatch(t, r)
	if r.status != http.StatusOK || *b.Accepted != 1 {
		t.Fatalf("status %d: %s; want the second message accepted", r.status, r.raw)
	}
}
