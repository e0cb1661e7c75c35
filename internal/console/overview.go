package console

import (
	"net/http"

	"roster/internal/api"
	"roster/internal/destination"
)

// quarantineCountLimit bounds how far the overview counts the quarantine.
const quarantineCountLimit = 1000

type overviewData struct {
	Chart        chart
	Processing   api.Processing
	ProcessingOK bool
	Quarantined  int
	// QuarantinedMore is set when there are more than Quarantined.
	QuarantinedMore bool
	Destinations    []destinationHealth
}

type destinationHealth struct {
	destination.Status
	Health string
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	d := overviewData{Chart: rateChart(h.opts.Hub.rates.series(ses.workspace))}
	if p, err := api.ReadProcessing(ctx, h.opts.Store); err == nil {
		d.Processing, d.ProcessingOK = p, true
	}
	n, more, err := h.countQuarantined(r, ses.workspace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Quarantined, d.QuarantinedMore = n, more
	sts, err := h.opts.Destinations.Statuses(ctx, ses.workspace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, s := range sts {
		d.Destinations = append(d.Destinations, destinationHealth{s, health(s)})
	}
	h.render(w, r, ses, http.StatusOK, "overview", "Overview", d)
}

// health sums a destination's counts up in a word.
func health(s destination.Status) string {
	switch {
	case s.Dead > 0:
		return "dead letters"
	case s.Retrying > 0:
		return "retrying"
	case s.Behind > 1000:
		return "behind"
	}
	return "healthy"
}

// countQuarantined counts the messages waiting in the quarantine (not
// replayed), up to quarantineCountLimit of the newest.
func (h *Handler) countQuarantined(r *http.Request, workspace string) (int, bool, error) {
	n, before, seen := 0, int64(0), 0
	for seen < quarantineCountLimit {
		qs, err := h.opts.Store.RecentQuarantined(r.Context(), workspace, before, 200)
		if err != nil {
			return 0, false, err
		}
		for _, q := range qs {
			if q.ReplayedAt.IsZero() {
				n++
			}
		}
		seen += len(qs)
		if len(qs) < 200 {
			return n, false, nil
		}
		before = qs[len(qs)-1].ID
	}
	return n, true, nil
}
