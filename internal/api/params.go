package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

// Query parameters and cursors, shared by the Profile API and the native
// group routes.

// validationError is a bad query parameter; it is answered with 400 and
// Segment's validation_error code.
type validationError string

func (e validationError) Error() string { return string(e) }

// paramError names the parameter the way Segment's one example does.
func paramError(name, problem string) error {
	return validationError("The parameter `" + name + "` " + problem + ".")
}

func validationFailed(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "validation_error", err.Error())
}

// limitParam reads limit; empty means the default.
func limitParam(q url.Values, def, most int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, paramError("limit", "must be an integer from 1 to "+strconv.Itoa(most))
	}
	return n, nil
}

// boolParam reads a boolean; empty means false.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, paramError(name, "must be true or false")
	}
	return b, nil
}

// timeParam reads an ISO-8601 time or date; empty means none.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, paramError(name, "must be an ISO-8601 time such as 2006-01-02 or 2006-01-02T15:04:05Z")
}

// Cursors other than trait names are base64url, so that clients treat them
// as opaque and they survive being pasted into a query string unescaped.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func encodeSeq(seq int64) string { return encodeCursor(strconv.FormatInt(seq, 10)) }

// cursorParam decodes next; empty means the first page.
func cursorParam(q url.Values) (string, error) {
	s := q.Get("next")
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return "", paramError("next", "is not a cursor returned by this API")
	}
	return string(b), nil
}

// encodePosition is the cursor of a profile's events: the last event's
// time and log position.
func encodePosition(p store.EventPosition) string {
	return encodeCursor(strconv.FormatInt(p.At, 10) + "." + strconv.FormatInt(p.Seq, 10))
}

// positionCursorParam decodes a next that encodePosition wrote; a zero
// position means the first page.
func positionCursorParam(q url.Values) (store.EventPosition, error) {
	s, err := cursorParam(q)
	if err != nil || s == "" {
		return store.EventPosition{}, err
	}
	at, seq, ok := strings.Cut(s, ".")
	p := store.EventPosition{}
	var errAt, errSeq error
	p.At, errAt = strconv.ParseInt(at, 10, 64)
	p.Seq, errSeq = strconv.ParseInt(seq, 10, 64)
	if !ok || errAt != nil || errSeq != nil || p.Seq < 1 {
		return store.EventPosition{}, paramError("next", "is not a cursor returned by this API")
	}
	return p, nil
}

// seqCursorParam decodes a next that holds a log position.
func seqCursorParam(q url.Values) (int64, error) {
	s, err := cursorParam(q)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, paramError("next", "is not a cursor returned by this API")
	}
	return n, nil
}

// set splits a comma-separated list; nil when there is nothing in it, which
// means "no filter".
func set(list string) map[string]bool {
	var m map[string]bool
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if m == nil {
				m = map[string]bool{}
			}
			m[s] = true
		}
	}
	return m
}

// foldedSet is set for trait names: include=created_at finds createdAt.
func foldedSet(list string) map[string]bool {
	m := set(list)
	if m == nil {
		return nil
	}
	folded := make(map[string]bool, len(m))
	for s := range m {
		folded[spec.FoldKey(s)] = true
	}
	return folded
}

// timeValue writes times as Roster writes them everywhere (UTC,
// milliseconds), and an unknown time as null.
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(spec.TimeLayout)
}
