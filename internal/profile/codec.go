package profile

import (
	"encoding/binary"
	"errors"
	"fmt"

	"roster/internal/binrec"
	"roster/internal/store"
)

// A record's bytes are a version byte, then its fields as varints and
// length-prefixed strings: a few hundred bytes for a typical group,
// against a row per trait and their index entries before.
const recordVersion = 1

// errRecord is returned for bytes that Marshal did not write.
var errRecord = errors.New("profile: malformed record")

// Marshal appends the record's bytes to b.
func (r *Record) Marshal(b []byte) []byte {
	b = append(b, recordVersion)
	b = appendMark(b, r.First)
	b = appendMark(b, r.Last)
	b = binary.AppendUvarint(b, uint64(len(r.Traits)))
	for _, t := range r.Traits {
		b = binrec.AppendString(b, t.Key)
		b = binrec.AppendString(b, t.Name)
		b = binrec.AppendString(b, string(t.Value))
		b = binrec.AppendTime(b, t.UpdatedAt)
		b = binary.AppendVarint(b, t.Seq)
		b = binrec.AppendString(b, t.Source)
		b = binrec.AppendString(b, t.MessageID)
	}
	b = binary.AppendUvarint(b, uint64(r.Members))
	b = binary.AppendUvarint(b, uint64(len(r.Groups)))
	for _, g := range r.Groups {
		b = binrec.AppendString(b, g.GroupID)
		b = binary.AppendVarint(b, g.First)
		b = binary.AppendVarint(b, g.Last)
	}
	b = binary.AppendUvarint(b, uint64(len(r.IDs)))
	for _, id := range r.IDs {
		b = binrec.AppendString(b, id.Type)
		b = binrec.AppendString(b, id.ID)
		b = binrec.AppendString(b, id.Source)
		b = binrec.AppendString(b, id.FirstMessageID)
		b = binrec.AppendTime(b, id.CreatedAt)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Merged)))
	for _, k := range r.Merged {
		b = binrec.AppendString(b, k)
	}
	return b
}

// Unmarshal reads a record Marshal wrote. The record's strings and values
// are copies: b may be reused.
func Unmarshal(b []byte) (*Record, error) {
	d := binrec.NewReader(b)
	if v := d.Byte(); v != recordVersion {
		return nil, fmt.Errorf("%w: version %d", errRecord, v)
	}
	r := &Record{First: readMark(d), Last: readMark(d)}
	if n := d.Count(); n > 0 {
		r.Traits = make([]store.Trait, n)
		for i := range r.Traits {
			t := &r.Traits[i]
			t.Key, t.Name, t.Value = d.String(), d.String(), []byte(d.String())
			t.UpdatedAt, t.Seq = d.Time(), d.Varint()
			t.Source, t.MessageID = d.String(), d.String()
		}
	}
	r.Members = int(d.Uvarint())
	if n := d.Count(); n > 0 {
		r.Groups = make([]Member, n)
		for i := range r.Groups {
			r.Groups[i] = Member{GroupID: d.String(), First: d.Varint(), Last: d.Varint()}
		}
	}
	if n := d.Count(); n > 0 {
		r.IDs = make([]store.ExternalID, n)
		for i := range r.IDs {
			id := &r.IDs[i]
			id.Type, id.ID, id.Source, id.FirstMessageID = d.String(), d.String(), d.String(), d.String()
			id.CreatedAt = d.Time()
		}
	}
	if n := d.Count(); n > 0 {
		r.Merged = make([]string, n)
		for i := range r.Merged {
			r.Merged[i] = d.String()
		}
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, d.Err())
	}
	return r, nil
}

func appendMark(b []byte, m Mark) []byte {
	b = binary.AppendVarint(b, m.At)
	b = binary.AppendVarint(b, m.Seq)
	b = binrec.AppendString(b, m.MessageID)
	return binrec.AppendString(b, m.Source)
}

func readMark(d *binrec.Reader) Mark {
	return Mark{At: d.Varint(), Seq: d.Varint(), MessageID: d.String(), Source: d.String()}
}

// MarshalHistory appends the bytes of one event's trait changes to b; the
// event's seq, message id and time are the same for all of them, so they
// are written once.
func MarshalHistory(b []byte, changes []store.TraitChange) []byte {
	b = append(b, recordVersion)
	if len(changes) == 0 {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(changes)))
	b = binary.AppendVarint(b, changes[0].Seq)
	b = binrec.AppendString(b, changes[0].MessageID)
	b = binrec.AppendTime(b, changes[0].Timestamp)
	for _, c := range changes {
		b = binrec.AppendString(b, c.Key)
		b = binrec.AppendString(b, c.Name)
		if c.Old == nil {
			b = append(b, 0)
		} else {
			b = binrec.AppendString(append(b, 1), string(c.Old))
		}
		b = binrec.AppendString(b, string(c.New))
	}
	return b
}

// UnmarshalHistory reads what MarshalHistory wrote.
func UnmarshalHistory(b []byte) ([]store.TraitChange, error) {
	d := binrec.NewReader(b)
	if v := d.Byte(); v != recordVersion {
		return nil, fmt.Errorf("%w: version %d", errRecord, v)
	}
	n := d.Count()
	if n == 0 {
		return nil, d.Err()
	}
	seq, msgID, ts := d.Varint(), d.String(), d.Time()
	out := make([]store.TraitChange, n)
	for i := range out {
		c := &out[i]
		c.Seq, c.MessageID, c.Timestamp = seq, msgID, ts
		c.Key, c.Name = d.String(), d.String()
		if d.Byte() == 1 {
			c.Old = []byte(d.String())
		}
		c.New = []byte(d.String())
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, d.Err())
	}
	return out, nil
}
