package console

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"roster/internal/api"
	"roster/internal/spec"
	"roster/internal/store"
)

const accountsPerPage = 25

var accountSorts = []struct{ Value, Label string }{
	{"name", "name (A→Z)"}, {"-name", "name (Z→A)"},
	{"-last_seen", "last seen (newest)"}, {"last_seen", "last seen (oldest)"},
	{"-first_seen", "first seen (newest)"}, {"first_seen", "first seen (oldest)"},
	{"id", "id"},
}

type accountsData struct {
	Query, Trait, Sort string
	Sorts              []struct{ Value, Label string }
	Error              string
	Rows               []accountRow
	// Next is the link to the next page, "" on the last.
	Next template.URL
}

type accountRow struct {
	ID       string
	Name     string
	Members  int
	LastSeen time.Time
}

func (h *Handler) accounts(w http.ResponseWriter, r *http.Request, ses *session) {
	q := r.URL.Query()
	d := accountsData{Query: q.Get("q"), Trait: q.Get("trait"), Sort: q.Get("sort"), Sorts: accountSorts}
	if d.Sort == "" {
		d.Sort = "-last_seen"
	}
	gq := store.GroupQuery{Text: d.Query, Sort: d.Sort, After: q.Get("after"), Limit: accountsPerPage}
	if d.Trait != "" {
		key, val, err := parseTraitFilter(d.Trait)
		if err != "" {
			d.Error = err
			h.render(w, r, ses, http.StatusBadRequest, "accounts", "Accounts", d)
			return
		}
		gq.Traits = map[string]json.RawMessage{key: val}
	}
	groups, next, err := h.opts.Store.ListGroups(r.Context(), ses.workspace, gq)
	if err != nil {
		if errorsIsInvalid(err) {
			d.Error = err.Error()
			h.render(w, r, ses, http.StatusBadRequest, "accounts", "Accounts", d)
			return
		}
		h.fail(w, r, err)
		return
	}
	for _, g := range groups {
		traits, err := h.opts.Store.GroupTraits(r.Context(), ses.workspace, g.ID)
		if err != nil && !errorsIsNotFound(err) {
			h.fail(w, r, err)
			return
		}
		d.Rows = append(d.Rows, accountRow{ID: g.ID, Name: traitValue(traits, "name"), Members: g.Members, LastSeen: g.LastSeen})
	}
	if next != "" {
		nq := url.Values{"q": {d.Query}, "trait": {d.Trait}, "sort": {d.Sort}, "after": {next}}
		d.Next = template.URL("/console/accounts?" + nq.Encode())
	}
	h.render(w, r, ses, http.StatusOK, "accounts", "Accounts", d)
}

// parseTraitFilter reads "plan = enterprise": a trait name, "=", and a
// value taken as the read API's trait.<name>= parameter takes it.
func parseTraitFilter(s string) (string, json.RawMessage, string) {
	name, value, ok := strings.Cut(s, "=")
	key := spec.FoldKey(strings.TrimSpace(name))
	if !ok || key == "" {
		return "", nil, "A trait filter is a name, = and a value, such as: plan = enterprise"
	}
	return key, api.TraitQueryValue(strings.TrimSpace(value)), ""
}
