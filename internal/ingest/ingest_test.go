package ingest_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roster/internal/auth"
	"roster/internal/config"
	"roster/internal/ingest"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

// The sources every test server knows: two in workspace acme, one in beta.
const (
	keyWeb    = "wk_web"
	keyMobile = "wk_mobile"
	keyBeta   = "wk_beta"
)

var sources = []store.Source{
	{Workspace: "acme", Name: "web", WriteKey: keyWeb},
	{Workspace: "acme", Name: "mobile", WriteKey: keyMobile},
	{Workspace: "beta", Name: "site", WriteKey: keyBeta},
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testServer is the ingest handler on a real listener over a real Pebble
// store.
type testServer struct {
	URL    string
	store  *pebble.Store
	client *http.Client
}

func newServer(t *testing.T, limits config.Limits) *testServer {
	t.Helper()
	return newServerWith(t, ingest.Options{Limits: limits})
}

// newServerWith fills Log, Sources, NewID and Logger when opts leaves them
// unset.
func newServerWith(t *testing.T, opts ingest.Options) *testServer {
	t.Helper()
	st, err := pebble.Open(context.Background(), t.TempDir(), store.Options{}, discard)
	if err != nil {
		t.Fatalf("pebble.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	if opts.Log == nil {
		opts.Log = st
	}
	if opts.Sources == nil {
		opts.Sources = auth.NewRegistry(sources, nil)
	}
	if opts.NewID == nil {
		var n atomic.Int64
		opts.NewID = func() string { return fmt.Sprintf("gen-%d", n.Add(1)) }
	}
	if opts.Logger == nil {
		opts.Logger = discard
	}
	mux := http.NewServeMux()
	ingest.New(opts).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &testServer{URL: srv.URL, store: st, client: srv.Client()}
}

// request describes one HTTP call to the test server.
type request struct {
	method string // POST when empty
	path   string
	body   []byte
	// auth is the whole Authorization header; see basic.
	auth    string
	headers map[string]string
	// chunked sends the body without a Content-Length.
	chunked bool
}

// response is what came back, with the JSON body decoded loosely.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (s *testServer) do(t *testing.T, r request) response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // hides the length from net/http
		}
	}
	req, err := http.NewRequest(r.method, s.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read response: %v", r.method, r.path, err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %v\n%s", r.method, r.path, err, raw)
		}
	}
	return out
}

// post sends body to path with the write key as Basic auth ("" for none).
func (s *testServer) post(t *testing.T, path, key, body string) response {
	t.Helper()
	r := request{path: path, body: []byte(body)}
	if key != "" {
		r.auth = basic(key, true)
	}
	return s.do(t, r)
}

