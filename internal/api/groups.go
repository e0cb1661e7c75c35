package api

// Roster's own group routes: listing and searching groups, one group, its
// members and its trait history, which the Profile API has no routes for.
// They take the same access tokens (Basic username or Bearer) and answer
// errors in the same {"error":{"code","message"}} shape; lists page with
// limit and next, and return {"data":[...],"cursor":{"url","has_more","next"}}
// where next is an opaque string to pass back ("" on the last page).
//
//	GET /v1/workspaces/{workspace}/groups
//	    q=text          substring of the group id or its name trait, any case
//	    trait.<name>=v  only groups whose trait is v: JSON when v is valid
//	                    JSON (100, true, null, "100"), else the string v;
//	                    the name matches any spelling (trait.created_at
//	                    finds createdAt); several trait.* must all match
//	    sort=           id (default), name, first_seen or last_seen; a
//	                    leading "-" sorts descending
//	    limit=20 (1–200), next=
//	  → {"data":[{"group_id","traits":{...},"member_count","first_seen","last_seen"}],"cursor":{...}}
//
//	GET /v1/workspaces/{workspace}/groups/{groupId}
//	  → {"group_id","traits":{...},"member_count","first_seen","last_seen",
//	     "first_message_id","last_message_id"}
//
//	GET /v1/workspaces/{workspace}/groups/{groupId}/members?limit=20&next=
//	  → {"data":[{"user_id","anonymous_ids":[...],"external_ids":[...],"first_seen","last_seen"}],"cursor":{...}}
//	    user_id and anonymous_ids are left out when the member has none;
//	    external_ids have the Profile API's shape
//
//	GET /v1/workspaces/{workspace}/groups/{groupId}/history?trait=&limit=20&next=
//	  → {"data":[{"trait","old","new","message_id","timestamp"}],"cursor":{...}}
//	    newest first; trait= selects one trait by any spelling; old is null
//	    when the trait had no value before
//
// An unknown group is 404 {"error":{"code":"not_found","message":"Group was not found."}};
// a bad parameter is 400 with code validation_error, naming it. Times are
// UTC ISO-8601 with milliseconds.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"roster/internal/routes"
	"roster/internal/spec"
	"roster/internal/store"
)

const groupsLimit, groupsMax = 20, 200

func groupNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "not_found", "Group was not found.")
}

func (h *Handler) registerGroups(mux routes.Mux) {
	mux.Handle("GET /v1/workspaces/{workspace}/groups", h.inWorkspace(h.listGroups))
	mux.Handle("GET /v1/workspaces/{workspace}/groups/{groupId}", h.inWorkspace(h.group))
	mux.Handle("GET /v1/workspaces/{workspace}/groups/{groupId}/members", h.inWorkspace(h.groupMembers))
	mux.Handle("GET /v1/workspaces/{workspace}/groups/{groupId}/history", h.inWorkspace(h.groupHistory))
}

// inWorkspace authorizes the request for the workspace in its path and
// passes that workspace on.
func (h *Handler) inWorkspace(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := r.PathValue("workspace")
		if h.allowed(w, r, ws) {
			next(w, r, ws)
		}
	})
}

type groupSummary struct {
	GroupID     string      `json:"group_id"`
	Traits      traitObject `json:"traits"`
	MemberCount int         `json:"member_count"`
	FirstSeen   any         `json:"first_seen"`
	LastSeen    any         `json:"last_seen"`
}

type groupDetail struct {
	groupSummary
	FirstMessageID string `json:"first_message_id"`
	LastMessageID  string `json:"last_message_id"`
}

func summary(g store.Group, traits []store.Trait) groupSummary {
	return groupSummary{g.ID, traitObject{traits: traits}, g.Members, timeValue(g.FirstSeen), timeValue(g.LastSeen)}
}

