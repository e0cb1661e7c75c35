package api

// Roster's destination routes: delivery counts, dead letters and their
// re-drive, with the same access tokens and error shape as the other
// routes.
//
//	GET  /v1/workspaces/{workspace}/destinations
//	  → {"data":[{"name","type","behind","retrying","delivered","dead","cursor"}]}
//	GET  /v1/workspaces/{workspace}/destinations/{name}/dead-letters?limit=20&next=
//	  → {"data":[{"seq","attempts","status","error","response","failed_at","message"}],"cursor":{...}}
//	POST /v1/workspaces/{workspace}/destinations/{name}/redrive
//	  → {"redriven": n}

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"roster/internal/destination"
	"roster/internal/routes"
	"roster/internal/store"
)

// Destinations is what the destination routes show and do.
type Destinations interface {
	Statuses(ctx context.Context, workspace string) ([]destination.Status, error)
	DeadLetters(ctx context.Context, workspace, name string, before int64, limit int) ([]store.Delivery, error)
	Redrive(ctx context.Context, workspace, name string) (int, error)
}

// DestinationsHandler serves the destination routes.
type DestinationsHandler struct {
	dests  Destinations
	tokens Tokens
}

// NewDestinations returns the destination routes' handler.
func NewDestinations(dests Destinations, tokens Tokens) *DestinationsHandler {
	return &DestinationsHandler{dests: dests, tokens: tokens}
}

// Register adds the routes to mux.
func (h *DestinationsHandler) Register(mux routes.Mux) {
	mux.Handle("GET /v1/workspaces/{workspace}/destinations", h.authorized(h.list))
	mux.Handle("GET /v1/workspaces/{workspace}/destinations/{name}/dead-letters", h.authorized(h.deadLetters))
	mux.Handle("POST /v1/workspaces/{workspace}/destinations/{name}/redrive", h.authorized(h.redrive))
}

func (h *DestinationsHandler) authorized(next func(http.ResponseWriter, *http.Request, page)) http.Handler {
	return authorized(h.tokens, next)
}

func (h *DestinationsHandler) list(w http.ResponseWriter, r *http.Request, _ page) {
	st, err := h.dests.Statuses(r.Context(), r.PathValue("workspace"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read delivery counts: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": st})
}

type deadLetterView struct {
	Seq      int64           `json:"seq"`
	Attempts int             `json:"attempts"`
	Status   int             `json:"status"`
	Error    string          `json:"error"`
	Response string          `json:"response"`
	FailedAt time.Time       `json:"failed_at"`
	Message  json.RawMessage `json:"message"`
}

func (h *DestinationsHandler) deadLetters(w http.ResponseWriter, r *http.Request, p page) {
	ds, err := h.dests.DeadLetters(r.Context(), r.PathValue("workspace"), r.PathValue("name"), p.before, p.limit+1)
	if h.failed(w, err) {
		return
	}
	ds, c := trim(ds, p.limit, r.URL.Path, func(d store.Delivery) string { return strconv.FormatInt(d.Seq, 10) })
	data := make([]deadLetterView, len(ds))
	for i, d := range ds {
		resp := string(d.Response)
		if !utf8.ValidString(resp) {
			resp = strconv.Quote(resp)
		}
		data[i] = deadLetterView{d.Seq, d.Attempts, d.Status, d.Error, resp, d.FailedAt.UTC(), d.Body}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

func (h *DestinationsHandler) redrive(w http.ResponseWriter, r *http.Request, _ page) {
	n, err := h.dests.Redrive(r.Context(), r.PathValue("workspace"), r.PathValue("name"))
	if h.failed(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"redriven": n})
}

func (h *DestinationsHandler) failed(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, destination.ErrUnknown):
		writeError(w, http.StatusNotFound, "not_found", "Destination was not found.")
	default:
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
	return true
}
