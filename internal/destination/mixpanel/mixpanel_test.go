package mixpanel_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"roster/internal/destination"
	"roster/internal/destination/destinationtest"
	"roster/internal/destination/mixpanel"
)

const (
	token  = "tok_0123456789abcdef"
	secret = "sec_fedcba9876543210"
)

func newConverter(t *testing.T, settings map[string]any) destination.Converter {
	t.Helper()
	c, err := mixpanel.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGolden(t *testing.T) {
	destinationtest.Golden(t, newConverter(t, map[string]any{"projectToken": token, "groupKey": "company"}), "testdata")
}

// TestGoldenImport covers the server-side path: with apiSecret, events go
// to /import with Basic auth.
func TestGoldenImport(t *testing.T) {
	c := newConverter(t, map[string]any{"projectToken": token, "groupKey": "company", "apiSecret": secret, "endpoint": "https://api-eu.mixpanel.com/"})
	destinationtest.Golden(t, c, "testdata/import")
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, mixpanel.New, []destinationtest.SettingsCase{
		{Name: "minimal", Settings: map[string]any{"projectToken": token, "groupKey": "company"}},
		{Name: "all", Settings: map[string]any{"projectToken": token, "groupKey": "company", "apiSecret": secret, "endpoint": "http://127.0.0.1:9000/mp"}},
		{Name: "missing token", Settings: map[string]any{"groupKey": "company"}, Want: "settings.projectToken: required"},
		{Name: "blank token", Settings: map[string]any{"projectToken": "  ", "groupKey": "company"}, Want: "settings.projectToken: required"},
		{Name: "missing group key", Settings: map[string]any{"projectToken": token}, Want: "settings.groupKey: required"},
		{Name: "unknown", Settings: map[string]any{"projectToken": token, "groupKey": "company", "region": "eu"}, Want: "region"},
		{Name: "wrong type", Settings: map[string]any{"projectToken": 123, "groupKey": "company"}, Want: "settings.projectToken"},
		{Name: "relative endpoint", Settings: map[string]any{"projectToken": token, "groupKey": "company", "endpoint": "api.mixpanel.com"}, Want: "settings.endpoint"},
		{Name: "ftp endpoint", Settings: map[string]any{"projectToken": token, "groupKey": "company", "endpoint": "ftp://api.mixpanel.com"}, Want: "settings.endpoint"},
		{Name: "service account", Settings: map[string]any{"projectToken": token, "groupKey": "company", "serviceAccount": "sa", "serviceAccountSecret": "x", "projectId": "42"}},
		{Name: "service account without project", Settings: map[string]any{"projectToken": token, "groupKey": "company", "serviceAccount": "sa", "serviceAccountSecret": "x"}, Want: "settings.projectId"},
		{Name: "service account without secret", Settings: map[string]any{"projectToken": token, "groupKey": "company", "serviceAccount": "sa", "projectId": "42"}, Want: "settings.serviceAccountSecret"},
		{Name: "project id not a number", Settings: map[string]any{"projectToken": token, "groupKey": "company", "serviceAccount": "sa", "serviceAccountSecret": "x", "projectId": "p1"}, Want: "settings.projectId"},
		{Name: "secret and service account", Settings: map[string]any{"projectToken": token, "groupKey": "company", "apiSecret": secret, "serviceAccount": "sa", "serviceAccountSecret": "x", "projectId": "42"}, Want: "settings.apiSecret"},
		{Name: "endpoint with query", Settings: map[string]any{"projectToken": token, "groupKey": "company", "endpoint": "https://api.mixpanel.com?x=1"}, Want: "settings.endpoint"},
	})
}

