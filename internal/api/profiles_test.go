package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	users    = "/v1/spaces/acme/collections/users/profiles/"
	accounts = "/v1/spaces/acme/collections/accounts/profiles/"
	// notFoundBody is Segment's 404, byte for byte.
	notFoundBody = `{"error":{"code":"not_found","message":"Profile was not found."}}`
)

func activity(first, last time.Time, firstMsg, lastMsg string) store.Activity {
	return store.Activity{FirstSeen: first, LastSeen: last, FirstMessageID: firstMsg, FirstSource: "web", LastMessageID: lastMsg, LastSource: "server"}
}

// profileData is the data set of the profile and group tests:
//   - acme/g1 "Acme Inc" with 5 traits, members usr_1 and usr_2, history;
//   - acme/g2 with member usr_1; acme/big with 25 traits and 45 members;
//   - acme/usr_1 (user_id u1, anonymous_id a1 and a2) with 14 traits and
//     25 events; acme/usr_2 (anonymous_id anon:with:colons, user_id a+b/c);
//   - beta/usr_b with user_id u1 too, and beta/gb.
func profileData() *fakeStore {
	f := newFakeStore()
	f.addGroup(store.Group{Workspace: "acme", ID: "g1", Members: 2, Activity: activity(t0, t0.Add(time.Hour), "m-first", "m-last")},
		trait("name", `"Acme Inc"`), trait("plan", `"enterprise"`), trait("employees", `100`),
		trait("createdAt", `"2020-01-01T00:00:00.000Z"`), trait("stripe customer id", `"cus_1"`))
	f.addGroup(store.Group{Workspace: "acme", ID: "g2", Members: 1, Activity: activity(t0, t0, "m-g2", "m-g2")}, trait("name", `"Beta Labs"`))
	var big []store.Trait
	for i := range 25 {
		big = append(big, trait(fmt.Sprintf("t%02d", i), fmt.Sprint(i)))
	}
	f.addGroup(store.Group{Workspace: "acme", ID: "big", Members: 45, Activity: activity(t0, t0, "m-big", "m-big")}, big...)
	f.addGroup(store.Group{Workspace: "beta", ID: "gb", Members: 1, Activity: activity(t0, t0, "m-gb", "m-gb")}, trait("name", `"Beta's"`))

	userTraits := []store.Trait{trait("email", `"jo@acme.test"`), trait("firstName", `"Jo"`), trait("createdAt", `"2021-02-03T00:00:00.000Z"`)}
	for i := range 11 {
		userTraits = append(userTraits, trait(fmt.Sprintf("k%02d", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	f.addUser(store.User{Workspace: "acme", Key: "usr_1", Activity: activity(t0, t0.Add(48*time.Hour), "m-u-first", "m-u-last")},
		[]store.ExternalID{
			{Type: "anonymous_id", ID: "a1", Source: "web", FirstMessageID: "m-a1", CreatedAt: t0},
			{Type: "user_id", ID: "u1", Source: "server", FirstMessageID: "m-u1", CreatedAt: t0.Add(time.Minute)},
			{Type: "anonymous_id", ID: "a2", Source: "ios", FirstMessageID: "m-a2", CreatedAt: t0.Add(2 * time.Minute)},
		}, userTraits...)
	f.addUser(store.User{Workspace: "acme", Key: "usr_2", Activity: activity(t0, t0, "m-2", "m-2")},
		[]store.ExternalID{
			{Type: "anonymous_id", ID: "anon:with:colons", Source: "web", FirstMessageID: "m-2", CreatedAt: t0},
			{Type: "user_id", ID: "a+b/c", Source: "web", FirstMessageID: "m-2", CreatedAt: t0},
		}, trait("name", `"Two"`))
	f.addUser(store.User{Workspace: "beta", Key: "usr_b", Activity: activity(t0, t0, "m-b", "m-b")},
		[]store.ExternalID{{Type: "user_id", ID: "u1", Source: "web", CreatedAt: t0}}, trait("name", `"Beta user"`))
	f.addMember("acme", store.Membership{GroupID: "g1", UserKey: "usr_1", FirstSeen: t0, LastSeen: t0.Add(time.Hour)})
	f.addMember("acme", store.Membership{GroupID: "g1", UserKey: "usr_2", FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Minute)})
	f.addMember("acme", store.Membership{GroupID: "g2", UserKey: "usr_1", FirstSeen: t0.Add(2 * time.Hour), LastSeen: t0.Add(2 * time.Hour)})
	f.addMember("beta", store.Membership{GroupID: "gb", UserKey: "usr_b", FirstSeen: t0, LastSeen: t0})
	for i := range 45 {
		key := fmt.Sprintf("usr_m%02d", i)
		f.addUser(store.User{Workspace: "acme", Key: key, Activity: activity(t0, t0, "m", "m")},
			[]store.ExternalID{{Type: "user_id", ID: fmt.Sprintf("m%02d", i), Source: "web", CreatedAt: t0}})
		f.addMember("acme", store.Membership{GroupID: "big", UserKey: key, FirstSeen: t0, LastSeen: t0})
	}

	// usr_1's events: seq 1..25, an identify at 3, "Order Completed" at
	// every multiple of 5 (attributed to g1), "Page Viewed" otherwise.
	for seq := int64(1); seq <= 25; seq++ {
		id := fmt.Sprintf("e%02d", seq)
		body := fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"u1","anonymousId":"a1","event":"Page Viewed","properties":{"n":%d},"context":{"ip":"1.2.3.4"}}`, id, seq)
		typ := "track"
		switch {
		case seq == 3:
			typ = "identify"
			body = fmt.Sprintf(`{"type":"identify","messageId":%q,"userId":"u1","traits":{"email":"jo@acme.test"}}`, id)
		case seq%5 == 0:
			body = fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"u1","event":"Order Completed","properties":{"total":%d},"context":{"groupId":"g1"}}`, id, seq)
		}
		f.addEvent("users", "usr_1", store.Event{Seq: seq, Workspace: "acme", Source: "web", MessageID: id, Type: typ,
			ReceivedAt: t0.Add(time.Duration(seq) * time.Hour), Timestamp: t0.Add(time.Duration(seq) * time.Hour), Body: []byte(body)})
	}
	f.addEvent("accounts", "g1", store.Event{Seq: 100, Workspace: "acme", Source: "server", MessageID: "grp-1", Type: "group",
		Timestamp: t0, Body: []byte(`{"type":"group","messageId":"grp-1","userId":"u1","groupId":"g1","traits":{"name":"Acme Inc"}}`)})
	f.addEvent("accounts", "g1", store.Event{Seq: 101, Workspace: "acme", Source: "server", MessageID: "grp-2", Type: "group",
		Timestamp: t0.Add(time.Second), Body: []byte(`{"type":"group","messageId":"grp-2","anonymousId":"a9","groupId":12345}`)})

	// g1's history: seq 10 set three traits, 20 renamed, 30 changed two.
	g1 := f.groups[wsKey{"acme", "g1"}]
	ch := func(seq int64, name, old, new string) store.TraitChange {
		c := store.TraitChange{Seq: seq, Key: strings.ToLower(name), Name: name, New: json.RawMessage(new), MessageID: fmt.Sprintf("h%d", seq), Timestamp: t0.Add(time.Duration(seq) * time.Minute)}
		if old != "" {
			c.Old = json.RawMessage(old)
		}
		return c
	}
	g1.history = []store.TraitChange{
		ch(10, "name", "", `"Acme"`), ch(10, "plan", "", `"free"`), ch(10, "employees", "", `50`),
		ch(20, "name", `"Acme"`, `"Acme Inc"`),
		ch(30, "plan", `"free"`, `"enterprise"`), ch(30, "employees", `50`, `100`),
	}
	return f
}

