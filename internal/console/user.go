package console

import (
	"html/template"
	"net/http"

	"roster/internal/spec"
	"roster/internal/store"
)

type userData struct {
	IDType      string
	ID          string
	User        store.User
	Traits      []traitView
	ExternalIDs []store.ExternalID
	Accounts    []store.Membership
	Events      []eventView
	EventsNext  template.URL
}

// user shows a user profile found by its userId, or by another external
// id with ?type= (anonymous_id).
func (h *Handler) user(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	ws, id := ses.workspace, r.PathValue("userId")
	q := r.URL.Query()
	idType := q.Get("type")
	if idType == "" {
		idType = store.IDUserID
	}
	if idType != store.IDUserID && idType != store.IDAnonymousID {
		http.Error(w, "type: must be user_id or anonymous_id", http.StatusBadRequest)
		return
	}
	key, err := h.opts.Store.ResolveUser(ctx, ws, idType, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := userData{IDType: idType, ID: id}
	if d.User, err = h.opts.Store.User(ctx, ws, key); err != nil {
		h.fail(w, r, err)
		return
	}
	traits, err := h.opts.Store.UserTraits(ctx, ws, key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Traits = traitViews(spec.Identify, traits)
	if d.ExternalIDs, err = h.opts.Store.ExternalIDs(ctx, ws, key); err != nil {
		h.fail(w, r, err)
		return
	}
	if d.Accounts, err = h.opts.Store.UserGroups(ctx, ws, key); err != nil {
		h.fail(w, r, err)
		return
	}
	evs, err := h.opts.Store.ProfileEvents(ctx, ws, store.Users, key, eventPage(q))
	if err != nil && !errorsIsNotFound(err) {
		h.fail(w, r, err)
		return
	}
	if len(evs) > eventsPerPage {
		evs = evs[:eventsPerPage]
		d.EventsNext = withParam(r.URL.EscapedPath(), q, "events", nextEvents(evs[len(evs)-1]))
	}
	d.Events = eventViews(evs)
	h.render(w, r, ses, http.StatusOK, "user", "User "+id, d)
}
