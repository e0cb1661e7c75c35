package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"roster/internal/server"
)

// TestMain lets a test run this binary's main in a child process, which
// it can then kill.
func TestMain(m *testing.M) {
	if os.Getenv("ROSTER_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// instance is a Roster serving on a loopback port, with source "web"
// (write key wk) and access token tok in workspace default.
type instance struct {
	url, dir, config string
	stop             func()
}

const (
	testWriteKey = "wk_import"
	testToken    = "tok_import"
)

// testConfig is the instance's config; more is added at its top level.
func testConfig(more string) string {
	return "workspaces:\n  - id: default\n    sources: [{name: web, writeKey: " + testWriteKey + "}]\n    accessTokens: [{name: t, token: " + testToken + "}]\n" + more
}

func startInstance(t *testing.T, config string) *instance {
	t.Helper()
	return startIn(t, t.TempDir(), config)
}

// startIn starts an instance on the data (and config) in dir.
func startIn(t *testing.T, dir, config string) *instance {
	t.Helper()
	cfgPath := filepath.Join(dir, "roster.yaml")
	if config == "" {
		config = testConfig("")
	}
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Options{DataDir: filepath.Join(dir, "data"), ConfigPath: cfgPath,
		Out: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return &instance{url: "http://" + ln.Addr().String(), dir: dir, config: cfgPath, stop: stop}
}

func (in *instance) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.url+path, nil)
	req.SetBasicAuth(testToken, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func (in *instance) post(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.url+path, strings.NewReader(body))
	req.SetBasicAuth(testWriteKey, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
}

// caughtUp waits until the profile processor has applied the whole log.
func (in *instance) caughtUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var p struct{ Head, Cursor int64 }
		in.get(t, "/v1/workspaces/default/processing", &p)
		if p.Cursor >= p.Head {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("profiles did not catch up")
}

// runCmd runs a roster command and returns its stdout and stderr.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// exportLines exports a workspace (events, or profiles with
// "--profiles", "accounts") and returns its lines, sorted.
func (in *instance) exportLines(t *testing.T, extra ...string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.ndjson")
	args := append([]string{"export", "--url", in.url, "--token", testToken, "--output", path}, extra...)
	if _, stderr, err := runCmd(t, args...); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	sort.Strings(lines)
	return lines
}