func TestPermanentErrors(t *testing.T) {
	c := newConverter(t, map[string]any{"projectToken": token, "groupKey": "company"})
	for _, body := range []string{
		`{"type":"track","messageId":"m1","userId":"u1","timestamp":"2024-03-05T10:17:00.000Z"}`,
		`{"type":"track","event":"E","messageId":"m1","userId":"null","anonymousId":"0","timestamp":"2024-03-05T10:17:00.000Z"}`,
		`{"type":"alias","messageId":"m1","userId":"u1","timestamp":"2024-03-05T10:17:00.000Z"}`,
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
// checks requests the way Mixpanel's Ingestion API documents them and
// answers as Mixpanel does.
func TestAgainstServer(t *testing.T) {
	mp := &fakeMixpanel{t: t, seen: map[string]int{}}
	srv := httptest.NewServer(mp)
	defer srv.Close()

	for _, dir := range []string{"testdata", "testdata/import"} {
		settings := map[string]any{"projectToken": token, "groupKey": "company", "endpoint": srv.URL}
		if dir == "testdata/import" {
			settings["apiSecret"] = secret
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
	for _, p := range []string{"/track", "/import", "/engage", "/groups"} {
		if mp.seen[p] == 0 {
			t.Errorf("no request reached %s", p)
		}
	}
}

type fakeMixpanel struct {
	t    *testing.T
	mu   sync.Mutex
	seen map[string]int
}

var insertIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,36}$`)

func (m *fakeMixpanel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.seen[r.URL.Path]++
	m.mu.Unlock()
	fail := func(format string, args ...any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": 0, "error": fmt.Sprintf(format, args...)}) //nolint:errcheck
	}
	if r.Method != http.MethodPost {
		fail("method %s", r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("content type %q", ct)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var items []map[string]any
	if err := d.Decode(&items); err != nil || len(items) == 0 {
		fail("body must be a non-empty JSON array of objects: %v", err)
		return
	}
	var problem string
	switch r.URL.Path {
	case "/track":
		if r.URL.Query().Get("verbose") != "1" || r.Header.Get("Authorization") != "" {
			problem = "track takes the token, verbose=1"
		}
		problem += checkEvents(items, true)
	case "/import":
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(secret+":"))
		if r.Header.Get("Authorization") != want || r.URL.Query().Get("strict") != "1" {
			problem = "import needs Basic auth with the secret and strict=1"
		}
		problem += checkEvents(items, false)
		if problem == "" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"code":200,"num_records_imported":%d,"status":"OK"}`, len(items))
			return
		}
	case "/engage":
		for _, u := range items {
			if u["$token"] != token || !isString(u["$distinct_id"]) || !isString(u["$ip"]) || !isInt(u["$time"]) {
				problem += "engage update needs $token, $distinct_id, $ip, $time; "
			}
			ops := 0
			for _, op := range []string{"$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete"} {
				if v, ok := u[op]; ok {
					ops++
					if op == "$union" {
						problem += checkUnion(v)
					}
				}
			}
			if ops != 1 {
				problem += fmt.Sprintf("engage update needs one operation, has %d; ", ops)
			}
		}
	case "/groups":
		for _, u := range items {
			if u["$token"] != token || u["$group_key"] != "company" || !isString(u["$group_id"]) || u["$group_id"] == "" {
				problem += "group update needs $token, $group_key, $group_id; "
			}
			if _, ok := u["$set"].(map[string]any); !ok {
				problem += "group update needs a $set object; "
			}
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if problem != "" {
		fail("%s", problem)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"error":null,"status":1}`) //nolint:errcheck
}

func checkEvents(items []map[string]any, track bool) string {
	var problem string
	for _, e := range items {
		name, _ := e["event"].(string)
		props, ok := e["properties"].(map[string]any)
		if name == "" || !ok {
			problem += "event needs a name and properties; "
			continue
		}
		if track && props["token"] != token {
			problem += "track event needs the token; "
		}
		if !isString(props["distinct_id"]) || !isInt(props["time"]) {
			problem += "event needs distinct_id and time; "
		}
		if id, _ := props["$insert_id"].(string); !insertIDPattern.MatchString(id) {
			problem += fmt.Sprintf("bad $insert_id %q; ", id)
		}
	}
	return problem
}

func checkUnion(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return "$union must be a non-empty object; "
	}
	for _, list := range m {
		l, ok := list.([]any)
		if !ok || len(l) == 0 {
			return "$union values must be non-empty lists; "
		}
	}
	return ""
}

func isString(v any) bool { _, ok := v.(string); return ok }

func isInt(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := n.Int64()
	return err == nil
}

// A batch's records for one endpoint go in one request, in log order,
// and a batch of more than one request's worth is split.
func TestBatches(t *testing.T) {
	mp := &fakeMixpanel{t: t, seen: map[string]int{}}
	srv := httptest.NewServer(mp)
	defer srv.Close()
	c := newConverter(t, map[string]any{"projectToken": token, "groupKey": "company", "endpoint": srv.URL})
	b, ok := c.(destination.BatchConverter)
	if !ok || b.MaxBatch() != 2000 {
		t.Fatalf("the converter batches %v, want up to 2000 events", ok)
	}
	var evs []destination.Event
	for i := range 2001 {
		body := fmt.Sprintf(`{"type":"track","event":"E","messageId":"m%d","userId":"u%d","timestamp":"2024-03-05T10:17:00.000Z"}`, i, i)
		if i == 1 {
			body = `{"type":"identify","messageId":"i1","userId":"u1","timestamp":"2024-03-05T10:17:00.000Z","traits":{"plan":"pro"}}`
		}
		ev, err := destination.Parse(int64(i+1), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	reqs, err := b.ConvertBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, r := range reqs {
		var items []map[string]any
		if err := json.Unmarshal(r.Body, &items); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, fmt.Sprintf("%s:%d", r.URL[len(srv.URL):], len(items)))
		resp := destinationtest.Send(t, srv.Client(), r)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", r.URL, resp.Status)
		}
	}
	if got := fmt.Sprint(counts); got != "[/track?verbose=1:2000 /engage?verbose=1:1]" {
		t.Errorf("requests %s, want 2000 events in one /track and the identify's $set", got)
	}
	var first []map[string]any
	json.Unmarshal(reqs[0].Body, &first) //nolint:errcheck // checked above
	if p, _ := first[0]["properties"].(map[string]any); p["$insert_id"] != "m0" {
		t.Errorf("the first event of the batch is %v, want m0", first[0])
	}
}

// An identify's trait named as the group key would replace the groups that
// group calls $union; it is not set.
func TestIdentifyKeepsTheGroupKeyProperty(t *testing.T) {
	c := newConverter(t, map[string]any{"projectToken": token, "groupKey": "company"})
	ev, err := destination.Parse(1, []byte(`{"type":"identify","messageId":"m1","userId":"u1","timestamp":"2024-03-05T10:17:00.000Z","traits":{"company":"Initech","plan":"pro"}}`))
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := c.Convert(ev)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d requests, %v", len(reqs), err)
	}
	if bytes.Contains(reqs[0].Body, []byte(`"company"`)) || !bytes.Contains(reqs[0].Body, []byte(`"plan":"pro"`)) {
		t.Errorf("$set %s, want plan without company", reqs[0].Body)
	}
}

// A service account authenticates /import and names the project.
func TestServiceAccount(t *testing.T) {
	c := newConverter(t, map[string]any{"projectToken": token, "groupKey": "company",
		"serviceAccount": "roster.abc.mp-service-account", "serviceAccountSecret": "s3cret", "projectId": "1234"})
	ev, err := destination.Parse(1, []byte(`{"type":"track","event":"E","messageId":"m1","userId":"u1","timestamp":"2024-03-05T10:17:00.000Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := c.Convert(ev)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d requests, %v", len(reqs), err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("roster.abc.mp-service-account:s3cret"))
	if reqs[0].URL != "https://api.mixpanel.com/import?strict=1&project_id=1234" || reqs[0].Header.Get("Authorization") != want {
		t.Errorf("request %s with %q, want /import with the service account", reqs[0].URL, reqs[0].Header.Get("Authorization"))
	}
}
