package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/destination/webhook"
	"roster/internal/server"
)

// recorder is a local stand-in for a provider that keeps what it got.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	path   string
	header http.Header
	body   []byte
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.URL.Path, req.Header.Clone(), body})
		r.mu.Unlock()
		io.WriteString(w, `{"status":1}`)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the requests once there are n of them.
func (r *recorder) wait(t *testing.T, n int) []recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]recorded(nil), r.reqs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d requests, want %d", r.URL, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// What DESIGN.md's config promises: a webhook and Mixpanel configured in
// the YAML get a group call sent to Roster, each in its own shape.
func TestGroupCallReachesConfiguredDestinations(t *testing.T) {
	hook, mixpanel := newRecorder(t), newRecorder(t)
	cfg := writeConfig(t, fmt.Sprintf(`
workspaces:
  - id: default
    sources:      [{name: web, writeKey: wk_d}]
    accessTokens: [{name: ops, token: tok_d}]
    destinations:
      - {name: Webhook, type: webhook, enabled: true, settings: {url: "%s/hook", secret: s3cret}}
      - {name: Mixpanel, type: mixpanel, types: [group, identify], settings: {projectToken: mp_token, groupKey: company, endpoint: "%s"}}
      - {name: Off, type: webhook, enabled: false, settings: {url: "%s/off"}}
`, hook.URL, mixpanel.URL, hook.URL))
	r := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg})

	code, body := r.do(t, http.MethodPost, "/v1/group", "wk_d", `{"messageId":"g1","userId":"u1","groupId":"acme","traits":{"name":"Acme Inc","plan":"enterprise"}}`)
	if code != http.StatusOK {
		t.Fatalf("group call: %d %s", code, body)
	}
	// Mixpanel does not take tracks here (types), the webhook does; and
	// an integrations object can leave the webhook out.
	r.do(t, http.MethodPost, "/v1/track", "wk_d", `{"messageId":"t1","userId":"u1","event":"Signed Up"}`)
	r.do(t, http.MethodPost, "/v1/track", "wk_d", `{"messageId":"t2","userId":"u1","event":"Quiet","integrations":{"Webhook":false}}`)

	// Sends run concurrently, so the two may arrive in either order.
	byID := map[string]recorded{}
	for _, rq := range hook.wait(t, 2) {
		var msg struct{ MessageID string }
		if err := json.Unmarshal(rq.body, &msg); err != nil || rq.path != "/hook" {
			t.Errorf("webhook got %s %s", rq.path, rq.body)
		}
		byID[msg.MessageID] = rq
	}
	g, ok := byID["g1"]
	var msg struct{ GroupID string }
	if !ok || json.Unmarshal(g.body, &msg) != nil || msg.GroupID != "acme" {
		t.Errorf("webhook got %v, want the group call", byID)
	}
	if !webhook.Verify("s3cret", g.body, g.header.Get("X-Signature-256")) {
		t.Errorf("webhook signature %q does not verify", g.header.Get("X-Signature-256"))
	}
	if _, ok := byID["t1"]; !ok {
		t.Errorf("webhook did not get t1: %v", byID)
	}

	mp := mixpanel.wait(t, 2)
	paths := map[string]string{}
	for _, rq := range mp {
		paths[rq.path] = string(rq.body)
	}
	if g := paths["/groups"]; !strings.Contains(g, `"$group_key":"company"`) || !strings.Contains(g, `"$group_id":"acme"`) || !strings.Contains(g, `"$name":"Acme Inc"`) {
		t.Errorf("Mixpanel /groups got %s", g)
	}
	if e := paths["/engage"]; !strings.Contains(e, `"$union":{"company":["acme"]}`) || !strings.Contains(e, `"$distinct_id":"u1"`) {
		t.Errorf("Mixpanel /engage got %s", e)
	}

	// The counts, through the route the CLI reads.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := r.do(t, http.MethodGet, "/v1/workspaces/default/destinations", "tok_d", "")
		var st struct {
			Data []struct {
				Name              string
				Delivered, Behind int64
				Dead              int
			}
		}
		if err := json.Unmarshal(body, &st); err != nil || len(st.Data) != 2 {
			t.Fatalf("destinations: %s", body)
		}
		if st.Data[0].Name == "Webhook" && st.Data[0].Delivered == 2 && st.Data[1].Delivered == 1 && st.Data[0].Behind == 0 && st.Data[1].Behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destinations: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(mixpanel.wait(t, 0)); n != 2 {
		t.Errorf("Mixpanel got %d requests, want 2 (no track)", n)
	}
	for _, rq := range hook.wait(t, 0) {
		if rq.path == "/off" || strings.Contains(string(rq.body), `"t2"`) {
			t.Errorf("webhook got %s %s", rq.path, rq.body)
		}
	}
}

