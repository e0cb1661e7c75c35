package binrec

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestRoundTripAndTruncation(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC)
	b := AppendString(nil, "name")
	b = AppendBytes(b, []byte{0, 1, 2})
	b = AppendTime(b, at)
	b = append(b, 7)
	b = append(b, "body"...)
	read := func(b []byte) (*Reader, string, []byte, time.Time, byte, []byte) {
		r := NewReader(b)
		return r, r.String(), r.Bytes(), r.Time(), r.Byte(), r.Rest()
	}
	r, s, raw, tm, c, rest := read(b)
	if r.Err() != nil || s != "name" || !bytes.Equal(raw, []byte{0, 1, 2}) || !tm.Equal(at) || c != 7 || string(rest) != "body" {
		t.Fatalf("read back %q %v %v %d %q, %v", s, raw, tm, c, rest, r.Err())
	}
	// Cut anywhere inside the prefixed fields, the value is malformed.
	for n := range len(b) - len("body") - 1 {
		if r, _, _, _, _, _ := read(b[:n]); !errors.Is(r.Err(), ErrMalformed) {
			t.Errorf("cut to %d bytes: err %v, want ErrMalformed", n, r.Err())
		}
	}
	if r := NewReader([]byte{200, 1}); r.Count() != 0 || !errors.Is(r.Err(), ErrMalformed) {
		t.Error("a count past the value's end was accepted")
	}
}