func (s *testServer) events(t *testing.T) []store.Event {
	t.Helper()
	evs, err := s.store.Read(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return evs
}

// quarantined returns a workspace's quarantine, oldest first.
func (s *testServer) quarantined(t *testing.T, workspace string) []store.Quarantined {
	t.Helper()
	qs, err := s.store.RecentQuarantined(context.Background(), workspace, 0, 1_000_000)
	if err != nil {
		t.Fatalf("RecentQuarantined: %v", err)
	}
	for i, j := 0, len(qs)-1; i < j; i, j = i+1, j-1 {
		qs[i], qs[j] = qs[j], qs[i]
	}
	return qs
}

func (s *testServer) allQuarantined(t *testing.T) []store.Quarantined {
	t.Helper()
	var all []store.Quarantined
	for _, ws := range []string{"acme", "beta", ""} {
		all = append(all, s.quarantined(t, ws)...)
	}
	return all
}

// assertEmpty checks that nothing was stored or quarantined.
func (s *testServer) assertEmpty(t *testing.T) {
	t.Helper()
	if evs := s.events(t); len(evs) != 0 {
		t.Errorf("stored %d events, want none: first %s", len(evs), evs[0].Body)
	}
	if qs := s.allQuarantined(t); len(qs) != 0 {
		t.Errorf("quarantined %d messages, want none: first %s (%s)", len(qs), qs[0].Raw, qs[0].Reason)
	}
}

// assertAlive checks that the server still takes a valid call.
func (s *testServer) assertAlive(t *testing.T) {
	t.Helper()
	id := fmt.Sprintf("alive-%d", time.Now().UnixNano())
	resp := s.post(t, "/v1/group", keyWeb, groupBody(id))
	assertOK(t, resp)
	if e := s.event(t, id); e == nil {
		t.Fatalf("the liveness call %s was not stored", id)
	}
}

// event returns the stored event with that message id, or nil.
func (s *testServer) event(t *testing.T, messageID string) *store.Event {
	t.Helper()
	for _, e := range s.events(t) {
		if e.MessageID == messageID {
			return &e
		}
	}
	return nil
}

func basic(key string, colon bool) string {
	cred := key
	if colon {
		cred += ":"
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
}

func groupBody(id string) string {
	return fmt.Sprintf(`{"messageId":%q,"userId":"u1","groupId":"acme-inc","traits":{"name":"Acme Inc","plan":"enterprise"}}`, id)
}

// batchOf wraps messages in a batch body.
func batchOf(msgs ...string) string {
	return `{"batch":[` + strings.Join(msgs, ",") + `]}`
}

// typed adds "type" to a message object.
func typed(typ, msg string) string {
	return fmt.Sprintf(`{"type":%q,`, typ) + strings.TrimPrefix(msg, "{")
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func assertOK(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.raw)
	}
	if got := strings.TrimSpace(string(r.raw)); got != `{"success":true}` {
		t.Fatalf("body %s, want {\"success\":true}", got)
	}
	assertJSONType(t, r)
}

func assertJSONType(t *testing.T, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

// assertError checks the tracking API's error shape:
// {"success":false,"code":...,"message":...} with field when one is at fault.
func assertError(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	assertJSONType(t, r)
	if s, ok := r.body["success"].(bool); !ok || s {
		t.Errorf("success = %v, want false: %s", r.body["success"], r.raw)
	}
	if got := r.body["code"]; got != code {
		t.Errorf("code = %v, want %q: %s", got, code, r.raw)
	}
	gotField, _ := r.body["field"].(string)
	if gotField != field {
		t.Errorf("field = %q, want %q: %s", gotField, field, r.raw)
	}
	if m, _ := r.body["message"].(string); m == "" {
		t.Errorf("message is empty: %s", r.raw)
	}
	for k := range r.body {
		switch k {
		case "success", "code", "field", "message", "accepted", "duplicates", "rejected":
		default:
			t.Errorf("unexpected member %q in error body %s", k, r.raw)
		}
	}
}

// batchResult is a decoded batch response.
type batchResult struct {
	Success    *bool  `json:"success"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Accepted   *int   `json:"accepted"`
	Duplicates *int   `json:"duplicates"`
	Rejected   []struct {
		Index     *int   `json:"index"`
		MessageID string `json:"messageId"`
		Code      string `json:"code"`
		Field     string `json:"field"`
		Message   string `json:"message"`
	} `json:"rejected"`
}

func decodeBatch(t *testing.T, r response) batchResult {
	t.Helper()
	assertJSONType(t, r)
	var b batchResult
	if err := json.Unmarshal(r.raw, &b); err != nil {
		t.Fatalf("batch response: %v: %s", err, r.raw)
	}
	if b.Success == nil || b.Accepted == nil || b.Duplicates == nil {
		t.Fatalf("batch response lacks success, accepted or duplicates: %s", r.raw)
	}
	if !bytes.Contains(r.raw, []byte(`"rejected":[`)) {
		t.Errorf("rejected must always be a list: %s", r.raw)
	}
	return b
}

// member returns a top-level member of a stored JSON body.
func member(t *testing.T, body []byte, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("stored body is not JSON: %v: %s", err, body)
	}
	return m[name]
}

// --- routes -----------------------------------------------------------------

var calls = []struct {
	typ, long, short, body string
}{
	{"identify", "/v1/identify", "/v1/i", `{"messageId":%q,"userId":"u1","traits":{"email":"ada@example.com"}}`},
	{"track", "/v1/track", "/v1/t", `{"messageId":%q,"userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}`},
	{"page", "/v1/page", "/v1/p", `{"messageId":%q,"anonymousId":"a1","name":"Home"}`},
	{"screen", "/v1/screen", "/v1/s", `{"messageId":%q,"anonymousId":"a1","name":"Dashboard"}`},
	{"group", "/v1/group", "/v1/g", `{"messageId":%q,"userId":"u1","groupId":"acme-inc","traits":{"name":"Acme"}}`},
	{"alias", "/v1/alias", "/v1/a", `{"messageId":%q,"userId":"u1","previousId":"a1"}`},
}

func TestSingleRoutes(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	for _, c := range calls {
		for _, path := range []string{c.long, c.short} {
			t.Run(path, func(t *testing.T) {
				id := "route-" + strings.ReplaceAll(path, "/", "-")
				assertOK(t, s.post(t, path, keyWeb, fmt.Sprintf(c.body, id)))
				e := s.event(t, id)
				if e == nil {
					t.Fatalf("%s was not stored", id)
				}
				if e.Type != c.typ || e.Workspace != "acme" || e.Source != "web" {
					t.Errorf("stored type=%q workspace=%q source=%q, want %q acme web", e.Type, e.Workspace, e.Source, c.typ)
				}
				if got := member(t, e.Body, "type"); got != c.typ {
					t.Errorf("stored body type = %v, want %q: %s", got, c.typ, e.Body)
				}
				if got := member(t, e.Body, "messageId"); got != id {
					t.Errorf("stored body messageId = %v, want %q", got, id)
				}
				if got := member(t, e.Body, "receivedAt"); got == nil {
					t.Errorf("stored body has no receivedAt: %s", e.Body)
				}
			})
		}
	}
	if n := len(s.events(t)); n != 2*len(calls) {
		t.Errorf("stored %d events, want %d", n, 2*len(calls))
	}
}

func TestSingleRouteTypeComesFromPath(t *testing.T) {
	// The path says what the call is; a type in the body does not change it.
	s := newServer(t, config.DefaultLimits)
	assertOK(t, s.post(t, "/v1/g", keyWeb, `{"type":"track","messageId":"m1","userId":"u1","groupId":"acme-inc"}`))
	if e := s.event(t, "m1"); e == nil || e.Type != "group" {
		t.Fatalf("stored %+v, want a group event", e)
	}
}

func TestUnknownCallPath(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	r := s.post(t, "/v1/purchase", keyWeb, groupBody("m1"))
	assertError(t, r, http.StatusNotFound, "not_found", "")
	s.assertEmpty(t)
}

func TestBatchRoutes(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	for _, path := range []string{"/v1/batch", "/v1/import", "/b", "/v1/b"} {
		t.Run(path, func(t *testing.T) {
			var msgs []string
			var ids []string
			for _, c := range calls {
				id := c.typ + strings.ReplaceAll(path, "/", "-")
				ids = append(ids, id)
				msgs = append(msgs, typed(c.typ, fmt.Sprintf(c.body, id)))
			}
			r := s.post(t, path, keyWeb, batchOf(msgs...))
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			b := decodeBatch(t, r)
			if !*b.Success || *b.Accepted != len(calls) || len(b.Rejected) != 0 {
				t.Fatalf("response %s, want success, all %d accepted", r.raw, len(calls))
			}
			for i, id := range ids {
				e := s.event(t, id)
				if e == nil {
					t.Fatalf("%s was not stored", id)
				}
				if e.Type != calls[i].typ || e.Source != "web" || e.Workspace != "acme" {
					t.Errorf("%s stored as %s in %s/%s", id, e.Type, e.Workspace, e.Source)
				}
			}
		})
	}
}

func TestBatchDefaultsAreMerged(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	body := `{"context":{"library":{"name":"analytics-go"},"ip":"1.2.3.4"},"integrations":{"All":false},"batch":[` +
		typed("group", `{"messageId":"m1","userId":"u1","groupId":"g1","context":{"ip":"5.6.7.8"}}`) + `]}`
	r := s.post(t, "/v1/batch", keyWeb, body)
	if b := decodeBatch(t, r); r.status != http.StatusOK || *b.Accepted != 1 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	e := s.event(t, "m1")
	if e == nil {
		t.Fatal("m1 not stored")
	}
	ctx, _ := member(t, e.Body, "context").(map[string]any)
	if ctx["ip"] != "5.6.7.8" || ctx["library"] == nil {
		t.Errorf("context = %v, want the message's ip and the batch's library", ctx)
	}
	if integ, _ := member(t, e.Body, "integrations").(map[string]any); integ["All"] != false {
		t.Errorf("integrations = %v, want the batch's", integ)
	}
}

// --- auth -------------------------------------------------------------------

func TestAuth(t *testing.T) {
	single := groupBody("m1")
	tests := []struct {
		name   string
		path   string
		auth   string
		body   string
		status int // 200 or 401
		// source is where the event must be stored when accepted.
		workspace, source string
	}{
		{"basic with colon", "/v1/group", basic(keyWeb, true), single, 200, "acme", "web"},
		{"basic without colon", "/v1/group", basic(keyWeb, false), single, 200, "acme", "web"},
		{"basic with a password", "/v1/group", "Basic " + base64.StdEncoding.EncodeToString([]byte(keyWeb+":ignored")), single, 200, "acme", "web"},
		{"basic unpadded base64", "/v1/group", "Basic " + base64.RawStdEncoding.EncodeToString([]byte(keyMobile)), single, 200, "acme", "mobile"},
		{"basic scheme in lower case", "/v1/group", "basic " + base64.StdEncoding.EncodeToString([]byte(keyWeb+":")), single, 200, "acme", "web"},
		{"basic on a batch", "/v1/batch", basic(keyBeta, true), batchOf(typed("group", single)), 200, "beta", "site"},
		{"header key wins over body key", "/v1/group", basic(keyBeta, true), `{"writeKey":"wk_web","messageId":"m1","userId":"u1","groupId":"g"}`, 200, "beta", "site"},

		{"writeKey in a single body", "/v1/group", "", `{"writeKey":"wk_mobile","messageId":"m1","userId":"u1","groupId":"g"}`, 200, "acme", "mobile"},
		{"writeKey in a batch body", "/v1/batch", "", `{"writeKey":"wk_beta","batch":[` + typed("group", single) + `]}`, 200, "beta", "site"},
		{"analytics.js batch, key only in messages", "/v1/b", "", `{"batch":[{"type":"group","writeKey":"wk_mobile","messageId":"m1","userId":"u1","groupId":"g"}],"sentAt":"2024-01-01T00:00:00.000Z"}`, 200, "acme", "mobile"},
		{"analytics.js batch, key in an invalid first message", "/b", "", `{"batch":[{"type":"group","writeKey":"wk_mobile","messageId":"bad","userId":"u1"},{"type":"group","writeKey":"wk_mobile","messageId":"m1","userId":"u1","groupId":"g"}]}`, 200, "acme", "mobile"},

		{"basic with unknown key", "/v1/group", basic("wk_nope", true), single, 401, "", ""},
		{"basic with unknown key on a batch", "/v1/batch", basic("wk_nope", true), batchOf(typed("group", single)), 401, "", ""},
		{"unknown header key, valid body key", "/v1/group", basic("wk_nope", true), `{"writeKey":"wk_web","messageId":"m1","userId":"u1","groupId":"g"}`, 401, "", ""},
		{"basic that is not base64", "/v1/group", "Basic !!!not-base64!!!", single, 401, "", ""},
		{"basic with an empty username", "/v1/group", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+keyWeb)), single, 401, "", ""},
		{"basic with nothing", "/v1/group", "Basic", single, 401, "", ""},
		{"unknown scheme", "/v1/group", "Token " + keyWeb, single, 401, "", ""},
		{"bare key", "/v1/group", keyWeb, single, 401, "", ""},
		{"unknown writeKey in a single body", "/v1/group", "", `{"writeKey":"wk_nope","messageId":"m1","userId":"u1","groupId":"g"}`, 401, "", ""},
		{"unknown writeKey in a batch body", "/v1/batch", "", `{"writeKey":"wk_nope","batch":[` + typed("group", single) + `]}`, 401, "", ""},
		{"writeKey not a string", "/v1/group", "", `{"writeKey":42,"messageId":"m1","userId":"u1","groupId":"g"}`, 401, "", ""},
		{"no key on a single call", "/v1/group", "", single, 401, "", ""},
		{"no key on an invalid single call", "/v1/group", "", `{"messageId":"m1","userId":"u1"}`, 401, "", ""},
		{"no key on a batch", "/v1/batch", "", batchOf(typed("group", single)), 401, "", ""},
		{"no key on an analytics.js batch", "/v1/b", "", batchOf(typed("group", single)), 401, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			r := s.do(t, request{path: tt.path, auth: tt.auth, body: []byte(tt.body),
				headers: map[string]string{"Content-Type": "text/plain"}})
			if tt.status == http.StatusUnauthorized {
				assertError(t, r, http.StatusUnauthorized, "unauthorized", "")
				s.assertEmpty(t)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", r.status, r.raw)
			}
			e := s.event(t, "m1")
			if e == nil {
				t.Fatal("m1 was not stored")
			}
			if e.Workspace != tt.workspace || e.Source != tt.source {
				t.Errorf("stored under %s/%s, want %s/%s", e.Workspace, e.Source, tt.workspace, tt.source)
			}
			if bytes.Contains(e.Body, []byte("writeKey")) {
				t.Errorf("the write key is stored in the event: %s", e.Body)
			}
		})
	}
}

func TestAnalyticsJSBatchQuarantinesUnderItsSource(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	r := s.post(t, "/v1/b", "", `{"batch":[{"type":"group","writeKey":"wk_beta","messageId":"bad","userId":"u1"},{"type":"group","writeKey":"wk_beta","messageId":"m1","userId":"u1","groupId":"g"}]}`)
	b := decodeBatch(t, r)
	if r.status != http.StatusOK || *b.Accepted != 1 || len(b.Rejected) != 1 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	qs := s.quarantined(t, "beta")
	if len(qs) != 1 || qs[0].MessageID != "bad" || qs[0].Source != "site" {
		t.Fatalf("quarantine of beta = %+v, want the bad message under source site", qs)
	}
}

// --- content types and encodings ---------------------------------------------

func TestAnyContentType(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	for i, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "application/octet-stream"} {
		t.Run("content type "+ct, func(t *testing.T) {
			id := fmt.Sprintf("ct-%d", i)
			r := request{path: "/v1/group", auth: basic(keyWeb, true), body: []byte(groupBody(id))}
			if ct != "" {
				r.headers = map[string]string{"Content-Type": ct}
			}
			assertOK(t, s.do(t, r))
			if s.event(t, id) == nil {
				t.Fatalf("%s not stored", id)
			}
		})
	}
}

