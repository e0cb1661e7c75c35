package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/server"
)

// running is a server started by start.
type running struct {
	base   string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// syncBuffer is an io.Writer safe to read while the server writes.
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

// start runs a server on a fresh loopback port with opts (DataDir, keys)
// and stops it at the end of the test if the test did not.
func start(t *testing.T, opts server.Options) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	opts.Addr = ln.Addr().String()
	opts.Out = out
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(context.Background(), opts)
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{base: "http://" + ln.Addr().String(), out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return r
}

// stop cancels the server's context and returns what Serve returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
		return nil
	}
}

func (r *running) do(t *testing.T, method, path, user, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, "")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

type eventList struct {
	Data []struct {
		MessageID string         `json:"messageId"`
		Type      string         `json:"type"`
		Source    string         `json:"source"`
		Message   map[string]any `json:"message"`
	} `json:"data"`
}

func (r *running) events(t *testing.T, token string) eventList {
	t.Helper()
	status, body := r.do(t, http.MethodGet, "/v1/workspaces/default/events", token, "")
	if status != http.StatusOK {
		t.Fatalf("events: status %d: %s", status, body)
	}
	var l eventList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("events: %v: %s", err, body)
	}
	return l
}

const groupCall = `{"messageId":"m1","userId":"u1","groupId":"acme","traits":{"name":"Acme Inc","plan":"enterprise"}}`

