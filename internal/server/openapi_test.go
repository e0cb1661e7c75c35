package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"roster/internal/openapi"
	"roster/internal/server"
)

// example is a real request the OpenAPI test sends, and the status it must
// get (so that each documented answer is really produced and checked).
type example struct {
	method, path, auth, body string
	status                   int
}

// TestOpenAPIDocumentsEveryRouteAndAnswer holds internal/openapi/openapi.json
// to the server: every route the server registers must be documented,
// every documented operation must serve a request here, and every answer
// must match the document (status, headers, body).
func TestOpenAPIDocumentsEveryRouteAndAnswer(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document)
	if err != nil {
		t.Fatalf("internal/openapi/openapi.json does not load: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("internal/openapi/openapi.json is not a valid OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}

	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer dead.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
workspaces:
  - id: default
    sources: [{name: web, writeKey: wk_api}]
    accessTokens: [{name: ops, token: tok_api}]
    destinations:
      - {name: Hook, type: webhook, settings: {url: %q}}
  - id: other
    accessTokens: [{name: ops, token: tok_other}]
metrics: {token: mt_api}
`, dead.URL))
	srv, err := server.New(ctx, server.Options{DataDir: t.TempDir(), ConfigPath: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-done }()
	base := "http://" + ln.Addr().String()

	// The router's own routes, walked: a mux with every registered pattern
	// says which route serves a request.
	registered := srv.Routes()
	byPattern := http.NewServeMux()
	for _, p := range registered {
		byPattern.Handle(p, http.NotFoundHandler())
	}
	patternOf := func(method, path string) string {
		req := httptest.NewRequest(method, path, nil)
		_, p := byPattern.Handler(req)
		return p
	}

	// Every registered route is documented, and every documented
	// operation is served by a route.
	covered := map[string]bool{}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			sample := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
			p := patternOf(method, sample)
			if p == "" {
				t.Errorf("openapi.json documents %s %s, but no route of the server serves it", method, path)
				continue
			}
			covered[p] = true
		}
	}
	for _, p := range registered {
		if !covered[p] {
			t.Errorf("route %q is registered but missing from internal/openapi/openapi.json: add its path, each method and every status it answers, then a request for it in the examples of %s", p, t.Name())
		}
	}

	// Something to read: events of each type, an invalid one, profiles
	// applied, a dead letter.
	for _, body := range []string{
		`{"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme","plan":"trial"}}`,
		`{"type":"group","userId":"u1","groupId":"acme","traits":{"plan":"enterprise"}}`,
		`{"type":"identify","userId":"u1","anonymousId":"a1","traits":{"email":"u1@example.com"}}`,
		`{"type":"track","userId":"u1","event":"Signed Up","context":{"groupId":"acme"}}`,
		`{"type":"group","userId":"u1"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/batch", strings.NewReader(`{"batch":[`+body+`]}`))
		req.SetBasicAuth("wk_api", "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitFor(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/workspaces/default/destinations", nil)
		req.SetBasicAuth("tok_api", "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(b), `"dead":4`)
	})

	basic := func(user string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, "")
		return req.Header.Get("Authorization")
	}
	tok, key, other := basic("tok_api"), basic("wk_api"), basic("tok_other")
	big := `{"userId":"u1","event":"` + strings.Repeat("x", 40<<10) + `"}`
	prof := "/v1/spaces/default/collections/"
	examples := []example{
		{"POST", "/v1/track", key, `{"userId":"u1","event":"E"}`, 200},
		{"POST", "/v1/t", "", `{"writeKey":"wk_api","userId":"u1","event":"E"}`, 200},
		{"POST", "/v1/group", key, `{"userId":"u1"}`, 400},
		{"POST", "/v1/group", basic("wk_nope"), `{"userId":"u1","groupId":"g"}`, 401},
		{"POST", "/v1/nope", key, `{}`, 404},
		{"POST", "/v1/track", key, big, 413},
		{"OPTIONS", "/v1/track", "", ``, 204},
		{"POST", "/v1/batch", key, `{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"group","userId":"u"}]}`, 200},
		{"POST", "/v1/batch", key, `{"batch":[{"type":"group","userId":"u"}]}`, 400},
		{"POST", "/v1/batch", key, `{"batch":[`, 400},
		{"POST", "/v1/batch", "", `{"batch":[]}`, 401},
		{"OPTIONS", "/v1/batch", "", ``, 204},
		{"POST", "/v1/import", key, `{"batch":[{"type":"track","userId":"u","event":"E"}]}`, 200},
		{"OPTIONS", "/v1/import", "", ``, 204},
		{"POST", "/v1/b", key, `{"batch":[{"type":"page","userId":"u","name":"Home"}]}`, 200},
		{"OPTIONS", "/v1/b", "", ``, 204},
		{"POST", "/b", key, `{"batch":[{"type":"screen","userId":"u","name":"Home"}]}`, 200},
		{"OPTIONS", "/b", "", ``, 204},
		{"GET", "/v1/projects/wk_api/settings", "", ``, 200},
		{"GET", "/v1/projects/wk_nope/settings", "", ``, 404},
		{"OPTIONS", "/v1/projects/wk_api/settings", "", ``, 204},

		{"GET", "/v1/workspaces/default/events?limit=2", tok, ``, 200},
		{"GET", "/v1/workspaces/default/events", "Bearer tok_api", ``, 200},
		{"GET", "/v1/workspaces/default/events?limit=0", tok, ``, 400},
		{"GET", "/v1/workspaces/default/events", "", ``, 401},
		{"GET", "/v1/workspaces/default/events", key, ``, 401},
		{"GET", "/v1/workspaces/default/events", other, ``, 403},
		{"GET", "/v1/workspaces/default/quarantine", tok, ``, 200},
		{"GET", "/v1/workspaces/default/processing", tok, ``, 200},
		{"GET", "/v1/workspaces/default/processing", other, ``, 403},
		{"GET", "/v1/workspaces/default/export/events?limit=2", tok, ``, 200},
		{"GET", "/v1/workspaces/default/export/events?since=nope", tok, ``, 400},
		{"GET", "/v1/workspaces/default/export/events", "", ``, 401},
		{"GET", "/v1/workspaces/default/export/events", other, ``, 403},
		{"GET", "/v1/workspaces/default/export/accounts?limit=1", tok, ``, 200},
		{"GET", "/v1/workspaces/default/export/accounts?limit=0", tok, ``, 400},

		{"GET", "/v1/workspaces/default/groups?q=acme&sort=-last_seen", tok, ``, 200},
		{"GET", "/v1/workspaces/default/groups?sort=nope", tok, ``, 400},
		{"GET", "/v1/workspaces/default/groups/acme", tok, ``, 200},
		{"GET", "/v1/workspaces/default/groups/nope", tok, ``, 404},
		{"GET", "/v1/workspaces/default/groups/acme/members", tok, ``, 200},
		{"GET", "/v1/workspaces/default/groups/nope/members", tok, ``, 404},
		{"GET", "/v1/workspaces/default/groups/acme/history?trait=plan", tok, ``, 200},
		{"GET", "/v1/workspaces/default/groups/nope/history", tok, ``, 404},

		{"GET", prof + "accounts/profiles/group_id:acme/traits", tok, ``, 200},
		{"GET", prof + "accounts/profiles/group_id:acme/traits?verbose=true", tok, ``, 200},
		{"GET", prof + "accounts/profiles/group_id:nope/traits", tok, ``, 404},
		{"GET", prof + "accounts/profiles/group_id:acme/traits?limit=x", tok, ``, 400},
		{"GET", prof + "accounts/profiles/group_id:acme/links", tok, ``, 200},
		{"GET", prof + "users/profiles/user_id:u1/links", tok, ``, 200},
		{"GET", prof + "users/profiles/user_id:u1/external_ids", tok, ``, 200},
		{"GET", prof + "users/profiles/user_id:u1/events", tok, ``, 200},
		{"GET", prof + "accounts/profiles/group_id:acme/events", tok, ``, 200},
		{"GET", prof + "accounts/profiles/group_id:acme/metadata", tok, ``, 200},
		{"GET", prof + "users/profiles/anonymous_id:a1/metadata", tok, ``, 200},
		{"GET", prof + "users/profiles/user_id:u1/traits", "", ``, 401},
		{"GET", "/v1/spaces/nothing", tok, ``, 404},

		{"GET", "/v1/workspaces/default/destinations", tok, ``, 200},
		{"GET", "/v1/workspaces/default/destinations/Hook/dead-letters?limit=2", tok, ``, 200},
		{"GET", "/v1/workspaces/default/destinations/Nope/dead-letters", tok, ``, 404},
		{"POST", "/v1/workspaces/default/destinations/Hook/redrive", tok, ``, 200},
		{"POST", "/v1/workspaces/default/destinations/Nope/redrive", tok, ``, 404},

		{"GET", "/health", "", ``, 200},
		{"GET", "/ready", "", ``, 200},
		{"GET", "/metrics", "Bearer mt_api", ``, 200},
		{"GET", "/metrics", "", ``, 401},
		{"GET", "/openapi.json", "", ``, 200},
	}

	exercised := map[string]bool{}
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", decodeNDJSON)
	defer openapi3filter.UnregisterBodyDecoder("application/x-ndjson")
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	for _, ex := range examples {
		name := ex.method + " " + ex.path
		req, _ := http.NewRequest(ex.method, base+ex.path, strings.NewReader(ex.body))
		if ex.auth != "" {
			req.Header.Set("Authorization", ex.auth)
		}
		if ex.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != ex.status {
			t.Errorf("%s: %d, want %d: %.300s", name, resp.StatusCode, ex.status, body)
			continue
		}
		route, params := findOperation(doc, ex.method, strings.SplitN(ex.path, "?", 2)[0])
		if route == nil {
			t.Errorf("%s (route %q): no operation in internal/openapi/openapi.json", name, patternOf(ex.method, ex.path))
			continue
		}
		exercised[route.Method+" "+route.Path] = true
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Options:                opts,
		}
		in.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
			t.Errorf("%s: the answer does not match internal/openapi/openapi.json (%s %s): %v\nbody: %.300s", name, route.Method, route.Path, err, body)
		}
	}
	var missing []string
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			if !exercised[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("openapi.json documents %s, but no example request of %s reaches it: add one", m, t.Name())
	}
}

