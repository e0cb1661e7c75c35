package console

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"roster/internal/spec"
	"roster/internal/store"
)

const quarantinePerPage = 20

type quarantineData struct {
	Items []quarantineView
	Next  template.URL
	Flash string
	// Error is a replay's failure, shown above the list.
	Error *replayError
}

type quarantineView struct {
	store.Quarantined
	// Raw is the message as received, for the editor; Edited is set when
	// the editor comes back with a failed replay.
	Raw    string
	Edited bool
}

type replayError struct {
	ID     int64
	Answer ingestAnswer
}

func (h *Handler) quarantine(w http.ResponseWriter, r *http.Request, ses *session) {
	d, err := h.quarantinePage(r, ses.workspace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if id := r.URL.Query().Get("replayed"); id != "" {
		d.Flash = "Message " + id + " was replayed through ingestion; its quarantined copy is kept, marked replayed."
	}
	h.render(w, r, ses, http.StatusOK, "quarantine", "Quarantine", d)
}

func (h *Handler) quarantinePage(r *http.Request, ws string) (quarantineData, error) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	qs, err := h.opts.Store.RecentQuarantined(r.Context(), ws, max(before, 0), quarantinePerPage+1)
	if err != nil {
		return quarantineData{}, err
	}
	d := quarantineData{}
	if len(qs) > quarantinePerPage {
		qs = qs[:quarantinePerPage]
		d.Next = template.URL("/console/quarantine?before=" + itoa(qs[len(qs)-1].ID))
	}
	for _, q := range qs {
		d.Items = append(d.Items, quarantineView{Quarantined: q, Raw: string(q.Raw)})
	}
	return d, nil
}

// replay sends the edited message through ingestion with the source it
// came from and, when ingestion takes it, marks the quarantined copy
// replayed (it is kept as received).
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		http.Error(w, "no such quarantined message", http.StatusNotFound)
		return
	}
	qs, err := h.opts.Store.RecentQuarantined(ctx, ses.workspace, id+1, 1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(qs) == 0 || qs[0].ID != id {
		http.Error(w, "no such quarantined message", http.StatusNotFound)
		return
	}
	raw := []byte(r.PostFormValue("raw"))
	answer := h.replayBody(ctx, ses.workspace, qs[0].Source, raw)
	if answer.Status != http.StatusOK {
		d, err := h.quarantinePage(r, ses.workspace)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d.Error = &replayError{ID: id, Answer: answer}
		for i := range d.Items {
			if d.Items[i].ID == id {
				d.Items[i].Raw, d.Items[i].Edited = string(raw), true
			}
		}
		h.render(w, r, ses, http.StatusUnprocessableEntity, "quarantine", "Quarantine", d)
		return
	}
	if err := h.opts.Store.MarkReplayed(ctx, ses.workspace, id, spec.Millis(h.opts.Now())); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/quarantine?replayed="+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// replayBody picks the route a message needs: /v1/batch for a batch, else
// the route of its type.
func (h *Handler) replayBody(ctx context.Context, ws, sourceName string, raw []byte) ingestAnswer {
	src, ok := h.source(ws, sourceName)
	if !ok {
		return ingestAnswer{Status: http.StatusConflict, Body: "the source " + strconv.Quote(sourceName) + " no longer exists in this workspace"}
	}
	var probe struct {
		Batch json.RawMessage `json:"batch"`
		Type  string          `json:"type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || len(raw) == 0 {
			return ingestAnswer{Status: http.StatusBadRequest, Body: "not JSON: " + err.Error()}
		}
	}
	path := "/v1/batch"
	if probe.Batch == nil {
		if _, ok := spec.TypeFromPath(probe.Type); !ok || probe.Type == "" {
			return ingestAnswer{Status: http.StatusBadRequest,
				Body: `the message needs a "type" (identify, track, page, screen, group or alias) to be replayed`}
		}
		path = "/v1/" + probe.Type
	}
	return h.sendToIngest(ctx, src, path, raw)
}
