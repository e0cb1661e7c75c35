package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"roster/internal/store"
)

// Progress is what the processing route reads: how far the log goes and
// how far the profile processor has applied it.
type Progress interface {
	Head(ctx context.Context) (int64, error)
	Cursor(ctx context.Context, name string) (int64, error)
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
}

// Processing says whether profiles cover the log. LagSeconds is the age
// of the oldest event not applied yet, 0 when none is behind.
type Processing struct {
	Head       int64   `json:"head"`
	Cursor     int64   `json:"cursor"`
	Behind     int64   `json:"behind"`
	LagSeconds float64 `json:"lag_seconds"`
}

// ReadProcessing reads how far the profile processor is behind the log.
func ReadProcessing(ctx context.Context, p Progress) (Processing, error) {
	// The cursor first: read after the head, it could pass it.
	cursor, err := p.Cursor(ctx, store.ProfileCursor)
	if err != nil {
		return Processing{}, fmt.Errorf("could not read the profile cursor: %w", err)
	}
	head, err := p.Head(ctx)
	if err != nil {
		return Processing{}, fmt.Errorf("could not read the log head: %w", err)
	}
	v := Processing{Head: head, Cursor: cursor, Behind: max(0, head-cursor)}
	if v.Behind > 0 {
		next, err := p.Read(ctx, cursor, 1)
		if err != nil {
			return Processing{}, fmt.Errorf("could not read the log: %w", err)
		}
		if len(next) == 1 {
			v.LagSeconds = max(0, time.Since(next[0].ReceivedAt).Seconds())
		}
	}
	return v, nil
}

// processing answers GET /v1/workspaces/{workspace}/processing. The log is
// one for all workspaces, so the figures are the server's, not the
// workspace's; any workspace's token may read them.
func (h *Handler) processing(w http.ResponseWriter, r *http.Request, _ string) {
	v, err := ReadProcessing(r.Context(), h.read)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}