// getOK GETs path as acme and decodes the 200 body into v.
func (f *fixture) getOK(t *testing.T, path string, v any) []byte {
	t.Helper()
	status, hdr, body := f.get(t, path, basic(tokAcme))
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return body
}

// badParam checks a 400 validation_error whose message names param.
func (f *fixture) badParam(t *testing.T, path, param string) {
	t.Helper()
	status, _, body := f.get(t, path, basic(tokAcme))
	assertError(t, status, body, http.StatusBadRequest, "validation_error")
	if !strings.Contains(string(body), "`"+param+"`") {
		t.Errorf("GET %s: message does not name `%s`: %s", path, param, body)
	}
}

type pageCursor struct {
	URL     string `json:"url"`
	HasMore bool   `json:"has_more"`
	Next    string `json:"next"`
}

// objectKeys lists the members of a JSON object in the order written.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestProfileAuthorization(t *testing.T) {
	f := serveFake(t, profileData())
	paths := []string{
		users + "user_id:u1/traits", users + "user_id:u1/external_ids", users + "user_id:u1/events",
		users + "user_id:u1/metadata", users + "user_id:u1/links", accounts + "group_id:g1/traits",
		accounts + "group_id:g1/links",
		// A profile that does not exist or a bad parameter says nothing
		// without access.
		users + "user_id:nobody/traits", users + "user_id:u1/traits?limit=abc", users + "nocolon/traits",
		"/v1/spaces/acme/collections/nope/profiles/user_id:u1/traits",
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			status, hdr, body := f.get(t, path, "")
			assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
			if hdr.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate on a 401 without credentials")
			}
			status, _, body = f.get(t, path, basic("tok_nope"))
			assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
			status, _, body = f.get(t, path, basic(keyWeb))
			assertError(t, status, body, http.StatusUnauthorized, "authentication_error")
			status, _, body = f.get(t, path, basic(tokBeta))
			assertError(t, status, body, http.StatusForbidden, "forbidden")
			status, _, body = f.get(t, path, "Bearer "+tokBeta)
			assertError(t, status, body, http.StatusForbidden, "forbidden")
		})
	}
	// Basic with the token as username (Segment's way) and Bearer both work.
	for _, a := range []string{basic(tokAcme), "Bearer " + tokAcme} {
		if status, _, body := f.get(t, users+"user_id:u1/traits", a); status != http.StatusOK {
			t.Errorf("%s: %d %s", a, status, body)
		}
	}
}

