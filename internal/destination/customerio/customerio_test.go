package customerio_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/destination"
	"roster/internal/destination/customerio"
	"roster/internal/destination/destinationtest"
)

func newConv(t *testing.T, settings map[string]any) destination.Converter {
	t.Helper()
	c, err := customerio.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGolden(t *testing.T) {
	destinationtest.Golden(t, newConv(t, map[string]any{"siteId": "site123", "apiKey": "key456"}), "testdata")
}

func loadCases(t *testing.T) map[string]destination.Event {
	t.Helper()
	ins, _ := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	evs := map[string]destination.Event{}
	for i, in := range ins {
		evs[strings.TrimSuffix(filepath.Base(in), ".in.json")] = destinationtest.ReadCase(t, in, int64(i+1))
	}
	return evs
}

var ulidRE = regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)

// trackAPI plays Customer.io's Track API as documented: Basic auth with
// site id and API key, JSON bodies, /api/v2/entity checked against the
// person and object operation schemas, /api/v1/events against the
// anonymous event schema; 200 with {} on success, 400 with errors else.
type trackAPI struct {
	t    *testing.T
	mu   sync.Mutex
	seen map[string]int // "path action" counts
}

func (api *trackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "site123" || pass != "key456" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fail := func(format string, args ...any) {
		api.t.Errorf("%s: "+format, append([]any{r.URL.Path}, args...)...)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"errors":[{"reason":"invalid"}]}`)
	}
	if r.Method != http.MethodPost {
		fail("method %s", r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("Content-Type %q", ct)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var b map[string]any
	if err := d.Decode(&b); err != nil {
		fail("body: %v", err)
		return
	}
	str := func(k string) string { s, _ := b[k].(string); return s }
	isUnix := func(k string) bool {
		v, ok := b[k]
		if !ok {
			return true // optional
		}
		n, ok := v.(json.Number)
		_, err := n.Int64()
		return ok && err == nil
	}
	var key string
	switch r.URL.Path {
	case "/api/v2/entity":
		if len(raw) > 32*1024 {
			fail("larger than 32kb")
			return
		}
		action := str("action")
		key = "v2 " + str("type") + " " + action
		ids, _ := b["identifiers"].(map[string]any)
		switch str("type") {
		case "person":
			if action == "merge" {
				p, _ := b["primary"].(map[string]any)
				s, _ := b["secondary"].(map[string]any)
				if len(p) != 1 || len(s) != 1 || !personID(p) || !personID(s) {
					fail("merge needs primary and secondary with one identifier each: %s", raw)
					return
				}
				break
			}
			if len(ids) != 1 || (ids["id"] == nil && ids["email"] == nil && ids["cio_id"] == nil) {
				fail("person needs exactly one of id, email, cio_id: %s", raw)
				return
			}
			switch action {
			case "identify":
			case "event", "page", "screen":
				if str("name") == "" {
					fail("%s needs a name", action)
					return
				}
				if id, ok := b["id"]; ok && !ulidRE.MatchString(id.(string)) {
					fail("id %v is not a ULID", id)
					return
				}
			default:
				fail("unexpected person action %q", action)
				return
			}
			if !isUnix("timestamp") {
				fail("timestamp not a unix integer: %v", b["timestamp"])
				return
			}
		case "object":
			tid, _ := ids["object_type_id"].(string)
			oid, _ := ids["object_id"].(string)
			if tid == "" || oid == "" {
				fail("object needs string object_type_id and object_id: %s", raw)
				return
			}
			rels, _ := b["cio_relationships"].([]any)
			for _, r := range rels {
				rid, _ := r.(map[string]any)["identifiers"].(map[string]any)
				if action == "identify_anonymous" {
					if _, ok := rid["anonymous_id"].(string); !ok || len(rid) != 1 {
						fail("%s relationship must be identified by anonymous_id: %v", action, rid)
						return
					}
				} else if len(rid) != 1 || !personID(rid) {
					fail("%s relationship must be identified by one of id, email, cio_id: %v", action, rid)
					return
				}
			}
			// Names Customer.io reserves on objects.
			attrs, _ := b["attributes"].(map[string]any)
			for _, name := range []string{"relationship", "object_id", "cio_object_id"} {
				if _, ok := attrs[name]; ok {
					fail("object attribute %q is reserved", name)
					return
				}
			}
			if action != "identify" && action != "identify_anonymous" {
				fail("unexpected object action %q", action)
				return
			}
		default:
			fail("type %q", str("type"))
			return
		}
		if a, ok := b["attributes"]; ok {
			if _, ok := a.(map[string]any); !ok {
				fail("attributes must be an object")
				return
			}
		}
	case "/api/v1/events":
		key = "v1 events " + str("type")
		if str("name") == "" || str("anonymous_id") == "" {
			fail("anonymous event needs name and anonymous_id: %s", raw)
			return
		}
		switch str("type") {
		case "event", "page", "screen":
		default:
			fail("type %q", str("type"))
			return
		}
		if id, ok := b["id"]; ok && !ulidRE.MatchString(id.(string)) {
			fail("id %v is not a ULID", id)
			return
		}
		if !isUnix("timestamp") {
			fail("timestamp not a unix integer")
			return
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	api.mu.Lock()
	api.seen[key]++
	api.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

func TestAgainstTrackAPI(t *testing.T) {
	api := &trackAPI{t: t, seen: map[string]int{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	conv := newConv(t, map[string]any{"siteId": "site123", "apiKey": "key456", "endpoint": srv.URL + "/"})
	for name, ev := range loadCases(t) {
		reqs, err := conv.Convert(ev)
		if err != nil {
			if !errors.Is(err, destination.ErrPermanent) {
				t.Errorf("%s: %v is not permanent", name, err)
			}
			continue
		}
		for _, r := range reqs {
			resp := destinationtest.Send(t, srv.Client(), r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d", name, resp.StatusCode)
			}
		}
	}
	for _, want := range []string{
		"v2 object identify", "v2 object identify_anonymous", "v2 person identify", "v2 person event",
		"v2 person page", "v2 person screen", "v2 person merge", "v1 events event", "v1 events page",
	} {
		if api.seen[want] == 0 {
			t.Errorf("no request %q reached the API (saw %v)", want, api.seen)
		}
	}
	// A wrong key is the provider's 401, which delivery must see.
	bad := newConv(t, map[string]any{"siteId": "site123", "apiKey": "wrong", "endpoint": srv.URL})
	reqs, err := bad.Convert(loadCases(t)["identify"])
	if err != nil {
		t.Fatal(err)
	}
	resp := destinationtest.Send(t, srv.Client(), reqs[0])
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d", resp.StatusCode)
	}
}

func TestAuthAndEndpoint(t *testing.T) {
	conv := newConv(t, map[string]any{"siteId": "s", "apiKey": "k", "endpoint": "https://track-eu.customer.io"})
	reqs, err := conv.Convert(loadCases(t)["identify"])
	if err != nil {
		t.Fatal(err)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("s:k")); reqs[0].Header.Get("Authorization") != want {
		t.Errorf("Authorization %q", reqs[0].Header.Get("Authorization"))
	}
	if reqs[0].URL != "https://track-eu.customer.io/api/v2/entity" {
		t.Errorf("URL %s", reqs[0].URL)
	}
}

func TestEventIDStableULID(t *testing.T) {
	conv := newConv(t, map[string]any{"siteId": "s", "apiKey": "k"})
	ev := loadCases(t)["track"]
	id := func(ev destination.Event) string {
		reqs, err := conv.Convert(ev)
		if err != nil {
			t.Fatal(err)
		}
		var b struct{ ID string }
		json.Unmarshal(reqs[0].Body, &b)
		return b.ID
	}
	a := id(ev)
	if !ulidRE.MatchString(a) || a != id(ev) {
		t.Errorf("id %q is not a stable ULID", a)
	}
	// The ULID's time part is the event time, so Customer.io sees ids in
	// event order.
	if got, want := a[:10], "01HQWY5CG0"; got != want { // 2024-03-01T12:00:00Z, computed with Python
		t.Errorf("time part %s, want %s", got, want)
	}
	other := ev
	other.MessageID = "msg-track-other"
	if id(other) == a {
		t.Error("two messageIds give the same id")
	}
	ulid := ev
	ulid.MessageID = "01hq8z6x9v3k4m5n6p7q8r9s0t"
	if got := id(ulid); got != "01HQ8Z6X9V3K4M5N6P7Q8R9S0T" {
		t.Errorf("a ULID messageId became %s", got)
	}
	early := ev
	early.Timestamp = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := id(early); !ulidRE.MatchString(got) {
		t.Errorf("pre-1970 event id %s", got)
	}
}

func TestSkipsAndErrors(t *testing.T) {
	conv := newConv(t, map[string]any{"siteId": "s", "apiKey": "k"})
	ts := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		ev        destination.Event
		wantReqs  int
		permanent bool
	}{
		{"unknown type", destination.Event{Type: "delete", UserID: "u"}, 0, false},
		{"self alias", destination.Event{Type: "alias", UserID: "u", PreviousID: "u"}, 0, false},
		{"screen without name", destination.Event{Type: "screen", UserID: "u", Timestamp: ts}, 0, true},
		{"page without url or name", destination.Event{Type: "page", AnonymousID: "a", Timestamp: ts}, 0, true},
		{"bad objectTypeId trait", destination.Event{Type: "group", UserID: "u", GroupID: "g", Traits: json.RawMessage(`{"objectTypeId":"companies"}`)}, 0, true},
		{"bad objectTypeId option", destination.Event{Type: "group", UserID: "u", GroupID: "g", Options: json.RawMessage(`{"objectTypeId":0}`)}, 0, true},
		{"numeric objectTypeId option", destination.Event{Type: "group", UserID: "u", GroupID: "g", Options: json.RawMessage(`{"objectTypeId":4}`)}, 1, false},
		{"too large", destination.Event{Type: "identify", UserID: "u", Traits: json.RawMessage(`{"bio":"` + strings.Repeat("x", 33000) + `"}`)}, 0, true},
	} {
		reqs, err := conv.Convert(tc.ev)
		if tc.permanent != (err != nil) || (err != nil && !errors.Is(err, destination.ErrPermanent)) {
			t.Errorf("%s: error %v, want permanent=%v", tc.name, err, tc.permanent)
		}
		if len(reqs) != tc.wantReqs {
			t.Errorf("%s: %d requests, want %d", tc.name, len(reqs), tc.wantReqs)
		}
		if tc.name == "numeric objectTypeId option" && !bytes.Contains(reqs[0].Body, []byte(`"object_type_id":"4"`)) {
			t.Errorf("option objectTypeId 4 not used: %s", reqs[0].Body)
		}
	}
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, customerio.New, []destinationtest.SettingsCase{
		{Name: "missing siteId", Settings: map[string]any{"apiKey": "k"}, Want: "settings.siteId: required"},
		{Name: "missing apiKey", Settings: map[string]any{"siteId": "s"}, Want: "settings.apiKey: required"},
		{Name: "unknown", Settings: map[string]any{"siteId": "s", "apiKey": "k", "region": "EU"}, Want: "region"},
		{Name: "wrong type", Settings: map[string]any{"siteId": 5, "apiKey": "k"}, Want: "settings.siteId"},
		{Name: "relative endpoint", Settings: map[string]any{"siteId": "s", "apiKey": "k", "endpoint": "track.customer.io"}, Want: "settings.endpoint"},
		{Name: "ftp endpoint", Settings: map[string]any{"siteId": "s", "apiKey": "k", "endpoint": "ftp://track.customer.io"}, Want: "settings.endpoint"},
		{Name: "endpoint with query", Settings: map[string]any{"siteId": "s", "apiKey": "k", "endpoint": "https://x.example/?a=1"}, Want: "settings.endpoint"},
		{Name: "objectTypeId word", Settings: map[string]any{"siteId": "s", "apiKey": "k", "objectTypeId": "companies"}, Want: "settings.objectTypeId"},
		{Name: "objectTypeId zero", Settings: map[string]any{"siteId": "s", "apiKey": "k", "objectTypeId": 0}, Want: "settings.objectTypeId"},
		{Name: "objectTypeId fraction", Settings: map[string]any{"siteId": "s", "apiKey": "k", "objectTypeId": 1.5}, Want: "settings.objectTypeId"},
		{Name: "objectTypeId bool", Settings: map[string]any{"siteId": "s", "apiKey": "k", "objectTypeId": true}, Want: "settings.objectTypeId"},
	})
	for _, id := range []any{2, "2", float64(2)} {
		conv, err := customerio.New(map[string]any{"siteId": "s", "apiKey": "k", "objectTypeId": id})
		if err != nil {
			t.Fatalf("objectTypeId %v: %v", id, err)
		}
		reqs, _ := conv.Convert(destination.Event{Type: "group", UserID: "u", GroupID: "g"})
		if !bytes.Contains(reqs[0].Body, []byte(`"object_type_id":"2"`)) {
			t.Errorf("objectTypeId %v: %s", id, reqs[0].Body)
		}
	}
}

// personID reports whether ids name a person by id, email or cio_id.
func personID(ids map[string]any) bool {
	for _, k := range []string{"id", "email", "cio_id"} {
		if v, ok := ids[k].(string); ok && v != "" {
			return true
		}
	}
	return false
}