func TestGzip(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	tests := []struct {
		name, path, encoding string
		body                 []byte
		id                   string
	}{
		{"single", "/v1/group", "gzip", gzipped(t, []byte(groupBody("gz-1"))), "gz-1"},
		{"single x-gzip", "/v1/g", "x-gzip", gzipped(t, []byte(groupBody("gz-2"))), "gz-2"},
		{"encoding in capitals", "/v1/group", " GZIP ", gzipped(t, []byte(groupBody("gz-3"))), "gz-3"},
		{"batch", "/v1/batch", "gzip", gzipped(t, []byte(batchOf(typed("group", groupBody("gz-4"))))), "gz-4"},
		{"identity", "/v1/group", "identity", []byte(groupBody("gz-5")), "gz-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{path: tt.path, auth: basic(keyWeb, true), body: tt.body,
				headers: map[string]string{"Content-Encoding": tt.encoding}})
			if r.status != http.StatusOK || r.body["success"] != true {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if s.event(t, tt.id) == nil {
				t.Fatalf("%s not stored", tt.id)
			}
		})
	}
}

func TestGzipErrors(t *testing.T) {
	valid := gzipped(t, []byte(groupBody("m1")))
	corrupt := bytes.Clone(valid)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC
	tests := []struct {
		name, path, encoding string
		body                 []byte
		status               int
		code, field          string
	}{
		{"not gzip at all", "/v1/group", "gzip", []byte(groupBody("m1")), 400, "invalid_body", ""},
		{"not gzip on a batch", "/v1/batch", "gzip", []byte(batchOf(typed("group", groupBody("m1")))), 400, "invalid_body", ""},
		{"truncated", "/v1/group", "gzip", valid[:len(valid)/2], 400, "invalid_body", ""},
		{"bad checksum", "/v1/group", "gzip", corrupt, 400, "invalid_body", ""},
		{"empty", "/v1/group", "gzip", []byte{}, 400, "invalid_body", ""},
		{"brotli", "/v1/group", "br", []byte(groupBody("m1")), 415, "unsupported_encoding", "Content-Encoding"},
		{"deflate", "/v1/batch", "deflate", []byte(batchOf(typed("group", groupBody("m1")))), 415, "unsupported_encoding", "Content-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			r := s.do(t, request{path: tt.path, auth: basic(keyWeb, true), body: tt.body,
				headers: map[string]string{"Content-Encoding": tt.encoding}})
			assertError(t, r, tt.status, tt.code, tt.field)
			s.assertEmpty(t)
			s.assertAlive(t)
		})
	}
}

func TestGzipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 50 {
		zw.Write(zeros) //nolint:errcheck // a bytes.Buffer does not fail
	}
	zw.Close()
	bomb := buf.Bytes() // 50 MB of zeros in about 50 KB
	for _, path := range []string{"/v1/group", "/v1/batch", "/b"} {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			start := time.Now()
			r := s.do(t, request{path: path, auth: basic(keyWeb, true), body: bomb,
				headers: map[string]string{"Content-Encoding": "gzip"}})
			elapsed := time.Since(start)
			assertError(t, r, http.StatusRequestEntityTooLarge, "too_large", "")
			if elapsed > 2*time.Second {
				t.Errorf("a gzip bomb took %v to refuse", elapsed)
			}
			s.assertEmpty(t)
			s.assertAlive(t)
		})
	}
}

// endlessZeros is a gzip stream of zeros that never ends: a deflate segment
// that expands to 1 MB of zeros, repeated. It counts what was read from it.
type endlessZeros struct {
	head, seg []byte
	off       int
	read      atomic.Int64
	limit     int64
}