// A request that cannot name a profile is a bad request, as Segment
// answers it, not a profile that does not exist.
func TestMalformedProfileIsABadRequest(t *testing.T) {
	f := serveFake(t, profileData())
	for _, res := range []string{"traits", "external_ids", "events", "metadata", "links"} {
		for _, p := range []string{
			users + "u1/",            // no type prefix
			users + "user_id:/",      // no value
			users + "group_id:g1/",   // a group is not a user
			users + "User_ID:u1/",    // types are exact
			users + "phone:555/",     // a type Roster does not keep
			accounts + "user_id:u1/", // a user is not an account
			accounts + "g1/",         // no type prefix
			"/v1/spaces/acme/collections/companies/profiles/group_id:g1/",
			"/v1/spaces/acme/collections/user/profiles/user_id:u1/",
		} {
			path := p + res
			status, _, body := f.get(t, path, basic(tokAcme))
			assertError(t, status, body, http.StatusBadRequest, "validation_error")
		}
	}
}

func TestProfileNotFound(t *testing.T) {
	f := serveFake(t, profileData())
	for _, res := range []string{"traits", "external_ids", "events", "metadata", "links"} {
		for _, p := range []string{
			users + "user_id:nobody/",
			users + "anonymous_id:nobody/",
			users + "email:nobody@acme.test/", // a type kept, no such profile
			accounts + "group_id:nope/",       // unknown group
			accounts + "group_id:gb/",         // beta's group
		} {
			path := p + res
			status, hdr, body := f.get(t, path, basic(tokAcme))
			if status != http.StatusNotFound || strings.TrimSpace(string(body)) != notFoundBody {
				t.Errorf("GET %s: %d %s, want 404 %s", path, status, body, notFoundBody)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("GET %s: Content-Type %q", path, hdr.Get("Content-Type"))
			}
		}
	}
	// Beta's u1 is another profile than acme's.
	var tr struct{ Traits map[string]any }
	f.getOK(t, users+"user_id:u1/traits", &tr)
	if tr.Traits["email"] != "jo@acme.test" || tr.Traits["name"] != nil {
		t.Errorf("acme's u1 traits %v", tr.Traits)
	}
	status, _, body := f.get(t, "/v1/spaces/beta/collections/users/profiles/user_id:u1/traits", basic(tokBeta))
	if status != http.StatusOK || !strings.Contains(string(body), `"Beta user"`) {
		t.Errorf("beta's u1: %d %s", status, body)
	}
	// Unknown resources and routes also answer JSON 404s.
	for _, path := range []string{users + "user_id:u1/friends", "/v1/spaces/acme/collections/users/profiles"} {
		status, _, body := f.get(t, path, basic(tokAcme))
		assertError(t, status, body, http.StatusNotFound, "not_found")
	}
}

