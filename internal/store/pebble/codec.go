package pebble

import (
	"encoding/binary"
	"errors"
	"time"

	"roster/internal/store"
)

// Values are fields one after another: strings and byte slices
// length-prefixed (uvarint), numbers and times (Unix milliseconds) as
// varints, and the largest field, a body, last and unprefixed. A leading
// version byte lets a later Roster change the encoding.

const eventEncoding = 1

// errValue is returned for a value these functions did not write.
var errValue = errors.New("pebble: malformed value")

func appendBytes(b, s []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}
func appendTime(b []byte, t time.Time) []byte { return binary.AppendVarint(b, t.UnixMilli()) }

// decoder reads fields in order; the first error sticks, so that callers
// check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, size := binary.Uvarint(d.b)
	if size <= 0 {
		d.err = errValue
		return 0
	}
	d.b = d.b[size:]
	return n
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	n, size := binary.Varint(d.b)
	if size <= 0 {
		d.err = errValue
		return 0
	}
	d.b = d.b[size:]
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errValue
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes()) }

// time reads a time as the SQLite store does: milliseconds, in UTC.
func (d *decoder) time() time.Time { return time.UnixMilli(d.varint()).UTC() }

// rest returns a copy of what is left: the value's last field.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	r := append([]byte{}, d.b...)
	d.b = nil
	return r
}

// appendEvent encodes every field of e but Seq, which is in the key.
func appendEvent(b []byte, e *store.Event) []byte {
	b = append(b, eventEncoding)
	b = appendStr(b, e.Workspace)
	b = appendStr(b, e.Source)
	b = appendStr(b, e.MessageID)
	b = appendStr(b, e.Type)
	b = appendTime(b, e.ReceivedAt)
	b = appendTime(b, e.Timestamp)
	b = binary.AppendUvarint(b, uint64(len(e.Warnings)))
	for _, w := range e.Warnings {
		b = appendStr(b, w)
	}
	b = appendStr(b, e.UserID)
	b = appendStr(b, e.AnonymousID)
	b = appendStr(b, e.PreviousID)
	b = appendStr(b, e.GroupID)
	b = appendStr(b, e.Name)
	return append(b, e.Body...)
}

func decodeEvent(seq int64, v []byte) (store.Event, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Event{}, errValue
	}
	d := decoder{b: v[1:]}
	e := store.Event{Seq: seq, Workspace: d.str(), Source: d.str(), MessageID: d.str(), Type: d.str(),
		ReceivedAt: d.time(), Timestamp: d.time()}
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		e.Warnings = make([]string, n)
		for i := range e.Warnings {
			e.Warnings[i] = d.str()
		}
	} else if n > 0 {
		d.err = errValue
	}
	e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = d.str(), d.str(), d.str(), d.str(), d.str()
	e.Body = d.rest()
	return e, d.err
}

func appendQuarantined(b []byte, q *store.Quarantined) []byte {
	b = append(b, eventEncoding)
	b = appendStr(b, q.Source)
	b = appendTime(b, q.ReceivedAt)
	b = appendStr(b, q.MessageID)
	b = appendStr(b, q.Code)
	b = appendStr(b, q.Reason)
	return append(b, q.Raw...)
}

func decodeQuarantined(workspace string, id int64, v []byte) (store.Quarantined, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Quarantined{}, errValue
	}
	d := decoder{b: v[1:]}
	q := store.Quarantined{ID: id, Workspace: workspace, Source: d.str(), ReceivedAt: d.time(),
		MessageID: d.str(), Code: d.str(), Reason: d.str()}
	q.Raw = d.rest()
	return q, d.err
}

// appendDelivery encodes a retry or dead letter but its destination and
// Seq, which are in the key.
func appendDelivery(b []byte, d *store.Delivery) []byte {
	b = append(b, eventEncoding)
	b = binary.AppendVarint(b, int64(d.Attempts))
	b = appendTime(b, d.NextAt)
	b = binary.AppendVarint(b, int64(d.Status))
	b = appendStr(b, d.Error)
	b = appendBytes(b, d.Response)
	b = appendTime(b, d.FailedAt)
	return append(b, d.Body...)
}

func decodeDelivery(dest string, seq int64, v []byte) (store.Delivery, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Delivery{}, errValue
	}
	d := decoder{b: v[1:]}
	out := store.Delivery{Destination: dest, Seq: seq, Attempts: int(d.varint()), NextAt: d.time(),
		Status: int(d.varint()), Error: d.str()}
	if r := d.bytes(); len(r) > 0 {
		out.Response = append([]byte(nil), r...)
	}
	out.FailedAt = d.time()
	out.Body = d.rest()
	return out, d.err
}
