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
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

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

func (h *Handler) registerProfiles(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/spaces/{space}/collections/{collection}/profiles/{external_id}/{resource}", h.profile)
	// Everything else under /v1/spaces/ also answers in JSON, as Segment
	// says its API does for every response.
	mux.HandleFunc("GET /v1/spaces/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
	})
}

// profileID is a parsed {collection} and {external_id}.
type profileID struct {
	collection string
	idType     string
	id         string
}

// parseProfileID accepts what Roster can find: users by user_id or
// anonymous_id, accounts by group_id. Anything else (another collection,
// an id without a "type:" prefix, a type Roster does not keep such as
// email) is a profile that does not exist, which Segment answers with 404.
// The value is split at the first colon, so it may hold colons itself. It
// is used as sent: Segment asks for lower-case ids, Roster's are
// case-sensitive.
func parseProfileID(collection, externalID string) (profileID, bool) {
	idType, id, ok := strings.Cut(externalID, ":")
	if !ok || id == "" {
		return profileID{}, false
	}
	switch {
	case collection == store.Users && (idType == store.IDUserID || idType == store.IDAnonymousID):
	case collection == store.Accounts && idType == store.IDGroupID:
	default:
		return profileID{}, false
	}
	return profileID{collection, idType, id}, true
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
	id, ok := parseProfileID(r.PathValue("collection"), r.PathValue("external_id"))
	if !ok {
		notFound(w)
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
		all = make([]externalIDView, len(ids))
		for i, x := range ids {
			all[i] = userExternalID(x)
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

// --- events ---

// eventFilter holds the documented filters of /events.
type eventFilter struct {
	include, exclude map[string]bool
	start, end       time.Time
}

func (f eventFilter) none() bool {
	return f.include == nil && f.exclude == nil && f.start.IsZero() && f.end.IsZero()
}

func (f eventFilter) keep(e store.Event) bool {
	if !f.start.IsZero() && e.Timestamp.Before(f.start) {
		return false
	}
	if !f.end.IsZero() && !e.Timestamp.Before(f.end) {
		return false
	}
	if f.include == nil && f.exclude == nil {
		return true
	}
	// The filters name track events, as Segment's do: a page's name is
	// not an event name.
	name := ""
	if e.Type == spec.Track {
		name = e.Name
	}
	return (f.include == nil || f.include[name]) && !f.exclude[name]
}

func (h *Handler) profileEvents(w http.ResponseWriter, r *http.Request, ws string, id profileID) {
	q := r.URL.Query()
	limit, err := limitParam(q, eventsLimit, eventsMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	// The store reads a profile's events newest first only, so ascending
	// order is refused rather than served in the wrong order.
	switch q.Get("sort") {
	case "", "desc":
	default:
		validationFailed(w, paramError("sort", "must be desc: Roster lists events newest first only"))
		return
	}
	before, err := seqCursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	f := eventFilter{include: set(q.Get("include")), exclude: set(q.Get("exclude"))}
	if f.start, err = timeParam(q, "start"); err != nil {
		validationFailed(w, err)
		return
	}
	if f.end, err = timeParam(q, "end"); err != nil {
		validationFailed(w, err)
		return
	}
	ref, ok := h.resolve(w, r, ws, id)
	if !ok {
		return
	}
	evs, next, err := h.scanEvents(r.Context(), ws, ref, before, limit, f)
	if err != nil {
		h.readFailed(w, err, notFound)
		return
	}
	c := cursor{URL: r.URL.EscapedPath()}
	if next > 0 {
		c.HasMore = true
		c.Next = encodeSeq(next)
	}
	data := make([]map[string]json.RawMessage, len(evs))
	for i, e := range evs {
		data[i] = profileEventView(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// scanEvents returns up to limit events that pass f, newest first, and the
// cursor of what follows (0: nothing). Without a filter it is one read of
// limit+1 events, the extra one telling whether there is more.
func (h *Handler) scanEvents(ctx context.Context, ws string, ref profileRef, before int64, limit int, f eventFilter) ([]store.Event, int64, error) {
	chunk := limit + 1
	if !f.none() {
		chunk = max(chunk, eventScanChunk)
	}
	var page []store.Event
	for scanned := 0; ; {
		evs, err := h.read.ProfileEvents(ctx, ws, ref.collection, ref.key, before, chunk)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range evs {
			scanned++
			before = e.Seq
			if !f.keep(e) {
				continue
			}
			if len(page) == limit {
				return page, page[len(page)-1].Seq, nil
			}
			page = append(page, e)
		}
		if len(evs) < chunk {
			return page, 0, nil
		}
		if scanned >= eventScanMax {
			// Continue after the last event looked at: the page may be
			// short, even empty, and has_more still true.
			return page, before, nil
		}
	}
}

type eventExternalID struct {
	Collection string `json:"collection"`
	Type       string `json:"type"`
	ID         string `json:"id"`
	Encoding   string `json:"encoding"`
}

// profileEventView is the stored message with the Profile API's fields set
// over it, so that both Segment-style clients (message_id, external_ids…)
// and those that want the message as sent (messageId, userId…) find theirs.
func profileEventView(e store.Event) map[string]json.RawMessage {
	v := map[string]json.RawMessage{}
	json.Unmarshal(e.Body, &v) //nolint:errcheck // the log holds normalized JSON objects; a bad one shows only the fields below
	put := func(name string, val any) {
		b, err := json.Marshal(val)
		if err == nil {
			v[name] = b
		}
	}
	var xids []eventExternalID
	related := map[string]string{}
	if e.UserID != "" {
		xids = append(xids, eventExternalID{store.Users, store.IDUserID, e.UserID, "none"})
		related[store.Users] = store.IDUserID + ":" + e.UserID
	}
	if e.AnonymousID != "" {
		xids = append(xids, eventExternalID{store.Users, store.IDAnonymousID, e.AnonymousID, "none"})
		if related[store.Users] == "" {
			related[store.Users] = store.IDAnonymousID + ":" + e.AnonymousID
		}
	}
	// A group call's groupId, else the call's context.groupId, as the log
	// has it.
	if gid := e.GroupID; gid != "" {
		xids = append(xids, eventExternalID{store.Accounts, store.IDGroupID, gid, "none"})
		related[store.Accounts] = store.IDGroupID + ":" + gid
	}
	if xids == nil {
		xids = []eventExternalID{}
	}
	put("message_id", e.MessageID)
	put("source_id", e.Source)
	put("timestamp", timeValue(e.Timestamp))
	put("type", e.Type)
	put("external_ids", xids)
	// Segment's related names the profiles by its own profile ids; Roster
	// has none to show, so it names them by an identifier its routes take.
	put("related", related)
	if _, ok := v["event"]; !ok {
		v["event"] = json.RawMessage("null")
	}
	for _, name := range []string{"properties", "context"} {
		if _, ok := v[name]; !ok {
			v[name] = json.RawMessage("{}")
		}
	}
	return v
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

// --- links ---

type linkView struct {
	ToCollection string         `json:"to_collection"`
	ExternalIDs  []linkedIDView `json:"external_ids"`
}

// linkedIDView is an external id as the links example shows it: without
// first_message_id.
type linkedIDView struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	SourceID   string `json:"source_id"`
	Collection string `json:"collection"`
	CreatedAt  any    `json:"created_at"`
	Encoding   string `json:"encoding"`
}

// Segment's links example has no cursor and its docs cap the route at 20
// records. Roster pages links the same way as the other lists, so that a
// user of many groups or a large account can be read whole.
func (h *Handler) profileLinks(w http.ResponseWriter, r *http.Request, ws string, id profileID) {
	q := r.URL.Query()
	limit, err := limitParam(q, linksLimit, linksMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	after, err := cursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	ref, ok := h.resolve(w, r, ws, id)
	if !ok {
		return
	}
	if ref.isAccount() {
		h.accountLinks(w, r, ws, ref, after, limit)
		return
	}
	ms, err := h.read.UserGroups(r.Context(), ws, ref.key)
	if err != nil {
		h.readFailed(w, err, notFound)
		return
	}
	// Memberships come ordered by group id: the cursor is the last one.
	data := []linkView{}
	c := cursor{URL: r.URL.EscapedPath()}
	for _, m := range ms {
		if after != "" && m.GroupID <= after {
			continue
		}
		if len(data) == limit {
			c.HasMore = true
			c.Next = encodeCursor(data[len(data)-1].ExternalIDs[0].ID)
			break
		}
		// A membership's source is not kept; source_id is empty.
		data = append(data, linkView{store.Accounts, []linkedIDView{{m.GroupID, store.IDGroupID, "", store.Accounts, timeValue(m.FirstSeen), "none"}}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

func memberCursor(m store.Membership) string { return encodeCursor(m.UserKey) }

// accountLinks lists an account's members, each by its external ids,
// paged by user key.
func (h *Handler) accountLinks(w http.ResponseWriter, r *http.Request, ws string, ref profileRef, after string, limit int) {
	ms, c, err := h.memberPage(r, ws, ref.key, after, limit)
	if err != nil {
		h.readFailed(w, err, notFound)
		return
	}
	data := make([]linkView, 0, len(ms))
	for _, m := range ms {
		l := linkView{store.Users, make([]linkedIDView, len(m.ids))}
		for i, x := range m.ids {
			l.ExternalIDs[i] = linkedIDView{x.ID, x.Type, x.Source, store.Users, timeValue(x.CreatedAt), "none"}
		}
		data = append(data, l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// member is a membership with the member's external ids.
type member struct {
	store.Membership
	ids []store.ExternalID
}

// memberPage reads a page of a group's members, by user key, with their
// external ids.
func (h *Handler) memberPage(r *http.Request, ws, groupID, after string, limit int) ([]member, cursor, error) {
	ms, err := h.read.GroupMembers(r.Context(), ws, groupID, after, limit+1)
	if err != nil {
		return nil, cursor{}, err
	}
	ms, c := trim(ms, limit, r.URL.EscapedPath(), memberCursor)
	out := make([]member, len(ms))
	for i, m := range ms {
		ids, err := h.memberIDs(r.Context(), ws, m.UserKey)
		if err != nil {
			return nil, cursor{}, err
		}
		out[i] = member{m, ids}
	}
	return out, c, nil
}

// memberIDs returns a member's external ids in (type, id) order. A member
// whose user vanished between the two reads (a rebuild) has none.
func (h *Handler) memberIDs(ctx context.Context, ws, userKey string) ([]store.ExternalID, error) {
	ids, err := h.read.ExternalIDs(ctx, ws, userKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	slices.SortFunc(ids, func(a, b store.ExternalID) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
	})
	return ids, err
}

// --- parameters, shared with the native group routes ---

// validationError is a bad query parameter; it is answered with 400 and
// Segment's validation_error code.
type validationError string

func (e validationError) Error() string { return string(e) }

// paramError names the parameter the way Segment's one example does.
func paramError(name, problem string) error {
	return validationError("The parameter `" + name + "` " + problem + ".")
}

func validationFailed(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "validation_error", err.Error())
}

// limitParam reads limit; empty means the default.
func limitParam(q url.Values, def, most int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, paramError("limit", "must be an integer from 1 to "+strconv.Itoa(most))
	}
	return n, nil
}

// boolParam reads a boolean; empty means false.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, paramError(name, "must be true or false")
	}
	return b, nil
}

// timeParam reads an ISO-8601 time or date; empty means none.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, paramError(name, "must be an ISO-8601 time such as 2006-01-02 or 2006-01-02T15:04:05Z")
}

// Cursors other than trait names are base64url, so that clients treat them
// as opaque and they survive being pasted into a query string unescaped.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func encodeSeq(seq int64) string { return encodeCursor(strconv.FormatInt(seq, 10)) }

// cursorParam decodes next; empty means the first page.
func cursorParam(q url.Values) (string, error) {
	s := q.Get("next")
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return "", paramError("next", "is not a cursor returned by this API")
	}
	return string(b), nil
}

// seqCursorParam decodes a next that holds a log position.
func seqCursorParam(q url.Values) (int64, error) {
	s, err := cursorParam(q)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, paramError("next", "is not a cursor returned by this API")
	}
	return n, nil
}

// set splits a comma-separated list; nil when there is nothing in it, which
// means "no filter".
func set(list string) map[string]bool {
	var m map[string]bool
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if m == nil {
				m = map[string]bool{}
			}
			m[s] = true
		}
	}
	return m
}

// foldedSet is set for trait names: include=created_at finds createdAt.
func foldedSet(list string) map[string]bool {
	m := set(list)
	if m == nil {
		return nil
	}
	folded := make(map[string]bool, len(m))
	for s := range m {
		folded[spec.FoldKey(s)] = true
	}
	return folded
}

// timeValue writes times as Roster writes them everywhere (UTC,
// milliseconds), and an unknown time as null.
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(spec.TimeLayout)
}