func TestInvalidDestinationStopsTheServer(t *testing.T) {
	for _, tc := range []struct{ dest, want string }{
		{`{name: Mixpanel, type: mixpanel, settings: {groupKey: company}}`, "workspaces[0].destinations[0].settings.projectToken"},
		{`{name: Hook, type: webhook, settings: {url: "not a url"}}`, "workspaces[0].destinations[0].settings.url"},
		{`{name: Hook, type: webhok, settings: {}}`, "workspaces[0].destinations[0].type"},
		{`{name: Hook, type: webhook, enabled: false, settings: {}}`, "workspaces[0].destinations[0].settings.url"},
	} {
		cfg := writeConfig(t, "workspaces: [{id: default, destinations: ["+tc.dest+"]}]")
		_, err := server.New(context.Background(), server.Options{DataDir: t.TempDir(), ConfigPath: cfg})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: server.New error = %v, want it to name %s", tc.dest, err, tc.want)
		}
	}
}

// A provider that refuses an event: the dead letter is listed with the
// provider's answer and, once the provider is fixed, re-driven.
func TestDeadLettersThroughTheRoutes(t *testing.T) {
	var mu sync.Mutex
	refuse := true
	got := 0
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"no such property"}`)
			return
		}
		got++
	}))
	defer provider.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
workspaces:
  - id: default
    sources:      [{name: web, writeKey: wk_d}]
    accessTokens: [{name: ops, token: tok_d}]
    destinations: [{name: Hook, type: webhook, settings: {url: "%s"}}]
`, provider.URL))
	r := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg})
	if code, body := r.do(t, http.MethodPost, "/v1/group", "wk_d", groupCall); code != http.StatusOK {
		t.Fatalf("group call: %d %s", code, body)
	}
	var dl struct {
		Data []struct {
			Seq      int64
			Status   int
			Response string
			Message  struct{ MessageID string }
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(dl.Data) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter listed")
		}
		time.Sleep(20 * time.Millisecond)
		_, body := r.do(t, http.MethodGet, "/v1/workspaces/default/destinations/Hook/dead-letters", "tok_d", "")
		if err := json.Unmarshal(body, &dl); err != nil {
			t.Fatalf("dead letters: %s", body)
		}
	}
	if d := dl.Data[0]; d.Status != 400 || d.Response != `{"error":"no such property"}` || d.Message.MessageID != "m1" {
		t.Errorf("dead letter = %+v", d)
	}
	if code, _ := r.do(t, http.MethodGet, "/v1/workspaces/default/destinations/Nope/dead-letters", "tok_d", ""); code != http.StatusNotFound {
		t.Errorf("dead letters of an unknown destination: %d, want 404", code)
	}
	if code, _ := r.do(t, http.MethodPost, "/v1/workspaces/default/destinations/Hook/redrive", "wk_d", ""); code != http.StatusUnauthorized {
		t.Errorf("redrive with a write key: %d, want 401", code)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	code, body := r.do(t, http.MethodPost, "/v1/workspaces/default/destinations/Hook/redrive", "tok_d", "")
	if code != http.StatusOK || strings.TrimSpace(string(body)) != `{"redriven":1}` {
		t.Fatalf("redrive: %d %s", code, body)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := got
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the re-driven dead letter was not delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
