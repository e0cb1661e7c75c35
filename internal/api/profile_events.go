package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

// The /events resource of a profile: its filters, its pages, and how an
// event is shown.

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
	// Events are ordered by their corrected timestamp (ties by log
	// order), newest first as Segment lists them, or oldest first.
	page := store.EventPage{}
	switch q.Get("sort") {
	case "", "desc":
	case "asc":
		page.Ascending = true
	default:
		validationFailed(w, paramError("sort", "must be asc or desc"))
		return
	}
	if page.After, err = positionCursorParam(q); err != nil {
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
	evs, next, err := h.scanEvents(r.Context(), ws, ref, page, limit, f)
	if err != nil {
		h.readFailed(w, err, notFound)
		return
	}
	c := cursor{URL: r.URL.EscapedPath(), Limit: limit}
	if next.Seq != 0 {
		c.HasMore = true
		c.Next = encodePosition(next)
	}
	data := make([]map[string]json.RawMessage, len(evs))
	for i, e := range evs {
		data[i] = profileEventView(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "cursor": c})
}

// scanEvents returns up to limit events that pass f, in the page's order,
// and the position to continue from (a zero Seq: nothing follows). Without
// a filter it is one read of limit+1 events, the extra one telling whether
// there is more.
func (h *Handler) scanEvents(ctx context.Context, ws string, ref profileRef, page store.EventPage, limit int, f eventFilter) ([]store.Event, store.EventPosition, error) {
	page.Limit = limit + 1
	if !f.none() {
		page.Limit = max(page.Limit, eventScanChunk)
	}
	var out []store.Event
	for scanned := 0; ; {
		evs, err := h.read.ProfileEvents(ctx, ws, ref.collection, ref.key, page)
		if err != nil {
			return nil, store.EventPosition{}, err
		}
		for _, e := range evs {
			scanned++
			page.After = store.PositionOf(e)
			if !f.keep(e) {
				continue
			}
			if len(out) == limit {
				return out, store.PositionOf(out[len(out)-1]), nil
			}
			out = append(out, e)
		}
		if len(evs) < page.Limit {
			return out, store.EventPosition{}, nil
		}
		if scanned >= eventScanMax {
			// Continue after the last event looked at: the page may be
			// short, even empty, and has_more still true.
			return out, page.After, nil
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
