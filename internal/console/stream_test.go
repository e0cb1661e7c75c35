package console

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
	"roster/internal/store/pebble"
)

// A browser that stops reading loses messages from its view, is told how
// many in a "dropped" event, and never holds up Committed.
func TestSlowDebuggerIsToldWhatItLost(t *testing.T) {
	st, err := pebble.Open(context.Background(), t.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/debugger/stream", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: h.sessions.create("ws", "t").id})
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReaderSize(res.Body, 1<<16)
	if line, _ := r.ReadString('\n'); line != "event: ready\n" {
		t.Fatalf("first line %q", line)
	}
	// The browser reads nothing while 20,000 calls are committed.
	body := []byte(`{"type":"track","event":"` + strings.Repeat("x", 400) + `"}`)
	start := time.Now()
	for range 200 {
		events := make([]store.Event, 100)
		for i := range events {
			events[i] = store.Event{Workspace: "ws", Type: "track", Source: "web", Body: body}
		}
		h.opts.Hub.Committed(events, nil)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("committing with a stalled browser took %v", d)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before a dropped event: %v", err)
		}
		if line == "event: dropped\n" {
			data, _ := r.ReadString('\n')
			if !strings.HasPrefix(data, `data: {"count":`) {
				t.Errorf("dropped event data %q", data)
			}
			return
		}
	}
	t.Fatal("no dropped event")
}
