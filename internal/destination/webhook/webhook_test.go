package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"roster/internal/destination"
	"roster/internal/destination/destinationtest"
	"roster/internal/destination/webhook"
)

const secret = "s3cr3t"

func newWebhook(t *testing.T, settings map[string]any) destination.BatchConverter {
	t.Helper()
	c, err := webhook.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	bc, ok := c.(destination.BatchConverter)
	if !ok {
		t.Fatal("webhook converter is not a BatchConverter")
	}
	return bc
}

func TestGolden(t *testing.T) {
	conv := newWebhook(t, map[string]any{
		"url":     "https://hooks.example.com/roster",
		"secret":  secret,
		"headers": map[string]any{"authorization": "Bearer tok", "X-Team": "growth"},
	})
	destinationtest.Golden(t, conv, "testdata")
}

func TestGoldenBatched(t *testing.T) {
	conv := newWebhook(t, map[string]any{"url": "https://hooks.example.com/roster", "batchSize": 50})
	destinationtest.Golden(t, conv, filepath.Join("testdata", "batched"))
}

func readEvents(t *testing.T, names ...string) []destination.Event {
	t.Helper()
	var evs []destination.Event
	for i, name := range names {
		evs = append(evs, destinationtest.ReadCase(t, filepath.Join("testdata", name+".in.json"), int64(i+1)))
	}
	return evs
}

