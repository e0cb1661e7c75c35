// Package profile turns logged events into profile updates: which
// identities an event names, which group it touches and which traits it
// writes, under the names the spec gives them.
package profile

import (
	"bytes"
	"encoding/json"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"roster/internal/spec"
	"roster/internal/store"
)

// traitsOf is the part of a body that profiles read: the ids, group and
// name come with the event, computed once by ingestion.
type traitsOf struct {
	Traits jsontext.Value `json:"traits"`
}

// lenient reads a stored body as encoding/json would: the log keeps what
// ingestion accepted, and a later decoder must not reject it.
var lenient = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true), jsonv2.MatchCaseInsensitiveNames(true))

// FromEvent derives the profile update of one logged event. Only the
// traits of identify and group calls are read from the body.
func FromEvent(e store.Event) (store.ProfileUpdate, error) {
	u := store.ProfileUpdate{
		Seq:         e.Seq,
		Workspace:   e.Workspace,
		Source:      e.Source,
		MessageID:   e.MessageID,
		Type:        e.Type,
		Timestamp:   e.Timestamp,
		UserID:      e.UserID,
		AnonymousID: e.AnonymousID,
		PreviousID:  e.PreviousID,
	}
	switch e.Type {
	case spec.Group, spec.Track, spec.Page, spec.Screen:
		// identify and alias calls join no group, even with a
		// context.groupId: they say who a user is, not where.
		u.GroupID = e.GroupID
	}
	if e.Type != spec.Group && e.Type != spec.Identify {
		return u, nil
	}
	var m traitsOf
	if err := jsonv2.Unmarshal(e.Body, &m, lenient); err != nil {
		return u, fmt.Errorf("profile: event %d: %w", e.Seq, err)
	}
	if len(m.Traits) > 0 && m.Traits[0] == '{' {
		traits, err := Traits(e.Type, m.Traits)
		if err != nil {
			return u, fmt.Errorf("profile: event %d: traits: %w", e.Seq, err)
		}
		u.Traits = traits
	}
	return u, nil
}

// Traits lists the traits of a traits object of a group or identify call in
// the order sent, each under the spelling sent, reserved traits included:
// a client that sends first_name reads first_name back, as from Segment's
// Profile API. Names that fold to the same key are one trait; the last one
// sent wins, as it would in the client's own map. callType is kept for
// callers that tell a group's traits from a user's.
func Traits(callType string, raw []byte) ([]store.TraitValue, error) {
	// Values are slices of one copy of raw, not a copy each. A
	// *bytes.Buffer is read in place, and names that fold to one key are
	// handled below, so the decoder need not track names.
	raw = bytes.Clone(raw)
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var out []store.TraitValue
	var index map[string]int // past a few traits; a scan is cheaper below
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		t := store.TraitValue{Name: name, Key: spec.FoldKey(name), Value: json.RawMessage(raw[end-len(v) : end : end])}
		if i, ok := find(out, index, t.Key); ok {
			out[i] = t
			continue
		}
		out = append(out, t)
		if index != nil || len(out) > 8 {
			if index == nil {
				index = make(map[string]int, 2*len(out))
				for i, t := range out {
					index[t.Key] = i
				}
			}
			index[t.Key] = len(out) - 1
		}
	}
	return out, nil
}

// find looks key up in index when there is one, else in out.
func find(out []store.TraitValue, index map[string]int, key string) (int, bool) {
	if index != nil {
		i, ok := index[key]
		return i, ok
	}
	for i := range out {
		if out[i].Key == key {
			return i, true
		}
	}
	return 0, false
}
