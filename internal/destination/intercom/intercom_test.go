package intercom_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"roster/internal/destination"
	"roster/internal/destination/destinationtest"
	"roster/internal/destination/intercom"
)

func TestGolden(t *testing.T) {
	conv, err := intercom.New(map[string]any{"accessToken": "dG9rOjEyMw=="})
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Golden(t, conv, "testdata")
}

// fakeIntercom answers like Intercom's companies, users (1.4) and events
// endpoints, and records what it found wrong with the requests.
type fakeIntercom struct {
	mu       sync.Mutex
	problems []string
	calls    map[string]int
}

func (f *fakeIntercom) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

type companyBody struct {
	CompanyID        *string        `json:"company_id"`
	Name             *string        `json:"name"`
	Plan             *string        `json:"plan"`
	Size             *int64         `json:"size"`
	Website          *string        `json:"website"`
	Industry         *string        `json:"industry"`
	RemoteCreatedAt  *int64         `json:"remote_created_at"`
	MonthlySpend     *float64       `json:"monthly_spend"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	Remove           *bool          `json:"remove"`
}

type userBody struct {
	UserID                 string         `json:"user_id"`
	Email                  string         `json:"email"`
	Name                   *string        `json:"name"`
	Phone                  *string        `json:"phone"`
	SignedUpAt             *int64         `json:"signed_up_at"`
	LastRequestAt          *int64         `json:"last_request_at"`
	LastSeenIP             *string        `json:"last_seen_ip"`
	LastSeenUserAgent      *string        `json:"last_seen_user_agent"`
	UnsubscribedFromEmails *bool          `json:"unsubscribed_from_emails"`
	CustomAttributes       map[string]any `json:"custom_attributes"`
	Companies              []companyBody  `json:"companies"`
}

type eventBody struct {
	EventName *string        `json:"event_name"`
	CreatedAt *int64         `json:"created_at"`
	UserID    string         `json:"user_id"`
	Email     string         `json:"email"`
	ID        string         `json:"id"`
	Metadata  map[string]any `json:"metadata"`
}

func (f *fakeIntercom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	if got := r.Header.Get("Authorization"); got != "Bearer dG9rOjEyMw==" {
		f.problem("%s: Authorization %q", r.URL.Path, got)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"type": "error.list", "errors": []any{map[string]any{"code": "unauthorized"}}})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.problem("%s: Content-Type %q", r.URL.Path, ct)
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		f.problem("%s: Accept %q", r.URL.Path, a)
	}
	if r.Method != http.MethodPost {
		f.problem("%s: method %s", r.URL.Path, r.Method)
	}
	body, _ := io.ReadAll(r.Body)
	version := r.Header.Get("Intercom-Version")
	switch r.URL.Path {
	case "/companies":
		if version != "2.11" {
			f.problem("/companies: Intercom-Version %q", version)
		}
		var c companyBody
		if !f.decode(w, "/companies", body, &c) {
			return
		}
		f.checkCompany("/companies", c)
		// 2.x refuses a custom attribute the workspace has not defined.
		for name := range c.CustomAttributes {
			if !definedCompanyAttributes[name] {
				f.problem("/companies: custom attribute %q is not defined", name)
				writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error.list", "request_id": "r1",
					"errors": []any{map[string]any{"code": "parameter_invalid", "message": "Custom attribute '" + name + "' does not exist"}}})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"type": "company", "id": "6657ac426abd0166b52ae1f9", "company_id": deref(c.CompanyID), "custom_attributes": c.CustomAttributes})
	case "/users":
		// The Users API exists only up to 1.4.
		if version != "1.4" {
			f.problem("/users: Intercom-Version %q", version)
			writeJSON(w, http.StatusNotFound, map[string]any{"type": "error.list", "errors": []any{map[string]any{"code": "intercom_version_invalid"}}})
			return
		}
		var u userBody
		if !f.decode(w, "/users", body, &u) {
			return
		}
		if u.UserID == "" && u.Email == "" {
			f.problem("/users: neither user_id nor email")
		}
		f.checkAttributes("/users custom_attributes", u.CustomAttributes)
		for i, c := range u.Companies {
			f.checkCompany(fmt.Sprintf("/users companies[%d]", i), c)
		}
		writeJSON(w, http.StatusOK, map[string]any{"type": "user", "id": "5714dd359a3fd47136000001", "user_id": u.UserID, "email": u.Email})
	case "/events":
		if version != "2.11" {
			f.problem("/events: Intercom-Version %q", version)
		}
		var e eventBody
		if !f.decode(w, "/events", body, &e) {
			return
		}
		if e.EventName == nil || *e.EventName == "" {
			f.problem("/events: event_name missing")
		}
		if e.CreatedAt == nil || *e.CreatedAt <= 0 {
			f.problem("/events: created_at missing")
		}
		if e.UserID == "" && e.Email == "" && e.ID == "" {
			f.problem("/events: no user_id, email or id")
		}
		if len(e.Metadata) > 10 {
			f.problem("/events: %d metadata keys", len(e.Metadata))
		}
		for k, v := range e.Metadata {
			f.checkName("/events metadata", k)
			if m, ok := v.(map[string]any); ok {
				_, url := m["url"]
				_, amount := m["amount"]
				if len(m) != 2 || !url && !amount {
					f.problem("/events metadata %s: nested object %v", k, m)
				}
				continue
			}
			f.checkScalar("/events metadata", k, v)
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		f.problem("unexpected path %s", r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]any{"type": "error.list", "errors": []any{map[string]any{"code": "not_found"}}})
	}
}

func (f *fakeIntercom) decode(w http.ResponseWriter, path string, body []byte, v any) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		f.problem("%s: body %s: %v", path, body, err)
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error.list", "errors": []any{map[string]any{"code": "parameter_invalid", "message": err.Error()}}})
		return false
	}
	return true
}

// definedCompanyAttributes are the company custom attributes the fake
// workspace has, those mappedSettings list.
var definedCompanyAttributes = map[string]bool{"Plan Tier": true, "billing_seats": true, "address_city": true}

func mappedSettings(endpoint string) map[string]any {
	s := map[string]any{"accessToken": "dG9rOjEyMw==", "companyAttributes": []any{"plan_tier", "billing_seats", "address_city"}}
	if endpoint != "" {
		s["endpoint"] = endpoint
	}
	return s
}

// Company custom attributes are sent only when companyAttributes lists
// them, in any spelling.
func TestGoldenCompanyAttributes(t *testing.T) {
	conv, err := intercom.New(mappedSettings(""))
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Golden(t, conv, "testdata/attributes")
}

func (f *fakeIntercom) checkCompany(where string, c companyBody) {
	if c.CompanyID == nil || *c.CompanyID == "" {
		f.problem("%s: company_id missing", where)
	}
	f.checkAttributes(where+" custom_attributes", c.CustomAttributes)
}

func (f *fakeIntercom) checkAttributes(where string, attrs map[string]any) {
	for k, v := range attrs {
		f.checkName(where, k)
		f.checkScalar(where, k, v)
	}
}

func (f *fakeIntercom) checkName(where, k string) {
	if k == "" || strings.ContainsAny(k, ".$~`!@#%^&*'{}|\\\"\x00") {
		f.problem("%s: name %q has a forbidden character", where, k)
	}
}

