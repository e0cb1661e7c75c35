package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"roster/internal/server"
)

// The Grafana dashboard in deploy/ may only query metrics the server
// exports, so that renaming a metric without the dashboard fails here.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/roster.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/roster.json is not JSON: %v", err)
	}
	hook := newRecorder(t)
	cfg := writeConfig(t, "workspaces:\n  - id: default\n    destinations: [{name: Hook, type: webhook, settings: {url: \""+hook.URL+"\"}}]\n")
	srv := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg, WriteKey: "wk_dash", AccessToken: "tok_dash"})
	// Series with labels appear once something is counted: an event
	// (delivered to the webhook, which times the request) and a failed
	// request.
	post(t, srv.base+"/v1/track", "wk_dash", `{"userId":"u","event":"E"}`)
	post(t, srv.base+"/v1/track", "wk_dash", `{"userId":"u"}`)
	hook.wait(t, 1)
	var body []byte
	waitFor(t, func() bool {
		resp, err := http.Get(srv.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "roster_destination_request_duration_seconds_count{")
	})
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(name)
			exported[f[0]] = true
			if f[1] == "histogram" {
				exported[f[0]+"_bucket"] = true
			}
		}
	}
	metric := regexp.MustCompile(`\b(roster|go|process)_[a-z_]+\b`)
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			queries++
			for _, name := range metric.FindAllString(target.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries; it should cover ingestion, lag, destinations and errors", queries)
	}
	for _, title := range []string{"Events by outcome", "Profile lag", "Delivered, retried, dead", "Failed requests by route and status"} {
		if !strings.Contains(string(raw), `"title": "`+title+`"`) {
			t.Errorf("no panel %q", title)
		}
	}
}
