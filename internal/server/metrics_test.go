package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"roster/internal/server"
)

// scrape reads GET /metrics as Prometheus parses it.
func scrape(t *testing.T, url, bearer string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series lists a family's values by their labels, "k=v,k=v" sorted, for
// comparing whole sets at once.
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		v := 0.0
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

func post(t *testing.T, url, user, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, "")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

func TestMetricsCountEachEventByTypeAndOutcome(t *testing.T) {
	srv := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_metrics", AccessToken: "tok_metrics"})
	// A batch: two groups, an identify, a track, and a group without its
	// groupId (rejected).
	batch := `{"batch":[
		{"type":"group","messageId":"g1","userId":"u1","groupId":"acme"},
		{"type":"group","messageId":"g2","userId":"u2","groupId":"acme"},
		{"type":"identify","messageId":"i1","userId":"u1","traits":{"email":"a@example.com"}},
		{"type":"track","messageId":"t1","userId":"u1","event":"Signed Up"},
		{"type":"group","messageId":"bad","userId":"u1"}]}`
	if code := post(t, srv.base+"/v1/batch", "wk_metrics", batch); code != http.StatusOK {
		t.Fatalf("batch: %d", code)
	}
	// g1 again (deduplicated), a page, and a body that is not JSON
	// (quarantined whole).
	if code := post(t, srv.base+"/v1/group", "wk_metrics", `{"messageId":"g1","userId":"u1","groupId":"acme"}`); code != http.StatusOK {
		t.Fatalf("repeat: %d", code)
	}
	if code := post(t, srv.base+"/v1/p", "wk_metrics", `{"messageId":"p1","userId":"u1","name":"Home"}`); code != http.StatusOK {
		t.Fatalf("page: %d", code)
	}
	if code := post(t, srv.base+"/v1/track", "wk_metrics", `{"event":`); code != http.StatusBadRequest {
		t.Fatalf("malformed: %d", code)
	}
	if code := post(t, srv.base+"/v1/batch", "wk_metrics", `{"batch":[`); code != http.StatusBadRequest {
		t.Fatalf("malformed batch: %d", code)
	}
	// Without a valid key nothing is counted as an event.
	if code := post(t, srv.base+"/v1/track", "wk_wrong", `{"event":"x","userId":"u"}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", code)
	}

	fams := scrape(t, srv.base+"/metrics", "")
	l := func(outcome, callType string) string {
		return "outcome=" + outcome + ",source=default,type=" + callType + ",workspace=default"
	}
	want := map[string]float64{
		l("accepted", "group"):      2,
		l("accepted", "identify"):   1,
		l("accepted", "track"):      1,
		l("accepted", "page"):       1,
		l("rejected", "group"):      1,
		l("deduplicated", "group"):  1,
		l("quarantined", "track"):   1,
		l("quarantined", "unknown"): 1,
	}
	got := series(fams, "roster_ingest_events_total")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("roster_ingest_events_total:\n got %v\nwant %v", got, want)
	}
	requests := series(fams, "roster_http_requests_total")
	for labels, n := range map[string]float64{
		"route=/v1/batch,status=200":  1,
		"route=/v1/batch,status=400":  1,
		"route=/v1/{call},status=200": 2,
		"route=/v1/{call},status=400": 1,
		"route=/v1/{call},status=401": 1,
	} {
		if requests[labels] != n {
			t.Errorf("roster_http_requests_total{%s} = %v, want %v (all: %v)", labels, requests[labels], n, requests)
		}
	}
	if n := series(fams, "roster_http_request_duration_seconds")["route=/v1/{call}"]; n != 4 {
		t.Errorf("duration histogram of /v1/{call} has %v samples, want 4", n)
	}
	size := fams["roster_http_request_size_bytes"]
	var batchBytes float64
	for _, m := range size.GetMetric() {
		if m.GetLabel()[0].GetValue() == "/v1/batch" {
			batchBytes = m.GetHistogram().GetSampleSum()
		}
	}
	if want := len(batch) + len(`{"batch":[`); batchBytes != float64(want) {
		t.Errorf("request size of /v1/batch = %v bytes, want %d", batchBytes, want)
	}
	if g := series(fams, "roster_log_head")[""]; g != 5 {
		t.Errorf("roster_log_head = %v, want 5 events stored", g)
	}
	for _, name := range []string{"roster_log_bytes", "roster_profile_cursor", "roster_profile_behind_events",
		"roster_profile_lag_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	if s := series(fams, "roster_store_bytes"); s["part=total"] <= 0 {
		t.Errorf("roster_store_bytes = %v, want a total", s)
	}
}

func TestMetricsTokenRequiresBearer(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "roster.yaml")
	if err := os.WriteFile(cfg, []byte("metrics: {token: mt_secret}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, server.Options{DataDir: dir, ConfigPath: cfg, WriteKey: "wk_m", AccessToken: "tok_m"})
	for _, auth := range []string{"", "Bearer wrong", "Basic bXRfc2VjcmV0Og==", "Bearer tok_m"} {
		req, _ := http.NewRequest(http.MethodGet, srv.base+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d, want 401 with WWW-Authenticate", auth, resp.StatusCode)
		}
	}
	if fams := scrape(t, srv.base+"/metrics", "mt_secret"); fams["roster_log_head"] == nil {
		t.Error("with the token: no roster_log_head")
	}
}

func TestMetricsOnASeparateAddressLeaveTheMainOne(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Options{DataDir: dir, SeparateMetrics: true, WriteKey: "wk_s", AccessToken: "tok_s",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics on the main handler: %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "roster_log_head") {
		t.Errorf("MetricsHandler: %d %.200s", rec.Code, rec.Body.String())
	}
}

// One round to a webhook that accepts one event, refuses one for good and
// fails one for now: the destination counters move by one each.
func TestMetricsCountDeliveriesByOutcome(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
		switch r.Header.Get("Idempotency-Key") {
		case "dead":
			w.WriteHeader(http.StatusBadRequest)
		case "retry":
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	cfg := writeConfig(t, "workspaces:\n  - id: default\n    destinations: [{name: Hook, type: webhook, settings: {url: \""+hook.URL+"\"}}]\n")
	srv := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg, WriteKey: "wk_d", AccessToken: "tok_d"})
	batch := `{"batch":[{"type":"track","userId":"u","event":"E","messageId":"ok"},
		{"type":"track","userId":"u","event":"E","messageId":"dead"},
		{"type":"track","userId":"u","event":"E","messageId":"retry"}]}`
	if code := post(t, srv.base+"/v1/batch", "wk_d", batch); code != http.StatusOK {
		t.Fatalf("batch: %d", code)
	}
	l := "destination=Hook,type=webhook,workspace=default"
	var fams map[string]*dto.MetricFamily
	waitFor(t, func() bool {
		fams = scrape(t, srv.base+"/metrics", "")
		return series(fams, "roster_destination_delivered_total")[l] > 0
	})
	if d, r, x := series(fams, "roster_destination_delivered_total")[l], series(fams, "roster_destination_retried_total")[l],
		series(fams, "roster_destination_dead_total")[l]; d != 1 || r != 1 || x != 1 {
		t.Errorf("delivered %v, retried %v, dead %v; want 1 each", d, r, x)
	}
	if n := series(fams, "roster_destination_request_duration_seconds")[l]; n != 3 {
		t.Errorf("provider requests timed: %v, want 3", n)
	}
	if n := series(fams, "roster_destination_retrying_events")[l]; n != 1 {
		t.Errorf("roster_destination_retrying_events = %v, want 1", n)
	}
}
