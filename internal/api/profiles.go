package api

// The Segment Profile API, served from Roster's profiles so that code
// written against profiles.segment.com works by changing the base URL:
//
//	GET /v1/spaces/{space}/collections/{users|accounts}/profiles/{type}:{id}/{traits|external_ids|events|metadata|links}
//
// {space} is the workspace. Users are found by user_id or anonymous_id,
// accounts by group_id. Where Segment's docs are silent, the choices are
// noted on the code that makes them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"roster/internal/auth"
	"roster/internal/routes"
	"roster/internal/spec"
	"roster/internal/store"
)

// Page sizes. Segment documents 10 traits by default and up to 200, 25
// external ids a page, and 20 links; it states no default for events, so
// 10 is used there as for traits.
const (
	traitsLimit, traitsMax           = 10, 200
	externalIDsLimit, externalIDsMax = 25, 100
	eventsLimit, eventsMax           = 10, 100
	linksLimit, linksMax             = 20, 100
)

// Events filtered by include/exclude/start/end are found by scanning the
// profile's events newest first; one request scans at most this many, then
// returns what it found with a cursor to continue, so that a rare filter
// cannot make a request unbounded.
const (
	eventScanChunk = 100
	eventScanMax   = 2000
)

// notFound is Segment's body for an unknown profile, byte for byte: clients
// match on it.
func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "not_found", "Profile was not found.")
}

func (h *Handler) registerProfiles(mux routes.Mux) {
	mux.Handle("GET /v1/spaces/{space}/collections/{collection}/profiles/{external_id}/{resource}", withRequestID(http.HandlerFunc(h.profile)))
	// Everything else under /v1/spaces/ also answers in JSON, as Segment
	// says its API does for every response.
	mux.Handle("GET /v1/spaces/", withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
	})))
}

// profileID is a parsed {collection} and {external_id}.
type profileID struct {
	collection string
	idType     string
	id         string
}

// parseProfileID accepts what Roster can find: users by the id types the
// workspace looks them up by (user_id, anonymous_id and email unless
// configured otherwise), accounts by group_id. A collection that is not
// one, an id without a "type:" prefix, or a type the collection is not
// looked up by is a bad request (400), as Segment answers it; only a
// well-formed id that names no profile is a 404. The value is split at the
// first colon, so it may hold colons itself. It is used as sent: Segment
// asks for lower-case ids, Roster's are case-sensitive.
func (h *Handler) parseProfileID(ws, collection, externalID string) (profileID, error) {
	if collection != store.Users && collection != store.Accounts {
		return profileID{}, validationError("The collection `" + collection + "` is not one: use users or accounts.")
	}
	idType, id, ok := strings.Cut(externalID, ":")
	if !ok || idType == "" || id == "" {
		return profileID{}, validationError("The external id `" + externalID + "` is not of the form type:value, such as user_id:u1.")
	}
	switch {
	case collection == store.Users && h.userIDType(ws, idType):
	case collection == store.Accounts && idType == store.IDGroupID:
	case collection == store.Accounts:
		return profileID{}, validationError("The id type `" + idType + "` is not configured for accounts: use group_id.")
	default:
		return profileID{}, validationError("The id type `" + idType + "` is not configured for users in this space: use one of " + strings.Join(h.idTypes(ws), ", ") + ".")
	}
	return profileID{collection, idType, id}, nil
}

// profileRef is a profile that exists: a user by its key, or a group.
type profileRef struct {
	collection string
	// key is the user key, or the group id.
	key   string
	group store.Group
}

func (p profileRef) isAccount() bool { return p.collection == store.Accounts }

// resolve finds the profile, or answers 404 (or 503) and returns false.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, ws string, id profileID) (profileRef, bool) {
	ref := profileRef{collection: id.collection}
	var err error
	if id.collection == store.Accounts {
		ref.key = id.id
		ref.group, err = h.read.Group(r.Context(), ws, id.id)
	} else {
		ref.key, err = h.read.ResolveUser(r.Context(), ws, id.idType, id.id)
	}
	if err != nil {
		h.readFailed(w, err, notFound)
		return ref, false
	}
	return ref, true
}

