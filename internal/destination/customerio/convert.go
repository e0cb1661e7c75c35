package customerio

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"roster/internal/destination"
	"roster/internal/spec"
)

// maxEntityBytes is the Track API's documented limit for one
// /api/v2/entity request; a larger one would be refused on every retry.
const maxEntityBytes = 32 * 1024

// Convert turns one event into its Track API request.
func (c *CustomerIO) Convert(ev destination.Event) ([]destination.Request, error) {
	switch ev.Type {
	case "identify":
		return c.identify(ev)
	case "group":
		return c.group(ev)
	case "track":
		return c.event(ev, "event", ev.Name)
	case "page":
		return c.event(ev, "page", pageName(ev))
	case "screen":
		return c.event(ev, "screen", ev.Name)
	case "alias":
		return c.alias(ev)
	}
	return nil, nil
}

// entity is a /api/v2/entity body. Field order follows the docs' examples.
type entity struct {
	Type          string            `json:"type"`
	Identifiers   map[string]string `json:"identifiers,omitempty"`
	Action        string            `json:"action"`
	Name          string            `json:"name,omitempty"`
	ID            string            `json:"id,omitempty"`
	Timestamp     int64             `json:"timestamp,omitempty"`
	Attributes    map[string]any    `json:"attributes,omitempty"`
	Relationships []relationship    `json:"cio_relationships,omitempty"`
	Primary       map[string]string `json:"primary,omitempty"`
	Secondary     map[string]string `json:"secondary,omitempty"`
}

type relationship struct {
	Identifiers map[string]string `json:"identifiers"`
	Attributes  map[string]any    `json:"relationship_attributes,omitempty"`
}

// anonymousEvent is a /api/v1/events body.
type anonymousEvent struct {
	AnonymousID string         `json:"anonymous_id"`
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	ID          string         `json:"id,omitempty"`
	Timestamp   int64          `json:"timestamp,omitempty"`
	Data        map[string]any `json:"data,omitempty"`
}

func (c *CustomerIO) identify(ev destination.Event) ([]destination.Request, error) {
	traits := destination.TraitMap(ev.Traits)
	take(traits, "id") // on a person, an id attribute would ask to change the identifier
	attrs := attributes(traits)
	email, _ := attrs["email"].(string)
	var ids map[string]string
	switch {
	case ev.UserID != "":
		ids = personIDs(ev.UserID)
	case email != "":
		ids = map[string]string{"email": email}
	default:
		return nil, fmt.Errorf("customerio: identify with neither userId nor email trait: %w", destination.ErrPermanent)
	}
	if ev.AnonymousID != "" {
		attrs["anonymous_id"] = ev.AnonymousID
	}
	return c.entity(entity{
		Type: "person", Identifiers: ids, Action: "identify",
		Timestamp: unix(ev.Timestamp), Attributes: attrs,
	})
}

func (c *CustomerIO) group(ev destination.Event) ([]destination.Request, error) {
	traits := destination.TraitMap(ev.Traits)
	typeID := c.objectTypeID
	if v, ok := take(traits, "objecttypeid"); ok && v != nil {
		id, ok := objectTypeID(v)
		if !ok {
			return nil, fmt.Errorf("customerio: group trait objectTypeId %v is not an object type id: %w", v, destination.ErrPermanent)
		}
		typeID = id
	}
	if opt := destination.TraitMap(ev.Options)["objectTypeId"]; opt != nil {
		id, ok := objectTypeID(opt)
		if !ok {
			return nil, fmt.Errorf("customerio: integrations option objectTypeId %v is not an object type id: %w", opt, destination.ErrPermanent)
		}
		typeID = id
	}
	relAttrs, _ := take(traits, "relationshipattributes")
	rel, _ := convertDates(relAttrs).(map[string]any)
	// Customer.io reserves these names on an object; an attribute named so
	// fails the whole request.
	for _, reserved := range []string{"relationship", "objectid", "cioobjectid"} {
		take(traits, reserved)
	}

	e := entity{
		Type:        "object",
		Identifiers: map[string]string{"object_type_id": typeID, "object_id": ev.GroupID},
		Action:      "identify",
		Attributes:  attributes(traits),
	}
	switch {
	case ev.UserID != "":
		e.Relationships = []relationship{{Identifiers: personIDs(ev.UserID), Attributes: rel}}
	case ev.AnonymousID != "":
		e.Action = "identify_anonymous"
		e.Relationships = []relationship{{Identifiers: map[string]string{"anonymous_id": ev.AnonymousID}, Attributes: rel}}
	}
	return c.entity(e)
}

func (c *CustomerIO) event(ev destination.Event, action, name string) ([]destination.Request, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("customerio: %s without a name: %w", ev.Type, destination.ErrPermanent)
	}
	props, _ := convertDates(destination.TraitMap(ev.Properties)).(map[string]any)
	id := eventID(ev)
	if ev.UserID == "" {
		return c.request("/api/v1/events", anonymousEvent{
			AnonymousID: ev.AnonymousID, Name: name, Type: action,
			ID: id, Timestamp: unix(ev.Timestamp), Data: props,
		})
	}
	return c.entity(entity{
		Type: "person", Identifiers: personIDs(ev.UserID), Action: action,
		Name: name, ID: id, Timestamp: unix(ev.Timestamp), Attributes: props,
	})
}

