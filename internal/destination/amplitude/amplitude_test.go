package amplitude_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"roster/internal/destination"
	"roster/internal/destination/amplitude"
	"roster/internal/destination/destinationtest"
)

const apiKey = "0123456789abcdef0123456789abcdef"

func newConverter(t *testing.T, settings map[string]any) destination.Converter {
	t.Helper()
	c, err := amplitude.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGolden(t *testing.T) {
	destinationtest.Golden(t, newConverter(t, map[string]any{"apiKey": apiKey}), "testdata")
}

// TestGoldenMinLength covers the settings that change requests: a lower
// minimum id length (sent as options) and another group type.
func TestGoldenMinLength(t *testing.T) {
	c := newConverter(t, map[string]any{"apiKey": apiKey, "groupType": "org id", "minIdLength": 2, "endpoint": "https://api.eu.amplitude.com"})
	destinationtest.Golden(t, c, "testdata/minlength")
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, amplitude.New, []destinationtest.SettingsCase{
		{Name: "minimal", Settings: map[string]any{"apiKey": apiKey}},
		{Name: "all", Settings: map[string]any{"apiKey": apiKey, "groupType": "account", "minIdLength": 1, "endpoint": "http://127.0.0.1:9000/"}},
		{Name: "missing key", Settings: map[string]any{}, Want: "settings.apiKey: required"},
		{Name: "blank key", Settings: map[string]any{"apiKey": " "}, Want: "settings.apiKey: required"},
		{Name: "unknown", Settings: map[string]any{"apiKey": apiKey, "secretKey": "x"}, Want: "secretKey"},
		{Name: "wrong type", Settings: map[string]any{"apiKey": apiKey, "minIdLength": "3"}, Want: "settings.minIdLength"},
		{Name: "zero min length", Settings: map[string]any{"apiKey": apiKey, "minIdLength": 0}, Want: "settings.minIdLength"},
		{Name: "empty group type", Settings: map[string]any{"apiKey": apiKey, "groupType": ""}, Want: "settings.groupType"},
		{Name: "relative endpoint", Settings: map[string]any{"apiKey": apiKey, "endpoint": "/amplitude"}, Want: "settings.endpoint"},
		{Name: "bad scheme", Settings: map[string]any{"apiKey": apiKey, "endpoint": "mailto:a@b.c"}, Want: "settings.endpoint"},
	})
}

func TestPermanentErrors(t *testing.T) {
	c := newConverter(t, map[string]any{"apiKey": apiKey})
	for _, body := range []string{
		`{"type":"track","messageId":"m1","userId":"user-1","timestamp":"2024-03-05T10:17:00.000Z"}`,
		`{"type":"identify","messageId":"m1","userId":"null","anonymousId":"abc","timestamp":"2024-03-05T10:17:00.000Z","traits":{"a":1}}`,
		`{"type":"group","messageId":"m1","userId":"user-1","timestamp":"2024-03-05T10:17:00.000Z"}`,
	} {
		ev, err := destination.Parse(1, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Convert(ev); !errors.Is(err, destination.ErrPermanent) {
			t.Errorf("%s: error %v, want ErrPermanent", body, err)
		}
	}
}

// TestAgainstServer sends every golden conversion to a local server that
// checks requests the way Amplitude's APIs document them and answers as
// Amplitude does.
func TestAgainstServer(t *testing.T) {
	amp := &fakeAmplitude{seen: map[string]int{}}
	srv := httptest.NewServer(amp)
	defer srv.Close()

	for _, dir := range []string{"testdata", "testdata/minlength"} {
		settings := map[string]any{"apiKey": apiKey, "endpoint": srv.URL + "/"}
		if dir == "testdata/minlength" {
			settings["minIdLength"], settings["groupType"] = 2, "org id"
		}
		c := newConverter(t, settings)
		ins, _ := filepath.Glob(filepath.Join(dir, "*.in.json"))
		for _, in := range ins {
			reqs, err := c.Convert(destinationtest.ReadCase(t, in, 1))
			if err != nil {
				if !errors.Is(err, destination.ErrPermanent) {
					t.Errorf("%s: %v", in, err)
				}
				continue
			}
			for _, r := range reqs {
				resp := destinationtest.Send(t, srv.Client(), r)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %s %s: %d %s", in, r.Method, r.URL, resp.StatusCode, body)
				}
			}
		}
	}
	for _, p := range []string{"/2/httpapi", "/identify", "/groupidentify"} {
		if amp.seen[p] == 0 {
			t.Errorf("no request reached %s", p)
		}
	}
}

type fakeAmplitude struct {
	mu   sync.Mutex
	seen map[string]int
}

