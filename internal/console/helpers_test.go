package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/server"
)

const (
	writeKey = "wk_console_test"
	token    = "tok_console_secret_9f8e7d"
)

// env is a running Roster and a browser-like client signed in or not.
type env struct {
	t    *testing.T
	base string
	logs *syncBuffer
	c    *http.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a server with the given config (YAML, may be empty) on a
// loopback port, logging at debug level into env.logs.
func start(t *testing.T, config string) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := server.Options{Addr: ln.Addr().String(), DataDir: t.TempDir(), WriteKey: writeKey, AccessToken: token,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Out: io.Discard}
	if config != "" {
		opts.ConfigPath = filepath.Join(t.TempDir(), "roster.yaml")
		if err := os.WriteFile(opts.ConfigPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := server.New(context.Background(), opts)
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &env{t: t, base: "http://" + ln.Addr().String(), logs: logs, c: newClient()}
}

// newClient keeps cookies and does not follow redirects, so that tests see them.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (e *env) get(path string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
	return e.do(req)
}

func (e *env) post(path string, form url.Values) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

func (e *env) signIn() {
	e.t.Helper()
	r := e.post("/console/signin", url.Values{"token": {token}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/" {
		e.t.Fatalf("sign in: %d %s", r.status, r.header.Get("Location"))
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF value of the signed-in session from a page's form.
func (e *env) csrf() string {
	e.t.Helper()
	m := csrfField.FindStringSubmatch(e.get("/console/playground").body)
	if m == nil {
		e.t.Fatal("no csrf field on the playground page")
	}
	return m[1]
}

// send posts calls to the tracking API and waits until profiles have
// applied them.
func (e *env) send(path string, body string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	e.waitProcessed()
	return response{res.StatusCode, res.Header, string(b)}
}

func (e *env) waitProcessed() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/workspaces/default/processing", nil)
		req.SetBasicAuth(token, "")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var p struct{ Head, Cursor, Behind int64 }
		err = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			e.t.Fatalf("processing = %d, %v", res.StatusCode, err)
		}
		if p.Behind == 0 && p.Cursor >= p.Head {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("profiles did not catch up")
}

// getUntil gets path until its body contains want (or 10 s pass). The
// embedded store publishes its profile cursor a moment before the
// memberships, group orders and history of the same batch, so a list can
// lag the processing figures by that moment.
func (e *env) getUntil(path, want string) response {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.get(path)
		if strings.Contains(r.body, want) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}
