package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const groups = "/v1/workspaces/acme/groups"

func TestGroupRoutesAuthorization(t *testing.T) {
	f := serveFake(t, profileData())
	for _, path := range []string{groups, groups + "/g1", groups + "/g1/members", groups + "/g1/history", groups + "/nope", groups + "?limit=x"} {
		t.Run(path, func(t *testing.T) {
			status, hdr, body := f.get(t, path, "")
			assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
			if hdr.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
			status, _, body = f.get(t, path, basic("tok_nope"))
			assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
			status, _, body = f.get(t, path, "Bearer "+tokBeta)
			assertError(t, status, body, http.StatusForbidden, "forbidden")
		})
	}
	if status, _, body := f.get(t, "/v1/workspaces/beta/groups/gb", "Bearer "+tokBeta); status != http.StatusOK {
		t.Errorf("beta's own group: %d %s", status, body)
	}
}

type groupsPage struct {
	Data []struct {
		GroupID     string          `json:"group_id"`
		Traits      json.RawMessage `json:"traits"`
		MemberCount int             `json:"member_count"`
		FirstSeen   string          `json:"first_seen"`
		LastSeen    string          `json:"last_seen"`
	} `json:"data"`
	Cursor pageCursor `json:"cursor"`
}

func (p groupsPage) ids() []string {
	var ids []string
	for _, d := range p.Data {
		ids = append(ids, d.GroupID)
	}
	return ids
}

func TestListGroups(t *testing.T) {
	st := profileData()
	f := serveFake(t, st)

	var p groupsPage
	f.getOK(t, groups, &p)
	if fmt.Sprint(p.ids()) != "[big g1 g2]" || p.Cursor.HasMore || p.Cursor.URL != groups {
		t.Fatalf("list %v %+v", p.ids(), p.Cursor)
	}
	g1 := p.Data[1]
	if g1.MemberCount != 2 || g1.FirstSeen != "2024-05-01T12:00:00.000Z" || g1.LastSeen != "2024-05-01T13:00:00.000Z" {
		t.Errorf("g1 %+v", g1)
	}
	if k := objectKeys(t, g1.Traits); !slices.Equal(k, []string{"createdAt", "employees", "name", "plan", "stripe customer id"}) {
		t.Errorf("g1 traits %v", k)
	}
	if st.query().Limit != 20 || st.query().Sort != "" || st.query().Text != "" || st.query().Traits != nil || st.query().After != "" {
		t.Errorf("default query %+v", st.query())
	}

	// Paging with the store's cursor, wrapped.
	f.getOK(t, groups+"?limit=2", &p)
	if fmt.Sprint(p.ids()) != "[big g1]" || !p.Cursor.HasMore || p.Cursor.Next == "g1" {
		t.Fatalf("page 1 %v %+v", p.ids(), p.Cursor)
	}
	f.getOK(t, groups+"?limit=2&next="+p.Cursor.Next, &p)
	if fmt.Sprint(p.ids()) != "[g2]" || p.Cursor.HasMore || st.query().After != "g1" {
		t.Errorf("page 2 %v %+v, after %q", p.ids(), p.Cursor, st.query().After)
	}

	// q and sort reach the store as given.
	f.getOK(t, groups+"?q=ACME&sort=-last_seen", &p)
	if fmt.Sprint(p.ids()) != "[g1]" || st.query().Text != "ACME" || st.query().Sort != "-last_seen" {
		t.Errorf("q: %v, query %+v", p.ids(), st.query())
	}

	// trait.<name>: JSON when valid, else a string; names folded.
	f.getOK(t, groups+`?trait.Employees=100&trait.plan=enterprise&trait.created_at="2020-01-01T00:00:00.000Z"`, &p)
	if fmt.Sprint(p.ids()) != "[g1]" {
		t.Errorf("trait filters matched %v", p.ids())
	}
	want := map[string]string{"employees": `100`, "plan": `"enterprise"`, "createdat": `"2020-01-01T00:00:00.000Z"`}
	if len(st.query().Traits) != len(want) {
		t.Errorf("traits %v", st.query().Traits)
	}
	for k, v := range want {
		if string(st.query().Traits[k]) != v {
			t.Errorf("trait %s = %s, want %s", k, st.query().Traits[k], v)
		}
	}
	for q, want := range map[string]string{
		"trait.active=true":                `true`,
		"trait.x=null":                     `null`,
		"trait.zip=02134":                  `"02134"`, // not valid JSON: a string
		"trait.x=%7B%22a%22%3A%201%7D":     `{"a":1}`, // compacted
		"trait.Stripe%20Customer%20ID=c_1": `"c_1"`,
		"trait.x=":                         `""`,
		"trait.x=1&trait.X=1":              `1`, // the same value twice is fine
	} {
		f.getOK(t, groups+"?"+q, nil)
		var got string
		for _, v := range st.query().Traits {
			got = string(v)
		}
		if len(st.query().Traits) != 1 || got != want {
			t.Errorf("%s: traits %v, want one %s", q, st.query().Traits, want)
		}
	}
	f.getOK(t, groups+"?trait.name=Beta%20Labs", &p)
	if fmt.Sprint(p.ids()) != "[g2]" {
		t.Errorf("trait.name=Beta Labs matched %v", p.ids())
	}

	f.getOK(t, groups+"?limit=200", nil)
	for q, param := range map[string]string{
		"limit=201": "limit", "limit=0": "limit", "limit=two": "limit",
		"sort=size": "sort", "sort=--id": "sort",
		"next=%25%25":               "next",
		"trait.plan=a&trait.Plan=b": "trait.", // names the trait parameter
		"trait.=1":                  "trait.",
	} {
		status, _, body := f.get(t, groups+"?"+q, basic(tokAcme))
		assertError(t, status, body, http.StatusBadRequest, "validation_error")
		if !strings.Contains(string(body), "`"+param) {
			t.Errorf("%s: message does not name %s: %s", q, param, body)
		}
	}
}