func (c *CustomerIO) alias(ev destination.Event) ([]destination.Request, error) {
	if ev.UserID == "" || ev.PreviousID == "" {
		return nil, fmt.Errorf("customerio: alias needs userId and previousId: %w", destination.ErrPermanent)
	}
	if ev.UserID == ev.PreviousID {
		return nil, nil // merging a person into itself changes nothing
	}
	return c.entity(entity{
		Type: "person", Action: "merge",
		Primary:   personIDs(ev.UserID),
		Secondary: personIDs(ev.PreviousID),
	})
}

// personIDs names a person by a Segment user id as Customer.io's own
// Segment destination does: an email address by email, "cio_<id>" by
// Customer.io's cio_id, anything else by id.
func personIDs(userID string) map[string]string {
	if id, ok := strings.CutPrefix(userID, "cio_"); ok && id != "" {
		return map[string]string{"cio_id": id}
	}
	if isEmail(userID) {
		return map[string]string{"email": userID}
	}
	return map[string]string{"id": userID}
}

// isEmail is a loose check, as the one Customer.io's destination uses: a
// local part, an @ and a domain with a dot, without spaces.
func isEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") &&
		!strings.HasSuffix(domain, ".") && !strings.ContainsAny(s, " \t\n") && !strings.Contains(domain, "@")
}

func (c *CustomerIO) entity(e entity) ([]destination.Request, error) {
	reqs, err := c.request("/api/v2/entity", e)
	if err == nil && len(reqs[0].Body) > maxEntityBytes {
		return nil, fmt.Errorf("customerio: request of %d bytes exceeds the Track API's 32 KB limit: %w", len(reqs[0].Body), destination.ErrPermanent)
	}
	return reqs, err
}

func (c *CustomerIO) request(path string, body any) ([]destination.Request, error) {
	b, err := destination.EncodeJSON(body)
	if err != nil {
		return nil, fmt.Errorf("customerio: %w", err)
	}
	h := http.Header{}
	h.Set("Authorization", c.auth)
	h.Set("Content-Type", "application/json")
	return []destination.Request{{
		Method: http.MethodPost,
		URL:    c.base + path,
		Header: h,
		Body:   b,
	}}, nil
}

// pageName is what Customer.io calls a page view: the page's URL, as
// Segment's Customer.io destination sends, else the page's name.
func pageName(ev destination.Event) string {
	if u, ok := destination.TraitMap(ev.Properties)["url"].(string); ok && u != "" {
		return u
	}
	if u, ok := destination.Lookup(destination.TraitMap(ev.Context), "page", "url").(string); ok && u != "" {
		return u
	}
	return ev.Name
}

// attributes maps traits to Customer.io attributes: reserved traits under
// Customer.io's names, dates as unix seconds, everything else as sent.
func attributes(traits map[string]any) map[string]any {
	created, hasCreated := take(traits, "createdat")
	email, hasEmail := take(traits, "email")
	attrs, _ := convertDates(traits).(map[string]any)
	if hasCreated {
		attrs["created_at"] = timestamp(created)
	}
	if hasEmail {
		attrs["email"] = email
	}
	return attrs
}

// take removes every trait whose name folds to key and returns the value of
// the first in byte order, so that a message sending two spellings converts
// the same way every time.
func take(traits map[string]any, key string) (any, bool) {
	var names []string
	for name := range traits {
		if spec.FoldKey(name) == key {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, false
	}
	sort.Strings(names)
	v := traits[names[0]]
	for _, name := range names {
		delete(traits, name)
	}
	return v, true
}

// timestamp converts a createdAt value to unix seconds where it can: an
// ISO-8601 string or a string of digits. Numbers are taken as already unix
// seconds; anything else is sent as it is for Customer.io to judge.
func timestamp(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	if t, ok := parseDate(s); ok {
		return t.Unix()
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && !strings.HasPrefix(s, "+") {
		return n
	}
	return v
}

// convertDates returns v with ISO-8601 date strings in it, at any depth of
// objects, replaced by unix seconds. Arrays are left alone, as Segment does.
func convertDates(v any) any {
	switch v := v.(type) {
	case string:
		if t, ok := parseDate(v); ok {
			return t.Unix()
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = convertDates(x)
		}
		return out
	}
	return v
}

// parseDate reads the ISO-8601 forms analytics libraries send: a date, or a
// date and time with optional seconds, fraction and zone (UTC without one).
func parseDate(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false // cheap rejection of the common non-date string
	}
	layouts := [...]string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0 // omitted: Customer.io then uses the time it receives the event
	}
	return t.Unix()
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// eventID is the ULID Customer.io deduplicates events by. A messageId that
// is a ULID is used as it is; any other becomes a ULID made of the event
// time and 80 bits of the messageId's SHA-256, the same on every retry.
func eventID(ev destination.Event) string {
	if ev.MessageID == "" {
		return ""
	}
	if isULID(ev.MessageID) {
		return strings.ToUpper(ev.MessageID)
	}
	ms := max(ev.Timestamp.UnixMilli(), 0)
	sum := sha256.Sum256([]byte(ev.MessageID))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	copy(b[6:], sum[:10])
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

func isULID(s string) bool {
	if len(s) != 26 || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(crockford, c) < 0 {
			return false
		}
	}
	return true
}
