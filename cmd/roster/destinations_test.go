package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roster/internal/server"
)

// roster destinations against a running server whose only destination
// refuses everything: counts, the dead letter, and its re-drive.
func TestDestinationsCommand(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"bad property"}`, http.StatusBadRequest)
	}))
	defer refusing.Close()
	cfg := filepath.Join(t.TempDir(), "roster.yaml")
	yaml := fmt.Sprintf("workspaces: [{id: default, sources: [{name: web, writeKey: wk_c}], accessTokens: [{name: ops, token: tok_c}], destinations: [{name: Hook, type: webhook, settings: {url: %q}}]}]\n", refusing.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Options{DataDir: t.TempDir(), ConfigPath: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }() //nolint:errcheck
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/group", strings.NewReader(`{"messageId":"m1","userId":"u1","groupId":"acme"}`))
	req.SetBasicAuth("wk_c", "")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("group call: %v %v", resp, err)
	}

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"destinations", "--url", base, "--token", "tok_c"}, args...), &out, &errOut); err != nil {
			t.Fatalf("roster destinations %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := cli()
		if f := strings.Fields(strings.Split(out, "\n")[1]); len(f) == 6 && f[0] == "Hook" && f[5] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter counted:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := cli("dead-letters", "Hook"); !strings.Contains(out, "400 Bad Request") || !strings.Contains(out, "bad property") {
		t.Errorf("dead-letters printed:\n%s", out)
	}
	if out := cli("redrive", "Hook"); !strings.HasPrefix(out, "1 dead letters scheduled") {
		t.Errorf("redrive printed %q", out)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"destinations", "--url", base, "--token", "tok_c", "redrive", "Nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("redrive of an unknown destination: %v", err)
	}
}