func TestProfileIDValues(t *testing.T) {
	f := serveFake(t, profileData())
	// The value is split at the first colon and percent-decoded.
	for _, id := range []string{"anonymous_id:anon:with:colons", "user_id:" + url.PathEscape("a+b/c"), "user_id:a%2Bb%2Fc", "anonymous_id:anon%3Awith%3Acolons"} {
		var tr struct{ Traits map[string]any }
		f.getOK(t, users+id+"/traits", &tr)
		if tr.Traits["name"] != "Two" {
			t.Errorf("%s: traits %v, want usr_2's", id, tr.Traits)
		}
	}
}

type traitsPage struct {
	Traits json.RawMessage `json:"traits"`
	Cursor pageCursor      `json:"cursor"`
}

func TestTraits(t *testing.T) {
	f := serveFake(t, profileData())

	// The default page is 10 traits, ordered by key; the cursor is the last
	// key and the url the path.
	var p traitsPage
	f.getOK(t, users+"user_id:u1/traits", &p)
	keys := objectKeys(t, p.Traits)
	want := []string{"createdAt", "email", "firstName", "k00", "k01", "k02", "k03", "k04", "k05", "k06"}
	if !slices.Equal(keys, want) {
		t.Errorf("first page %v, want %v", keys, want)
	}
	if p.Cursor != (pageCursor{users + "user_id:u1/traits", true, "k06"}) {
		t.Errorf("cursor %+v", p.Cursor)
	}
	var values map[string]any
	json.Unmarshal(p.Traits, &values)
	if values["email"] != "jo@acme.test" || values["k00"].(map[string]any)["n"] != 0.0 {
		t.Errorf("values %v", values)
	}

	// Paging reads every trait once, in order.
	var all []string
	path := users + "user_id:u1/traits?limit=4"
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		var p traitsPage
		f.getOK(t, path, &p)
		keys := objectKeys(t, p.Traits)
		if len(keys) > 4 {
			t.Fatalf("page of %d", len(keys))
		}
		all = append(all, keys...)
		if !p.Cursor.HasMore {
			if p.Cursor.Next != "" {
				t.Errorf("last page next %q", p.Cursor.Next)
			}
			break
		}
		path = users + "user_id:u1/traits?limit=4&next=" + url.QueryEscape(p.Cursor.Next)
	}
	if len(all) != 14 || all[0] != "createdAt" || all[13] != "k10" {
		t.Errorf("paged %v", all)
	}

	// 25 traits of an account, 200 at most a page.
	var big traitsPage
	f.getOK(t, accounts+"group_id:big/traits?limit=200", &big)
	if k := objectKeys(t, big.Traits); len(k) != 25 || big.Cursor.HasMore || big.Cursor.Next != "" {
		t.Errorf("limit=200: %d traits, cursor %+v", len(k), big.Cursor)
	}
	f.getOK(t, accounts+"group_id:big/traits?limit=10&next=t09", &big)
	if k := objectKeys(t, big.Traits); k[0] != "t10" || k[9] != "t19" || big.Cursor.Next != "t19" {
		t.Errorf("after t09: %v %+v", k, big.Cursor)
	}

	// include matches any spelling of a name and shows the stored one.
	var inc traitsPage
	f.getOK(t, accounts+"group_id:g1/traits?include=created_at,PLAN,stripe_customer_id,missing", &inc)
	if k := objectKeys(t, inc.Traits); !slices.Equal(k, []string{"createdAt", "plan", "stripe customer id"}) || inc.Cursor.HasMore {
		t.Errorf("include: %v %+v", k, inc.Cursor)
	}
	f.getOK(t, users+"user_id:u1/traits?include=k01,k02,k03&limit=2", &inc)
	if k := objectKeys(t, inc.Traits); !slices.Equal(k, []string{"k01", "k02"}) || inc.Cursor.Next != "k02" {
		t.Errorf("include with limit: %v %+v", k, inc.Cursor)
	}

	// verbose gives value, source_id and updated_at.
	var verbose struct {
		Traits map[string]map[string]any `json:"traits"`
	}
	body := f.getOK(t, accounts+"group_id:g1/traits?verbose=true&include=employees", &verbose)
	e := verbose.Traits["employees"]
	if len(verbose.Traits) != 1 || len(e) != 3 || e["value"] != 100.0 || e["source_id"] != "web" || e["updated_at"] != "2024-05-01T12:00:00.000Z" {
		t.Errorf("verbose: %s", body)
	}
	f.getOK(t, accounts+"group_id:g1/traits?verbose=false&include=employees", &values)
	if fmt.Sprint(values["traits"]) != "map[employees:100]" {
		t.Errorf("verbose=false: %v", values)
	}

	// Roster has no computed traits or audiences.
	body = f.getOK(t, users+"user_id:u1/traits?class=audience", nil)
	if !strings.Contains(string(body), `"traits":{}`) {
		t.Errorf("class=audience: %s", body)
	}

	for q, param := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "limit=abc": "limit", "limit=-3": "limit",
		"verbose=yes%20please": "verbose", "class=friends": "class",
	} {
		f.badParam(t, users+"user_id:u1/traits?"+q, param)
	}
}