func TestServeWithConfiguredKeys(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_env", AccessToken: "tok_env"})

	for _, tt := range []struct{ path, status string }{{"/health", "ok"}, {"/ready", "ready"}} {
		code, body := r.do(t, http.MethodGet, tt.path, "", "")
		var got map[string]string
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || got["status"] != tt.status {
			t.Errorf("GET %s: %d %s, want 200 with status %s", tt.path, code, body, tt.status)
		}
	}

	code, body := r.do(t, http.MethodPost, "/v1/group", "wk_env", groupCall)
	if code != http.StatusOK || strings.TrimSpace(string(body)) != `{"success":true}` {
		t.Fatalf("group call: %d %s", code, body)
	}
	l := r.events(t, "tok_env")
	if len(l.Data) != 1 {
		t.Fatalf("read back %d events, want 1", len(l.Data))
	}
	e := l.Data[0]
	traits, _ := e.Message["traits"].(map[string]any)
	if e.MessageID != "m1" || e.Type != "group" || e.Message["groupId"] != "acme" || traits["plan"] != "enterprise" {
		t.Errorf("read back %+v, want the group call", e)
	}

	// The read API is not open to write keys, and ingestion not to unknown keys.
	if code, _ := r.do(t, http.MethodGet, "/v1/workspaces/default/events", "wk_env", ""); code != http.StatusUnauthorized {
		t.Errorf("events with a write key: %d, want 401", code)
	}
	if code, _ := r.do(t, http.MethodPost, "/v1/group", "wk_other", groupCall); code != http.StatusUnauthorized {
		t.Errorf("group call with an unknown key: %d, want 401", code)
	}
	// Keys given in the environment are not printed.
	if out := r.out.String(); out != "" {
		t.Errorf("printed %q with keys configured, want nothing", out)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
	if _, err := http.Get(r.base + "/health"); err == nil {
		t.Error("still answering after shutdown")
	}
}

var (
	printedKey   = regexp.MustCompile(`write key:\s+(wk_[A-Za-z0-9_-]+)`)
	printedToken = regexp.MustCompile(`access token:\s+(tok_[A-Za-z0-9_-]+)`)
)

func TestFirstStartGeneratesCredentials(t *testing.T) {
	dir := t.TempDir()
	r := start(t, server.Options{DataDir: dir})
	out := r.out.String()
	km, tm := printedKey.FindStringSubmatch(out), printedToken.FindStringSubmatch(out)
	if km == nil || tm == nil {
		t.Fatalf("first start printed %q, want a write key and an access token", out)
	}
	key, token := km[1], tm[1]
	host := strings.TrimPrefix(r.base, "http://")
	if want := "curl -u " + key + ": http://" + host + "/v1/group"; !strings.Contains(out, want) {
		t.Errorf("printed %q, want a curl line %q", out, want)
	}
	if want := "curl -u " + token + ": http://" + host + "/v1/workspaces/default/events"; !strings.Contains(out, want) {
		t.Errorf("printed %q, want a curl line %q", out, want)
	}

	// The printed credentials work.
	if code, body := r.do(t, http.MethodPost, "/v1/group", key, groupCall); code != http.StatusOK {
		t.Fatalf("group call with the printed key: %d %s", code, body)
	}
	if l := r.events(t, token); len(l.Data) != 1 || l.Data[0].MessageID != "m1" {
		t.Fatalf("read back %+v, want m1", l.Data)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}

	// A restart on the same data keeps them and prints nothing new.
	r2 := start(t, server.Options{DataDir: dir})
	if out := r2.out.String(); out != "" {
		t.Errorf("restart printed %q, want nothing", out)
	}
	if code, body := r2.do(t, http.MethodPost, "/v1/g", key, `{"messageId":"m2","userId":"u2","groupId":"acme"}`); code != http.StatusOK {
		t.Fatalf("group call with the generated key after restart: %d %s", code, body)
	}
	// m1 was sent again: acknowledged, not stored twice.
	if code, _ := r2.do(t, http.MethodPost, "/v1/group", key, groupCall); code != http.StatusOK {
		t.Fatalf("resending m1: %d", code)
	}
	l := r2.events(t, token)
	if len(l.Data) != 2 || l.Data[0].MessageID != "m2" || l.Data[1].MessageID != "m1" {
		t.Fatalf("after restart read back %+v, want m2 then m1", l.Data)
	}
	if err := r2.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestFirstStartWithOnlyAWriteKey(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_env"})
	out := r.out.String()
	tm := printedToken.FindStringSubmatch(out)
	if tm == nil || printedKey.MatchString(out) {
		t.Fatalf("printed %q, want a generated access token and not the given write key", out)
	}
	if code, _ := r.do(t, http.MethodPost, "/v1/group", "wk_env", groupCall); code != http.StatusOK {
		t.Fatalf("group call: %d", code)
	}
	if l := r.events(t, tm[1]); len(l.Data) != 1 {
		t.Errorf("read back %d events with the generated token, want 1", len(l.Data))
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	dir := t.TempDir()
	r := start(t, server.Options{DataDir: dir, WriteKey: "wk_env", AccessToken: "tok_env"})
	// A request whose body is still arriving when shutdown starts is
	// answered, and its event committed.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/group", pr)
	req.SetBasicAuth("wk_env", "")
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	half := len(groupCall) / 2
	if _, err := pw.Write([]byte(groupCall[:half])); err != nil {
		t.Fatal(err)
	}
	// Writing to the pipe only says that the client has the bytes; give the
	// server time to accept the connection and read the headers.
	time.Sleep(200 * time.Millisecond)
	r.cancel()
	time.Sleep(200 * time.Millisecond) // let Shutdown begin
	select {
	case err := <-r.done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	pw.Write([]byte(groupCall[half:])) //nolint:errcheck
	pw.Close()
	got := <-res
	if got.err != nil || got.code != http.StatusOK {
		t.Fatalf("in-flight request: %d %v, want 200", got.code, got.err)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The acknowledged event is in the log after a restart.
	r2 := start(t, server.Options{DataDir: dir, WriteKey: "wk_env", AccessToken: "tok_env"})
	if l := r2.events(t, "tok_env"); len(l.Data) != 1 || l.Data[0].MessageID != "m1" {
		t.Fatalf("after restart read back %+v, want m1", l.Data)
	}
}

func TestNewWithoutLogger(t *testing.T) {
	// Out and Logger are optional.
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Options{DataDir: dir, WriteKey: "wk_env", AccessToken: "tok_env"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeReturnsListenerErrors(t *testing.T) {
	srv, err := server.New(context.Background(), server.Options{DataDir: t.TempDir(), WriteKey: "wk_env", AccessToken: "tok_env",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = srv.Serve(context.Background(), ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve on a closed listener returned %v, want an error", err)
	}
}

func TestDatabaseURLMustBePostgres(t *testing.T) {
	_, err := server.New(context.Background(), server.Options{DataDir: t.TempDir(), DatabaseURL: "mysql://localhost/roster"})
	if err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("New with a MySQL URL: %v, want an error naming --database-url", err)
	}
}

// Slow clients are cut off by the configured timeouts and do not keep the
// server from answering others.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "roster.yaml")
	if err := os.WriteFile(cfg, []byte("http: {readHeaderTimeout: 300ms, readTimeout: 600ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, server.Options{DataDir: t.TempDir(), ConfigPath: cfg, WriteKey: "wk_s", AccessToken: "tok_s"})
	addr := strings.TrimPrefix(r.base, "http://")
	for _, tc := range []struct {
		name, send string
	}{
		{"headers never finished", "POST /v1/group HTTP/1.1\r\nHost: x\r\n"},
		{"body never finished", "POST /v1/group HTTP/1.1\r\nHost: x\r\nAuthorization: Basic d2tfczo=\r\nContent-Length: 1000\r\n\r\n{\"userId\":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
			io.Copy(io.Discard, conn)                              //nolint:errcheck // until the server closes it
			if waited := time.Since(start); waited > 5*time.Second {
				t.Errorf("the server kept a stalled client for %s", waited)
			}
		})
	}
	if status, body := r.do(t, http.MethodPost, "/v1/group", "wk_s", `{"userId":"u","groupId":"g"}`); status != http.StatusOK {
		t.Fatalf("after slow clients: %d %s", status, body)
	}
}