func TestGroup(t *testing.T) {
	f := serveFake(t, profileData())
	var g map[string]json.RawMessage
	f.getOK(t, groups+"/g1", &g)
	want := map[string]string{
		"group_id": `"g1"`, "member_count": `2`, "first_seen": `"2024-05-01T12:00:00.000Z"`, "last_seen": `"2024-05-01T13:00:00.000Z"`,
		"first_message_id": `"m-first"`, "last_message_id": `"m-last"`,
		"traits": `{"createdAt":"2020-01-01T00:00:00.000Z","employees":100,"name":"Acme Inc","plan":"enterprise","stripe customer id":"cus_1"}`,
	}
	if len(g) != len(want) {
		t.Errorf("fields %v", g)
	}
	for k, v := range want {
		if string(g[k]) != v {
			t.Errorf("%s = %s, want %s", k, g[k], v)
		}
	}
	for _, path := range []string{groups + "/nope", groups + "/gb", groups + "/nope/members", groups + "/nope/history"} {
		status, _, body := f.get(t, path, basic(tokAcme))
		if status != http.StatusNotFound || strings.TrimSpace(string(body)) != `{"error":{"code":"not_found","message":"Group was not found."}}` {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}

type membersPage struct {
	Data []struct {
		UserID       *string          `json:"user_id"`
		AnonymousIDs []string         `json:"anonymous_ids"`
		ExternalIDs  []map[string]any `json:"external_ids"`
		FirstSeen    string           `json:"first_seen"`
		LastSeen     string           `json:"last_seen"`
	} `json:"data"`
	Cursor pageCursor `json:"cursor"`
}

func TestGroupMembers(t *testing.T) {
	f := serveFake(t, profileData())
	var p membersPage
	f.getOK(t, groups+"/g1/members", &p)
	if len(p.Data) != 2 || p.Cursor.HasMore {
		t.Fatalf("members %+v", p)
	}
	m := p.Data[0]
	if m.UserID == nil || *m.UserID != "u1" || fmt.Sprint(m.AnonymousIDs) != "[a1 a2]" || len(m.ExternalIDs) != 3 ||
		m.FirstSeen != "2024-05-01T12:00:00.000Z" || m.LastSeen != "2024-05-01T13:00:00.000Z" {
		t.Errorf("usr_1 %+v", m)
	}
	// The user id it goes by comes first.
	if m.ExternalIDs[0]["first_message_id"] != "m-u1" || m.ExternalIDs[0]["collection"] != "users" {
		t.Errorf("external id %v", m.ExternalIDs[0])
	}

	// user_id and anonymous_ids are left out when there are none.
	body := f.getOK(t, groups+"/big/members?limit=1", &p)
	if strings.Contains(string(body), "anonymous_ids") || len(p.Data) != 1 || *p.Data[0].UserID != "m00" {
		t.Errorf("a member without anonymous ids: %s", body)
	}

	var got []string
	path := groups + "/big/members?limit=13"
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		if len(p.Data) > 13 {
			t.Fatalf("page of %d", len(p.Data))
		}
		for _, d := range p.Data {
			got = append(got, *d.UserID)
		}
		if !p.Cursor.HasMore {
			break
		}
		path = groups + "/big/members?limit=13&next=" + p.Cursor.Next
	}
	if len(got) != 45 || got[0] != "m00" || got[44] != "m44" || !slices.IsSorted(got) {
		t.Errorf("paged %v", got)
	}
	f.getOK(t, groups+"/big/members?limit=200", &p)
	if len(p.Data) != 45 {
		t.Errorf("limit=200: %d", len(p.Data))
	}
	f.badParam(t, groups+"/big/members?limit=201", "limit")
	f.badParam(t, groups+"/big/members?next=%3F", "next")
}

type historyPage struct {
	Data []struct {
		Trait     string          `json:"trait"`
		Old       json.RawMessage `json:"old"`
		New       json.RawMessage `json:"new"`
		MessageID string          `json:"message_id"`
		Timestamp string          `json:"timestamp"`
	} `json:"data"`
	Cursor pageCursor `json:"cursor"`
}

func (p historyPage) changes() []string {
	var out []string
	for _, d := range p.Data {
		out = append(out, fmt.Sprintf("%s:%s:%s>%s", d.MessageID, d.Trait, d.Old, d.New))
	}
	return out
}

func TestGroupHistory(t *testing.T) {
	st := profileData()
	f := serveFake(t, st)
	var p historyPage
	f.getOK(t, groups+"/g1/history", &p)
	want := []string{
		`h30:employees:50>100`, `h30:plan:"free">"enterprise"`,
		`h20:name:"Acme">"Acme Inc"`,
		`h10:employees:null>50`, `h10:name:null>"Acme"`, `h10:plan:null>"free"`,
	}
	if !slices.Equal(p.changes(), want) || p.Cursor.HasMore {
		t.Errorf("history %v, want %v", p.changes(), want)
	}
	if p.Data[0].Timestamp != "2024-05-01T12:30:00.000Z" {
		t.Errorf("timestamp %q", p.Data[0].Timestamp)
	}

	// trait= takes any spelling.
	f.getOK(t, groups+"/g1/history?trait=PLAN", &p)
	if fmt.Sprint(p.changes()) != `[h30:plan:"free">"enterprise" h10:plan:null>"free"]` {
		t.Errorf("trait=PLAN: %v", p.changes())
	}

	// A page never ends inside an event: limit=4 stops after h20 (3
	// changes), and the next page holds all of h10.
	var got []string
	path := groups + "/g1/history?limit=4"
	var sizes []int
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		got = append(got, p.changes()...)
		sizes = append(sizes, len(p.Data))
		if !p.Cursor.HasMore {
			break
		}
		path = groups + "/g1/history?limit=4&next=" + p.Cursor.Next
	}
	if !slices.Equal(got, want) || fmt.Sprint(sizes) != "[3 3]" {
		t.Errorf("limit=4 paged %v in pages %v", got, sizes)
	}

	// limit=1: an event with more changes than the limit comes whole.
	got, sizes = nil, nil
	path = groups + "/g1/history?limit=1"
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		got = append(got, p.changes()...)
		sizes = append(sizes, len(p.Data))
		if !p.Cursor.HasMore {
			break
		}
		path = groups + "/g1/history?limit=1&next=" + p.Cursor.Next
	}
	if !slices.Equal(got, want) || fmt.Sprint(sizes) != "[2 1 3]" {
		t.Errorf("limit=1 paged %v in pages %v", got, sizes)
	}

	f.badParam(t, groups+"/g1/history?limit=201", "limit")
	f.badParam(t, groups+"/g1/history?next=12", "next")
}
