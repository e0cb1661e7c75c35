package sqlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"roster/internal/auth"
	"roster/internal/ingest"
	"roster/internal/store"
)

// A full disk is simulated with max_page_count, which makes SQLite fail a
// write with SQLITE_FULL exactly as a full file system does. Ingestion must
// answer 503 (SDKs retry) instead of acknowledging, and work again once
// there is room, with nothing lost and nothing stored twice.
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := auth.NewRegistry([]store.Source{{Workspace: "ws", Name: "web", WriteKey: "wk"}}, nil)
	mux := http.NewServeMux()
	ingest.New(ingest.Options{Log: s, Sources: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(i int) *http.Response {
		var b strings.Builder
		b.WriteString(`{"batch":[`)
		for j := range 50 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"group","messageId":"m%d-%d","userId":"u","groupId":"g","traits":{"pad":"%s"}}`, i, j, strings.Repeat("x", 400))
		}
		b.WriteString(`]}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", strings.NewReader(b.String()))
		req.SetBasicAuth("wk", "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp
	}

	var pages int
	if err := s.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+40)); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	full := -1
	for i := range 100 {
		resp := send(i)
		if resp.StatusCode == http.StatusOK {
			acked[i] = true
			continue
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("batch %d on a full disk: %d (Retry-After %q), want 503 with Retry-After", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		full = i
		break
	}
	if full < 0 {
		t.Fatal("the database never filled up")
	}
	if _, err := s.w.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	// The SDK retries the refused batch, and an acknowledged one too.
	for _, i := range []int{full, 0} {
		if resp := send(i); resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %d after room was made: %d", i, resp.StatusCode)
		}
		acked[i] = true
	}
	count := map[string]int{}
	var after int64
	for {
		evs, err := s.Read(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			count[e.MessageID]++
		}
		after = evs[len(evs)-1].Seq
	}
	for i := range acked {
		for j := range 50 {
			if id := fmt.Sprintf("m%d-%d", i, j); count[id] != 1 {
				t.Errorf("%s stored %d times, want once", id, count[id])
			}
		}
	}
	if len(count) != len(acked)*50 {
		t.Errorf("%d events stored, want %d", len(count), len(acked)*50)
	}
}
