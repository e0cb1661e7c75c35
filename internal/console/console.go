// Package console is Roster's web console at /console: accounts, users, a
// live debugger, the group-call playground, destinations and the
// quarantine. Pages are html/template rendered on the server, with a
// little JavaScript in static files (the Content-Security-Policy forbids
// inline script); everything is embedded, so nothing is fetched from
// another host.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"roster/internal/api"
	"roster/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the console reads, through the same interfaces as the
// read API, plus the quarantine's replay mark.
type Store interface {
	api.Reader
	MarkReplayed(ctx context.Context, workspace string, id int64, at time.Time) error
}

// Credentials resolves access tokens (sign-in) and lists a workspace's
// sources (the playground and replays send through them).
type Credentials interface {
	Token(token string) (store.AccessToken, bool)
	SourcesOf(workspace string) []store.Source
}

// Options are the console's dependencies.
type Options struct {
	Store        Store
	Credentials  Credentials
	Destinations api.Destinations
	// Ingest serves the tracking API routes (/v1/group, /v1/batch…): the
	// playground and replays go through them as any client's calls do.
	Ingest http.Handler
	// Hub is the ingest tap the debugger and the overview's chart read.
	Hub    *Hub
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves /console.
type Handler struct {
	opts     Options
	sessions *sessions
	pages    map[string]*template.Template
	static   http.Handler
}

// New returns the console's handler.
func New(opts Options) (*Handler, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hub == nil {
		opts.Hub = NewHub(opts.Now)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return &Handler{opts: opts, sessions: newSessions(opts.Now), pages: pages,
		static: http.StripPrefix("/console/static/", http.FileServerFS(sub))}, nil
}

// Register adds the console's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusFound))
	mux.Handle("GET /console/static/", secured(h.static))
	mux.Handle("GET /console/signin", secured(http.HandlerFunc(h.signInPage)))
	mux.Handle("POST /console/signin", secured(http.HandlerFunc(h.signIn)))
	mux.Handle("POST /console/signout", h.page(h.signOut))
	mux.Handle("GET /console/{$}", h.page(h.overview))
	mux.Handle("GET /console/accounts", h.page(h.accounts))
	mux.Handle("GET /console/accounts/{groupId}", h.page(h.account))
	mux.Handle("GET /console/users/{userId}", h.page(h.user))
	mux.Handle("GET /console/debugger", h.page(h.debugger))
	mux.Handle("GET /console/debugger/stream", h.page(h.debuggerStream))
	mux.Handle("GET /console/playground", h.page(h.playground))
	mux.Handle("POST /console/playground", h.page(h.playgroundSend))
	mux.Handle("GET /console/destinations", h.page(h.destinations))
	mux.Handle("POST /console/destinations/{name}/redrive", h.page(h.redrive))
	mux.Handle("GET /console/quarantine", h.page(h.quarantine))
	mux.Handle("POST /console/quarantine/{id}/replay", h.page(h.replay))
	mux.Handle("/console/", secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such console page", http.StatusNotFound)
	})))
}

// contentSecurityPolicy allows scripts, styles and connections from this
// server only: no inline script, no other host.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// page requires a session: a page without one goes to the sign-in form,
// anything else gets 401. Every POST must pass the CSRF check.
func (h *Handler) page(next func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ses, ok := h.sessions.get(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !validPost(r, ses) {
				http.Error(w, "this form is out of date or came from another site (CSRF check failed): reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, ses)
	}))
}

// maxFormBytes bounds a console form: a replayed batch is at most the
// ingestion body limit, plus the form's own fields.
const maxFormBytes = 1 << 20

// layout is what every page's template gets besides its own data.
type layout struct {
	Title     string
	Nav       string
	Workspace string
	CSRF      string
	Page      any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, ses *session, status int, name, title string, data any) {
	t, ok := h.pages[name]
	if !ok {
		h.fail(w, r, errors.New("console: no template "+name))
		return
	}
	l := layout{Title: title, Nav: name, Page: data}
	if ses != nil {
		l.Workspace, l.CSRF = ses.workspace, ses.csrf
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", l); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // nothing to do about a failed write
}

// fail answers a store error: not found is the user's 404, the rest a 503
// that is logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if errors.Is(err, store.ErrInvalid) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.opts.Logger.Error("console: request failed", "path", r.URL.Path, "err", err)
	http.Error(w, "the console could not read the store; try again", http.StatusServiceUnavailable)
}