var groupSorts = map[string]bool{"id": true, "name": true, "first_seen": true, "last_seen": true}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, ws string) {
	q := r.URL.Query()
	gq := store.GroupQuery{Text: q.Get("q"), Sort: q.Get("sort")}
	var err error
	if gq.Limit, err = limitParam(q, groupsLimit, groupsMax); err != nil {
		validationFailed(w, err)
		return
	}
	if gq.Sort != "" && !groupSorts[strings.TrimPrefix(gq.Sort, "-")] {
		validationFailed(w, paramError("sort", "must be id, name, first_seen or last_seen, optionally prefixed with -"))
		return
	}
	// The store's cursor is wrapped like every other, so that anything
	// not returned by this API is refused here as a bad parameter.
	if gq.After, err = cursorParam(q); err != nil {
		validationFailed(w, err)
		return
	}
	if gq.Traits, err = traitFilters(q); err != nil {
		validationFailed(w, err)
		return
	}
	groups, next, err := h.read.ListGroups(r.Context(), ws, gq)
	if err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	data := make([]groupSummary, 0, len(groups))
	for _, g := range groups {
		traits, err := h.groupTraits(r.Context(), ws, g.ID)
		if err != nil {
			h.readFailed(w, err, groupNotFound)
			return
		}
		data = append(data, summary(g, traits))
	}
	c := cursor{URL: r.URL.EscapedPath(), Limit: gq.Limit}
	if next != "" {
		c.HasMore = true
		c.Next = encodeCursor(next)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// groupTraits reads a listed group's traits; a group that vanished since
// it was listed (a rebuild) shows none rather than failing the page.
func (h *Handler) groupTraits(ctx context.Context, ws, groupID string) ([]store.Trait, error) {
	traits, err := h.read.GroupTraits(ctx, ws, groupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return traits, err
}

// traitFilters reads the trait.<name>=<value> parameters. Values are
// compared as JSON by the store: a valid JSON value is taken as such
// (compacted, as values are kept), anything else as a string, so that
// trait.plan=enterprise needs no quotes and trait.employees=100 matches
// the number.
func traitFilters(q map[string][]string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	for param, values := range q {
		name, ok := strings.CutPrefix(param, "trait.")
		if !ok {
			continue
		}
		key := spec.FoldKey(name)
		if key == "" {
			return nil, paramError(param, "needs a trait name after trait.")
		}
		if m == nil {
			m = map[string]json.RawMessage{}
		}
		for _, v := range values {
			val := TraitQueryValue(v)
			// Two different values for one trait can never both match;
			// that is a mistake in the query, not an empty result.
			if prev, ok := m[key]; ok && !bytes.Equal(prev, val) {
				return nil, paramError(param, "is given two different values for trait "+name)
			}
			m[key] = val
		}
	}
	return m, nil
}

// TraitQueryValue is the JSON value a trait filter's text stands for: the
// text itself when it is valid JSON, else the text as a JSON string.
func TraitQueryValue(v string) json.RawMessage {
	var b bytes.Buffer
	if json.Valid([]byte(v)) && json.Compact(&b, []byte(v)) == nil {
		return b.Bytes()
	}
	s, _ := json.Marshal(v) // a string always marshals
	return s
}

func (h *Handler) group(w http.ResponseWriter, r *http.Request, ws string) {
	g, err := h.read.Group(r.Context(), ws, r.PathValue("groupId"))
	if err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	traits, err := h.read.GroupTraits(r.Context(), ws, g.ID)
	if err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	writeJSON(w, http.StatusOK, groupDetail{summary(g, traits), g.FirstMessageID, g.LastMessageID})
}

type memberView struct {
	UserID       string           `json:"user_id,omitempty"`
	AnonymousIDs []string         `json:"anonymous_ids,omitempty"`
	ExternalIDs  []externalIDView `json:"external_ids"`
	FirstSeen    any              `json:"first_seen"`
	LastSeen     any              `json:"last_seen"`
}

func (h *Handler) groupMembers(w http.ResponseWriter, r *http.Request, ws string) {
	q := r.URL.Query()
	limit, err := limitParam(q, groupsLimit, groupsMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	after, err := cursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	gid := r.PathValue("groupId")
	// GroupMembers of an unknown group is an empty list; the group is read
	// first so that it is a 404 instead.
	if _, err := h.read.Group(r.Context(), ws, gid); err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	ms, c, err := h.memberPage(r, ws, gid, after, limit)
	if err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	data := make([]memberView, 0, len(ms))
	for _, m := range ms {
		v := memberView{ExternalIDs: make([]externalIDView, len(m.ids)), FirstSeen: timeValue(m.FirstSeen), LastSeen: timeValue(m.LastSeen)}
		for i, x := range m.ids {
			v.ExternalIDs[i] = userExternalID(x)
			switch {
			case x.Type == store.IDAnonymousID:
				v.AnonymousIDs = append(v.AnonymousIDs, x.ID)
			case x.Type == store.IDUserID && x.Current:
				// After an alias chain (u1 → u2 → u3) the member is the
				// user id it goes by now; the others are in external_ids.
				v.UserID = x.ID
			}
		}
		data = append(data, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

type changeView struct {
	Trait     string          `json:"trait"`
	Old       json.RawMessage `json:"old"`
	New       json.RawMessage `json:"new"`
	MessageID string          `json:"message_id"`
	Timestamp any             `json:"timestamp"`
}

func (h *Handler) groupHistory(w http.ResponseWriter, r *http.Request, ws string) {
	q := r.URL.Query()
	limit, err := limitParam(q, groupsLimit, groupsMax)
	if err != nil {
		validationFailed(w, err)
		return
	}
	before, err := seqCursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	key := spec.FoldKey(q.Get("trait"))
	gid := r.PathValue("groupId")
	if _, err := h.read.Group(r.Context(), ws, gid); err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	changes, more, err := h.historyPage(r.Context(), ws, gid, key, before, limit)
	if err != nil {
		h.readFailed(w, err, groupNotFound)
		return
	}
	c := cursor{URL: r.URL.EscapedPath(), Limit: limit}
	if more {
		c.HasMore = true
		c.Next = encodeSeq(changes[len(changes)-1].Seq)
	}
	data := make([]changeView, len(changes))
	for i, ch := range changes {
		data[i] = changeView{ch.Name, rawValue(ch.Old), rawValue(ch.New), ch.MessageID, timeValue(ch.Timestamp)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// historyPage returns up to limit changes and whether more follow. One
// event that writes several traits makes several changes with the same
// seq, and the cursor is a seq ("before"), so a page must never end inside
// an event: its remaining changes would be skipped. The page is cut back
// to the last whole event, and when a single event alone has more changes
// than the limit it is returned whole, over the limit.
func (h *Handler) historyPage(ctx context.Context, ws, gid, key string, before int64, limit int) ([]store.TraitChange, bool, error) {
	for n := limit + 1; ; n *= 2 {
		cs, err := h.read.TraitHistory(ctx, ws, gid, key, before, n)
		if err != nil {
			return nil, false, err
		}
		if len(cs) <= limit {
			return cs, false, nil
		}
		cut := limit
		for cut > 0 && cs[cut].Seq == cs[cut-1].Seq {
			cut--
		}
		if cut > 0 {
			return cs[:cut], true, nil
		}
		end := 1
		for end < len(cs) && cs[end].Seq == cs[0].Seq {
			end++
		}
		if end < len(cs) {
			return cs[:end], true, nil
		}
		if len(cs) < n {
			return cs, false, nil
		}
		// Everything read so far is one event: read more of it.
	}
}
