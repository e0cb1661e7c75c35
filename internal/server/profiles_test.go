package server_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"roster/internal/server"
)

// eventually retries a GET until it answers 200, while the processor
// applies what was just acknowledged.
func (r *running) eventually(t *testing.T, path, token string) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := r.do(t, http.MethodGet, path, token, "")
		if status == http.StatusOK {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// From ingestion to the Profile API through the running server's own
// processor: a numeric groupId, a late older event, and access rules.
func TestProfilesThroughTheServer(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_p", AccessToken: "tok_p"})
	for _, body := range []string{
		`{"userId":7,"groupId":42,"traits":{"name":"Initech","plan":"enterprise"},"timestamp":"2024-05-01T12:00:00Z"}`,
		`{"userId":"8","groupId":"42","traits":{"plan":"trial","employees":"329"},"timestamp":"2024-04-01T12:00:00Z"}`,
	} {
		if status, resp := r.do(t, http.MethodPost, "/v1/group", "wk_p", body); status != http.StatusOK {
			t.Fatalf("group: %d %s", status, resp)
		}
	}
	var got struct {
		Traits map[string]json.RawMessage `json:"traits"`
	}
	// Wait for the second (late, older) event, then check it did not win.
	deadline := time.Now().Add(5 * time.Second)
	for {
		body := r.eventually(t, "/v1/spaces/default/collections/accounts/profiles/group_id:42/traits", "tok_p")
		got.Traits = nil
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Traits["employees"]; ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]json.RawMessage{"name": json.RawMessage(`"Initech"`), "plan": json.RawMessage(`"enterprise"`), "employees": json.RawMessage(`"329"`)}
	if !reflect.DeepEqual(got.Traits, want) {
		t.Errorf("traits of group 42 = %s, want %s", got.Traits, want)
	}
	body := r.eventually(t, "/v1/spaces/default/collections/accounts/profiles/group_id:42/metadata", "tok_p")
	if !strings.Contains(string(body), `"member_count":2`) {
		t.Errorf("metadata = %s, want two members (userId 7 sent as a number)", body)
	}
	r.eventually(t, "/v1/spaces/default/collections/users/profiles/user_id:7/links", "tok_p")
	if status, _ := r.do(t, http.MethodGet, "/v1/spaces/default/collections/accounts/profiles/group_id:42/traits", "wk_p", ""); status != http.StatusUnauthorized {
		t.Errorf("a write key read profiles: %d, want 401", status)
	}
}

// roster rebuild gives the state that incremental processing gave.
func TestRebuildCommand(t *testing.T) {
	dir := t.TempDir()
	r := start(t, server.Options{DataDir: dir, WriteKey: "wk_p", AccessToken: "tok_p"})
	for _, body := range []string{
		`{"batch":[{"type":"group","anonymousId":"a1","groupId":"g1","traits":{"plan":"trial"}},{"type":"identify","anonymousId":"a1","userId":"u1","traits":{"email":"a@b"}},{"type":"group","userId":"u1","groupId":"g1","traits":{"plan":"pro"}}]}`,
	} {
		if status, resp := r.do(t, http.MethodPost, "/v1/batch", "wk_p", body); status != http.StatusOK {
			t.Fatalf("batch: %d %s", status, resp)
		}
	}
	paths := []string{
		"/v1/workspaces/default/groups/g1",
		"/v1/workspaces/default/groups/g1/history",
		"/v1/workspaces/default/groups/g1/members",
		"/v1/spaces/default/collections/users/profiles/anonymous_id:a1/traits",
	}
	var before []string
	time.Sleep(300 * time.Millisecond)
	for _, p := range paths {
		before = append(before, string(r.eventually(t, p, "tok_p")))
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "roster")
	if out, err := exec.Command("go", "build", "-o", bin, "roster/cmd/roster").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "rebuild", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rebuilt profiles from 3 events") {
		t.Fatalf("roster rebuild: %v\n%s", err, out)
	}
	r = start(t, server.Options{DataDir: dir, WriteKey: "wk_p", AccessToken: "tok_p"})
	for i, p := range paths {
		if after := string(r.eventually(t, p, "tok_p")); after != before[i] {
			t.Errorf("%s after rebuild:\n%s\nbefore:\n%s", p, after, before[i])
		}
	}
}
