package compat

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// checkProfiles reads back, through the Profile API and the native group
// routes, what the analytics-node run (ids prefixed with run) built: the
// account with the traits sent, its member, the user's traits and
// accounts, the alias tying the anonymous id to the user, and the trait
// history.
func checkProfiles(t *testing.T, r *roster, run string) {
	user, group, anon := run+"-user-1", run+"-acme", run+"-anon-1"
	space := r.url + "/v1/spaces/default/collections"

	var traits struct {
		Traits map[string]json.RawMessage `json:"traits"`
	}
	// The processor applies the log within a second of the commit.
	r.getEventually(t, space+"/accounts/profiles/group_id:"+group+"/traits?limit=200", &traits)
	want := map[string]string{
		"name": `"Acme Inc"`, "industry": `"Manufacturing"`, "employees": `250`, "plan": `"enterprise"`,
		"createdAt": `"2021-03-04T05:06:07.000Z"`, "stripe customer id": `"cus_Q1w2E3r4"`,
	}
	if got := rawStrings(traits.Traits); !reflect.DeepEqual(got, want) {
		t.Errorf("account traits = %v, want %v", got, want)
	}

	var links struct {
		Data []struct {
			ToCollection string `json:"to_collection"`
			ExternalIDs  []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"external_ids"`
		} `json:"data"`
	}
	r.get(t, space+"/accounts/profiles/group_id:"+group+"/links", &links)
	if len(links.Data) != 1 || links.Data[0].ToCollection != "users" || !hasID(links.Data[0].ExternalIDs, "user_id", user) {
		t.Errorf("account links = %+v, want the user %s", links.Data, user)
	}
	links.Data = nil
	r.get(t, space+"/users/profiles/user_id:"+user+"/links", &links)
	if len(links.Data) != 1 || links.Data[0].ToCollection != "accounts" || !hasID(links.Data[0].ExternalIDs, "group_id", group) {
		t.Errorf("user links = %+v, want the account %s", links.Data, group)
	}

	wantUser := map[string]string{"email": `"ada@acme.example"`, "name": `"Ada Lovelace"`, "plan": `"enterprise"`}
	traits.Traits = nil // Unmarshal would merge into the map
	r.get(t, space+"/users/profiles/user_id:"+user+"/traits", &traits)
	if got := rawStrings(traits.Traits); !reflect.DeepEqual(got, wantUser) {
		t.Errorf("user traits = %v, want %v", got, wantUser)
	}
	// alias(previousId: anon, userId: user) made them one profile.
	traits.Traits = nil
	r.get(t, space+"/users/profiles/anonymous_id:"+anon+"/traits", &traits)
	if got := rawStrings(traits.Traits); !reflect.DeepEqual(got, wantUser) {
		t.Errorf("traits through the aliased anonymous id = %v, want the user's %v", got, wantUser)
	}

	var history struct {
		Data []struct {
			Trait     string          `json:"trait"`
			Old       json.RawMessage `json:"old"`
			New       json.RawMessage `json:"new"`
			MessageID string          `json:"message_id"`
		} `json:"data"`
	}
	r.get(t, r.url+"/v1/workspaces/default/groups/"+group+"/history?trait=plan", &history)
	if len(history.Data) != 1 || string(history.Data[0].New) != `"enterprise"` || string(history.Data[0].Old) != "null" || history.Data[0].MessageID == "" {
		t.Errorf("plan history = %+v, want one change from nothing to enterprise", history.Data)
	}
}

func rawStrings(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func hasID(ids []struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}, typ, id string) bool {
	for _, x := range ids {
		if x.Type == typ && x.ID == id {
			return true
		}
	}
	return false
}

// get reads a JSON route with the access token; it must answer 200.
func (r *roster) get(t *testing.T, u string, v any) {
	t.Helper()
	status, body := r.fetch(t, u)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// getEventually retries a 404 for a few seconds, while the processor
// catches up.
func (r *roster) getEventually(t *testing.T, u string, v any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := r.fetch(t, u)
		if status == http.StatusNotFound && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, status, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", u, err, body)
		}
		return
	}
}

func (r *roster) fetch(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(accessToken, "")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, body
}