type externalIDsPage struct {
	Data   []map[string]any `json:"data"`
	Cursor pageCursor       `json:"cursor"`
}

func TestExternalIDs(t *testing.T) {
	f := serveFake(t, profileData())
	var p externalIDsPage
	f.getOK(t, users+"anonymous_id:a2/external_ids", &p)
	// Ordered by type, then id, whatever order the store gives.
	var got []string
	for _, d := range p.Data {
		got = append(got, d["type"].(string)+":"+d["id"].(string))
	}
	if fmt.Sprint(got) != "[anonymous_id:a1 anonymous_id:a2 user_id:u1]" || p.Cursor.HasMore {
		t.Errorf("ids %v, cursor %+v", got, p.Cursor)
	}
	u1 := p.Data[2]
	want := map[string]any{"id": "u1", "type": "user_id", "source_id": "server", "collection": "users",
		"created_at": "2024-05-01T12:01:00.000Z", "encoding": "none", "first_message_id": "m-u1"}
	if fmt.Sprint(u1) != fmt.Sprint(want) {
		t.Errorf("external id %v, want %v", u1, want)
	}

	f.getOK(t, users+"user_id:u1/external_ids?include=anonymous_id", &p)
	if len(p.Data) != 2 || p.Data[0]["id"] != "a1" || p.Data[1]["id"] != "a2" {
		t.Errorf("include=anonymous_id: %v", p.Data)
	}

	// Paging one at a time.
	got = nil
	path := users + "user_id:u1/external_ids?limit=1"
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		for _, d := range p.Data {
			got = append(got, d["id"].(string))
		}
		if !p.Cursor.HasMore {
			break
		}
		path = users + "user_id:u1/external_ids?limit=1&next=" + p.Cursor.Next
	}
	if fmt.Sprint(got) != "[a1 a2 u1]" {
		t.Errorf("paged %v", got)
	}

	// An account has its group id.
	f.getOK(t, accounts+"group_id:g1/external_ids", &p)
	want = map[string]any{"id": "g1", "type": "group_id", "source_id": "web", "collection": "accounts",
		"created_at": "2024-05-01T12:00:00.000Z", "encoding": "none", "first_message_id": "m-first"}
	if len(p.Data) != 1 || fmt.Sprint(p.Data[0]) != fmt.Sprint(want) || p.Cursor.HasMore {
		t.Errorf("account ids %v", p.Data)
	}
	f.getOK(t, accounts+"group_id:g1/external_ids?include=user_id", &p)
	if len(p.Data) != 0 {
		t.Errorf("account include=user_id: %v", p.Data)
	}

	f.getOK(t, users+"user_id:u1/external_ids?verbose=true", nil)
	for q, param := range map[string]string{"limit=101": "limit", "limit=x": "limit", "verbose=2": "verbose", "next=%21%21": "next"} {
		f.badParam(t, users+"user_id:u1/external_ids?"+q, param)
	}
	// 100 is the largest page.
	f.getOK(t, users+"user_id:u1/external_ids?limit=100", nil)
}

