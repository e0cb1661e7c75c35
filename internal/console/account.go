package console

import (
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

const (
	membersPerPage = 50
	historyPerPage = 50
	eventsPerPage  = 20
)

type accountData struct {
	Group  store.Group
	Name   string
	Traits []traitView
	// Members is a page of members; MembersNext the query of the next.
	Members     []memberView
	MembersNext template.URL
	History     []historyView
	HistoryNext template.URL
	Events      []eventView
	EventsNext  template.URL
	Curl        string
}

type memberView struct {
	// Label is the member's userId, else its anonymousId; Href its page.
	Label     string
	IDType    string
	Href      string
	OtherIDs  []string
	FirstSeen time.Time
	LastSeen  time.Time
}

type historyView struct {
	Name      string
	Old       string
	New       string
	MessageID string
	Timestamp time.Time
	Seq       int64
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	ws, id := ses.workspace, r.PathValue("groupId")
	q := r.URL.Query()
	g, err := h.opts.Store.Group(ctx, ws, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	traits, err := h.opts.Store.GroupTraits(ctx, ws, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := accountData{Group: g, Name: traitValue(traits, "name"), Traits: traitViews(spec.Group, traits),
		Curl: profileCurl(r, ws, id)}

	ms, err := h.opts.Store.GroupMembers(ctx, ws, id, q.Get("members"), membersPerPage+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(ms) > membersPerPage {
		ms = ms[:membersPerPage]
		d.MembersNext = withParam(r.URL.EscapedPath(), q, "members", ms[len(ms)-1].UserKey)
	}
	for _, m := range ms {
		mv, err := h.member(r, ws, m)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d.Members = append(d.Members, mv)
	}

	before, _ := strconv.ParseInt(q.Get("history"), 10, 64)
	hist, err := h.opts.Store.TraitHistory(ctx, ws, id, "", max(before, 0), historyPerPage)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, c := range hist {
		old := "(none)"
		if c.Old != nil {
			old = string(c.Old)
		}
		d.History = append(d.History, historyView{Name: c.Name, Old: old, New: string(c.New), MessageID: c.MessageID, Timestamp: c.Timestamp, Seq: c.Seq})
	}
	if len(hist) >= historyPerPage {
		d.HistoryNext = withParam(r.URL.EscapedPath(), q, "history", itoa(hist[len(hist)-1].Seq))
	}

	evs, err := h.opts.Store.ProfileEvents(ctx, ws, store.Accounts, id, eventPage(q))
	if err != nil && !errorsIsNotFound(err) {
		h.fail(w, r, err)
		return
	}
	if len(evs) > eventsPerPage {
		evs = evs[:eventsPerPage]
		d.EventsNext = withParam(r.URL.EscapedPath(), q, "events", nextEvents(evs[len(evs)-1]))
	}
	d.Events = eventViews(evs)
	h.render(w, r, ses, http.StatusOK, "account", "Account "+id, d)
}

// member names a member by its userId (else anonymousId) for the link to
// its user page.
func (h *Handler) member(r *http.Request, ws string, m store.Membership) (memberView, error) {
	ids, err := h.opts.Store.ExternalIDs(r.Context(), ws, m.UserKey)
	if err != nil && !errorsIsNotFound(err) {
		return memberView{}, err
	}
	slices.SortFunc(ids, func(a, b store.ExternalID) int {
		return cmp.Or(idRank(a.Type)-idRank(b.Type), strings.Compare(a.ID, b.ID))
	})
	mv := memberView{FirstSeen: m.FirstSeen, LastSeen: m.LastSeen, Label: "(unknown: " + m.UserKey + ")"}
	for i, x := range ids {
		if i == 0 {
			mv.Label, mv.IDType, mv.Href = x.ID, x.Type, userHref(x.Type, x.ID)
			continue
		}
		mv.OtherIDs = append(mv.OtherIDs, x.Type+":"+x.ID)
	}
	return mv, nil
}

func idRank(t string) int {
	switch t {
	case store.IDUserID:
		return 0
	case store.IDAnonymousID:
		return 1
	}
	return 2
}

// userHref is the console page of a user by one of its external ids.
func userHref(idType, id string) string {
	href := "/console/users/" + url.PathEscape(id)
	if idType != store.IDUserID {
		href += "?type=" + url.QueryEscape(idType)
	}
	return href
}

// withParam returns the link to path with query q and name set to value.
func withParam(path string, q url.Values, name, value string) template.URL {
	c := url.Values{}
	for k, v := range q {
		c[k] = v
	}
	c.Set(name, value)
	// Safe as a URL: the path is escaped by the caller, the query by Encode.
	return template.URL(path + "?" + c.Encode())
}

// profileCurl is the Profile API call that reads this account, ready to
// paste with the token in $ROSTER_ACCESS_TOKEN.
func profileCurl(r *http.Request, ws, groupID string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + "/v1/spaces/" + url.PathEscape(ws) + "/collections/accounts/profiles/group_id:" +
		url.PathEscape(groupID) + "/traits?limit=200"
	return `curl -u "$ROSTER_ACCESS_TOKEN:" ` + shellQuote(u)
}
