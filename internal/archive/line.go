// Package archive is the NDJSON form of logged events that `roster export`
// writes, retention archives the log into, and `roster import` and
// `roster rebuild` read back. A line is the event's stored body (the
// normalized message, with receivedAt and the corrected timestamp) and,
// as its last member, "_roster": what the log keeps beside the body, so
// that a rebuild needs nothing else. Importers strip "_roster" (Strip).
package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"roster/internal/store"
)

// metaName is the member that carries the log's fields; it is the last
// member of a line, so that Strip is a cut.
const metaName = `"_roster":`

// meta is what the log keeps beside an event's body.
type meta struct {
	Seq         int64     `json:"seq"`
	Workspace   string    `json:"workspace"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	MessageID   string    `json:"messageId"`
	ReceivedAt  time.Time `json:"receivedAt"`
	Timestamp   time.Time `json:"timestamp"`
	Warnings    []string  `json:"warnings,omitempty"`
	UserID      string    `json:"userId,omitempty"`
	AnonymousID string    `json:"anonymousId,omitempty"`
	PreviousID  string    `json:"previousId,omitempty"`
	GroupID     string    `json:"groupId,omitempty"`
	Name        string    `json:"name,omitempty"`
}

// AppendLine appends e as one line, newline included.
func AppendLine(dst []byte, e *store.Event) ([]byte, error) {
	body := bytes.TrimRight(e.Body, " \t\r\n")
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return dst, fmt.Errorf("archive: event %d: body is not a JSON object", e.Seq)
	}
	m, err := json.Marshal(meta{Seq: e.Seq, Workspace: e.Workspace, Source: e.Source, Type: e.Type, MessageID: e.MessageID,
		ReceivedAt: e.ReceivedAt.UTC(), Timestamp: e.Timestamp.UTC(), Warnings: e.Warnings,
		UserID: e.UserID, AnonymousID: e.AnonymousID, PreviousID: e.PreviousID, GroupID: e.GroupID, Name: e.Name})
	if err != nil {
		return dst, fmt.Errorf("archive: event %d: %w", e.Seq, err)
	}
	dst = append(dst, body[:len(body)-1]...)
	if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, metaName...)
	dst = append(dst, m...)
	return append(dst, '}', '\n'), nil
}

// ErrNoMeta is returned by ParseLine for a line that has no "_roster"
// member: an event from elsewhere (a Segment archive), which can be
// imported but not replayed as it was logged.
var ErrNoMeta = errors.New("archive: the line has no _roster member")

// split returns the line without its "_roster" member, and the member's
// value; value is nil when the line has none.
func split(line []byte) (body, value []byte) {
	line = bytes.TrimRight(line, " \t\r\n")
	i := bytes.LastIndex(line, []byte(metaName))
	if i < 0 || len(line) == 0 || line[len(line)-1] != '}' {
		return line, nil
	}
	value = line[i+len(metaName) : len(line)-1]
	// The member is the last one: what is before it ends with ',' or '{'.
	j := i
	for j > 0 && (line[j-1] == ' ' || line[j-1] == '\t') {
		j--
	}
	if j == 0 || (line[j-1] != ',' && line[j-1] != '{') || !json.Valid(value) || bytes.TrimSpace(value)[0] != '{' {
		return line, nil
	}
	if line[j-1] == ',' {
		j--
	}
	body = make([]byte, 0, j+1)
	body = append(append(body, line[:j]...), '}')
	return body, value
}

// Strip returns the message of a line: the line without its "_roster"
// member (as it is when it has none).
func Strip(line []byte) []byte {
	body, _ := split(line)
	return body
}

// ParseLine reads a line that AppendLine wrote back into the event.
func ParseLine(line []byte) (store.Event, error) {
	body, value := split(line)
	if value == nil {
		return store.Event{}, ErrNoMeta
	}
	var m meta
	if err := json.Unmarshal(value, &m); err != nil {
		return store.Event{}, fmt.Errorf("archive: _roster: %w", err)
	}
	return store.Event{Seq: m.Seq, Workspace: m.Workspace, Source: m.Source, MessageID: m.MessageID, Type: m.Type,
		ReceivedAt: m.ReceivedAt.UTC(), Timestamp: m.Timestamp.UTC(), Warnings: m.Warnings,
		UserID: m.UserID, AnonymousID: m.AnonymousID, PreviousID: m.PreviousID, GroupID: m.GroupID, Name: m.Name,
		Body: body}, nil
}
