package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

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
		b = appendString(b, t.Key)
		b = appendString(b, t.Name)
		b = appendString(b, string(t.Value))
		b = binary.AppendVarint(b, t.UpdatedAt.UnixMilli())
		b = binary.AppendVarint(b, t.Seq)
		b = appendString(b, t.Source)
		b = appendString(b, t.MessageID)
	}
	b = binary.AppendUvarint(b, uint64(r.Members))
	b = binary.AppendUvarint(b, uint64(len(r.Groups)))
	for _, g := range r.Groups {
		b = appendString(b, g.GroupID)
		b = binary.AppendVarint(b, g.First)
		b = binary.AppendVarint(b, g.Last)
	}
	b = binary.AppendUvarint(b, uint64(len(r.IDs)))
	for _, id := range r.IDs {
		b = appendString(b, id.Type)
		b = appendString(b, id.ID)
		b = appendString(b, id.Source)
		b = appendString(b, id.FirstMessageID)
		b = binary.AppendVarint(b, id.CreatedAt.UnixMilli())
	}
	b = binary.AppendUvarint(b, uint64(len(r.Merged)))
	for _, k := range r.Merged {
		b = appendString(b, k)
	}
	return b
}

// Unmarshal reads a record Marshal wrote. The record's strings and values
// are copies: b may be reused.
func Unmarshal(b []byte) (*Record, error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordVersion {
		return nil, fmt.Errorf("%w: version %d", errRecord, v)
	}
	r := &Record{First: d.mark(), Last: d.mark()}
	if n := d.count(); n > 0 {
		r.Traits = make([]store.Trait, n)
		for i := range r.Traits {
			t := &r.Traits[i]
			t.Key, t.Name, t.Value = d.string(), d.string(), []byte(d.string())
			t.UpdatedAt, t.Seq = time.UnixMilli(d.varint()).UTC(), d.varint()
			t.Source, t.MessageID = d.string(), d.string()
		}
	}
	r.Members = int(d.uvarint())
	if n := d.count(); n > 0 {
		r.Groups = make([]Member, n)
		for i := range r.Groups {
			r.Groups[i] = Member{GroupID: d.string(), First: d.varint(), Last: d.varint()}
		}
	}
	if n := d.count(); n > 0 {
		r.IDs = make([]store.ExternalID, n)
		for i := range r.IDs {
			id := &r.IDs[i]
			id.Type, id.ID, id.Source, id.FirstMessageID = d.string(), d.string(), d.string(), d.string()
			id.CreatedAt = time.UnixMilli(d.varint()).UTC()
		}
	}
	if n := d.count(); n > 0 {
		r.Merged = make([]string, n)
		for i := range r.Merged {
			r.Merged[i] = d.string()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

func appendMark(b []byte, m Mark) []byte {
	b = binary.AppendVarint(b, m.At)
	b = binary.AppendVarint(b, m.Seq)
	b = appendString(b, m.MessageID)
	return appendString(b, m.Source)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads fields off b; the first failure sticks in err and every
// later read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errRecord, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a slice length, refusing one that the rest of b cannot hold.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) mark() Mark {
	return Mark{At: d.varint(), Seq: d.varint(), MessageID: d.string(), Source: d.string()}
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
	b = appendString(b, changes[0].MessageID)
	b = binary.AppendVarint(b, changes[0].Timestamp.UnixMilli())
	for _, c := range changes {
		b = appendString(b, c.Key)
		b = appendString(b, c.Name)
		if c.Old == nil {
			b = append(b, 0)
		} else {
			b = appendString(append(b, 1), string(c.Old))
		}
		b = appendString(b, string(c.New))
	}
	return b
}

// UnmarshalHistory reads what MarshalHistory wrote.
func UnmarshalHistory(b []byte) ([]store.TraitChange, error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordVersion {
		return nil, fmt.Errorf("%w: version %d", errRecord, v)
	}
	n := d.count()
	if n == 0 {
		return nil, d.err
	}
	seq, msgID, ts := d.varint(), d.string(), time.UnixMilli(d.varint()).UTC()
	out := make([]store.TraitChange, n)
	for i := range out {
		c := &out[i]
		c.Seq, c.MessageID, c.Timestamp = seq, msgID, ts
		c.Key, c.Name = d.string(), d.string()
		if d.byte() == 1 {
			c.Old = []byte(d.string())
		}
		c.New = []byte(d.string())
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}