func newEndlessZeros(t *testing.T, limit int64) *endlessZeros {
	t.Helper()
	var d bytes.Buffer
	fw, err := flate.NewWriter(&d, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	fw.Write(zeros) //nolint:errcheck
	fw.Flush()      //nolint:errcheck
	first := d.Len()
	fw.Write(zeros) //nolint:errcheck
	fw.Flush()      //nolint:errcheck
	// After the first segment the window holds only zeros, so the second
	// segment decodes to zeros however often it is repeated.
	head := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, d.Bytes()[:first]...)
	return &endlessZeros{head: head, seg: bytes.Clone(d.Bytes()[first:]), limit: limit}
}

func (z *endlessZeros) Read(p []byte) (int, error) {
	if z.read.Load() >= z.limit {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		if len(z.head) > 0 {
			c := copy(p[n:], z.head)
			z.head = z.head[c:]
			n += c
			continue
		}
		c := copy(p[n:], z.seg[z.off:])
		z.off = (z.off + c) % len(z.seg)
		n += c
	}
	z.read.Add(int64(n))
	return n, nil
}

func TestGzipBombIsNotReadWhole(t *testing.T) {
	// About 64 MB of gzip that would expand to about 64 GB: the server must
	// stop after the limit, long before the client has sent it all.
	const compressed = 64 << 20
	s := newServer(t, config.DefaultLimits)
	for _, path := range []string{"/v1/group", "/v1/batch"} {
		t.Run(path, func(t *testing.T) {
			z := newEndlessZeros(t, compressed)
			req, _ := http.NewRequest(http.MethodPost, s.URL+path, z)
			req.SetBasicAuth(keyWeb, "")
			req.Header.Set("Content-Encoding", "gzip")
			start := time.Now()
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatalf("the server did not answer a gzip bomb: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(raw, []byte(`"too_large"`)) {
				t.Fatalf("status %d: %s, want 413 too_large", resp.StatusCode, raw)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("a gzip bomb took %v to refuse", elapsed)
			}
			if n := z.read.Load(); n >= compressed/2 {
				t.Errorf("the client got to send %d of %d compressed bytes; the server should have stopped early", n, compressed)
			}
		})
	}
	s.assertEmpty(t)
	s.assertAlive(t)
}

// --- limits -----------------------------------------------------------------

// padded returns a valid group call of exactly size bytes.
func padded(t *testing.T, id string, size int) string {
	t.Helper()
	base := fmt.Sprintf(`{"messageId":%q,"userId":"u1","groupId":"g1","traits":{"pad":""}}`, id)
	if size < len(base) {
		t.Fatalf("size %d is below the minimum %d", size, len(base))
	}
	return strings.Replace(base, `"pad":""`, `"pad":"`+strings.Repeat("x", size-len(base))+`"`, 1)
}

func TestSingleLimit(t *testing.T) {
	limits := config.DefaultLimits
	max := limits.MaxMessageBytes
	tests := []struct {
		name    string
		size    int
		chunked bool
		gzip    bool
		want    int
	}{
		{"exactly the limit", max, false, false, 200},
		{"exactly the limit, chunked", max, true, false, 200},
		{"exactly the limit, gzipped", max, false, true, 200},
		{"one byte over", max + 1, false, false, 413},
		{"one byte over, chunked", max + 1, true, false, 413},
		{"one byte over, gzipped", max + 1, false, true, 413},
		{"ten times over", 10 * max, false, false, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, limits)
			body := []byte(padded(t, "m1", tt.size))
			hdr := map[string]string{}
			if tt.gzip {
				body = gzipped(t, body)
				hdr["Content-Encoding"] = "gzip"
			}
			r := s.do(t, request{path: "/v1/group", auth: basic(keyWeb, true), body: body, chunked: tt.chunked, headers: hdr})
			if tt.want == http.StatusOK {
				assertOK(t, r)
				if e := s.event(t, "m1"); e == nil {
					t.Fatal("m1 not stored")
				}
				return
			}
			assertError(t, r, http.StatusRequestEntityTooLarge, "too_large", "")
			s.assertEmpty(t)
			s.assertAlive(t)
		})
	}
}

func TestSmallConfiguredLimits(t *testing.T) {
	s := newServer(t, config.Limits{MaxMessageBytes: 200, MaxBatchBytes: 600, MaxBatchMessages: 3})
	assertOK(t, s.post(t, "/v1/group", keyWeb, padded(t, "ok", 200)))
	assertError(t, s.post(t, "/v1/group", keyWeb, padded(t, "big", 201)), 413, "too_large", "")
	msg := func(i int) string { return typed("group", groupBody(fmt.Sprintf("b%d", i))) }
	assertError(t, s.post(t, "/v1/batch", keyWeb, batchOf(msg(1), msg(2), msg(3), msg(4))), 413, "too_many_messages", "batch")
	r := s.post(t, "/v1/batch", keyWeb, batchOf(msg(1), msg(2), msg(3)))
	if r.status != http.StatusOK {
		t.Fatalf("3 messages within the limits: status %d: %s", r.status, r.raw)
	}
	big := `{"batch":[` + typed("group", padded(t, "b9", 590)) + `]}`
	assertError(t, s.post(t, "/v1/batch", keyWeb, big), 413, "too_large", "")
	if n := len(s.events(t)); n != 4 {
		t.Errorf("stored %d events, want 4", n)
	}
}

