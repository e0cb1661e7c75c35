// Package binrec writes and reads the compact values Roster stores: fields
// one after another, strings and byte slices length-prefixed (uvarint),
// numbers as varints and times as Unix milliseconds. A value is read in
// the order it was written; the first malformed field makes every later
// read return a zero value and Err report it, so that a caller checks once
// at the end.
package binrec

import (
	"encoding/binary"
	"errors"
	"time"
)

// ErrMalformed is returned for a value these functions did not write.
var ErrMalformed = errors.New("malformed value")

// AppendString appends s, length-prefixed.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendBytes appends s, length-prefixed.
func AppendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendTime appends t to the millisecond.
func AppendTime(b []byte, t time.Time) []byte { return binary.AppendVarint(b, t.UnixMilli()) }

// Reader reads the fields of a value.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader of b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first error met, if any.
func (r *Reader) Err() error { return r.err }

func (r *Reader) fail() { r.err, r.b = ErrMalformed, nil }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Count reads the length of a list, refusing one that the rest of the
// value could not hold (a field takes a byte at least), so that a corrupt
// value cannot make its reader allocate without bound.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte slice; it aliases the value.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// String reads a length-prefixed string (a copy).
func (r *Reader) String() string { return string(r.Bytes()) }

// Time reads a time written by AppendTime, in UTC.
func (r *Reader) Time() time.Time { return time.UnixMilli(r.Varint()).UTC() }

// Rest returns a copy of what is left: a value's last, unprefixed field.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	rest := append([]byte{}, r.b...)
	r.b = nil
	return rest
}