type eventsPage struct {
	Data   []map[string]json.RawMessage `json:"data"`
	Cursor pageCursor                   `json:"cursor"`
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a string", raw)
	}
	return s
}

func TestEvents(t *testing.T) {
	f := serveFake(t, profileData())

	var p eventsPage
	f.getOK(t, users+"user_id:u1/events", &p)
	if len(p.Data) != 10 || !p.Cursor.HasMore || p.Cursor.URL != users+"user_id:u1/events" {
		t.Fatalf("default page: %d events, cursor %+v", len(p.Data), p.Cursor)
	}
	if str(t, p.Data[0]["message_id"]) != "e25" || str(t, p.Data[9]["message_id"]) != "e16" {
		t.Errorf("not newest first: %s … %s", p.Data[0]["message_id"], p.Data[9]["message_id"])
	}
	// The cursor is opaque, not the bare seq.
	if p.Cursor.Next == "16" {
		t.Errorf("cursor %q is the bare seq", p.Cursor.Next)
	}
	if _, err := base64.RawURLEncoding.DecodeString(p.Cursor.Next); err != nil {
		t.Errorf("cursor %q: %v", p.Cursor.Next, err)
	}

	// e25 is an Order Completed attributed to g1.
	e := p.Data[0]
	for field, want := range map[string]string{
		"message_id": `"e25"`, "source_id": `"web"`, "timestamp": `"2024-05-02T13:00:00.000Z"`, "type": `"track"`,
		"event": `"Order Completed"`, "properties": `{"total":25}`, "context": `{"groupId":"g1"}`,
		"messageId": `"e25"`, "userId": `"u1"`,
		"external_ids": `[{"collection":"users","type":"user_id","id":"u1","encoding":"none"},{"collection":"accounts","type":"group_id","id":"g1","encoding":"none"}]`,
		"related":      `{"accounts":"group_id:g1","users":"user_id:u1"}`,
	} {
		if string(e[field]) != want {
			t.Errorf("e25.%s = %s, want %s", field, e[field], want)
		}
	}
	// e24 has both ids of the user.
	if got := string(p.Data[1]["external_ids"]); got != `[{"collection":"users","type":"user_id","id":"u1","encoding":"none"},{"collection":"users","type":"anonymous_id","id":"a1","encoding":"none"}]` {
		t.Errorf("e24 external_ids %s", got)
	}

	// Paging reads all 25 once, newest first.
	var got []string
	path := users + "anonymous_id:a1/events?limit=7"
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		for _, d := range p.Data {
			got = append(got, str(t, d["message_id"]))
		}
		if !p.Cursor.HasMore {
			if p.Cursor.Next != "" {
				t.Errorf("last page next %q", p.Cursor.Next)
			}
			break
		}
		path = users + "anonymous_id:a1/events?limit=7&next=" + p.Cursor.Next
	}
	if len(got) != 25 || got[0] != "e25" || got[24] != "e01" {
		t.Errorf("paged %v", got)
	}

	// An identify has no event name nor properties: event is null,
	// properties and context are objects.
	afterE04 := fmt.Sprintf("%d.4", t0.Add(4*time.Hour).UnixMilli())
	f.getOK(t, users+"user_id:u1/events?limit=1&next="+base64.RawURLEncoding.EncodeToString([]byte(afterE04)), &p)
	if len(p.Data) != 1 || string(p.Data[0]["type"]) != `"identify"` || string(p.Data[0]["event"]) != "null" ||
		string(p.Data[0]["properties"]) != "{}" || string(p.Data[0]["context"]) != "{}" || string(p.Data[0]["traits"]) != `{"email":"jo@acme.test"}` {
		t.Errorf("identify: %v", p.Data)
	}

	// include / exclude by event name, start / end by timestamp.
	names := func(path string) []string {
		var p eventsPage
		f.getOK(t, path, &p)
		var out []string
		for _, d := range p.Data {
			out = append(out, str(t, d["message_id"]))
		}
		return out
	}
	if got := names(users + "user_id:u1/events?include=Order%20Completed"); fmt.Sprint(got) != "[e25 e20 e15 e10 e05]" {
		t.Errorf("include: %v", got)
	}
	if got := names(users + "user_id:u1/events?exclude=Page%20Viewed,Order%20Completed&limit=100"); fmt.Sprint(got) != "[e03]" {
		t.Errorf("exclude: %v", got)
	}
	// e05 is at t0+5h, e08 at t0+8h.
	if got := names(users + "user_id:u1/events?start=2024-05-01T17:00:00Z&end=2024-05-01T20:00:00Z"); fmt.Sprint(got) != "[e07 e06 e05]" {
		t.Errorf("start/end: %v", got)
	}
	if got := names(users + "user_id:u1/events?end=2024-05-02&limit=100"); len(got) != 11 || got[0] != "e11" {
		t.Errorf("end as a date: %v", got)
	}
	// A filtered page still pages.
	f.getOK(t, users+"user_id:u1/events?include=Order%20Completed&limit=2", &p)
	if len(p.Data) != 2 || !p.Cursor.HasMore {
		t.Fatalf("filtered page: %d, %+v", len(p.Data), p.Cursor)
	}
	if got := names(users + "user_id:u1/events?include=Order%20Completed&limit=2&next=" + p.Cursor.Next); fmt.Sprint(got) != "[e15 e10]" {
		t.Errorf("filtered second page: %v", got)
	}

	// An account's events, a numeric groupId shown as a string.
	f.getOK(t, accounts+"group_id:g1/events", &p)
	if len(p.Data) != 2 || str(t, p.Data[0]["message_id"]) != "grp-2" || p.Cursor.HasMore {
		t.Fatalf("account events %v", p.Data)
	}
	if got := string(p.Data[0]["external_ids"]); got != `[{"collection":"users","type":"anonymous_id","id":"a9","encoding":"none"},{"collection":"accounts","type":"group_id","id":"12345","encoding":"none"}]` {
		t.Errorf("grp-2 external_ids %s", got)
	}
	if got := string(p.Data[0]["related"]); got != `{"accounts":"group_id:12345","users":"anonymous_id:a9"}` {
		t.Errorf("grp-2 related %s", got)
	}

	f.getOK(t, users+"user_id:u1/events?sort=desc&limit=100", nil)
	for q, param := range map[string]string{
		"sort=up": "sort", "limit=101": "limit", "limit=0": "limit", "next=abc": "next", "next=" + base64.RawURLEncoding.EncodeToString([]byte("x")): "next",
		"next=" + base64.RawURLEncoding.EncodeToString([]byte("4")): "next", "next=" + base64.RawURLEncoding.EncodeToString([]byte("1.0")): "next",
		"start=yesterday": "start", "end=2024-13-01": "end",
	} {
		f.badParam(t, users+"user_id:u1/events?"+q, param)
	}
}

