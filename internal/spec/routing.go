package spec

import (
	"bytes"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// route computes msg.Routing from the ids Normalize read and the call's
// fields; d holds the batch's context, merged into the message's.
func (n *Normalizer) route(msg *Message, f *fields, d *Defaults) error {
	r := Routing{UserID: msg.UserID, AnonymousID: msg.AnonymousID}
	switch msg.Type {
	case Alias:
		r.PreviousID = msg.PreviousID
	case Track:
		r.Name = text(f.event)
	case Page, Screen:
		r.Name = text(f.name)
	}
	if msg.Type == Group {
		r.GroupID = msg.GroupID
	} else {
		v, err := n.contextGroup(f.context, d)
		if err != nil {
			return err
		}
		r.GroupID = idText(v)
	}
	msg.Routing = r
	return nil
}

// contextGroup finds context.groupId in the context as encode writes it:
// the message's own member, else the batch's.
func (n *Normalizer) contextGroup(ctx jsontext.Value, d *Defaults) (jsontext.Value, error) {
	// Most contexts name no group: a scan for the name (or an escape that
	// could spell it) saves splitting them.
	if ctx.Kind() == '{' && (bytes.Contains(ctx, []byte(`"groupId"`)) || bytes.IndexByte(ctx, '\\') >= 0) {
		members, err := n.object(ctx, n.context[:0])
		n.context = members
		if err != nil {
			return nil, jsonError("context", err)
		}
		for _, m := range members {
			if string(m.name) == "groupId" {
				return m.value, nil
			}
		}
	}
	if d != nil {
		for _, m := range d.context {
			if string(m.name) == "groupId" {
				return m.value, nil
			}
		}
	}
	return nil, nil
}

// idText reads an id as Normalize stores it: a string as it is, a number
// as its decimal string (NumberString); anything else is "", as is a
// string that no id may be (with a NUL, see idField). It is how
// context.groupId, which is not validated, names a group.
func idText(v jsontext.Value) string {
	switch v.Kind() {
	case '"':
		if s := text(v); strings.IndexByte(s, 0) < 0 {
			return s
		}
	case '0':
		if s, err := NumberString(string(v)); err == nil {
			return s
		}
	}
	return ""
}

// text reads a string value; anything else is "".
func text(v jsontext.Value) string {
	if v.Kind() != '"' {
		return ""
	}
	s, err := unquote(v)
	if err != nil {
		return ""
	}
	return s
}

// ReadStored reads back from a body that Normalize wrote the type,
// messageId, ids and Routing that Normalize computed with it, by the same
// rules, for a reader that holds only the body: a destination's retry, as
// the outbox keeps only the body. It does not validate again: a field it
// cannot read is "".
func ReadStored(body []byte) (*Message, error) {
	n := NewNormalizer(nil)
	members, err := n.object(body, nil)
	if err != nil {
		return nil, jsonError("", err)
	}
	var f fields
	for _, m := range members {
		f.set(m)
	}
	msg := &Message{Type: text(f.typ)}
	for _, id := range []struct {
		dst   *string
		value jsontext.Value
	}{
		{&msg.MessageID, f.messageID}, {&msg.UserID, f.userID}, {&msg.AnonymousID, f.anonymousID},
		{&msg.GroupID, f.groupID}, {&msg.PreviousID, f.previousID},
	} {
		*id.dst = idText(id.value)
	}
	if err := n.route(msg, &f, nil); err != nil {
		return nil, err
	}
	return msg, nil
}
