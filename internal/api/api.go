// Package api is Roster's read API: what arrived (events and quarantine),
// authorized by access tokens of the workspace being read.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"roster/internal/auth"
	"roster/internal/store"
)

// Log is what the read API reads.
type Log interface {
	RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error)
	RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error)
}

// Tokens resolves access tokens.
type Tokens interface {
	Token(token string) (store.AccessToken, bool)
}

// Handler serves the read routes.
type Handler struct {
	log    Log
	tokens Tokens
}

// New returns a Handler.
func New(log Log, tokens Tokens) *Handler { return &Handler{log: log, tokens: tokens} }

const (
	defaultLimit = 20
	maxLimit     = 200
)

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /v1/workspaces/{workspace}/events", h.authorized(h.events))
	mux.Handle("GET /v1/workspaces/{workspace}/quarantine", h.authorized(h.quarantine))
}

// authorized lets a request through only with an access token of the
// workspace in its path. A write key is not an access token.
func (h *Handler) authorized(next func(http.ResponseWriter, *http.Request, page)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, ok := auth.Credential(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="roster"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "an access token is required (Basic auth username, or Bearer)")
			return
		}
		tok, ok := h.tokens.Token(cred)
		if !ok {
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid access token")
			return
		}
		if tok.Workspace != r.PathValue("workspace") {
			writeError(w, http.StatusForbidden, "forbidden", "this access token does not grant access to workspace "+strconv.Quote(r.PathValue("workspace")))
			return
		}
		p, err := parsePage(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		next(w, r, p)
	})
}

type page struct {
	limit  int
	before int64
}

type pageError string

func (e pageError) Error() string { return string(e) }

func parsePage(r *http.Request) (page, error) {
	p := page{limit: defaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, pageError("limit: must be an integer from 1 to " + strconv.Itoa(maxLimit))
		}
		p.limit = n
	}
	if s := q.Get("next"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return p, pageError("next: not a cursor returned by this API")
		}
		p.before = n
	}
	return p, nil
}

type cursor struct {
	URL     string `json:"url"`
	HasMore bool   `json:"has_more"`
	Next    string `json:"next"`
}

type eventView struct {
	Seq        int64           `json:"seq"`
	Source     string          `json:"source"`
	MessageID  string          `json:"messageId"`
	Type       string          `json:"type"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Timestamp  time.Time       `json:"timestamp"`
	Warnings   []string        `json:"warnings,omitempty"`
	Message    json.RawMessage `json:"message"`
}

type quarantineView struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	MessageID  string    `json:"messageId,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
	Code       string    `json:"code"`
	Reason     string    `json:"reason"`
	// Raw is the message as received; it may not be valid JSON.
	Raw string `json:"raw"`
}

// events lists the newest events first. One more than the limit is read to
// know whether there is a next page.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, p page) {
	evs, err := h.log.RecentEvents(r.Context(), r.PathValue("workspace"), p.before, p.limit+1)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read events: "+err.Error())
		return
	}
	c := cursor{URL: r.URL.Path}
	if len(evs) > p.limit {
		evs = evs[:p.limit]
		c.HasMore = true
		c.Next = strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	data := make([]eventView, len(evs))
	for i, e := range evs {
		data[i] = eventView{e.Seq, e.Source, e.MessageID, e.Type, e.ReceivedAt, e.Timestamp, e.Warnings, e.Body}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

func (h *Handler) quarantine(w http.ResponseWriter, r *http.Request, p page) {
	qs, err := h.log.RecentQuarantined(r.Context(), r.PathValue("workspace"), p.before, p.limit+1)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read the quarantine: "+err.Error())
		return
	}
	c := cursor{URL: r.URL.Path}
	if len(qs) > p.limit {
		qs = qs[:p.limit]
		c.HasMore = true
		c.Next = strconv.FormatInt(qs[len(qs)-1].ID, 10)
	}
	data := make([]quarantineView, len(qs))
	for i, q := range qs {
		data[i] = quarantineView{q.ID, q.Source, q.MessageID, q.ReceivedAt, q.Code, q.Reason, string(q.Raw)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // nothing to do about a failed write
}

// writeError uses the Profile API's error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