func TestMetadata(t *testing.T) {
	f := serveFake(t, profileData())
	var m map[string]map[string]any
	body := f.getOK(t, users+"user_id:u1/metadata", &m)
	want := map[string]any{
		"created_at": "2024-05-01T12:00:00.000Z", "updated_at": "2024-05-03T12:00:00.000Z", "expires_at": nil,
		"first_message_id": "m-u-first", "first_source_id": "web", "last_message_id": "m-u-last", "last_source_id": "server",
	}
	if len(m) != 1 || fmt.Sprint(m["metadata"]) != fmt.Sprint(want) {
		t.Errorf("user metadata %s, want %v", body, want)
	}
	body = f.getOK(t, accounts+"group_id:g1/metadata?verbose=true", &m)
	want = map[string]any{
		"created_at": "2024-05-01T12:00:00.000Z", "updated_at": "2024-05-01T13:00:00.000Z", "expires_at": nil,
		"first_message_id": "m-first", "first_source_id": "web", "last_message_id": "m-last", "last_source_id": "server",
		"member_count": 2.0,
	}
	if fmt.Sprint(m["metadata"]) != fmt.Sprint(want) {
		t.Errorf("account metadata %s, want %v", body, want)
	}
	f.badParam(t, users+"user_id:u1/metadata?verbose=maybe", "verbose")
}

