package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"roster/internal/auth"
	"roster/internal/config"
	"roster/internal/ingest"
	"roster/internal/store"
)

// memLog keeps what the handler appends, for the fuzz target: a real store
// would make each run slow and the fuzzer would learn little.
type memLog struct {
	mu     sync.Mutex
	events []store.Event
	quar   []store.Quarantined
}

func (m *memLog) Append(_ context.Context, ev []store.Event, q []store.Quarantined) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ev {
		ev[i].Seq = int64(len(m.events)) + 1 // stored, as a log says it
		m.events = append(m.events, ev[i])
	}
	m.quar = append(m.quar, q...)
	return nil
}

// FuzzHandler sends arbitrary bodies to every kind of route, plain and
// gzipped: the handler must never panic, must answer with a status it
// documents and a JSON body, and what it accepts must be valid JSON events.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		`{"userId":"u1","groupId":"g1","traits":{"name":"Acme","employees":329}}`,
		`{"batch":[{"type":"group","userId":"u1","groupId":"g1"},{"type":"track","userId":"u1","event":"E"}],"context":{"ip":"1.2.3.4"}}`,
		`{"batch":[{"type":"nope"}]}`,
		`{"writeKey":"wk_fuzz","batch":[]}`,
		`[[[[[[[[[[`,
		"{\"userId\":\"\xff\"}",
		`{"userId":"u","userId":"v"}`,
		`{"userId":1e999,"groupId":NaN}`,
		``,
	} {
		f.Add(uint8(0), false, []byte(seed))
		f.Add(uint8(1), true, []byte(seed))
	}
	paths := []string{"/v1/group", "/v1/batch", "/v1/i", "/b", "/v1/import", "/v1/alias"}
	reg := auth.NewRegistry([]store.Source{{Workspace: "ws", Name: "web", WriteKey: "wk_fuzz"}}, nil)
	f.Fuzz(func(t *testing.T, route uint8, gz bool, body []byte) {
		log := &memLog{}
		mux := http.NewServeMux()
		ingest.New(ingest.Options{Log: log, Sources: reg, Limits: config.Limits{MaxMessageBytes: 4096, MaxBatchBytes: 16384, MaxBatchMessages: 50},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
		sent := body
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body) //nolint:errcheck
			zw.Close()
			sent = b.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, paths[int(route)%len(paths)], bytes.NewReader(sent))
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if route%3 != 2 { // otherwise the key must come from the body
			req.SetBasicAuth("wk_fuzz", "")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %q", rec.Body)
		}
		for _, e := range log.events {
			if !json.Valid(e.Body) || e.MessageID == "" || e.Type == "" {
				t.Fatalf("accepted an event that is not valid: %+v", e)
			}
		}
		if rec.Code == http.StatusOK && len(log.events) == 0 && !bytes.Contains(rec.Body.Bytes(), []byte(`"accepted":0`)) {
			t.Fatalf("200 without storing anything: %s", rec.Body)
		}
	})
}
