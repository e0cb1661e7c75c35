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
	c := cursor{URL: r.URL.EscapedPath(), Limit: limit}
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
