// Package profile turns logged events into profile updates: which
// identities an event names, which group it touches and which traits it
// writes, under the names the spec gives them.
package profile

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"roster/internal/spec"
	"roster/internal/store"
)

// message is the part of a normalized event that profiles use. Ids are
// already strings: ingestion stored numeric ids as their decimal string.
type message struct {
	UserID      *string         `json:"userId"`
	AnonymousID *string         `json:"anonymousId"`
	GroupID     *string         `json:"groupId"`
	PreviousID  *string         `json:"previousId"`
	Traits      json.RawMessage `json:"traits"`
	Context     struct {
		GroupID json.RawMessage `json:"groupId"`
	} `json:"context"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// FromEvent derives the profile update of one logged event.
func FromEvent(e store.Event) (store.ProfileUpdate, error) {
	u := store.ProfileUpdate{
		Seq:       e.Seq,
		Workspace: e.Workspace,
		Source:    e.Source,
		MessageID: e.MessageID,
		Type:      e.Type,
		Timestamp: e.Timestamp,
	}
	var m message
	if err := json.Unmarshal(e.Body, &m); err != nil {
		return u, fmt.Errorf("profile: event %d: %w", e.Seq, err)
	}
	u.UserID, u.AnonymousID, u.PreviousID = str(m.UserID), str(m.AnonymousID), str(m.PreviousID)
	switch e.Type {
	case spec.Group:
		u.GroupID = str(m.GroupID)
	case spec.Track, spec.Page, spec.Screen:
		u.GroupID = idString(m.Context.GroupID)
	}
	if (e.Type == spec.Group || e.Type == spec.Identify) && len(m.Traits) > 0 && m.Traits[0] == '{' {
		traits, err := Traits(e.Type, m.Traits)
		if err != nil {
			return u, fmt.Errorf("profile: event %d: traits: %w", e.Seq, err)
		}
		u.Traits = traits
	}
	return u, nil
}

// idString reads context.groupId, which clients send as a string or a number.
func idString(raw json.RawMessage) string {
	v := jsontext.Value(bytes.TrimSpace(raw))
	switch v.Kind() {
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case '0':
		// The same decimal string ingestion makes of a numeric groupId, so
		// that 1e3 here and there is one group.
		if s, err := spec.NumberString(string(v)); err == nil {
			return s
		}
	}
	return ""
}

// Traits lists the traits of a traits object of a group or identify call in
// the order sent, named as profiles show them (spec.TraitName). Names that
// fold to the same key are one trait; the last one sent wins, as it would
// in the client's own map.
func Traits(callType string, raw []byte) ([]store.TraitValue, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var out []store.TraitValue
	index := map[string]int{}
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
		t := store.TraitValue{Name: spec.TraitName(callType, name), Key: spec.FoldKey(name), Value: json.RawMessage(bytes.Clone(v))}
		if i, ok := index[t.Key]; ok {
			out[i] = t
			continue
		}
		index[t.Key] = len(out)
		out = append(out, t)
	}
	return out, nil
}