// findOperation is the documented operation for a request path: the
// document's path with the same segments, literal segments preferred to
// parameters (as OpenAPI says), and its path parameters.
func findOperation(doc *openapi3.T, method, path string) (*routers.Route, map[string]string) {
	segs := strings.Split(path, "/")
	var best *routers.Route
	var bestParams map[string]string
	bestLiterals := -1
	for _, p := range doc.Paths.InMatchingOrder() {
		dsegs := strings.Split(p, "/")
		if len(dsegs) != len(segs) {
			continue
		}
		params, literals, ok := map[string]string{}, 0, true
		for i, d := range dsegs {
			switch {
			case strings.HasPrefix(d, "{") && strings.HasSuffix(d, "}"):
				if segs[i] == "" {
					ok = false
				}
				params[d[1:len(d)-1]] = segs[i]
			case d == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		item := doc.Paths.Value(p)
		if !ok || item.GetOperation(method) == nil || literals <= bestLiterals {
			continue
		}
		best = &routers.Route{Spec: doc, Path: p, PathItem: item, Method: method, Operation: item.GetOperation(method)}
		bestParams, bestLiterals = params, literals
	}
	return best, bestParams
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// decodeNDJSON reads an NDJSON answer (the export routes) as the string
// its schema says, after checking that each line is a JSON object.
func decodeNDJSON(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	for i, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		var obj map[string]any
		if len(line) > 0 {
			if err := json.Unmarshal(line, &obj); err != nil {
				return nil, fmt.Errorf("line %d is not a JSON object: %w", i+1, err)
			}
		}
	}
	return string(b), nil
}
