package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"roster/internal/server"
)

// Every credential in play, right and wrong, is sent every way a client
// may send it; none may show up in /metrics or in a log line, while every
// failed request still gets a line with its reason.
func TestNoKeyOrTokenInMetricsOrLogs(t *testing.T) {
	const (
		writeKey     = "wk_SECRETwrite1"
		wrongKey     = "wk_SECRETwrong2"
		token        = "tok_SECRETread3"
		wrongToken   = "tok_SECRETwrong4"
		metricsToken = "mt_SECRETscrape5"
		hookSecret   = "SECREThook6"
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
		if strings.Contains(r.Header.Get("Idempotency-Key"), "dead") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer hook.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
workspaces:
  - id: default
    sources: [{name: web, writeKey: %q}]
    accessTokens: [{name: ops, token: %q}]
    destinations:
      - {name: Hook, type: webhook, settings: {url: %q, secret: %q}}
metrics: {token: %q}
`, writeKey, token, hook.URL+"/h/"+hookSecret, hookSecret, metricsToken))
	logs := &syncBuffer{}
	srv := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	type call struct {
		method, path, auth, body string
	}
	basic := func(user string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, "")
		return req.Header.Get("Authorization")
	}
	var calls []call
	for _, key := range []string{writeKey, wrongKey} {
		calls = append(calls,
			call{"POST", "/v1/track", basic(key), `{"userId":"u1","event":"E"}`},
			call{"POST", "/v1/track", "", `{"writeKey":"` + key + `","userId":"u1","event":"E"}`},
			call{"POST", "/v1/batch", "", `{"writeKey":"` + key + `","batch":[{"type":"group","userId":"u1","groupId":"g","messageId":"dead-1"},{"type":"group","userId":"u1"}]}`},
			call{"POST", "/v1/group", basic(key), `{"userId":"u1","groupId":"` + key + `","traits":{"k":"` + key + `"}}`},
			call{"POST", "/v1/group", basic(key), `{"type":"` + key + `"`},
			call{"POST", "/v1/identify", "Bearer " + key, `{"userId":"u1"}`},
			call{"POST", "/v1/" + key, basic(key), `{}`},
			call{"GET", "/v1/projects/" + key + "/settings", "", ""},
		)
	}
	for _, tok := range []string{token, wrongToken, writeKey, metricsToken} {
		calls = append(calls,
			call{"GET", "/v1/workspaces/default/events", basic(tok), ""},
			call{"GET", "/v1/workspaces/default/events", "Bearer " + tok, ""},
			call{"GET", "/v1/spaces/default/collections/accounts/profiles/group_id:" + tok + "/traits", basic(tok), ""},
			call{"GET", "/v1/workspaces/default/groups/" + tok, "Bearer " + tok, ""},
			call{"POST", "/v1/workspaces/default/destinations/" + tok + "/redrive", basic(tok), ""},
			call{"GET", "/metrics", "Bearer " + tok, ""},
			call{"GET", "/metrics?token=" + tok, basic(tok), ""},
		)
	}
	failed := 0
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, srv.base+c.path, strings.NewReader(c.body))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			failed++
		}
	}
	// Let the webhook get the group call, including its dead letter.
	deadline := time.Now().Add(10 * time.Second)
	var metrics string
	wantDead := `roster_destination_dead_total{destination="Hook",type="webhook",workspace="default"} 1`
	for {
		req, _ := http.NewRequest(http.MethodGet, srv.base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+metricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if strings.Contains(metrics, wantDead) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(metrics, wantDead) {
		t.Errorf("the dead letter was not counted:\n%s", grepLines(metrics, "roster_destination"))
	}
	if !strings.Contains(metrics, `roster_ingest_events_total{outcome="accepted",source="web",type="group",workspace="default"}`) {
		t.Errorf("events of source web are not counted:\n%s", grepLines(metrics, "roster_ingest"))
	}

	lines := 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("a log line is not JSON: %s", sc.Text())
			continue
		}
		if line["msg"] == "request failed" {
			lines++
			if line["route"] == nil || line["status"] == nil {
				t.Errorf("a failed request's line without route or status: %s", sc.Text())
			}
		}
	}
	if lines == 0 || lines > failed {
		t.Errorf("%d lines for %d failed requests; want one each, up to the rate limit", lines, failed)
	}
	for _, secret := range []string{writeKey, wrongKey, token, wrongToken, metricsToken, hookSecret, "SECRET"} {
		if strings.Contains(metrics, secret) {
			t.Errorf("/metrics holds %q:\n%s", secret, grepLines(metrics, secret))
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, grepLines(logs.String(), secret))
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
