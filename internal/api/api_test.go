package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/api"
	"roster/internal/auth"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

const (
	tokAcme = "tok_acme"
	tokBeta = "tok_beta"
	keyWeb  = "wk_web" // a write key of acme, which must not read
)

// fixture serves the read API over a real Pebble store holding nEvents
// events and nQuarantined quarantined messages in workspace acme, and one
// of each in beta.
type fixture struct {
	url    string
	client *http.Client
	store  *pebble.Store
}

func newFixture(t *testing.T, nEvents, nQuarantined int) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := pebble.Open(ctx, t.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// One event per Append, so that the sequence follows i.
	for i := range nEvents {
		if err := st.Append(ctx, []store.Event{event("acme", fmt.Sprintf("e%d", i), at.Add(time.Duration(i)*time.Second))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nQuarantined {
		q := store.Quarantined{Workspace: "acme", Source: "web", ReceivedAt: at, MessageID: fmt.Sprintf("q%d", i),
			Code: "missing_field", Reason: "groupId: is required for group calls", Raw: []byte(fmt.Sprintf(`{"messageId":"q%d",`, i))}
		if err := st.Append(ctx, nil, []store.Quarantined{q}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(ctx, []store.Event{event("beta", "beta-e", at)},
		[]store.Quarantined{{Workspace: "beta", Source: "site", ReceivedAt: at, MessageID: "beta-q", Code: "invalid_json", Reason: "bad", Raw: []byte("{")}}); err != nil {
		t.Fatal(err)
	}
	reg := auth.NewRegistry(
		[]store.Source{{Workspace: "acme", Name: "web", WriteKey: keyWeb}},
		[]store.AccessToken{
			{Workspace: "acme", Name: "ops", Hash: auth.HashToken(tokAcme)},
			{Workspace: "beta", Name: "ops", Hash: auth.HashToken(tokBeta)},
		})
	mux := http.NewServeMux()
	api.New(st, reg).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, client: srv.Client(), store: st}
}

func event(ws, id string, ts time.Time) store.Event {
	return store.Event{Workspace: ws, Source: "web", MessageID: id, Type: "group",
		ReceivedAt: ts.Add(time.Second), Timestamp: ts, UserID: "u1", GroupID: "g1",
		Body: []byte(fmt.Sprintf(`{"type":"group","messageId":%q,"userId":"u1","groupId":"g1"}`, id))}
}

func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"))
}

type listing struct {
	Data []struct {
		Seq        int64           `json:"seq"`
		ID         int64           `json:"id"`
		Source     string          `json:"source"`
		MessageID  string          `json:"messageId"`
		Type       string          `json:"type"`
		ReceivedAt time.Time       `json:"receivedAt"`
		Code       string          `json:"code"`
		Reason     string          `json:"reason"`
		Raw        string          `json:"raw"`
		Message    json.RawMessage `json:"message"`
	} `json:"data"`
	Cursor struct {
		URL     string `json:"url"`
		HasMore bool   `json:"has_more"`
		Next    string `json:"next"`
	} `json:"cursor"`
}

type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (f *fixture) get(t *testing.T, path, authorization string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func (f *fixture) list(t *testing.T, path, authorization string) listing {
	t.Helper()
	status, hdr, body := f.get(t, path, authorization)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var l listing
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return l
}

// assertError checks {"error":{"code","message"}} and nothing else.
func assertError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %s", status, wantStatus, body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("body %s, want only an error member", body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.Code != wantCode || e.Error.Message == "" {
		t.Errorf("error %+v, want code %s and a message", *e.Error, wantCode)
	}
}

func TestAuthorization(t *testing.T) {
	f := newFixture(t, 3, 1)
	tests := []struct {
		name, authorization string
		status              int
		code                string
	}{
		{"no credentials", "", 401, "authentication_error"},
		{"a write key as the token", basic(keyWeb), 401, "authentication_error"},
		{"a write key as Bearer", "Bearer " + keyWeb, 401, "authentication_error"},
		{"an unknown token", basic("tok_nope"), 401, "authentication_error"},
		{"a malformed header", "Basic %%%", 401, "authentication_error"},
		{"the token as the password", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+tokAcme)), 401, "authentication_error"},
		{"a token of another workspace", basic(tokBeta), 403, "forbidden"},
		{"a token of another workspace as Bearer", "Bearer " + tokBeta, 403, "forbidden"},
		{"Basic with the token", basic(tokAcme), 200, ""},
		{"Basic without a colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(tokAcme)), 200, ""},
		{"Bearer", "Bearer " + tokAcme, 200, ""},
	}
	for _, path := range []string{"/v1/workspaces/acme/events", "/v1/workspaces/acme/quarantine"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				status, hdr, body := f.get(t, path, tt.authorization)
				if tt.status == http.StatusOK {
					if status != http.StatusOK {
						t.Fatalf("status %d: %s", status, body)
					}
					return
				}
				assertError(t, status, body, tt.status, tt.code)
				if tt.authorization == "" && hdr.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate on a 401 without credentials")
				}
				if strings.Contains(string(body), `"e0"`) || strings.Contains(string(body), `"q0"`) {
					t.Errorf("a refused request got data: %s", body)
				}
			})
		}
	}
}

