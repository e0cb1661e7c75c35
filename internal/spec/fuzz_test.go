package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// fuzzPathTypes are the pathType arguments the fuzz targets choose from.
var fuzzPathTypes = []string{"", Identify, Track, Page, Screen, Group, Alias}

// messageSeeds returns the call bodies of the table tests.
func messageSeeds() [][]byte {
	var seeds [][]byte
	add := func(s string) { seeds = append(seeds, []byte(s)) }
	for _, tc := range validationCases {
		add(tc.body)
	}
	for _, tc := range malformedCases {
		add(tc.body)
	}
	for _, tc := range timeCases {
		add(`{"type":"identify","userId":"u1",` + tc.fields + `}`)
	}
	for _, tc := range timeErrorCases {
		add(`{"userId":"u1",` + tc.fields + `}`)
	}
	for _, tc := range identityCases {
		add(tc.body)
	}
	for _, tc := range warningCases {
		add(`{"type":"` + tc.typ + `","userId":"u1","groupId":"g1","traits":` + tc.traits + `}`)
	}
	for _, tc := range mergeCases {
		add(tc.message)
	}
	for _, lit := range []string{`42`, `1e3`, `1.5`, `-0`, `1e400`, `123456789012345678901234567890`, `true`, `{}`} {
		add(idBody("groupId", lit))
	}
	add(benchGroupCall)
	return seeds
}

func FuzzNormalize(f *testing.F) {
	for i, seed := range messageSeeds() {
		f.Add(seed, uint8(i%len(fuzzPathTypes)))
	}
	f.Fuzz(func(t *testing.T, body []byte, path uint8) {
		pathType := fuzzPathTypes[int(path)%len(fuzzPathTypes)]
		n := newTestNormalizer()
		in := bytes.Clone(body)
		msg, err := n.Normalize(body, pathType, nil, recvAt)
		if !bytes.Equal(in, body) {
			t.Fatalf("Normalize modified its input")
		}
		checkNormalized(t, n, msg, err, pathType)
	})
}

func FuzzDecodeBatch(f *testing.F) {
	for _, tc := range batchCases {
		f.Add([]byte(tc.body))
	}
	for _, tc := range mergeCases {
		f.Add([]byte(`{` + tc.batch + `,"batch":[` + tc.message + `]}`))
	}
	f.Add([]byte(benchBatch(3)))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := newTestNormalizer()
		b, err := n.DecodeBatch(body, 10)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Code == "" || se.Message == "" {
				t.Fatalf("DecodeBatch error %#v is not a complete *Error", err)
			}
			if b != nil && se.Code == CodeInvalidJSON {
				t.Fatalf("Batch returned with a JSON error %v", err)
			}
			return
		}
		if len(b.Messages) > 10 {
			t.Fatalf("%d messages, more than the maximum", len(b.Messages))
		}
		for i, raw := range b.Messages {
			if broken := b.Broken[i]; broken != nil {
				// Broken messages are quarantined as sent, with their reason.
				if broken.Code != CodeInvalidJSON || broken.Message == "" {
					t.Fatalf("message %d broken with %#v", i, broken)
				}
				continue
			}
			if !jsontext.Value(raw).IsValid() {
				t.Fatalf("message %.200q is not valid JSON", raw)
			}
			msg, err := n.Normalize(raw, "", &b.Defaults, recvAt)
			checkNormalized(t, n, msg, err, "")
		}
	})
}

// checkNormalized asserts what must hold of any result of Normalize.
func checkNormalized(t *testing.T, n *Normalizer, msg *Message, err error, pathType string) {
	t.Helper()
	if msg == nil {
		t.Fatalf("nil Message (error %v)", err)
	}
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			t.Fatalf("error %v (%T) is not a *spec.Error", err, err)
		}
		switch se.Code {
		case CodeInvalidJSON, CodeInvalidType, CodeInvalidValue, CodeMissingField:
		default:
			t.Fatalf("unexpected error code %q", se.Code)
		}
		if se.Message == "" {
			t.Fatalf("error %+v has no message", se)
		}
		if msg.JSON != nil {
			t.Fatalf("rejected message has JSON")
		}
		return
	}
	if !jsontext.Value(msg.JSON).IsValid() {
		t.Fatalf("output is not valid JSON: %q", msg.JSON)
	}
	// Numbers as json.Number: unknown fields keep numbers float64 cannot hold.
	dec := json.NewDecoder(bytes.NewReader(msg.JSON))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("output %q does not decode: %v", msg.JSON, err)
	}
	if out["type"] != msg.Type || !validType(msg.Type) || (pathType != "" && msg.Type != pathType) {
		t.Fatalf("type: JSON %#v, Message %q, path %q", out["type"], msg.Type, pathType)
	}
	if msg.MessageID == "" || out["messageId"] != msg.MessageID {
		t.Fatalf("messageId: JSON %#v, Message %q", out["messageId"], msg.MessageID)
	}
	if msg.UserID == "" && msg.AnonymousID == "" {
		t.Fatalf("accepted without userId or anonymousId: %s", msg.JSON)
	}
	if _, ok := out["writeKey"]; ok {
		t.Fatalf("writeKey in output")
	}
	if out["receivedAt"] != recvAtJSON {
		t.Fatalf("receivedAt = %#v", out["receivedAt"])
	}
	if ts := msg.Timestamp.Format(wireLayout); out["timestamp"] != ts {
		t.Fatalf("timestamp: JSON %#v, Message %s", out["timestamp"], ts)
	}
	for _, id := range []struct {
		name, value string
	}{{"userId", msg.UserID}, {"anonymousId", msg.AnonymousID}, {"groupId", msg.GroupID}, {"previousId", msg.PreviousID}} {
		if v, ok := out[id.name]; ok && v != nil && v != id.value {
			t.Fatalf("%s: JSON %#v, Message %q", id.name, v, id.value)
		}
	}
	// The normalized message is itself a valid call.
	again, err := n.Normalize(msg.JSON, "", nil, recvAt)
	if err != nil {
		t.Fatalf("normalized output %s is rejected: %v", msg.JSON, err)
	}
	if again.Type != msg.Type || again.MessageID != msg.MessageID || again.UserID != msg.UserID || again.GroupID != msg.GroupID || again.Routing != msg.Routing {
		t.Fatalf("normalizing the output changed it: %+v, then %+v", msg, again)
	}
	if back, err := ReadStored(msg.JSON); err != nil || back.Routing != msg.Routing {
		t.Fatalf("ReadStored(%s) = %+v, %v; want Routing %+v", msg.JSON, back, err, msg.Routing)
	}
}
