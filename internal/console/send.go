package console

import (
	"bytes"
	"context"
	"net/http"

	"roster/internal/store"
)

// ingestAnswer is what the tracking API answered a console call.
type ingestAnswer struct {
	Status int
	Body   string
}

// sendToIngest posts body to a tracking API route with the source's write
// key, through the same handler SDKs reach, and returns its answer.
func (h *Handler) sendToIngest(ctx context.Context, src store.Source, path string, body []byte) ingestAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return ingestAnswer{Status: http.StatusInternalServerError, Body: err.Error()}
	}
	req.SetBasicAuth(src.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "console"
	rec := &recorder{header: http.Header{}}
	h.opts.Ingest.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return ingestAnswer{Status: rec.status, Body: rec.body.String()}
}

// recorder keeps a handler's answer in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// source finds a workspace's source by name.
func (h *Handler) source(workspace, name string) (store.Source, bool) {
	for _, s := range h.opts.Credentials.SourcesOf(workspace) {
		if s.Name == name {
			return s, true
		}
	}
	return store.Source{}, false
}
