package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"roster/internal/store"
)

const (
	// debuggerBacklog is how many recent events a debugger starts with.
	debuggerBacklog     = 100
	quarantineBacklog   = 20
	debuggerHeartbeat   = 15 * time.Second
	debuggerKeepsInView = 500
)

type debuggerData struct {
	Keeps int
}

func (h *Handler) debugger(w http.ResponseWriter, r *http.Request, ses *session) {
	h.render(w, r, ses, http.StatusOK, "debugger", "Debugger", debuggerData{Keeps: debuggerKeepsInView})
}

// streamItem is what the debugger's page receives for one message.
type streamItem struct {
	Kind        string    `json:"kind"` // "event" or "quarantined"
	Type        string    `json:"type,omitempty"`
	Name        string    `json:"name,omitempty"`
	Source      string    `json:"source"`
	MessageID   string    `json:"messageId,omitempty"`
	UserID      string    `json:"userId,omitempty"`
	AnonymousID string    `json:"anonymousId,omitempty"`
	GroupID     string    `json:"groupId,omitempty"`
	ReceivedAt  time.Time `json:"receivedAt"`
	Timestamp   time.Time `json:"timestamp,omitzero"`
	Warnings    []string  `json:"warnings,omitempty"`
	Code        string    `json:"code,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	// Raw is the message: as stored for an event, as received for a
	// quarantined one (which may not be JSON).
	Raw string `json:"raw"`
}

func eventItem(e *store.Event) streamItem {
	return streamItem{Kind: "event", Type: e.Type, Name: e.Name, Source: e.Source, MessageID: e.MessageID,
		UserID: e.UserID, AnonymousID: e.AnonymousID, GroupID: e.GroupID, ReceivedAt: e.ReceivedAt.UTC(),
		Timestamp: e.Timestamp.UTC(), Warnings: e.Warnings, Raw: string(e.Body)}
}

func quarantinedItem(q *store.Quarantined) streamItem {
	return streamItem{Kind: "quarantined", Source: q.Source, MessageID: q.MessageID, ReceivedAt: q.ReceivedAt.UTC(),
		Code: q.Code, Reason: q.Reason, Raw: string(q.Raw)}
}

// key tells a message seen in the backlog from the same one arriving live.
func (s streamItem) key() string {
	return s.Kind + "\x00" + s.Source + "\x00" + s.MessageID + "\x00" + strconv.FormatInt(s.ReceivedAt.UnixMilli(), 10) + "\x00" + s.Reason
}

// debuggerStream sends the workspace's recent messages, then each one as it
// is committed, as Server-Sent Events. A browser that reads too slowly
// loses messages from its own view and gets a "dropped" event saying how
// many; ingestion never waits for it.
func (h *Handler) debuggerStream(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	sub, cancel := h.opts.Hub.subscribe(ses.workspace)
	defer cancel()
	backlog, err := h.backlog(r, ses.workspace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts, which are
	// for requests; the heartbeat finds a browser that went away.
	rc.SetReadDeadline(time.Time{})  //nolint:errcheck // unsupported only by test recorders
	rc.SetWriteDeadline(time.Time{}) //nolint:errcheck
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	seen := map[string]bool{}
	for _, it := range backlog {
		seen[it.key()] = true
		if writeSSE(w, "message", it) != nil {
			return
		}
	}
	if writeSSE(w, "ready", map[string]int{"backlog": len(backlog)}) != nil || rc.Flush() != nil {
		return
	}
	heartbeat := time.NewTicker(debuggerHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case t := <-sub.ch:
			if n := sub.dropped.Swap(0); n > 0 {
				if writeSSE(w, "dropped", map[string]int64{"count": n}) != nil {
					return
				}
			}
			var it streamItem
			if t.event != nil {
				it = eventItem(t.event)
			} else {
				it = quarantinedItem(t.quarantined)
			}
			if len(seen) > 0 && seen[it.key()] {
				delete(seen, it.key())
				continue
			}
			if writeSSE(w, "message", it) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// backlog is the workspace's recent events and quarantined messages,
// oldest first.
func (h *Handler) backlog(r *http.Request, ws string) ([]streamItem, error) {
	evs, err := h.opts.Store.RecentEvents(r.Context(), ws, 0, debuggerBacklog)
	if err != nil {
		return nil, err
	}
	qs, err := h.opts.Store.RecentQuarantined(r.Context(), ws, 0, quarantineBacklog)
	if err != nil {
		return nil, err
	}
	items := make([]streamItem, 0, len(evs)+len(qs))
	// Both lists come newest first.
	for i := len(evs) - 1; i >= 0; i-- {
		items = append(items, eventItem(&evs[i]))
	}
	for i := len(qs) - 1; i >= 0; i-- {
		items = append(items, quarantinedItem(&qs[i]))
	}
	slices.SortStableFunc(items, func(a, b streamItem) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	return items, nil
}

func writeSSE(w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