// receiver plays a webhook endpoint the way a careful user would write it:
// it verifies the signature over the raw body before decoding it.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	messages []map[string]any
	keys     []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := rc.t
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/hook" {
		t.Errorf("got %s %s, want POST /hook", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ua := r.Header.Get("User-Agent"); ua != "Roster-Webhook/1" {
		t.Errorf("User-Agent = %q", ua)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("custom header Authorization = %q", got)
	}
	if !webhook.Verify(secret, body, r.Header.Get("X-Signature-256")) {
		t.Errorf("X-Signature-256 %q does not verify", r.Header.Get("X-Signature-256"))
	}
	if !webhook.Verify(secret, body, r.Header.Get("X-Signature")) {
		t.Errorf("X-Signature %q does not verify", r.Header.Get("X-Signature"))
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("body is not a JSON object: %v", err)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	msgs := []map[string]any{v}
	if batch, ok := v["batch"]; ok {
		msgs = nil
		for _, m := range batch.([]any) {
			msgs = append(msgs, m.(map[string]any))
		}
	}
	rc.mu.Lock()
	rc.messages = append(rc.messages, msgs...)
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func TestAgainstReceiver(t *testing.T) {
	names := []string{"group", "group_anonymous", "group_odd_traits", "identify", "track", "page", "screen", "alias"}
	evs := readEvents(t, names...)
	for _, size := range []int{1, 3} {
		rc := &receiver{t: t}
		srv := httptest.NewServer(rc)
		conv := newWebhook(t, map[string]any{
			"url": srv.URL + "/hook", "secret": secret, "batchSize": size,
			"headers": map[string]any{"Authorization": "Bearer tok"},
		})
		if conv.MaxBatch() != size {
			t.Errorf("MaxBatch = %d, want %d", conv.MaxBatch(), size)
		}
		reqs, err := conv.ConvertBatch(evs)
		if err != nil {
			t.Fatal(err)
		}
		if want := (len(evs) + size - 1) / size; len(reqs) != want {
			t.Errorf("batchSize %d: %d requests, want %d", size, len(reqs), want)
		}
		for _, r := range reqs {
			resp := destinationtest.Send(t, srv.Client(), r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status %d", resp.StatusCode)
			}
		}
		srv.Close()
		if len(rc.messages) != len(evs) {
			t.Fatalf("batchSize %d: receiver got %d messages, want %d", size, len(rc.messages), len(evs))
		}
		for i, m := range rc.messages {
			if m["messageId"] != evs[i].MessageID || m["type"] != evs[i].Type {
				t.Errorf("message %d: got %v %v, want %s %s", i, m["type"], m["messageId"], evs[i].Type, evs[i].MessageID)
			}
		}
		if size == 1 && rc.keys[0] != evs[0].MessageID {
			t.Errorf("Idempotency-Key = %q, want the messageId", rc.keys[0])
		}
		if size > 1 && !strings.HasPrefix(rc.keys[0], "batch-") {
			t.Errorf("batch Idempotency-Key = %q", rc.keys[0])
		}
	}
}

func TestBodyIsVerbatimAndKeyStable(t *testing.T) {
	evs := readEvents(t, "track", "page")
	conv := newWebhook(t, map[string]any{"url": "http://127.0.0.1:9/x", "batchSize": 2})
	a, _ := conv.ConvertBatch(evs)
	b, _ := conv.ConvertBatch(evs)
	if a[0].Header.Get("Idempotency-Key") != b[0].Header.Get("Idempotency-Key") {
		t.Error("a retried batch gets a different Idempotency-Key")
	}
	want := `{"batch":[` + string(evs[0].Body) + "," + string(evs[1].Body) + "]}"
	if string(a[0].Body) != want {
		t.Errorf("batch body is not the messages verbatim:\n%s", a[0].Body)
	}
	single := newWebhook(t, map[string]any{"url": "http://127.0.0.1:9/x"})
	r, err := single.Convert(evs[0])
	if err != nil || string(r[0].Body) != string(evs[0].Body) {
		t.Errorf("single body differs from the message (%v)", err)
	}
	if _, ok := r[0].Header["X-Signature"]; ok {
		t.Error("signed without a secret")
	}
	if _, err := single.Convert(destination.Event{Type: "track"}); err == nil {
		t.Error("an event without a body converted")
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"type":"track"}`)
	conv := newWebhook(t, map[string]any{"url": "https://h.example", "secret": secret})
	reqs, err := conv.Convert(destination.Event{Type: "track", MessageID: "m", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	sig256 := reqs[0].Header.Get("X-Signature-256")
	sig1 := reqs[0].Header.Get("X-Signature")
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		want                 bool
	}{
		{"sha256 prefixed", secret, sig256, body, true},
		{"sha256 bare", secret, strings.TrimPrefix(sig256, "sha256="), body, true},
		{"sha1", secret, sig1, body, true},
		{"wrong secret", "other", sig256, body, false},
		{"tampered body", secret, sig256, []byte(`{"type":"page"}`), false},
		{"sha1 wrong secret", "other", sig1, body, false},
		{"not hex", secret, "sha256=zz", body, false},
		{"empty header", secret, "", body, false},
		{"empty secret", "", sig256, body, false},
	} {
		if got := webhook.Verify(tc.secret, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Vectors computed independently (Python's hmac module), so that the
	// headers are the standard constructions receivers in any language get.
	if want := "sha256=076f29a85a7121d9b587f764a1ff5c0c5e585c6d5425671bcef1b129ced04213"; sig256 != want {
		t.Errorf("X-Signature-256 = %s, want %s", sig256, want)
	}
	if want := "d3e37a957dc308ceae31e9b300b09d49267fcab2"; sig1 != want {
		t.Errorf("X-Signature = %s, want %s", sig1, want)
	}
}

func TestSettings(t *testing.T) {
	destinationtest.Settings(t, webhook.New, []destinationtest.SettingsCase{
		{Name: "missing url", Settings: map[string]any{"secret": "x"}, Want: "settings.url: required"},
		{Name: "relative url", Settings: map[string]any{"url": "/hook"}, Want: "settings.url"},
		{Name: "ftp url", Settings: map[string]any{"url": "ftp://h.example/x"}, Want: "settings.url"},
		{Name: "no host", Settings: map[string]any{"url": "http://"}, Want: "settings.url"},
		{Name: "unknown setting", Settings: map[string]any{"url": "https://h.example", "endpoint": "https://h.example"}, Want: "endpoint"},
		{Name: "secret wrong type", Settings: map[string]any{"url": "https://h.example", "secret": 12}, Want: "settings.secret"},
		{Name: "batchSize wrong type", Settings: map[string]any{"url": "https://h.example", "batchSize": "ten"}, Want: "settings.batchSize"},
		{Name: "batchSize zero", Settings: map[string]any{"url": "https://h.example", "batchSize": 0}, Want: "settings.batchSize"},
		{Name: "batchSize too big", Settings: map[string]any{"url": "https://h.example", "batchSize": 1001}, Want: "settings.batchSize"},
		{Name: "headers wrong type", Settings: map[string]any{"url": "https://h.example", "headers": []any{"a"}}, Want: "settings.headers"},
		{Name: "header value wrong type", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"X-A": 1}}, Want: "settings.headers"},
		{Name: "reserved Content-Length", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"content-length": "3"}}, Want: "settings.headers.content-length: Content-Length is set by Roster"},
		{Name: "reserved Host", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"Host": "evil"}}, Want: "settings.headers.Host"},
		{Name: "reserved signature", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"X-Signature": "x"}}, Want: "settings.headers.X-Signature"},
		{Name: "bad header name", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"X Bad": "x"}}, Want: "settings.headers.X Bad: invalid header name"},
		{Name: "header injection", Settings: map[string]any{"url": "https://h.example", "headers": map[string]any{"X-A": "a\r\nX-B: b"}}, Want: "settings.headers.X-A"},
	})
	c, err := webhook.New(map[string]any{"url": "http://127.0.0.1:9000/hook", "batchSize": 1000})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.(destination.BatchConverter).MaxBatch(); n != 1000 {
		t.Errorf("MaxBatch = %d", n)
	}
	c, err = webhook.New(map[string]any{"url": "https://h.example"})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.(destination.BatchConverter).MaxBatch(); n != 1 {
		t.Errorf("default MaxBatch = %d, want 1", n)
	}
}
