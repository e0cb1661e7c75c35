package hubspot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	"roster/internal/destination/destinationtest"
	"roster/internal/destination/hubspot"
)

func settings(extra map[string]any) map[string]any {
	s := map[string]any{
		"accessToken": "pat-na1-test",
		"events":      map[string]any{"Signed Up": "pe123_signed_up"},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func TestGolden(t *testing.T) {
	conv, err := hubspot.New(settings(nil))
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Golden(t, conv, "testdata")
}

// mappedSettings send custom traits through the properties setting, as
// Segment's HubSpot action does: plan and "Plan Tier" fold to other names.
func mappedSettings(extra map[string]any) map[string]any {
	return settings(map[string]any{"properties": map[string]any{"Plan Tier": "plan_tier", "createdAt": "roster_created_at"}, "endpoint": extra["endpoint"]})
}

// Custom traits are sent only as the properties setting maps them, any
// spelling of the trait matching.
func TestGoldenMappedProperties(t *testing.T) {
	s := mappedSettings(nil)
	delete(s, "endpoint")
	conv, err := hubspot.New(s)
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Golden(t, conv, "testdata/mapped")
}

func TestPermanentErrors(t *testing.T) {
	conv, err := hubspot.New(settings(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"identify_no_email", "track_no_email"} {
		ev := destinationtest.ReadCase(t, filepath.Join("testdata", name+".in.json"), 1)
		if _, err := conv.Convert(ev); !errors.Is(err, destination.ErrPermanent) {
			t.Errorf("%s: got %v, want an error wrapping ErrPermanent", name, err)
		}
	}
}

// fakeHubSpot answers like HubSpot's batch upsert and custom event
// endpoints, and records what it found wrong with the requests.
type fakeHubSpot struct {
	t        *testing.T
	mu       sync.Mutex
	problems []string
	calls    map[string]int
}

var propertyName = regexp.MustCompile(`^[a-z0-9_]+$`)

func (f *fakeHubSpot) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeHubSpot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	if got := r.Header.Get("Authorization"); got != "Bearer pat-na1-test" {
		f.problem("%s: Authorization %q", r.URL.Path, got)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": "error", "category": "INVALID_AUTHENTICATION"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.problem("%s: Content-Type %q", r.URL.Path, ct)
	}
	if r.Method != http.MethodPost {
		f.problem("%s: method %s", r.URL.Path, r.Method)
	}
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/crm/objects/2026-03/companies/batch/upsert":
		f.upsert(w, r.URL.Path, body, "roster_group_id", companyProperties)
	case "/crm/objects/2026-03/contacts/batch/upsert":
		f.upsert(w, r.URL.Path, body, "email", contactProperties)
	case "/events/v3/send":
		f.event(w, body)
	default:
		f.problem("unexpected path %s", r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND"})
	}
}

// The properties the fake portal has, as a new HubSpot portal does, plus
// the group id property and the custom ones the tests create; industry is
// HubSpot's enumeration.
var (
	companyProperties = props("name domain website industry numberofemployees phone description address address2 city state zip country roster_group_id plan_tier roster_created_at")
	contactProperties = props("email firstname lastname phone jobtitle company website address address2 city state zip country plan_tier roster_created_at")
	industryOptions   = props("ACCOUNTING AUTOMOTIVE COMPUTER_SOFTWARE FOOD_BEVERAGES MACHINERY")
)

func props(list string) map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Fields(list) {
		m[p] = true
	}
	return m
}

// upsert checks a BatchInputSimplePublicObjectBatchInputUpsert: inputs of
// {idProperty, id, properties: {string: string}}, and refuses, as HubSpot
// does, the whole request for a property the portal does not have or an
// industry that is not one of its options.
func (f *fakeHubSpot) upsert(w http.ResponseWriter, path string, body []byte, idProperty string, known map[string]bool) {
	var in struct {
		Inputs []struct {
			IDProperty string            `json:"idProperty"`
			ID         string            `json:"id"`
			Properties map[string]string `json:"properties"`
		} `json:"inputs"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		f.problem("%s: body %s: %v", path, body, err)
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "category": "VALIDATION_ERROR", "message": err.Error()})
		return
	}
	if len(in.Inputs) == 0 {
		f.problem("%s: no inputs", path)
	}
	results := []map[string]any{}
	for i, input := range in.Inputs {
		if input.IDProperty != idProperty {
			f.problem("%s: inputs[%d].idProperty %q, want %q", path, i, input.IDProperty, idProperty)
		}
		if input.ID == "" {
			f.problem("%s: inputs[%d].id empty", path, i)
		}
		if input.Properties == nil {
			f.problem("%s: inputs[%d].properties missing", path, i)
		}
		for k, v := range input.Properties {
			if !propertyName.MatchString(k) {
				f.problem("%s: property name %q is not a HubSpot internal name", path, k)
			}
			if !known[k] {
				f.problem("%s: property %q does not exist", path, k)
				writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "category": "VALIDATION_ERROR",
					"message": fmt.Sprintf("Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"%s\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"%s\"}]", k, k)})
				return
			}
			if k == "industry" && v != "" && !industries(v) {
				f.problem("%s: industry %q is not an option", path, v)
				writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "category": "VALIDATION_ERROR",
					"message": fmt.Sprintf("Property values were not valid: [{\"isValid\":false,\"message\":\"%s was not one of the allowed options\",\"error\":\"INVALID_OPTION\",\"name\":\"industry\"}]", v)})
				return
			}
		}
		props := map[string]string{idProperty: input.ID}
		for k, v := range input.Properties {
			props[k] = v
		}
		results = append(results, map[string]any{
			"id": fmt.Sprint(1000 + i), "properties": props, "new": true, "archived": false,
			"createdAt": "2024-03-05T10:20:31.000Z", "updatedAt": "2024-03-05T10:20:31.000Z",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "COMPLETE", "results": results,
		"startedAt": "2024-03-05T10:20:31.000Z", "completedAt": "2024-03-05T10:20:31.100Z",
	})
}

// event checks a custom event occurrence: eventName and properties are
// required, occurredAt is a date-time, email identifies the contact.
func (f *fakeHubSpot) event(w http.ResponseWriter, body []byte) {
	var in struct {
		EventName  *string            `json:"eventName"`
		Properties *map[string]string `json:"properties"`
		Email      string             `json:"email"`
		ObjectID   string             `json:"objectId"`
		UTK        string             `json:"utk"`
		OccurredAt string             `json:"occurredAt"`
		UUID       string             `json:"uuid"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		f.problem("/events/v3/send: body %s: %v", body, err)
		writeJSON(w, http.StatusBadRequest, map[string]any{"category": "VALIDATION_ERROR", "message": err.Error()})
		return
	}
	if in.EventName == nil || !strings.HasPrefix(*in.EventName, "pe") {
		f.problem("/events/v3/send: eventName %v", in.EventName)
	}
	if in.Properties == nil {
		f.problem("/events/v3/send: properties missing")
	}
	if in.Email == "" && in.ObjectID == "" && in.UTK == "" {
		f.problem("/events/v3/send: no email, objectId or utk")
	}
	if _, err := time.Parse(time.RFC3339, in.OccurredAt); err != nil {
		f.problem("/events/v3/send: occurredAt %q: %v", in.OccurredAt, err)
	}
	w.WriteHeader(http.StatusNoContent)
}

func industries(v string) bool { return industryOptions[v] }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func TestAgainstFakeHubSpot(t *testing.T) {
	fake := &fakeHubSpot{t: t, calls: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	conv, err := hubspot.New(settings(map[string]any{"endpoint": srv.URL + "/"}))
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := hubspot.New(mappedSettings(map[string]any{"endpoint": srv.URL + "/"}))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		ev := destinationtest.ReadCase(t, in, 1)
		reqs, err := mapped.Convert(ev)
		if err != nil {
			continue
		}
		for _, r := range reqs {
			resp := destinationtest.Send(t, srv.Client(), r)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("%s with mapped properties: %s %s: %s", in, r.Method, r.URL, resp.Status)
			}
		}
	}
	for _, in := range ins {
		ev := destinationtest.ReadCase(t, in, 1)
		reqs, err := conv.Convert(ev)
		if err != nil {
			continue // the permanent errors have their own test
		}
		for _, r := range reqs {
			resp := destinationtest.Send(t, srv.Client(), r)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("%s: %s %s: %s", in, r.Method, r.URL, resp.Status)
			}
		}
	}
	for _, p := range fake.problems {
		t.Error(p)
	}
	for _, path := range []string{
		"POST /crm/objects/2026-03/companies/batch/upsert",
		"POST /crm/objects/2026-03/contacts/batch/upsert",
		"POST /events/v3/send",
	} {
		if fake.calls[path] == 0 {
			t.Errorf("no request to %s", path)
		}
	}
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, hubspot.New, []destinationtest.SettingsCase{
		{Name: "missing token", Settings: map[string]any{}, Want: "settings.accessToken: required"},
		{Name: "blank token", Settings: map[string]any{"accessToken": "  "}, Want: "settings.accessToken: required"},
		{Name: "unknown setting", Settings: map[string]any{"accessToken": "x", "apiKey": "y"}, Want: `"apiKey"`},
		{Name: "token not a string", Settings: map[string]any{"accessToken": 5}, Want: "settings.accessToken"},
		{Name: "endpoint not http", Settings: map[string]any{"accessToken": "x", "endpoint": "ftp://api.hubapi.com"}, Want: "settings.endpoint"},
		{Name: "endpoint relative", Settings: map[string]any{"accessToken": "x", "endpoint": "api.hubapi.com"}, Want: "settings.endpoint"},
		{Name: "endpoint with query", Settings: map[string]any{"accessToken": "x", "endpoint": "https://api.hubapi.com?x=1"}, Want: "settings.endpoint"},
		{Name: "bad group property", Settings: map[string]any{"accessToken": "x", "groupIdProperty": "Group ID"}, Want: "settings.groupIdProperty"},
		{Name: "events not a map", Settings: map[string]any{"accessToken": "x", "events": []any{"a"}}, Want: "settings.events"},
		{Name: "empty event mapping", Settings: map[string]any{"accessToken": "x", "events": map[string]any{"Signed Up": ""}}, Want: "settings.events"},
		{Name: "property not an internal name", Settings: map[string]any{"accessToken": "x", "properties": map[string]any{"plan": "Plan"}}, Want: "settings.properties"},
		{Name: "properties not a map", Settings: map[string]any{"accessToken": "x", "properties": "plan"}, Want: "settings.properties"},
		{Name: "valid 1", Settings: map[string]any{"accessToken": "x"}},
		{Name: "valid with properties", Settings: map[string]any{"accessToken": "x", "properties": map[string]any{"plan": "plan_tier"}}},
		{Name: "valid 2", Settings: map[string]any{"accessToken": "x", "endpoint": "https://api.hubapi.com", "groupIdProperty": "segment_group_id"}},
		{Name: "valid 3", Settings: map[string]any{"accessToken": "x", "endpoint": "http://127.0.0.1:8080/hubspot"}},
	})
}

func TestGroupIDPropertySetting(t *testing.T) {
	conv, err := hubspot.New(map[string]any{"accessToken": "x", "groupIdProperty": "segment_group_id", "endpoint": "https://api-eu1.hubapi.com/"})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := conv.Convert(destinationtest.ReadCase(t, filepath.Join("testdata", "group_anonymous.in.json"), 1))
	if err != nil || len(reqs) != 1 {
		t.Fatalf("got %d requests, %v", len(reqs), err)
	}
	if reqs[0].URL != "https://api-eu1.hubapi.com/crm/objects/2026-03/companies/batch/upsert" {
		t.Errorf("URL %s", reqs[0].URL)
	}
	if !bytes.Contains(reqs[0].Body, []byte(`"idProperty":"segment_group_id"`)) {
		t.Errorf("body %s", reqs[0].Body)
	}
}
