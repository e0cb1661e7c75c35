package api

import (
	"context"
	"net/http"
	"time"

	"roster/internal/pipeline"
)

// Processing says whether profiles cover the log. LagSeconds is the age of
// the oldest event not applied yet, 0 when none is behind.
type Processing struct {
	Head       int64   `json:"head"`
	Cursor     int64   `json:"cursor"`
	Behind     int64   `json:"behind"`
	LagSeconds float64 `json:"lag_seconds"`
}

// ReadProcessing reads how far the profile processor is behind the log.
func ReadProcessing(ctx context.Context, src pipeline.PositionSource) (Processing, error) {
	p, err := pipeline.ProfilePosition(ctx, src, time.Now())
	if err != nil {
		return Processing{}, err
	}
	return Processing{Head: p.Head, Cursor: p.Cursor, Behind: p.Behind, LagSeconds: p.Lag.Seconds()}, nil
}

// processing answers GET /v1/workspaces/{workspace}/processing. The log is
// one for all workspaces, so the figures are the server's, not the
// workspace's; any workspace's token may read them.
func (h *Handler) processing(w http.ResponseWriter, r *http.Request, _ string) {
	v, err := ReadProcessing(r.Context(), h.read)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}