func (a *fakeAmplitude) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen[r.URL.Path]++
	a.mu.Unlock()
	fail := func(format string, args ...any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"code": 400, "error": fmt.Sprintf(format, args...)}) //nolint:errcheck
	}
	if r.Method != http.MethodPost {
		fail("method %s", r.Method)
		return
	}
	switch r.URL.Path {
	case "/2/httpapi":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			fail("content type %q", ct)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var req struct {
			APIKey  string           `json:"api_key"`
			Events  []map[string]any `json:"events"`
			Options struct {
				MinIDLength int `json:"min_id_length"`
			} `json:"options"`
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&req); err != nil {
			fail("Invalid JSON request body")
			return
		}
		if req.APIKey != apiKey {
			fail("Invalid API key")
			return
		}
		if len(req.Events) == 0 {
			fail("Request missing required field: events")
			return
		}
		for i, e := range req.Events {
			if p := checkEvent(e, req.Options.MinIDLength); p != "" {
				fail("Invalid field values on some events: event %d: %s", i, p)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"code":200,"events_ingested":%d,"payload_size_bytes":%d,"server_upload_time":1709633940000}`, len(req.Events), len(raw))
	case "/identify", "/groupidentify":
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			fail("content type %q", ct)
			return
		}
		if err := r.ParseForm(); err != nil {
			fail("form: %v", err)
			return
		}
		if r.PostForm.Get("api_key") != apiKey {
			fail("Invalid API key")
			return
		}
		d := json.NewDecoder(strings.NewReader(r.PostForm.Get("identification")))
		d.UseNumber()
		var idents []map[string]any
		if err := d.Decode(&idents); err != nil || len(idents) == 0 {
			fail("missing_event")
			return
		}
		min := 5
		if o := r.PostForm.Get("options"); o != "" {
			var opts struct {
				MinIDLength int `json:"min_id_length"`
			}
			if err := json.Unmarshal([]byte(o), &opts); err != nil || opts.MinIDLength < 1 {
				fail("options: %q", o)
				return
			}
			min = opts.MinIDLength
		}
		for _, id := range idents {
			var p string
			if r.URL.Path == "/identify" {
				p = checkIdentification(id, min)
			} else {
				p = checkGroupIdentification(id)
			}
			if p != "" {
				fail("%s", p)
				return
			}
		}
		io.WriteString(w, "success") //nolint:errcheck
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func checkEvent(e map[string]any, minID int) string {
	if minID == 0 {
		minID = 5
	}
	if s, _ := e["event_type"].(string); s == "" {
		return "event_type"
	}
	if p := checkIDs(e, minID); p != "" {
		return p
	}
	if n, ok := e["time"].(json.Number); !ok || !isInt(n) {
		return "time must be ms since epoch"
	}
	if s, _ := e["insert_id"].(string); s == "" {
		return "insert_id"
	}
	for _, f := range []string{"event_properties", "groups"} {
		if v, ok := e[f]; ok {
			if _, ok := v.(map[string]any); !ok {
				return f + " must be an object"
			}
		}
	}
	for _, f := range []string{"revenue", "price", "quantity", "location_lat", "location_lng", "session_id"} {
		if v, ok := e[f]; ok {
			if _, ok := v.(json.Number); !ok {
				return f + " must be a number"
			}
		}
	}
	return checkGroups(e)
}

func checkIdentification(id map[string]any, minID int) string {
	if p := checkIDs(id, minID); p != "" {
		return p
	}
	if up, ok := id["user_properties"]; ok {
		m, ok := up.(map[string]any)
		if !ok {
			return "user_properties must be an object"
		}
		ops := 0
		for k := range m {
			if strings.HasPrefix(k, "$") {
				ops++
			}
		}
		if ops != 0 && ops != len(m) {
			return "user property operations cannot be mixed with top-level properties"
		}
	}
	return checkGroups(id)
}

func checkGroupIdentification(id map[string]any) string {
	gt, _ := id["group_type"].(string)
	gv, _ := id["group_value"].(string)
	if gt == "" || gv == "" {
		return "group_type and group_value are required strings"
	}
	if _, ok := id["group_properties"].(map[string]any); !ok {
		return "group_properties must be an object"
	}
	return ""
}

func checkIDs(m map[string]any, minID int) string {
	user, _ := m["user_id"].(string)
	device, _ := m["device_id"].(string)
	if user == "" && device == "" {
		return "user_id or device_id is required"
	}
	for _, id := range []string{user, device} {
		if id != "" && utf8.RuneCountInString(id) < minID {
			return fmt.Sprintf("id %q shorter than %d", id, minID)
		}
	}
	return ""
}

func checkGroups(m map[string]any) string {
	g, ok := m["groups"]
	if !ok {
		return ""
	}
	for _, v := range g.(map[string]any) {
		if _, ok := v.(string); !ok {
			return "group values must be strings"
		}
	}
	return ""
}

func isInt(n json.Number) bool {
	_, err := n.Int64()
	return err == nil
}

// TestBigNumbersExact checks the bytes sent, since the golden rendering of
// form bodies reads numbers as float64.
func TestBigNumbersExact(t *testing.T) {
	c := newConverter(t, map[string]any{"apiKey": apiKey})
	ev, err := destination.Parse(1, []byte(`{"type":"identify","messageId":"m1","userId":"user-1","timestamp":"2024-03-05T10:17:00.000Z","traits":{"big":12345678901234567890,"precise":0.12345678901234567890}}`))
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := c.Convert(ev)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%v, %d requests", err, len(reqs))
	}
	form, err := url.ParseQuery(string(reqs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	ident := form.Get("identification")
	for _, want := range []string{`"big":12345678901234567890`, `"precise":0.12345678901234567890`} {
		if !strings.Contains(ident, want) {
			t.Errorf("identification %s lacks %s", ident, want)
		}
	}
}