func TestEventsPaging(t *testing.T) {
	const n = 7
	f := newFixture(t, n, 0)
	var got []string
	var seqs []int64
	path := "/v1/workspaces/acme/events?limit=3"
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		l := f.list(t, path, basic(tokAcme))
		if l.Cursor.URL != "/v1/workspaces/acme/events" {
			t.Errorf("cursor url %q", l.Cursor.URL)
		}
		if len(l.Data) > 3 {
			t.Fatalf("page of %d, limit 3", len(l.Data))
		}
		for _, d := range l.Data {
			got = append(got, d.MessageID)
			seqs = append(seqs, d.Seq)
			if d.Type != "group" || d.Source != "web" || d.ReceivedAt.IsZero() {
				t.Errorf("event %+v lacks its fields", d)
			}
			var msg map[string]any
			if err := json.Unmarshal(d.Message, &msg); err != nil || msg["messageId"] != d.MessageID {
				t.Errorf("message %s is not the stored body of %s", d.Message, d.MessageID)
			}
		}
		if !l.Cursor.HasMore {
			if l.Cursor.Next != "" {
				t.Errorf("last page has next %q", l.Cursor.Next)
			}
			break
		}
		if want := strconv.FormatInt(l.Data[len(l.Data)-1].Seq, 10); l.Cursor.Next != want {
			t.Errorf("next = %q, want the last seq %s", l.Cursor.Next, want)
		}
		path = "/v1/workspaces/acme/events?limit=3&next=" + l.Cursor.Next
	}
	want := []string{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged %v, want newest first %v", got, want)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] >= seqs[i-1] {
			t.Errorf("seqs %v are not decreasing", seqs)
		}
	}

	// The default page holds them all; beta's event is not among them.
	l := f.list(t, "/v1/workspaces/acme/events", basic(tokAcme))
	if len(l.Data) != n || l.Cursor.HasMore {
		t.Errorf("default page: %d events, has_more %v; want %d, false", len(l.Data), l.Cursor.HasMore, n)
	}
	l = f.list(t, "/v1/workspaces/beta/events", "Bearer "+tokBeta)
	if len(l.Data) != 1 || l.Data[0].MessageID != "beta-e" {
		t.Errorf("beta sees %+v, want only beta-e", l.Data)
	}
	// A limit equal to the count has no next page.
	l = f.list(t, fmt.Sprintf("/v1/workspaces/acme/events?limit=%d", n), basic(tokAcme))
	if len(l.Data) != n || l.Cursor.HasMore || l.Cursor.Next != "" {
		t.Errorf("limit=%d: %d events, cursor %+v", n, len(l.Data), l.Cursor)
	}
}

func TestQuarantinePaging(t *testing.T) {
	f := newFixture(t, 1, 5)
	var got []string
	path := "/v1/workspaces/acme/quarantine?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		l := f.list(t, path, "Bearer "+tokAcme)
		for _, d := range l.Data {
			got = append(got, d.MessageID)
			if d.Code != "missing_field" || d.Reason == "" || d.Raw != fmt.Sprintf(`{"messageId":%q,`, d.MessageID) || d.ID == 0 {
				t.Errorf("quarantined %+v lacks its fields", d)
			}
		}
		if !l.Cursor.HasMore {
			break
		}
		path = "/v1/workspaces/acme/quarantine?limit=2&next=" + l.Cursor.Next
	}
	if want := "[q4 q3 q2 q1 q0]"; fmt.Sprint(got) != want {
		t.Errorf("paged %v, want %s", got, want)
	}
	l := f.list(t, "/v1/workspaces/beta/quarantine", basic(tokBeta))
	if len(l.Data) != 1 || l.Data[0].MessageID != "beta-q" || l.Data[0].Raw != "{" {
		t.Errorf("beta's quarantine %+v, want only beta-q", l.Data)
	}
}

func TestEmptyWorkspace(t *testing.T) {
	f := newFixture(t, 0, 0)
	for _, path := range []string{"/v1/workspaces/acme/events", "/v1/workspaces/acme/quarantine"} {
		status, _, body := f.get(t, path, basic(tokAcme))
		if status != http.StatusOK || !strings.Contains(string(body), `"data":[]`) {
			t.Errorf("GET %s: %d %s, want 200 with an empty data list", path, status, body)
		}
	}
}

func TestBadPaging(t *testing.T) {
	f := newFixture(t, 2, 2)
	for _, list := range []string{"events", "quarantine"} {
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=201", "limit=1.5", "limit=", "next=abc", "next=0", "next=-5", "limit=2&next=x"} {
			t.Run(list+" "+q, func(t *testing.T) {
				status, _, body := f.get(t, "/v1/workspaces/acme/"+list+"?"+q, basic(tokAcme))
				if q == "limit=" { // empty means the default
					if status != http.StatusOK {
						t.Errorf("status %d: %s", status, body)
					}
					return
				}
				assertError(t, status, body, http.StatusBadRequest, "invalid_request")
			})
		}
	}
	// 200 is the largest page.
	if status, _, body := f.get(t, "/v1/workspaces/acme/events?limit=200", basic(tokAcme)); status != http.StatusOK {
		t.Errorf("limit=200: %d %s", status, body)
	}
}

func TestAuthorizationBeforeValidation(t *testing.T) {
	// A bad query from someone without access says nothing about the data.
	f := newFixture(t, 1, 0)
	status, _, body := f.get(t, "/v1/workspaces/acme/events?limit=abc", "")
	assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
	status, _, body = f.get(t, "/v1/workspaces/acme/events?limit=abc", basic(tokBeta))
	assertError(t, status, body, http.StatusForbidden, "forbidden")
}

func TestOnlyGET(t *testing.T) {
	f := newFixture(t, 1, 0)
	req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/workspaces/acme/events", nil)
	req.Header.Set("Authorization", basic(tokAcme))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST events: status %d, want 405", resp.StatusCode)
	}
}
