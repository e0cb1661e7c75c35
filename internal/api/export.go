package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"roster/internal/archive"
	"roster/internal/routes"
	"roster/internal/spec"
	"roster/internal/store"
)

// The export routes stream a workspace's events or account profiles as
// NDJSON, a page per request, for `roster export`. A page's cursor is in
// the response headers, since the body is the data itself: CursorHeader
// is the position to ask for next (?after=) and MoreHeader says whether
// there is more.
const (
	CursorHeader = "Roster-Cursor"
	MoreHeader   = "Roster-More"

	exportLimit    = 1000
	exportMaxLimit = 10000
	// exportScan bounds how many events one page looks at, so that a
	// narrow filter over a long log answers in bounded time (an empty page
	// with a cursor further on) instead of scanning it whole.
	exportScan = 50000
)

// ExportLog is the part of the log the export reads: all of it in log
// order, which both backends page by position.
type ExportLog interface {
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
}

// Export serves the export routes.
type Export struct {
	log    ExportLog
	read   Profiles
	tokens Tokens
}

// NewExport returns the export routes' handler.
func NewExport(log ExportLog, read Profiles, tokens Tokens) *Export {
	return &Export{log: log, read: read, tokens: tokens}
}

// Register adds the routes to mux.
func (x *Export) Register(mux routes.Mux) {
	mux.HandleFunc("GET /v1/workspaces/{workspace}/export/events", x.events)
	mux.HandleFunc("GET /v1/workspaces/{workspace}/export/accounts", x.accounts)
}

// exportFilter selects the events an export writes.
type exportFilter struct {
	since, until time.Time // event time (the corrected timestamp), [since, until)
	typ, source  string
}

func (f exportFilter) match(e *store.Event) bool {
	return (f.since.IsZero() || !e.Timestamp.Before(f.since)) &&
		(f.until.IsZero() || e.Timestamp.Before(f.until)) &&
		(f.typ == "" || e.Type == f.typ) && (f.source == "" || e.Source == f.source)
}

func exportParams(r *http.Request) (after int64, limit int, f exportFilter, err error) {
	q := r.URL.Query()
	limit = exportLimit
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > exportMaxLimit {
			return 0, 0, f, paramError("limit", "must be an integer from 1 to "+strconv.Itoa(exportMaxLimit))
		}
	}
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return 0, 0, f, paramError("after", "must be a log position (a cursor printed by roster export)")
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.since}, {"until", &f.until}} {
		if s := q.Get(t.name); s != "" {
			v, ok := spec.ParseTime(s)
			if !ok {
				return 0, 0, f, paramError(t.name, "must be an ISO-8601 time")
			}
			*t.dst = v
		}
	}
	f.typ, f.source = q.Get("type"), q.Get("source")
	return after, limit, f, nil
}

// events writes up to limit of the workspace's events after the cursor
// that pass the filter, one archive line each (archive.AppendLine).
func (x *Export) events(w http.ResponseWriter, r *http.Request) {
	ws := r.PathValue("workspace")
	if !allowed(x.tokens, w, r, ws) {
		return
	}
	after, limit, f, err := exportParams(r)
	if err != nil {
		validationFailed(w, err)
		return
	}
	var out []byte
	n, scanned, more := 0, 0, true
	for n < limit && scanned < exportScan {
		page := min(max(limit, 1000), exportScan-scanned)
		evs, err := x.log.Read(r.Context(), after, page)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read events: "+err.Error())
			return
		}
		for i := range evs {
			e := &evs[i]
			if e.Workspace == ws && f.match(e) {
				if out, err = archive.AppendLine(out, e); err != nil {
					writeError(w, http.StatusInternalServerError, "internal", err.Error())
					return
				}
				n++
			}
			after = e.Seq
			scanned++
			if n == limit {
				break
			}
		}
		if len(evs) < page && n < limit {
			more = false
			break
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(CursorHeader, strconv.FormatInt(after, 10))
	w.Header().Set(MoreHeader, strconv.FormatBool(more))
	w.Write(out) //nolint:errcheck // the client is gone
}

// accountLine is one account profile as exported.
type accountLine struct {
	GroupID        string          `json:"groupId"`
	FirstSeen      any             `json:"firstSeen"`
	LastSeen       any             `json:"lastSeen"`
	FirstMessageID string          `json:"firstMessageId"`
	LastMessageID  string          `json:"lastMessageId"`
	Traits         traitObject     `json:"traits"`
	Members        []accountMember `json:"members"`
}

// accountMember is a membership, its user named by its external ids (the
// user key is internal to one Roster).
type accountMember struct {
	ExternalIDs []externalIDLine `json:"externalIds"`
	FirstSeen   any              `json:"firstSeen"`
	LastSeen    any              `json:"lastSeen"`
}

type externalIDLine struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// accounts writes a page of account profiles, by group id, with their
// traits and memberships.
func (x *Export) accounts(w http.ResponseWriter, r *http.Request) {
	ws := r.PathValue("workspace")
	if !allowed(x.tokens, w, r, ws) {
		return
	}
	q := r.URL.Query()
	limit, err := limitParam(q, 100, 1000)
	if err != nil {
		validationFailed(w, err)
		return
	}
	after, err := cursorParam(q)
	if err != nil {
		validationFailed(w, err)
		return
	}
	ctx := r.Context()
	groups, next, err := x.read.ListGroups(ctx, ws, store.GroupQuery{After: after, Limit: limit})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not list groups: "+err.Error())
		return
	}
	var out []byte
	for _, g := range groups {
		line, err := x.account(ctx, ws, g)
		if errors.Is(err, store.ErrNotFound) {
			continue // gone since it was listed (a rebuild)
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "could not read group "+strconv.Quote(g.ID)+": "+err.Error())
			return
		}
		b, err := json.Marshal(line)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		out = append(append(out, b...), '\n')
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if next != "" {
		w.Header().Set(CursorHeader, encodeCursor(next))
	}
	w.Header().Set(MoreHeader, strconv.FormatBool(next != ""))
	w.Write(out) //nolint:errcheck // the client is gone
}

func (x *Export) account(ctx context.Context, ws string, g store.Group) (accountLine, error) {
	traits, err := x.read.GroupTraits(ctx, ws, g.ID)
	if err != nil {
		return accountLine{}, err
	}
	line := accountLine{GroupID: g.ID, FirstSeen: timeValue(g.FirstSeen), LastSeen: timeValue(g.LastSeen),
		FirstMessageID: g.FirstMessageID, LastMessageID: g.LastMessageID, Traits: traitObject{traits: traits}, Members: []accountMember{}}
	afterUser := ""
	for {
		ms, err := x.read.GroupMembers(ctx, ws, g.ID, afterUser, 1000)
		if err != nil {
			return accountLine{}, err
		}
		for _, m := range ms {
			ids, err := x.read.ExternalIDs(ctx, ws, m.UserKey)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return accountLine{}, err
			}
			am := accountMember{ExternalIDs: []externalIDLine{}, FirstSeen: timeValue(m.FirstSeen), LastSeen: timeValue(m.LastSeen)}
			for _, id := range ids {
				am.ExternalIDs = append(am.ExternalIDs, externalIDLine{id.Type, id.ID})
			}
			line.Members = append(line.Members, am)
		}
		if len(ms) < 1000 {
			return line, nil
		}
		afterUser = ms[len(ms)-1].UserKey
	}
}
