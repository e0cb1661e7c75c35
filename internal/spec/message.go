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
	GroupID     string
	PreviousID  string
	Event       string
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
