package api

import (
	"net/http"
	"time"

	"roster/internal/pipeline"
)

// processingView says whether profiles cover the log. LagSeconds is the
// age of the oldest event not applied yet, 0 when none is behind.
type processingView struct {
	Head       int64   `json:"head"`
	Cursor     int64   `json:"cursor"`
	Behind     int64   `json:"behind"`
	LagSeconds float64 `json:"lag_seconds"`
}

// processing answers GET /v1/workspaces/{workspace}/processing. The log is
// one for all workspaces, so the figures are the server's, not the
// workspace's; any workspace's token may read them.
func (h *Handler) processing(w http.ResponseWriter, r *http.Request, _ string) {
	p, err := pipeline.ProfilePosition(r.Context(), h.read, time.Now())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, processingView{Head: p.Head, Cursor: p.Cursor, Behind: p.Behind, LagSeconds: p.Lag.Seconds()})
}
