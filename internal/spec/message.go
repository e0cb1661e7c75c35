// Package spec holds the Segment message model: decoding request bodies,
// normalizing and validating calls, reserved traits and trait-name folding.
package spec

import (
	"time"
)

// The six call types of the Segment Spec.
const (
	Identify = "identify"
	Track    = "track"
	Page     = "page"
	Screen   = "screen"
	Group    = "group"
	Alias    = "alias"
)

// TypeFromPath maps the last segment of an ingestion path, long
// (/v1/group) or analytics.js short (/v1/g), to a call type.
func TypeFromPath(seg string) (string, bool) {
	switch seg {
	case Identify, "i":
		return Identify, true
	case Track, "t":
		return Track, true
	case Page, "p":
		return Page, true
	case Screen, "s":
		return Screen, true
	case Group, "g":
		return Group, true
	case Alias, "a":
		return Alias, true
	}
	return "", false
}

func validType(t string) bool {
	switch t {
	case Identify, Track, Page, Screen, Group, Alias:
		return true
	}
	return false
}

// Message is one normalized call, as it goes into the log.
type Message struct {
	Type        string
	MessageID   string
	UserID      string
	AnonymousID string
	// GroupID is the groupId field as sent, of any call type.
	GroupID    string
	PreviousID string
	// Routing is what the log stores next to the body, computed here once.
	Routing Routing
	// ReceivedAt is server time; Timestamp is the corrected event time.
	ReceivedAt time.Time
	Timestamp  time.Time
	// Warnings lists accepted-but-suspect values (reserved traits of the
	// wrong type).
	Warnings []string
	// WriteKey is the key sent in the body, if any. It is not stored.
	WriteKey string
	// JSON is the normalized message: every field the client sent (unknown
	// ones verbatim) with the normalized ones rewritten.
	JSON []byte
}

// Routing is what a call names, as the log stores it next to the body so
// that no reader parses the body to route or apply the call. Ids are
// strings: a numeric id is its decimal string (NumberString).
type Routing struct {
	UserID      string
	AnonymousID string
	// PreviousID is an alias call's previousId.
	PreviousID string
	// GroupID is a group call's groupId, else the call's context.groupId
	// (the batch's when the message has none) by the rule of a numeric
	// groupId; "" when it has none or it is neither a string nor a number.
	GroupID string
	// Name is a track call's event, or a page or screen call's name.
	Name string
}

// TimeLayout is how Roster writes times: UTC, millisecond precision, as the
// Segment libraries do.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseTime accepts the ISO-8601 forms that client libraries send.
// A time without a zone is taken as UTC.
func parseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// ParseTime reads a time in any of the ISO-8601 forms that client
// libraries send and Roster accepts for timestamp fields, so that
// conversions read date traits the way ingestion reads event times. A
// time without a zone is taken as UTC. It reports false for anything else.
func ParseTime(s string) (time.Time, bool) {
	t, err := parseTime(s)
	return t, err == nil
}

// Millis truncates t to the precision Roster stores.
func Millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
