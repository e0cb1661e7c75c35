// Package api is Roster's read API: what arrived (events and quarantine),
// the profiles built from it (Segment Profile API routes and Roster's own
// group routes), authorized by access tokens of the workspace being read.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"roster/internal/auth"
	"roster/internal/pipeline"
	"roster/internal/routes"
	"roster/internal/store"
)

// Reader is everything the read API reads. Every store.Store is one.
type Reader interface {
	Log
	Profiles
	// The processing route reads how far profiles cover the log.
	pipeline.PositionSource
}

// Log is the part of the event log the read API lists.
type Log interface {
	RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error)
	RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error)
}

// Profiles is the read half of store.Profiles: the API never applies
// events or moves cursors.
type Profiles interface {
	Group(ctx context.Context, workspace, groupID string) (store.Group, error)
	GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error)
	GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error)
	TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error)
	ListGroups(ctx context.Context, workspace string, q store.GroupQuery) ([]store.Group, string, error)
	ResolveUser(ctx context.Context, workspace, idType, id string) (string, error)
	User(ctx context.Context, workspace, key string) (store.User, error)
	UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error)
	ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error)
	UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error)
	ProfileEvents(ctx context.Context, workspace, collection, key string, page store.EventPage) ([]store.Event, error)
}

// Tokens resolves access tokens.
type Tokens interface {
	Token(token string) (store.AccessToken, bool)
}

// Handler serves the read routes.
type Handler struct {
	read   Reader
	tokens Tokens
	// settings are each workspace's Profile API settings.
	settings map[string]ProfileSettings
	limiter  *rateLimiter
}

// New returns a Handler.
func New(read Reader, tokens Tokens) *Handler { return &Handler{read: read, tokens: tokens} }

const (
	defaultLimit = 20
	maxLimit     = 200
)

// Register adds the routes to mux.
func (h *Handler) Register(mux routes.Mux) {
	mux.Handle("GET /v1/workspaces/{workspace}/events", h.authorized(h.events))
	mux.Handle("GET /v1/workspaces/{workspace}/quarantine", h.authorized(h.quarantine))
	mux.Handle("GET /v1/workspaces/{workspace}/processing", h.inWorkspace(h.processing))
	h.registerProfiles(mux)
	h.registerGroups(mux)
}

// allowed lets a request through only with an access token of workspace,
// and otherwise answers 401 or 403. A write key is not an access token.
func (h *Handler) allowed(w http.ResponseWriter, r *http.Request, workspace string) bool {
	return allowed(h.tokens, w, r, workspace)
}

func allowed(tokens Tokens, w http.ResponseWriter, r *http.Request, workspace string) bool {
	cred, ok := auth.Credential(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="roster"`)
		writeError(w, http.StatusUnauthorized, "authentication_error", "an access token is required (Basic auth username, or Bearer)")
		return false
	}
	tok, ok := tokens.Token(cred)
	if !ok {
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid access token")
		return false
	}
	if tok.Workspace != workspace {
		writeError(w, http.StatusForbidden, "forbidden", "this access token does not grant access to workspace "+strconv.Quote(workspace))
		return false
	}
	return true
}

// authorized checks the access token against the workspace in the path and
// reads the page parameters of the log listings.
func (h *Handler) authorized(next func(http.ResponseWriter, *http.Request, page)) http.Handler {
	return authorized(h.tokens, next)
}

func authorized(tokens Tokens, next func(http.ResponseWriter, *http.Request, page)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(tokens, w, r, r.PathValue("workspace")) {
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

// trim cuts a page that was read with one item more than limit, which
// tells whether there is a next page, and makes its cursor from the last
// item kept.
func trim[T any](items []T, limit int, url string, next func(T) string) ([]T, cursor) {
	c := cursor{URL: url, Limit: limit}
	if len(items) > limit {
		items = items[:limit]
		c.HasMore = true
		c.Next = next(items[len(items)-1])
	}
	return items, c
}

type cursor struct {
	URL     string `json:"url"`
	HasMore bool   `json:"has_more"`
	Next    string `json:"next"`
	// Limit is the page size the request asked for, or its default.
	Limit int `json:"limit"`
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
	evs, err := h.read.RecentEvents(r.Context(), r.PathValue("workspace"), p.before, p.limit+1)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read events: "+err.Error())
		return
	}
	evs, c := trim(evs, p.limit, r.URL.Path, func(e store.Event) string { return strconv.FormatInt(e.Seq, 10) })
	data := make([]eventView, len(evs))
	for i, e := range evs {
		data[i] = eventView{e.Seq, e.Source, e.MessageID, e.Type, e.ReceivedAt, e.Timestamp, e.Warnings, e.Body}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

func (h *Handler) quarantine(w http.ResponseWriter, r *http.Request, p page) {
	qs, err := h.read.RecentQuarantined(r.Context(), r.PathValue("workspace"), p.before, p.limit+1)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read the quarantine: "+err.Error())
		return
	}
	qs, c := trim(qs, p.limit, r.URL.Path, func(q store.Quarantined) string { return strconv.FormatInt(q.ID, 10) })
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
