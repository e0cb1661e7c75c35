package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"roster/internal/store"
)

// The /links resource: an account's members and a user's accounts.

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
	c := cursor{URL: r.URL.EscapedPath(), Limit: limit}
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

// memberIDs returns a member's external ids: the user id it goes by now
// first, then the others in (type, id) order. A member whose user vanished
// between the two reads (a rebuild) has none.
func (h *Handler) memberIDs(ctx context.Context, ws, userKey string) ([]store.ExternalID, error) {
	ids, err := h.read.ExternalIDs(ctx, ws, userKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	slices.SortFunc(ids, func(a, b store.ExternalID) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
	})
	return ids, err
}