// readFailed answers a failed store read: a profile or group that is gone
// (it may vanish between two reads during a rebuild) with missing, anything
// else as unavailable.
func (h *Handler) readFailed(w http.ResponseWriter, err error, missing func(http.ResponseWriter)) {
	if errors.Is(err, store.ErrNotFound) {
		missing(w)
		return
	}
	if errors.Is(err, store.ErrInvalid) {
		writeError(w, http.StatusBadRequest, "validation_error", err.Error())
		return
	}
	writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read profiles: "+err.Error())
}

// profile authorizes, parses the profile id and dispatches on the resource.
// Authorization comes first so that a request without access learns
// nothing, not even whether a route or parameter is valid.
func (h *Handler) profile(w http.ResponseWriter, r *http.Request) {
	ws := r.PathValue("space")
	if !h.allowed(w, r, ws) {
		return
	}
	cred, _ := auth.Credential(r)
	if h.limited(w, ws, string(auth.HashToken(cred))) {
		return
	}
	var serve func(http.ResponseWriter, *http.Request, string, profileID)
	switch r.PathValue("resource") {
	case "traits":
		serve = h.profileTraits
	case "external_ids":
		serve = h.profileExternalIDs
	case "events":
		serve = h.profileEvents
	case "metadata":
		serve = h.profileMetadata
	case "links":
		serve = h.profileLinks
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
		return
	}
	id, err := h.parseProfileID(ws, r.PathValue("collection"), r.PathValue("external_id"))
	if err != nil {
		validationFailed(w, err)
		return
	}
	serve(w, r, ws, id)
}

// --- traits ---

