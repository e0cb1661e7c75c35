package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// recvAt is the server time the tests pass to Normalize. It has sub-millisecond
// digits so that truncation to milliseconds is observable.
var recvAt = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)

// recvAtJSON is recvAt as Roster writes it.
const recvAtJSON = "2024-03-01T12:00:00.123Z"

// wireLayout is the format every time Roster writes must have.
const wireLayout = "2006-01-02T15:04:05.000Z"

// newTestNormalizer returns a Normalizer whose generated ids are
// deterministic: gen-1, gen-2, …
func newTestNormalizer() *Normalizer {
	i := 0
	return NewNormalizer(func() string {
		i++
		return fmt.Sprintf("gen-%d", i)
	})
}

// normalizeOK normalizes body and fails the test on an error or on output
// that is not valid JSON. It returns the message and its decoded JSON.
func normalizeOK(t testing.TB, n *Normalizer, body, pathType string, d *Defaults) (*Message, map[string]any) {
	t.Helper()
	msg, err := n.Normalize([]byte(body), pathType, d, recvAt)
	if err != nil {
		t.Fatalf("Normalize(%s) error: %v", body, err)
	}
	return msg, decodeOutput(t, msg)
}

// decodeOutput checks that msg.JSON is valid (RFC 7493: UTF-8, unique
// names) and decodes it, numbers as json.Number.
func decodeOutput(t testing.TB, msg *Message) map[string]any {
	t.Helper()
	if !jsontext.Value(msg.JSON).IsValid() {
		t.Fatalf("output is not valid JSON: %s", msg.JSON)
	}
	dec := json.NewDecoder(bytes.NewReader(msg.JSON))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decoding output %s: %v", msg.JSON, err)
	}
	return out
}

// asError asserts that err is a *Error with the given code and field, and a
// message, and returns it.
func asError(t testing.TB, err error, code, field string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s on %q", code, field)
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *spec.Error", err, err)
	}
	if se.Code != code || se.Field != field {
		t.Fatalf("error = {Code:%q Field:%q Message:%q}, want Code %q Field %q", se.Code, se.Field, se.Message, code, field)
	}
	if se.Message == "" {
		t.Fatalf("error %+v has no message", se)
	}
	return se
}

// rawMember is a name and the exact bytes of its value.
type rawMember struct {
	name  string
	value string
}

// rawMembers splits a JSON object into its members, values byte for byte as
// they appear in the input. It is independent of the package's decoder so
// that it can check it.
func rawMembers(t testing.TB, obj []byte) []rawMember {
	t.Helper()
	dec := jsontext.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		t.Fatalf("not an object: %s (%v)", obj, err)
	}
	var ms []rawMember
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("reading %s: %v", obj, err)
		}
		name := tok.String() // before ReadValue voids tok
		v, err := dec.ReadValue()
		if err != nil {
			t.Fatalf("reading %s: %v", obj, err)
		}
		ms = append(ms, rawMember{name, string(v)})
	}
	if _, err := dec.ReadToken(); err != nil {
		t.Fatalf("reading %s: %v", obj, err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		t.Fatalf("trailing data in %s", obj)
	}
	return ms
}

// rawMemberValue returns the raw value of name in obj and whether it is there.
func rawMemberValue(t testing.TB, obj []byte, name string) (string, bool) {
	t.Helper()
	for _, m := range rawMembers(t, obj) {
		if m.name == name {
			return m.value, true
		}
	}
	return "", false
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t testing.TB, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// mustDecodeBatch decodes a batch body or fails the test.
func mustDecodeBatch(t testing.TB, n *Normalizer, body string) *Batch {
	t.Helper()
	b, err := n.DecodeBatch([]byte(body), 100)
	if err != nil {
		t.Fatalf("DecodeBatch(%s): %v", body, err)
	}
	return b
}

// mustMarshal encodes v as JSON or fails the test.
func mustMarshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %v: %v", v, err)
	}
	return string(b)
}
