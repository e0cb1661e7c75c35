package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"roster/internal/destination"
)

const deadLettersShown = 20

type destinationsData struct {
	Destinations []destinationView
	// Flash says what the last re-drive did.
	Flash string
}

type destinationView struct {
	destinationHealth
	DeadLetters []deadLetterView
}

type deadLetterView struct {
	Seq      int64
	Attempts int
	Status   int
	Error    string
	Response string
	FailedAt time.Time
	Message  string
}

func (h *Handler) destinations(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	sts, err := h.opts.Destinations.Statuses(ctx, ses.workspace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := destinationsData{}
	if q := r.URL.Query(); q.Has("redriven") {
		d.Flash = "Re-drove " + q.Get("redriven") + " dead letters of " + q.Get("destination") + ": they are retried now."
	}
	for _, s := range sts {
		v := destinationView{destinationHealth: destinationHealth{s, health(s)}}
		if s.Dead > 0 {
			dls, err := h.opts.Destinations.DeadLetters(ctx, ses.workspace, s.Name, 0, deadLettersShown)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			for _, dl := range dls {
				resp := string(dl.Response)
				if !utf8.ValidString(resp) {
					resp = strconv.Quote(resp)
				}
				v.DeadLetters = append(v.DeadLetters, deadLetterView{dl.Seq, dl.Attempts, dl.Status, dl.Error, resp, dl.FailedAt, prettyJSON(dl.Body)})
			}
		}
		d.Destinations = append(d.Destinations, v)
	}
	h.render(w, r, ses, http.StatusOK, "destinations", "Destinations", d)
}

func (h *Handler) redrive(w http.ResponseWriter, r *http.Request, ses *session) {
	name := r.PathValue("name")
	n, err := h.opts.Destinations.Redrive(r.Context(), ses.workspace, name)
	if errors.Is(err, destination.ErrUnknown) {
		http.Error(w, "no such destination", http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := url.Values{"redriven": {strconv.Itoa(n)}, "destination": {name}}
	http.Redirect(w, r, "/console/destinations?"+q.Encode(), http.StatusSeeOther)
}
