package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"roster/internal/server"
)

// After an alias chain (anon → u1, then u1 → u2 → u3) a group's member
// shows the user id it goes by now, u3, with the others in external_ids,
// in Roster's member list and in the Profile API's links.
func TestMembersAfterAnAliasChain(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_a", AccessToken: "tok_a"})
	body := `{"batch":[
		{"type":"group","anonymousId":"a1","groupId":"g1","timestamp":"2024-05-01T12:00:00Z"},
		{"type":"identify","anonymousId":"a1","userId":"u1","timestamp":"2024-05-01T12:01:00Z"},
		{"type":"alias","previousId":"u1","userId":"u2","timestamp":"2024-05-01T12:02:00Z"},
		{"type":"alias","previousId":"u2","userId":"u3","timestamp":"2024-05-01T12:03:00Z","messageId":"last"}]}`
	if status, resp := r.do(t, http.MethodPost, "/v1/batch", "wk_a", body); status != http.StatusOK {
		t.Fatalf("batch: %d %s", status, resp)
	}
	// The last alias is applied once u3 resolves.
	r.eventually(t, "/v1/spaces/default/collections/users/profiles/user_id:u3/metadata", "tok_a")

	var members struct {
		Data []struct {
			UserID       string   `json:"user_id"`
			AnonymousIDs []string `json:"anonymous_ids"`
			ExternalIDs  []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"external_ids"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.eventually(t, "/v1/workspaces/default/groups/g1/members", "tok_a"), &members); err != nil {
		t.Fatal(err)
	}
	if len(members.Data) != 1 {
		t.Fatalf("members %+v, want one", members.Data)
	}
	m := members.Data[0]
	var ids []string
	for _, x := range m.ExternalIDs {
		ids = append(ids, x.Type+":"+x.ID)
	}
	if m.UserID != "u3" || !slices.Equal(m.AnonymousIDs, []string{"a1"}) ||
		!slices.Equal(ids, []string{"user_id:u3", "anonymous_id:a1", "user_id:u1", "user_id:u2"}) {
		t.Errorf("member user_id %q, anonymous_ids %v, external_ids %v; want u3, [a1], u3 first then the others", m.UserID, m.AnonymousIDs, ids)
	}

	var links struct {
		Data []struct {
			ExternalIDs []struct {
				ID string `json:"id"`
			} `json:"external_ids"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.eventually(t, "/v1/spaces/default/collections/accounts/profiles/group_id:g1/links", "tok_a"), &links); err != nil {
		t.Fatal(err)
	}
	if len(links.Data) != 1 || len(links.Data[0].ExternalIDs) != 4 || links.Data[0].ExternalIDs[0].ID != "u3" {
		t.Errorf("links %+v, want the member's four ids with u3 first", links.Data)
	}
}