// batchBody returns a batch of n valid group calls with ids prefix-0…
func batchBody(prefix string, n int) string {
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"type":"group","messageId":"%s-%d","userId":"u","groupId":"g"}`, prefix, i)
	}
	return batchOf(msgs...)
}

func TestBatchLimits(t *testing.T) {
	limits := config.DefaultLimits
	overBytes := `{"batch":[` + typed("group", groupBody("m1")) + `],"pad":"` + strings.Repeat("x", limits.MaxBatchBytes) + `"}`
	tests := []struct {
		name    string
		path    string
		auth    string
		body    string
		chunked bool
		gzip    bool
		status  int
		code    string
		field   string
		stored  int
	}{
		{"2500 messages", "/v1/batch", basic(keyWeb, true), batchBody("m", limits.MaxBatchMessages), false, false, 200, "", "", limits.MaxBatchMessages},
		{"2501 messages", "/v1/batch", basic(keyWeb, true), batchBody("m", limits.MaxBatchMessages+1), false, false, 413, "too_many_messages", "batch", 0},
		{"2501 messages on /b", "/b", basic(keyWeb, true), batchBody("m", limits.MaxBatchMessages+1), false, false, 413, "too_many_messages", "batch", 0},
		{"2501 messages, writeKey in the body", "/v1/batch", "", `{"writeKey":"wk_web",` + strings.TrimPrefix(batchBody("m", limits.MaxBatchMessages+1), "{"), false, false, 413, "too_many_messages", "batch", 0},
		{"body over 500 KB", "/v1/batch", basic(keyWeb, true), overBytes, false, false, 413, "too_large", "", 0},
		{"body over 500 KB, chunked", "/v1/import", basic(keyWeb, true), overBytes, true, false, 413, "too_large", "", 0},
		{"body over 500 KB, gzipped", "/v1/batch", basic(keyWeb, true), overBytes, false, true, 413, "too_large", "", 0},
		{"body over 500 KB, no key", "/v1/batch", "", overBytes, false, false, 413, "too_large", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, limits)
			body := []byte(tt.body)
			hdr := map[string]string{}
			if tt.gzip {
				body = gzipped(t, body)
				hdr["Content-Encoding"] = "gzip"
			}
			r := s.do(t, request{path: tt.path, auth: tt.auth, body: body, chunked: tt.chunked, headers: hdr})
			if tt.status == http.StatusOK {
				b := decodeBatch(t, r)
				if r.status != 200 || *b.Accepted != tt.stored {
					t.Fatalf("status %d, accepted %d: %.300s", r.status, *b.Accepted, r.raw)
				}
			} else {
				assertError(t, r, tt.status, tt.code, tt.field)
			}
			if n := len(s.events(t)); n != tt.stored {
				t.Errorf("stored %d events, want %d", n, tt.stored)
			}
			if qs := s.allQuarantined(t); len(qs) != 0 {
				t.Errorf("quarantined %d, want none", len(qs))
			}
		})
	}
}

func TestGzipIncompressibleOverLimit(t *testing.T) {
	// Random bytes do not compress: the gzip body is itself over the limit.
	// That is a body too large, not a broken gzip stream.
	s := newServer(t, config.Limits{MaxMessageBytes: 1 << 10, MaxBatchBytes: 4 << 10, MaxBatchMessages: 10})
	noise := make([]byte, 6<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i*i*31 + i>>3)
	}
	body := []byte(`{"batch":[],"pad":"` + base64.StdEncoding.EncodeToString(noise) + `"}`)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	zw.Write(body) //nolint:errcheck
	zw.Close()
	r := s.do(t, request{path: "/v1/batch", auth: basic(keyWeb, true), body: buf.Bytes(),
		headers: map[string]string{"Content-Encoding": "gzip"}})
	assertError(t, r, http.StatusRequestEntityTooLarge, "too_large", "")
}

func TestOversizedMessageInBatch(t *testing.T) {
	limits := config.DefaultLimits
	s := newServer(t, limits)
	big := typed("group", padded(t, "big", limits.MaxMessageBytes+1))
	body := batchOf(
		typed("group", groupBody("m0")),
		big,
		typed("identify", `{"messageId":"m2","userId":"u1"}`),
	)
	r := s.post(t, "/v1/batch", keyWeb, body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %.300s", r.status, r.raw)
	}
	b := decodeBatch(t, r)
	if !*b.Success || *b.Accepted != 2 || len(b.Rejected) != 1 {
		t.Fatalf("response %.500s, want 2 accepted and 1 rejected", r.raw)
	}
	if rej := b.Rejected[0]; rej.Index == nil || *rej.Index != 1 || rej.Code != "too_large" || rej.Message == "" {
		t.Errorf("rejection %+v, want index 1, code too_large", rej)
	}
	if s.event(t, "m0") == nil || s.event(t, "m2") == nil || s.event(t, "big") != nil {
		t.Errorf("stored %d events, want m0 and m2 only", len(s.events(t)))
	}
	qs := s.quarantined(t, "acme")
	if len(qs) != 1 {
		t.Fatalf("quarantined %d, want 1", len(qs))
	}
	if qs[0].Code != "too_large" || string(qs[0].Raw) != big || qs[0].Source != "web" {
		t.Errorf("quarantined code=%q source=%q raw of %d bytes, want too_large web and the %d-byte message", qs[0].Code, qs[0].Source, len(qs[0].Raw), len(big))
	}
}

// --- validation, partial batches, quarantine ---------------------------------

func TestInvalidSingleCall(t *testing.T) {
	tests := []struct {
		name, path, body, code, field, messageID string
	}{
		{"group without groupId", "/v1/group", `{"messageId":"q1","userId":"u1"}`, "missing_field", "groupId", "q1"},
		{"group with empty groupId", "/v1/g", `{"messageId":"q1","userId":"u1","groupId":""}`, "missing_field", "groupId", "q1"},
		{"track without event", "/v1/track", `{"messageId":"q1","userId":"u1"}`, "missing_field", "event", "q1"},
		{"track with a numeric event", "/v1/t", `{"messageId":"q1","userId":"u1","event":5}`, "invalid_type", "event", "q1"},
		{"alias without previousId", "/v1/alias", `{"messageId":"q1","userId":"u1"}`, "missing_field", "previousId", "q1"},
		{"identify without any id", "/v1/identify", `{"messageId":"q1","traits":{}}`, "missing_field", "userId", "q1"},
		{"traits not an object", "/v1/group", `{"messageId":"q1","userId":"u1","groupId":"g","traits":["a"]}`, "invalid_type", "traits", "q1"},
		{"context not an object", "/v1/page", `{"messageId":"q1","userId":"u1","context":"x"}`, "invalid_type", "context", "q1"},
		{"userId an object", "/v1/identify", `{"messageId":"q1","userId":{"id":1}}`, "invalid_type", "userId", "q1"},
		{"bad timestamp", "/v1/identify", `{"messageId":"q1","userId":"u1","timestamp":"yesterday"}`, "invalid_value", "timestamp", "q1"},
		{"no messageId", "/v1/group", `{"userId":"u1"}`, "missing_field", "groupId", "gen-1"},
		{"body not an object", "/v1/group", `["userId","u1"]`, "invalid_type", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			r := s.post(t, tt.path, keyWeb, tt.body)
			assertError(t, r, http.StatusBadRequest, tt.code, tt.field)
			if tt.field != "" && !strings.Contains(r.body["message"].(string), tt.field) {
				t.Errorf("message %q does not name %s", r.body["message"], tt.field)
			}
			if n := len(s.events(t)); n != 0 {
				t.Errorf("stored %d events, want none", n)
			}
			qs := s.quarantined(t, "acme")
			if len(qs) != 1 {
				t.Fatalf("quarantined %d, want 1", len(qs))
			}
			q := qs[0]
			if q.Code != tt.code || q.MessageID != tt.messageID || string(q.Raw) != tt.body || q.Source != "web" || q.Reason != r.body["message"] {
				t.Errorf("quarantined %+v (raw %s), want code %s messageId %q, the raw body, source web and the response's message", q, q.Raw, tt.code, tt.messageID)
			}
			if q.ReceivedAt.IsZero() || time.Since(q.ReceivedAt) > time.Minute {
				t.Errorf("quarantined receivedAt %v, want now", q.ReceivedAt)
			}
		})
	}
}

func TestPartialBatch(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	msgs := []string{
		typed("group", groupBody("ok-1")),
		`{"type":"group","messageId":"bad-1","userId":"u1"}`,
		`{"type":"track","messageId":"bad-2","userId":"u1"}`,
		`{"type":"identify","messageId":"ok-2","userId":"u1","traits":{"email":"a@b.c"}}`,
		`{"type":"purchase","messageId":"bad-3","userId":"u1"}`,
		`{"messageId":"bad-4","userId":"u1"}`,
		`"not an object"`,
	}
	r := s.post(t, "/v1/batch", keyWeb, batchOf(msgs...))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	b := decodeBatch(t, r)
	if !*b.Success || *b.Accepted != 2 {
		t.Fatalf("response %s, want success with 2 accepted", r.raw)
	}
	want := []struct {
		index                  int
		messageID, code, field string
	}{
		{1, "bad-1", "missing_field", "groupId"},
		{2, "bad-2", "missing_field", "event"},
		{4, "bad-3", "invalid_value", "type"},
		{5, "bad-4", "missing_field", "type"},
		{6, "", "invalid_type", ""},
	}
	if len(b.Rejected) != len(want) {
		t.Fatalf("rejected %d, want %d: %s", len(b.Rejected), len(want), r.raw)
	}
	qs := s.quarantined(t, "acme")
	if len(qs) != len(want) {
		t.Fatalf("quarantined %d, want %d", len(qs), len(want))
	}
	for i, w := range want {
		got := b.Rejected[i]
		if got.Index == nil || *got.Index != w.index || got.MessageID != w.messageID || got.Code != w.code || got.Field != w.field || got.Message == "" {
			t.Errorf("rejected[%d] = %+v, want %+v", i, got, w)
		}
		q := qs[i]
		if q.MessageID != w.messageID || q.Code != w.code || string(q.Raw) != msgs[w.index] || q.Source != "web" || q.Workspace != "acme" {
			t.Errorf("quarantined[%d] = %+v (raw %s), want %+v with raw %s", i, q, q.Raw, w, msgs[w.index])
		}
		if q.Reason != got.Message {
			t.Errorf("quarantined[%d] reason %q, want the response's %q", i, q.Reason, got.Message)
		}
	}
	evs := s.events(t)
	if len(evs) != 2 || evs[0].MessageID != "ok-1" || evs[1].MessageID != "ok-2" {
		t.Errorf("stored %v, want ok-1 then ok-2", evs)
	}
}

func TestAllInvalidBatch(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	msgs := []string{
		`{"type":"group","messageId":"bad-1","userId":"u1"}`,
		`{"type":"alias","messageId":"bad-2","userId":"u1"}`,
	}
	r := s.post(t, "/v1/batch", keyWeb, batchOf(msgs...))
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.status, r.raw)
	}
	b := decodeBatch(t, r)
	if *b.Success || *b.Accepted != 0 || b.Code == "" || b.Message == "" || len(b.Rejected) != 2 {
		t.Fatalf("response %s, want success false, a code and message, 0 accepted and 2 rejected", r.raw)
	}
	if b.Rejected[0].Field != "groupId" || b.Rejected[1].Field != "previousId" {
		t.Errorf("rejected %+v, want groupId then previousId", b.Rejected)
	}
	if n := len(s.events(t)); n != 0 {
		t.Errorf("stored %d events, want none", n)
	}
	qs := s.quarantined(t, "acme")
	if len(qs) != 2 || qs[0].MessageID != "bad-1" || qs[1].MessageID != "bad-2" {
		t.Errorf("quarantined %+v, want bad-1 and bad-2", qs)
	}
}

func TestEmptyBatch(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	r := s.post(t, "/v1/batch", keyWeb, `{"batch":[]}`)
	b := decodeBatch(t, r)
	if r.status != http.StatusOK || !*b.Success || *b.Accepted != 0 || len(b.Rejected) != 0 {
		t.Fatalf("status %d: %s, want 200 with nothing accepted", r.status, r.raw)
	}
	s.assertEmpty(t)
}

func TestMalformedJSON(t *testing.T) {
	tests := []struct {
		name, path, auth, body string
		code, field            string
		quarantined            bool
	}{
		{"single, authenticated", "/v1/group", basic(keyWeb, true), `{"userId":"u1",`, "invalid_json", "", true},
		{"single, syntax error", "/v1/track", basic(keyWeb, true), `{"userId":"u1" "event":"x"}`, "invalid_json", "", true},
		{"single, empty body", "/v1/identify", basic(keyWeb, true), ``, "invalid_json", "", true},
		{"single, trailing data", "/v1/identify", basic(keyWeb, true), `{"userId":"u1"} {}`, "invalid_json", "", true},
		{"batch, authenticated", "/v1/batch", basic(keyWeb, true), `{"batch":[{"type":"group"}],}`, "invalid_json", "", true},
		{"batch, broken after its array", "/v1/batch", basic(keyWeb, true), `{"batch":[{"type":"group",}] "context":{}}`, "invalid_json", "", true},
		{"batch, truncated", "/v1/import", basic(keyWeb, true), `{"batch":[`, "invalid_json", "", true},
		{"batch without batch", "/v1/batch", basic(keyWeb, true), `{"messages":[]}`, "missing_field", "batch", true},
		{"batch not an array", "/v1/batch", basic(keyWeb, true), `{"batch":{}}`, "invalid_type", "batch", true},
		{"batch body an array", "/b", basic(keyWeb, true), `[{"type":"group"}]`, "invalid_type", "", true},
		{"single, key unknowable", "/v1/group", "", `{"writeKey":"wk_web",`, "invalid_json", "", false},
		{"batch, key unknowable", "/v1/batch", "", `{"writeKey":"wk_web","batch":[`, "invalid_json", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, config.DefaultLimits)
			r := s.do(t, request{path: tt.path, auth: tt.auth, body: []byte(tt.body)})
			assertError(t, r, http.StatusBadRequest, tt.code, tt.field)
			if n := len(s.events(t)); n != 0 {
				t.Errorf("stored %d events", n)
			}
			qs := s.allQuarantined(t)
			if !tt.quarantined {
				if len(qs) != 0 {
					t.Errorf("quarantined %d without knowing the source", len(qs))
				}
				return
			}
			if len(qs) != 1 || qs[0].Workspace != "acme" || qs[0].Source != "web" || qs[0].Code != tt.code || string(qs[0].Raw) != tt.body {
				t.Fatalf("quarantined %+v, want the body under acme/web with code %s", qs, tt.code)
			}
		})
	}
}

// A repeated messageId is acknowledged (an SDK retrying must not be told
// to retry again) and stored once; the answer says it was a duplicate, so
// that a client can tell, and accepted counts only what was stored.
func TestDuplicateMessageID(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	assertOK(t, s.post(t, "/v1/group", keyWeb, groupBody("dup")))
	r := s.post(t, "/v1/group", keyWeb, groupBody("dup"))
	if r.status != http.StatusOK || string(bytes.TrimSpace(r.raw)) != `{"success":true,"accepted":0,"duplicates":1}` {
		t.Errorf("repeated single call: status %d: %s; want 200 saying it was a duplicate", r.status, r.raw)
	}
	// Retried batches and duplicates inside one batch are acknowledged too.
	for i, want := range []struct{ accepted, duplicates int }{{1, 2}, {0, 3}} {
		r := s.post(t, "/v1/batch", keyWeb, batchOf(typed("group", groupBody("dup")), typed("group", groupBody("dup-2")), typed("group", groupBody("dup-2"))))
		b := decodeBatch(t, r)
		if r.status != http.StatusOK || !*b.Success || *b.Accepted != want.accepted || b.Duplicates == nil || *b.Duplicates != want.duplicates {
			t.Fatalf("batch %d: status %d: %s; want accepted %d, duplicates %d", i, r.status, r.raw, want.accepted, want.duplicates)
		}
	}
	// The same id from another source is another message.
	assertOK(t, s.post(t, "/v1/group", keyMobile, groupBody("dup")))
	evs := s.events(t)
	count := map[string]int{}
	for _, e := range evs {
		count[e.Source+"/"+e.MessageID]++
	}
	if len(evs) != 3 || count["web/dup"] != 1 || count["web/dup-2"] != 1 || count["mobile/dup"] != 1 {
		t.Errorf("stored %v, want web/dup, web/dup-2 and mobile/dup once each", count)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/group", strings.NewReader(groupBody(fmt.Sprintf("c%d", i))))
			req.SetBasicAuth(keyWeb, "")
			resp, err := s.client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("c%d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(s.events(t)); got != n {
		t.Errorf("stored %d events, want %d", got, n)
	}
}

// --- methods and CORS -------------------------------------------------------

func TestMethodNotAllowed(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/v1/track"},
		{http.MethodGet, "/v1/t"},
		{http.MethodPut, "/v1/group"},
		{http.MethodDelete, "/v1/batch"},
		{http.MethodGet, "/v1/import"},
		{http.MethodGet, "/b"},
		{http.MethodPatch, "/v1/b"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := s.do(t, request{method: tt.method, path: tt.path, auth: basic(keyWeb, true), body: []byte(groupBody("m1"))})
			assertError(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
			if allow := r.header.Get("Allow"); !strings.Contains(allow, "POST") {
				t.Errorf("Allow = %q, want POST in it", allow)
			}
		})
	}
	r := s.do(t, request{path: "/v1/projects/" + keyWeb + "/settings"})
	assertError(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("settings Allow = %q, want GET in it", allow)
	}
	s.assertEmpty(t)
}

func TestCORS(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	const origin = "https://shop.example.com"

	t.Run("POST from a page", func(t *testing.T) {
		r := s.do(t, request{path: "/v1/t", auth: basic(keyWeb, true), body: []byte(`{"userId":"u","event":"x"}`),
			headers: map[string]string{"Origin": origin, "Content-Type": "text/plain"}})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Allow-Origin = %q, want %q", got, origin)
		}
		if got := r.header.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("Allow-Credentials = %q, want true", got)
		}
		if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary = %q, want Origin", r.header.Values("Vary"))
		}
	})
	t.Run("POST without Origin", func(t *testing.T) {
		r := s.post(t, "/v1/batch", keyWeb, batchOf(typed("group", groupBody("m2"))))
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("Allow-Origin = %q, want *", got)
		}
	})
	t.Run("errors carry CORS headers", func(t *testing.T) {
		r := s.do(t, request{path: "/v1/b", body: []byte(`{"batch":[]}`), headers: map[string]string{"Origin": origin}})
		assertError(t, r, http.StatusUnauthorized, "unauthorized", "")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Allow-Origin on a 401 = %q, want %q", got, origin)
		}
	})

	for _, tt := range []struct {
		path, requestHeaders string
	}{
		{"/v1/t", "authorization,content-type"},
		{"/v1/track", "Authorization, Content-Type"},
		{"/v1/batch", "authorization,content-type,content-encoding"},
		{"/b", ""},
		{"/v1/b", "content-type"},
		{"/v1/projects/" + keyWeb + "/settings", ""},
	} {
		t.Run("preflight "+tt.path+" "+tt.requestHeaders, func(t *testing.T) {
			hdr := map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"}
			if tt.requestHeaders != "" {
				hdr["Access-Control-Request-Headers"] = tt.requestHeaders
			}
			r := s.do(t, request{method: http.MethodOptions, path: tt.path, headers: hdr})
			if r.status != http.StatusNoContent && r.status != http.StatusOK {
				t.Fatalf("preflight status %d: %s", r.status, r.raw)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Allow-Origin = %q, want %q", got, origin)
			}
			if got := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
				t.Errorf("Allow-Methods = %q, want POST", got)
			}
			allowed := map[string]bool{}
			for _, h := range strings.Split(r.header.Get("Access-Control-Allow-Headers"), ",") {
				allowed[strings.ToLower(strings.TrimSpace(h))] = true
			}
			want := []string{"authorization"}
			if tt.requestHeaders != "" {
				want = nil
				for _, h := range strings.Split(tt.requestHeaders, ",") {
					want = append(want, strings.ToLower(strings.TrimSpace(h)))
				}
			} else {
				want = append(want, "content-type", "content-encoding")
			}
			for _, h := range want {
				if !allowed[h] {
					t.Errorf("Allow-Headers = %q, want %s in it", r.header.Get("Access-Control-Allow-Headers"), h)
				}
			}
		})
	}
	// The preflights stored nothing.
	if n := len(s.events(t)); n != 2 {
		t.Errorf("stored %d events, want the 2 POSTed", n)
	}
}

// --- settings ---------------------------------------------------------------

func TestSettings(t *testing.T) {
	s := newServer(t, config.DefaultLimits)
	host := strings.TrimPrefix(s.URL, "http://")
	tests := []struct {
		name           string
		headers        map[string]string
		protocol, host string
	}{
		{"from the request", nil, "http", host},
		{"behind a proxy", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "roster.example.com"}, "https", "roster.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{method: http.MethodGet, path: "/v1/projects/" + keyWeb + "/settings", headers: tt.headers})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			assertSettings(t, r, keyWeb, tt.protocol, tt.host+"/v1")
		})
	}

	t.Run("public URL", func(t *testing.T) {
		s := newServerWith(t, ingest.Options{Limits: config.DefaultLimits, PublicURL: "https://track.example.com/roster/"})
		r := s.do(t, request{method: http.MethodGet, path: "/v1/projects/" + keyBeta + "/settings"})
		assertSettings(t, r, keyBeta, "https", "track.example.com/roster/v1")
	})
	t.Run("HEAD", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodHead, s.URL+"/v1/projects/"+keyWeb+"/settings", nil)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD status %d", resp.StatusCode)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		r := s.do(t, request{method: http.MethodGet, path: "/v1/projects/wk_nope/settings"})
		assertError(t, r, http.StatusNotFound, "not_found", "writeKey")
	})
	t.Run("escaped key", func(t *testing.T) {
		r := s.do(t, request{method: http.MethodGet, path: "/v1/projects/" + url.PathEscape("wk web") + "/settings"})
		assertError(t, r, http.StatusNotFound, "not_found", "writeKey")
	})
}

func assertSettings(t *testing.T, r response, key, protocol, apiHost string) {
	t.Helper()
	assertJSONType(t, r)
	integ, _ := r.body["integrations"].(map[string]any)
	if len(integ) != 1 {
		t.Errorf("integrations = %v, want only Segment.io", integ)
	}
	seg, _ := integ["Segment.io"].(map[string]any)
	if seg["apiKey"] != key || seg["apiHost"] != apiHost || seg["protocol"] != protocol {
		t.Errorf("Segment.io = %v, want apiKey %s apiHost %s protocol %s", seg, key, apiHost, protocol)
	}
	metrics, _ := r.body["metrics"].(map[string]any)
	if rate, ok := metrics["sampleRate"].(float64); !ok || rate != 0 {
		t.Errorf("metrics = %v, want sampleRate 0", metrics)
	}
	if plugins, ok := r.body["remotePlugins"].([]any); !ok || len(plugins) != 0 {
		t.Errorf("remotePlugins = %v, want []", r.body["remotePlugins"])
	}
}

// --- the log failing ---------------------------------------------------------

// failingLog is an Appender that always fails, counting its calls.
type failingLog struct {
	calls atomic.Int64
}

func (f *failingLog) Append(context.Context, []store.Event, []store.Quarantined) error {
	f.calls.Add(1)
	return errors.New("disk on fire")
}

func TestAppendFailure(t *testing.T) {
	fail := &failingLog{}
	s := newServerWith(t, ingest.Options{Log: fail, Limits: config.DefaultLimits})
	tests := []struct{ name, path, body string }{
		{"valid single", "/v1/group", groupBody("m1")},
		{"invalid single (quarantine)", "/v1/group", `{"messageId":"m1","userId":"u1"}`},
		{"malformed single (quarantine)", "/v1/track", `{"userId":`},
		{"batch", "/v1/batch", batchOf(typed("group", groupBody("m1")), `{"type":"group","userId":"u1"}`)},
		{"all-invalid batch", "/b", batchOf(`{"type":"group","userId":"u1"}`)},
		{"malformed batch", "/v1/batch", `{"batch":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fail.calls.Load()
			r := s.post(t, tt.path, keyWeb, tt.body)
			assertError(t, r, http.StatusServiceUnavailable, "unavailable", "")
			if ra := r.header.Get("Retry-After"); ra == "" {
				t.Error("no Retry-After on a 503")
			}
			if fail.calls.Load() != before+1 {
				t.Errorf("Append called %d times, want once", fail.calls.Load()-before)
			}
		})
	}
	s.assertEmpty(t) // the real store behind was never written
}

// --- options ----------------------------------------------------------------

func TestZeroOptionsHaveDefaults(t *testing.T) {
	// Only the dependencies: no limits, id generator or logger given.
	st, err := pebble.Open(context.Background(), t.TempDir(), store.Options{}, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	ingest.New(ingest.Options{Log: st, Sources: auth.NewRegistry(sources, nil)}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := &testServer{URL: srv.URL, store: st, client: srv.Client()}

	// A call without messageId gets one generated.
	assertOK(t, s.post(t, "/v1/group", keyWeb, `{"userId":"u1","groupId":"g1"}`))
	evs := s.events(t)
	if len(evs) != 1 || evs[0].MessageID == "" {
		t.Fatalf("stored %+v, want one event with a generated messageId", evs)
	}
	// Segment's limits apply.
	assertOK(t, s.post(t, "/v1/group", keyWeb, padded(t, "m-32k", config.DefaultLimits.MaxMessageBytes)))
	assertError(t, s.post(t, "/v1/group", keyWeb, padded(t, "m-big", config.DefaultLimits.MaxMessageBytes+1)), 413, "too_large", "")

	// A failing log is reported without a logger configured.
	failing := http.NewServeMux()
	ingest.New(ingest.Options{Log: &failingLog{}, Sources: auth.NewRegistry(sources, nil)}).Register(failing)
	fsrv := httptest.NewServer(failing)
	t.Cleanup(fsrv.Close)
	f := &testServer{URL: fsrv.URL, client: fsrv.Client()}
	assertError(t, f.post(t, "/v1/group", keyWeb, groupBody("m1")), 503, "unavailable", "")
}

// --- hostile input ----------------------------------------------------------

func TestHostileInput(t *testing.T) {
	limits := config.DefaultLimits
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tenMB := `{"userId":"u1","event":"x","properties":{"s":"` + strings.Repeat("a", 10<<20) + `"}}`
	// Messages of an intact batch that cannot be parsed: broken_test.go.
	tests := []struct {
		name    string
		path    string
		body    string
		chunked bool
		status  int
		code    string
		// quarantined says the body is kept (a 400 for an authenticated
		// request); a 413 is never read whole, so never kept.
		quarantined bool
	}{
		{"100k [ as a single call", "/v1/track", strings.Repeat("[", 100_000), false, 413, "too_large", false},
		{"100k [ in a batch", "/v1/batch", `{"batch":` + strings.Repeat("[", 100_000), false, 400, "invalid_json", true},
		{"15k [] nested in properties", "/v1/track", `{"userId":"u1","event":"x","properties":{"a":` + deep(15_000) + `}}`, false, 400, "invalid_json", true},
		{"invalid UTF-8 in a value", "/v1/track", "{\"userId\":\"u1\",\"event\":\"caf\xe9\"}", false, 400, "invalid_json", true},
		{"invalid UTF-8 in a name", "/v1/track", "{\"userId\":\"u1\",\"event\":\"x\",\"\xff\xfe\":1}", false, 400, "invalid_json", true},
		{"lone surrogate escape", "/v1/track", `{"userId":"u1","event":"\ud800"}`, false, 400, "invalid_json", true},
		{"raw control character", "/v1/track", "{\"userId\":\"u1\",\"event\":\"a\x01b\"}", false, 400, "invalid_json", true},
		{"duplicate keys", "/v1/group", `{"userId":"u1","groupId":"g1","groupId":"g2"}`, false, 400, "invalid_json", true},
		{"duplicate keys in traits", "/v1/group", `{"userId":"u1","groupId":"g1","traits":{"plan":"a","plan":"b"}}`, false, 400, "invalid_json", true},
		{"duplicate batch member", "/v1/batch", `{"batch":[],"batch":[` + typed("group", groupBody("m1")) + `]}`, false, 400, "invalid_json", true},
		{"NaN", "/v1/track", `{"userId":"u1","event":"x","properties":{"v":NaN}}`, false, 400, "invalid_json", true},
		{"Infinity", "/v1/track", `{"userId":"u1","event":"x","properties":{"v":-Infinity}}`, false, 400, "invalid_json", true},
		{"huge number as userId", "/v1/identify", `{"userId":1e999}`, false, 400, "invalid_value", true},
		{"2000-digit userId", "/v1/identify", `{"userId":` + strings.Repeat("9", 2000) + `}`, false, 400, "invalid_value", true},
		{"10 MB string", "/v1/track", tenMB, false, 413, "too_large", false},
		{"10 MB string, chunked", "/v1/track", tenMB, true, 413, "too_large", false},
		{"10 MB string in a batch", "/v1/batch", `{"batch":[` + typed("track", tenMB) + `]}`, false, 413, "too_large", false},
		{"10 MB string in a batch, chunked", "/b", `{"batch":[` + typed("track", tenMB) + `]}`, true, 413, "too_large", false},
	}
	s := newServer(t, limits)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.quarantined(t, "acme"))
			start := time.Now()
			r := s.do(t, request{path: tt.path, auth: basic(keyWeb, true), body: []byte(tt.body), chunked: tt.chunked})
			if r.status != tt.status || r.body["code"] != tt.code || r.body["success"] != false || r.body["message"] == "" {
				t.Fatalf("status %d: %.300s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			after := s.quarantined(t, "acme")
			if tt.quarantined {
				if len(after) != before+1 || string(after[len(after)-1].Raw) != tt.body {
					t.Errorf("quarantine grew by %d, want the body kept once", len(after)-before)
				}
			} else if len(after) != before {
				t.Errorf("quarantine grew by %d, want nothing kept", len(after)-before)
			}
			s.assertAlive(t)
		})
	}
	// Only the liveness calls were stored.
	for _, e := range s.events(t) {
		if !strings.HasPrefix(e.MessageID, "alive-") {
			t.Errorf("stored %.300s from hostile input", e.Body)
		}
	}
}

func TestHugeNumbersKeptVerbatim(t *testing.T) {
	// Numbers that fit no machine type are still valid JSON: unknown fields
	// and properties are kept as sent, and a big integer id is its digits.
	s := newServer(t, config.DefaultLimits)
	digits := strings.Repeat("7", 400)
	body := `{"messageId":"m1","userId":` + digits + `,"event":"x","properties":{"big":1e99999,"neg":-` + digits + `.5e-99999}}`
	assertOK(t, s.post(t, "/v1/track", keyWeb, body))
	e := s.event(t, "m1")
	if e == nil {
		t.Fatal("m1 not stored")
	}
	if !bytes.Contains(e.Body, []byte(`"userId":"`+digits+`"`)) || !bytes.Contains(e.Body, []byte(`"big":1e99999`)) || !bytes.Contains(e.Body, []byte(`"neg":-`+digits+`.5e-99999`)) {
		t.Errorf("stored %s, want the numbers verbatim and userId as a string", e.Body)
	}
}

// A bad batch whose key is only in its body is still attributed to that
// source: 400 with the reason, and quarantined, not a 401.
func TestBadBatchWithKeyInBody(t *testing.T) {
	for _, body := range []string{
		`{"writeKey":"wk_beta","batch":{}}`,
		`{"writeKey":"wk_beta"}`,
		`{"writeKey":"wk_beta","batch":[],"context":"x"}`,
	} {
		s := newServer(t, config.DefaultLimits)
		r := s.post(t, "/v1/batch", "", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", body, r.status, r.raw)
			continue
		}
		qs := s.quarantined(t, "beta")
		if len(qs) != 1 || qs[0].Source != "site" || string(qs[0].Raw) != body {
			t.Errorf("%s: quarantine of beta = %+v, want the body under source site", body, qs)
		}
	}
}
