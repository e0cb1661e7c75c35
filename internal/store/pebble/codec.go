package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"

	"roster/internal/binrec"
	"roster/internal/store"
)

// Values are binrec fields, the largest, a body, last and unprefixed. A
// leading version byte lets a later Roster change the encoding.

const eventEncoding = 1

// errValue is returned for a value these functions did not write.
var errValue = errors.New("pebble: malformed value")

func valueErr(d *binrec.Reader) error {
	if d.Err() != nil {
		return fmt.Errorf("%w: %w", errValue, d.Err())
	}
	return nil
}

// appendEvent encodes every field of e but Seq, which is in the key.
func appendEvent(b []byte, e *store.Event) []byte {
	b = append(b, eventEncoding)
	b = binrec.AppendString(b, e.Workspace)
	b = binrec.AppendString(b, e.Source)
	b = binrec.AppendString(b, e.MessageID)
	b = binrec.AppendString(b, e.Type)
	b = binrec.AppendTime(b, e.ReceivedAt)
	b = binrec.AppendTime(b, e.Timestamp)
	b = binary.AppendUvarint(b, uint64(len(e.Warnings)))
	for _, w := range e.Warnings {
		b = binrec.AppendString(b, w)
	}
	b = binrec.AppendString(b, e.UserID)
	b = binrec.AppendString(b, e.AnonymousID)
	b = binrec.AppendString(b, e.PreviousID)
	b = binrec.AppendString(b, e.GroupID)
	b = binrec.AppendString(b, e.Name)
	return append(b, e.Body...)
}

func decodeEvent(seq int64, v []byte) (store.Event, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Event{}, errValue
	}
	d := binrec.NewReader(v[1:])
	e := store.Event{Seq: seq, Workspace: d.String(), Source: d.String(), MessageID: d.String(), Type: d.String(),
		ReceivedAt: d.Time(), Timestamp: d.Time()}
	if n := d.Count(); n > 0 {
		e.Warnings = make([]string, n)
		for i := range e.Warnings {
			e.Warnings[i] = d.String()
		}
	}
	e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = d.String(), d.String(), d.String(), d.String(), d.String()
	e.Body = d.Rest()
	return e, valueErr(d)
}

func appendQuarantined(b []byte, q *store.Quarantined) []byte {
	b = append(b, eventEncoding)
	b = binrec.AppendString(b, q.Source)
	b = binrec.AppendTime(b, q.ReceivedAt)
	b = binrec.AppendString(b, q.MessageID)
	b = binrec.AppendString(b, q.Code)
	b = binrec.AppendString(b, q.Reason)
	return append(b, q.Raw...)
}

func decodeQuarantined(workspace string, id int64, v []byte) (store.Quarantined, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Quarantined{}, errValue
	}
	d := binrec.NewReader(v[1:])
	q := store.Quarantined{ID: id, Workspace: workspace, Source: d.String(), ReceivedAt: d.Time(),
		MessageID: d.String(), Code: d.String(), Reason: d.String()}
	q.Raw = d.Rest()
	return q, valueErr(d)
}

// appendDelivery encodes a retry or dead letter but its destination and
// Seq, which are in the key.
func appendDelivery(b []byte, d *store.Delivery) []byte {
	b = append(b, eventEncoding)
	b = binary.AppendVarint(b, int64(d.Attempts))
	b = binrec.AppendTime(b, d.NextAt)
	b = binary.AppendVarint(b, int64(d.Status))
	b = binrec.AppendString(b, d.Error)
	b = binrec.AppendBytes(b, d.Response)
	b = binrec.AppendTime(b, d.FailedAt)
	return append(b, d.Body...)
}

func decodeDelivery(dest string, seq int64, v []byte) (store.Delivery, error) {
	if len(v) == 0 || v[0] != eventEncoding {
		return store.Delivery{}, errValue
	}
	d := binrec.NewReader(v[1:])
	out := store.Delivery{Destination: dest, Seq: seq, Attempts: int(d.Varint()), NextAt: d.Time(),
		Status: int(d.Varint()), Error: d.String()}
	if r := d.Bytes(); len(r) > 0 {
		out.Response = append([]byte(nil), r...)
	}
	out.FailedAt = d.Time()
	out.Body = d.Rest()
	return out, valueErr(d)
}