func (h *Handler) profileTraits(w http.ResponseWriter, r *http.Request, ws string, id profileID) {
	q := r.URL.Query()
	limit, err := limitParam(q, traitsLimit, traitsMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	verbose, err := boolParam(q, "verbose")
	if err != nil {
		validationFailed(w, err)
		return
	}
	// Roster computes no traits and has no audiences, so asking for either
	// class is answered, truthfully, with none.
	class := q.Get("class")
	switch class {
	case "", "audience", "computed_trait":
	default:
		validationFailed(w, paramError("class", "must be audience or computed_trait"))
		return
	}
	include := foldedSet(q.Get("include"))
	// The cursor is the folded key of the last trait returned: Segment's
	// trait cursors look like trait names, and keys are what traits are
	// ordered by. Folding what comes back lets a client pass a name too.
	after := spec.FoldKey(q.Get("next"))

	ref, ok := h.resolve(w, r, ws, id)
	if !ok {
		return
	}
	var traits []store.Trait
	if class == "" {
		if ref.isAccount() {
			traits, err = h.read.GroupTraits(r.Context(), ws, ref.key)
		} else {
			traits, err = h.read.UserTraits(r.Context(), ws, ref.key)
		}
		if err != nil {
			h.readFailed(w, err, notFound)
			return
		}
	}
	// Both reads return traits ordered by key, so "after" is a position.
	sel := make([]store.Trait, 0, len(traits))
	for _, t := range traits {
		if (after == "" || t.Key > after) && (include == nil || include[t.Key]) {
			sel = append(sel, t)
		}
	}
	sel, c := trim(sel, limit, r.URL.EscapedPath(), func(t store.Trait) string { return t.Key })
	writeJSON(w, http.StatusOK, map[string]any{"traits": traitObject{sel, verbose}, "cursor": c})
}

// traitObject writes traits as one JSON object in the order given (by
// key), which encoding/json would not keep for a map; the page then reads
// in the same order as its cursor.
type traitObject struct {
	traits  []store.Trait
	verbose bool
}

type verboseTrait struct {
	Value     json.RawMessage `json:"value"`
	SourceID  string          `json:"source_id"`
	UpdatedAt any             `json:"updated_at"`
}

func (o traitObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, t := range o.traits {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(t.Name)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		var v any = rawValue(t.Value)
		if o.verbose {
			v = verboseTrait{rawValue(t.Value), t.Source, timeValue(t.UpdatedAt)}
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// rawValue makes a missing value null rather than invalid JSON.
func rawValue(v json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(v)) == 0 {
		return json.RawMessage("null")
	}
	return v
}

// --- external_ids ---

type externalIDView struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	SourceID       string `json:"source_id"`
	Collection     string `json:"collection"`
	CreatedAt      any    `json:"created_at"`
	Encoding       string `json:"encoding"`
	FirstMessageID string `json:"first_message_id"`
}

func userExternalID(x store.ExternalID) externalIDView {
	return externalIDView{x.ID, x.Type, x.Source, store.Users, timeValue(x.CreatedAt), "none", x.FirstMessageID}
}

// groupExternalID is an account's only external id, its group id, first
// seen with the group's first message.
func groupExternalID(g store.Group) externalIDView {
	return externalIDView{g.ID, store.IDGroupID, g.FirstSource, store.Accounts, timeValue(g.FirstSeen), "none", g.FirstMessageID}
}

func (h *Handler) profileExternalIDs(w http.ResponseWriter, r *http.Request, ws string, id profileID) {
	q := r.URL.Query()
	limit, err := limitParam(q, externalIDsLimit, externalIDsMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	// verbose is documented for this route without saying what it changes;
	// every field is always shown, so it is checked and has no effect.
	if _, err := boolParam(q, "verbose"); err != nil {
		validationFailed(w, err)
		return
	}
	after, err := cursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	listed := []string{store.IDGroupID}
	if id.collection == store.Users {
		listed = h.idTypes(ws)
	}
	// A cursor is the last id returned: type, NUL, id. Anything else
	// would silently skip ids, so it is refused.
	if t, rest, ok := strings.Cut(after, "\x00"); after != "" && (!ok || rest == "" || !slices.Contains(listed, t)) {
		validationFailed(w, paramError("next", "is not a cursor returned by this API"))
		return
	}
	include := set(q.Get("include"))
	ref, ok := h.resolve(w, r, ws, id)
	if !ok {
		return
	}
	var all []externalIDView
	if ref.isAccount() {
		all = []externalIDView{groupExternalID(ref.group)}
	} else {
		ids, err := h.read.ExternalIDs(r.Context(), ws, ref.key)
		if err != nil {
			h.readFailed(w, err, notFound)
			return
		}
		// Only the id types the workspace looks users up by are listed.
		for _, x := range ids {
			if slices.Contains(listed, x.Type) {
				all = append(all, userExternalID(x))
			}
		}
	}
	// Segment states no order. Ids are listed by (type, id), which is
	// stable, so the cursor can be a position: the last one returned.
	sortExternalIDs(all)
	data := make([]externalIDView, 0, len(all))
	for _, x := range all {
		if (after == "" || externalIDCursor(x) > after) && (include == nil || include[x.Type]) {
			data = append(data, x)
		}
	}
	data, c := trim(data, limit, r.URL.EscapedPath(), func(v externalIDView) string { return encodeCursor(externalIDCursor(v)) })
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// externalIDCursor orders ids by type then id; types never hold a NUL.
func externalIDCursor(x externalIDView) string { return x.Type + "\x00" + x.ID }

func sortExternalIDs(xs []externalIDView) {
	slices.SortFunc(xs, func(a, b externalIDView) int { return strings.Compare(externalIDCursor(a), externalIDCursor(b)) })
}

// --- metadata ---

type metadataView struct {
	CreatedAt      any    `json:"created_at"`
	UpdatedAt      any    `json:"updated_at"`
	ExpiresAt      any    `json:"expires_at"`
	FirstMessageID string `json:"first_message_id"`
	FirstSourceID  string `json:"first_source_id"`
	LastMessageID  string `json:"last_message_id"`
	LastSourceID   string `json:"last_source_id"`
	// MemberCount is Roster's addition for accounts only.
	MemberCount *int `json:"member_count,omitempty"`
}

func (h *Handler) profileMetadata(w http.ResponseWriter, r *http.Request, ws string, id profileID) {
	// verbose is documented here without saying what it changes; checked,
	// no effect.
	if _, err := boolParam(r.URL.Query(), "verbose"); err != nil {
		validationFailed(w, err)
		return
	}
	ref, ok := h.resolve(w, r, ws, id)
	if !ok {
		return
	}
	var a store.Activity
	var members *int
	if ref.isAccount() {
		a = ref.group.Activity
		n := ref.group.Members
		members = &n
	} else {
		u, err := h.read.User(r.Context(), ws, ref.key)
		if err != nil {
			h.readFailed(w, err, notFound)
			return
		}
		a = u.Activity
	}
	// Profiles do not expire in Roster: expires_at is always null.
	writeJSON(w, http.StatusOK, map[string]any{"metadata": metadataView{
		timeValue(a.FirstSeen), timeValue(a.LastSeen), nil,
		a.FirstMessageID, a.FirstSource, a.LastMessageID, a.LastSource, members,
	}})
}