func (f *fakeIntercom) checkScalar(where, k string, v any) {
	switch x := v.(type) {
	case nil, bool, float64:
	case string:
		if utf8.RuneCountInString(x) > 255 {
			f.problem("%s %s: string longer than 255 characters", where, k)
		}
	default:
		f.problem("%s %s: %T is not a flat value", where, k, v)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func TestAgainstFakeIntercom(t *testing.T) {
	fake := &fakeIntercom{calls: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	conv, err := intercom.New(map[string]any{"accessToken": "dG9rOjEyMw==", "endpoint": srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := intercom.New(mappedSettings(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []destination.Converter{conv, mapped} {
		for _, in := range ins {
			reqs, err := c.Convert(destinationtest.ReadCase(t, in, 1))
			if err != nil {
				t.Errorf("%s: %v", in, err)
				continue
			}
			for _, r := range reqs {
				resp := destinationtest.Send(t, srv.Client(), r)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Errorf("%s: %s %s: %s", in, r.Method, r.URL, resp.Status)
				}
			}
		}
	}
	for _, p := range fake.problems {
		t.Error(p)
	}
	for _, path := range []string{"POST /companies", "POST /users", "POST /events"} {
		if fake.calls[path] == 0 {
			t.Errorf("no request to %s", path)
		}
	}
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, intercom.New, []destinationtest.SettingsCase{
		{Name: "missing token", Settings: map[string]any{}, Want: "settings.accessToken: required"},
		{Name: "blank token", Settings: map[string]any{"accessToken": " "}, Want: "settings.accessToken: required"},
		{Name: "unknown setting", Settings: map[string]any{"accessToken": "x", "appId": "y"}, Want: `"appId"`},
		{Name: "company attributes not a list", Settings: map[string]any{"accessToken": "x", "companyAttributes": "plan"}, Want: "settings.companyAttributes"},
		{Name: "empty company attribute", Settings: map[string]any{"accessToken": "x", "companyAttributes": []any{" "}}, Want: "settings.companyAttributes[0]"},
		{Name: "token not a string", Settings: map[string]any{"accessToken": true}, Want: "settings.accessToken"},
		{Name: "endpoint not http", Settings: map[string]any{"accessToken": "x", "endpoint": "mailto:x@example.org"}, Want: "settings.endpoint"},
		{Name: "endpoint relative", Settings: map[string]any{"accessToken": "x", "endpoint": "/api"}, Want: "settings.endpoint"},
		{Name: "endpoint with fragment", Settings: map[string]any{"accessToken": "x", "endpoint": "https://api.intercom.io/#x"}, Want: "settings.endpoint"},
		{Name: "version not a version", Settings: map[string]any{"accessToken": "x", "apiVersion": "latest"}, Want: "settings.apiVersion"},
		{Name: "version 1.x", Settings: map[string]any{"accessToken": "x", "apiVersion": "1.4"}, Want: "settings.apiVersion"},
		{Name: "version not a string", Settings: map[string]any{"accessToken": "x", "apiVersion": 2.11}, Want: "settings.apiVersion"},
		{Name: "valid 1", Settings: map[string]any{"accessToken": "x"}},
		{Name: "valid 2", Settings: map[string]any{"accessToken": "x", "endpoint": "https://api.eu.intercom.io/", "apiVersion": "2.14"}},
		{Name: "valid 3", Settings: map[string]any{"accessToken": "x", "apiVersion": "Unstable"}},
	})
}

func TestAPIVersionSetting(t *testing.T) {
	conv, err := intercom.New(map[string]any{"accessToken": "x", "apiVersion": "2.14", "endpoint": "https://api.eu.intercom.io/"})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := conv.Convert(destinationtest.ReadCase(t, filepath.Join("testdata", "group_reserved.in.json"), 1))
	if err != nil || len(reqs) != 2 {
		t.Fatalf("got %d requests, %v", len(reqs), err)
	}
	if reqs[0].URL != "https://api.eu.intercom.io/companies" || reqs[0].Header.Get("Intercom-Version") != "2.14" {
		t.Errorf("company request %s %v", reqs[0].URL, reqs[0].Header)
	}
	// The Users API has no 2.x version; its requests keep 1.4.
	if reqs[1].URL != "https://api.eu.intercom.io/users" || reqs[1].Header.Get("Intercom-Version") != "1.4" {
		t.Errorf("user request %s %v", reqs[1].URL, reqs[1].Header)
	}
}