type linksPage struct {
	Data []struct {
		ToCollection string           `json:"to_collection"`
		ExternalIDs  []map[string]any `json:"external_ids"`
	} `json:"data"`
	Cursor pageCursor `json:"cursor"`
}

func TestLinks(t *testing.T) {
	f := serveFake(t, profileData())
	var p linksPage
	f.getOK(t, users+"user_id:u1/links", &p)
	if len(p.Data) != 2 || p.Cursor.HasMore {
		t.Fatalf("user links %+v", p)
	}
	want := map[string]any{"id": "g1", "type": "group_id", "source_id": "", "collection": "accounts", "created_at": "2024-05-01T12:00:00.000Z", "encoding": "none"}
	if p.Data[0].ToCollection != "accounts" || len(p.Data[0].ExternalIDs) != 1 || fmt.Sprint(p.Data[0].ExternalIDs[0]) != fmt.Sprint(want) {
		t.Errorf("first link %+v, want %v", p.Data[0], want)
	}
	if p.Data[1].ExternalIDs[0]["id"] != "g2" {
		t.Errorf("second link %+v", p.Data[1])
	}
	// User links page too.
	f.getOK(t, users+"user_id:u1/links?limit=1", &p)
	if len(p.Data) != 1 || !p.Cursor.HasMore {
		t.Fatalf("limit=1: %+v", p)
	}
	f.getOK(t, users+"user_id:u1/links?limit=1&next="+p.Cursor.Next, &p)
	if len(p.Data) != 1 || p.Data[0].ExternalIDs[0]["id"] != "g2" || p.Cursor.HasMore {
		t.Errorf("second page %+v", p)
	}

	// An account links to its members, each by its external ids.
	f.getOK(t, accounts+"group_id:g1/links", &p)
	if len(p.Data) != 2 || p.Data[0].ToCollection != "users" || len(p.Data[0].ExternalIDs) != 3 || len(p.Data[1].ExternalIDs) != 2 {
		t.Fatalf("account links %+v", p)
	}
	// The user id the member goes by first, then the others by type and id.
	want = map[string]any{"id": "u1", "type": "user_id", "source_id": "server", "collection": "users", "created_at": "2024-05-01T12:01:00.000Z", "encoding": "none"}
	if fmt.Sprint(p.Data[0].ExternalIDs[0]) != fmt.Sprint(want) {
		t.Errorf("member id %v, want %v", p.Data[0].ExternalIDs[0], want)
	}
	if p.Data[0].ExternalIDs[1]["id"] != "a1" || p.Data[0].ExternalIDs[2]["id"] != "a2" {
		t.Errorf("member ids after the current one %v, want a1, a2", p.Data[0].ExternalIDs[1:])
	}

	// 45 members: pages of 20 by default.
	var got []string
	path := accounts + "group_id:big/links"
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("paging does not end")
		}
		f.getOK(t, path, &p)
		if len(p.Data) > 20 {
			t.Fatalf("page of %d", len(p.Data))
		}
		for _, d := range p.Data {
			got = append(got, d.ExternalIDs[0]["id"].(string))
		}
		if !p.Cursor.HasMore {
			break
		}
		path = accounts + "group_id:big/links?next=" + p.Cursor.Next
	}
	if len(got) != 45 || got[0] != "m00" || got[44] != "m44" || !slices.IsSorted(got) {
		t.Errorf("paged %v", got)
	}
	f.getOK(t, accounts+"group_id:big/links?limit=100", &p)
	if len(p.Data) != 45 || p.Cursor.HasMore {
		t.Errorf("limit=100: %d, %+v", len(p.Data), p.Cursor)
	}
	f.badParam(t, accounts+"group_id:big/links?limit=101", "limit")
	f.badParam(t, users+"user_id:u1/links?next=***", "next")
}

func TestStoreFailure(t *testing.T) {
	st := profileData()
	st.fail = fmt.Errorf("disk on fire")
	f := serveFake(t, st)
	for _, path := range []string{users + "user_id:u1/traits", accounts + "group_id:g1/links", "/v1/workspaces/acme/groups", "/v1/workspaces/acme/groups/g1"} {
		status, _, body := f.get(t, path, basic(tokAcme))
		assertError(t, status, body, http.StatusServiceUnavailable, "unavailable")
	}
}
