package spec

import (
	"fmt"
	"strings"
	"testing"
)

// batchCase is a batch body and what DecodeBatch must make of it.
type batchCase struct {
	name     string
	body     string
	max      int
	messages []string // raw messages, byte for byte
	writeKey string
	code     string // error code; "" = success
	field    string
	// broken are the indexes of the messages that are not valid JSON in
	// an intact batch, each with a text its error must hold.
	broken map[int]string
}

// deepMessage is a message nested past jsontext's depth limit of 10,000.
var deepMessage = `{"type":"track","userId":"u","event":"e","properties":{"a":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}}`

var batchCases = []batchCase{
	{name: "two messages", body: `{"batch":[{"type":"track","userId":"u1","event":"e"}, {"type":"group", "userId":"u1","groupId":"g1"}]}`, max: 10,
		messages: []string{`{"type":"track","userId":"u1","event":"e"}`, `{"type":"group", "userId":"u1","groupId":"g1"}`}},
	{name: "messages keep their whitespace and escapes", body: "{\"batch\":[ {\n \"type\" : \"identify\",\"userId\":\"\\u0075\"}\n ]}", max: 10,
		messages: []string{"{\n \"type\" : \"identify\",\"userId\":\"\\u0075\"}"}},
	{name: "empty batch", body: `{"batch":[]}`, max: 10, messages: nil},
	{name: "writeKey in body", body: `{"writeKey":"wk_1","batch":[{"type":"page","userId":"u"}]}`, max: 10,
		messages: []string{`{"type":"page","userId":"u"}`}, writeKey: "wk_1"},
	{name: "writeKey after batch", body: `{"batch":[],"writeKey":"wk_2"}`, max: 10, writeKey: "wk_2"},
	{name: "null writeKey", body: `{"batch":[],"writeKey":null}`, max: 10},
	{name: "unknown batch-level fields ignored", body: `{"batch":[],"messageId":"x","type":"track","extra":{"a":[1]}}`, max: 10},
	{name: "exactly max messages", body: `{"batch":[{},{},{}]}`, max: 3, messages: []string{`{}`, `{}`, `{}`}},
	{name: "non-object messages are returned", body: `{"batch":[1,"x",null,[],true,{"type":"track"}]}`, max: 10,
		messages: []string{`1`, `"x"`, `null`, `[]`, `true`, `{"type":"track"}`}},

	{name: "one more than max", body: `{"batch":[{},{},{},{}]}`, max: 3, code: CodeTooManyMessages, field: "batch"},
	{name: "max zero", body: `{"batch":[{}]}`, max: 0, code: CodeTooManyMessages, field: "batch"},
	{name: "batch missing", body: `{"writeKey":"wk","messages":[]}`, max: 10, code: CodeMissingField, field: "batch"},
	{name: "batch null", body: `{"batch":null}`, max: 10, code: CodeInvalidType, field: "batch"},
	{name: "batch an object", body: `{"batch":{"type":"track"}}`, max: 10, code: CodeInvalidType, field: "batch"},
	{name: "batch a string", body: `{"batch":"[]"}`, max: 10, code: CodeInvalidType, field: "batch"},
	{name: "batch a number", body: `{"batch":3}`, max: 10, code: CodeInvalidType, field: "batch"},
	{name: "body an array", body: `[{"type":"track"}]`, max: 10, code: CodeInvalidType},
	{name: "body a string", body: `"batch"`, max: 10, code: CodeInvalidType},
	{name: "body null", body: `null`, max: 10, code: CodeInvalidType},
	{name: "empty body", body: ``, max: 10, code: CodeInvalidJSON},
	{name: "truncated body", body: `{"batch":[{"type":"track"`, max: 10, code: CodeInvalidJSON},
	{name: "malformed message", body: `{"batch":[{"type":"track",}]}`, max: 10,
		messages: []string{`{"type":"track",}`}, broken: map[int]string{0: `within "/batch/0"`}},
	{name: "a message nested 10,000 deep between valid ones", body: `{"writeKey":"wk","batch":[{"type":"track"},` + deepMessage + `,{"type":"page"}]}`, max: 10,
		messages: []string{`{"type":"track"}`, deepMessage, `{"type":"page"}`}, writeKey: "wk", broken: map[int]string{1: `exceeded max depth within "/batch/1/properties/a/`}},
	{name: "invalid UTF-8 in a userId between valid messages", body: "{\"batch\":[{\"type\":\"track\"},{\"userId\":\"\xff\"},{\"type\":\"page\"}],\"context\":{\"ip\":\"1\"}}", max: 10,
		messages: []string{`{"type":"track"}`, "{\"userId\":\"\xff\"}", `{"type":"page"}`}, broken: map[int]string{1: `invalid UTF-8 within "/batch/1/userId"`}},
	{name: "a message nested just within the limit in the batch", body: `{"batch":[` + strings.Repeat("[", 9_998) + strings.Repeat("]", 9_998) + `]}`, max: 10,
		messages: []string{strings.Repeat("[", 9_998) + strings.Repeat("]", 9_998)}},
	{name: "a message nested one past the limit in the batch", body: `{"batch":[` + strings.Repeat("[", 9_999) + strings.Repeat("]", 9_999) + `]}`, max: 10,
		messages: []string{strings.Repeat("[", 9_999) + strings.Repeat("]", 9_999)}, broken: map[int]string{0: "exceeded max depth"}},
	{name: "broken messages still count towards the maximum", body: `{"batch":[{},{"a":1,},{}]}`, max: 2, code: CodeTooManyMessages, field: "batch"},
	{name: "broken message and a broken batch context", body: `{"batch":[{"a":1,}],"context":{"a":1,}}`, max: 10, code: CodeInvalidJSON},
	{name: "broken message and a batch context of the wrong type", body: `{"batch":[{"a":1,}],"context":1}`, max: 10, code: CodeInvalidType, field: "context"},
	{name: "unbalanced message", body: `{"batch":[{"type":"track"]]}`, max: 10, code: CodeInvalidJSON},
	{name: "missing comma between messages", body: `{"batch":[{} {}]}`, max: 10, code: CodeInvalidJSON},
	{name: "unterminated string in a message", body: `{"batch":[{"a":"x}]}`, max: 10, code: CodeInvalidJSON},
	{name: "broken message, then garbage after the body", body: `{"batch":[{"a":1,}]}x`, max: 10, code: CodeInvalidJSON},
	{name: "trailing garbage", body: `{"batch":[]}garbage`, max: 10, code: CodeInvalidJSON},
	{name: "two bodies", body: `{"batch":[]}{"batch":[]}`, max: 10, code: CodeInvalidJSON},
	{name: "duplicate batch", body: `{"batch":[],"batch":[{}]}`, max: 10, code: CodeInvalidJSON},
	{name: "duplicate key in a message", body: `{"batch":[{"userId":"a","userId":"b"}]}`, max: 10,
		messages: []string{`{"userId":"a","userId":"b"}`}, broken: map[int]string{0: `duplicate object member name "userId" within "/batch/0"`}},
	{name: "invalid UTF-8 in a message", body: "{\"batch\":[{\"userId\":\"\xff\"}]}", max: 10,
		messages: []string{"{\"userId\":\"\xff\"}"}, broken: map[int]string{0: "invalid UTF-8"}},
	{name: "writeKey not a string", body: `{"batch":[],"writeKey":42}`, max: 10, code: CodeInvalidType, field: "writeKey"},
	{name: "batch context a string", body: `{"batch":[],"context":"x"}`, max: 10, code: CodeInvalidType, field: "context"},
	{name: "batch context an array", body: `{"batch":[],"context":[{"ip":"1"}]}`, max: 10, code: CodeInvalidType, field: "context"},
	{name: "batch context a number", body: `{"batch":[],"context":0}`, max: 10, code: CodeInvalidType, field: "context"},
	{name: "batch context a boolean", body: `{"batch":[],"context":true}`, max: 10, code: CodeInvalidType, field: "context"},
	{name: "batch integrations a string", body: `{"batch":[],"integrations":"All"}`, max: 10, code: CodeInvalidType, field: "integrations"},
	{name: "batch integrations an array", body: `{"batch":[],"integrations":[]}`, max: 10, code: CodeInvalidType, field: "integrations"},
	{name: "batch sentAt not a date", body: `{"batch":[],"sentAt":"now"}`, max: 10, code: CodeInvalidValue, field: "sentAt"},
	{name: "batch sentAt a number", body: `{"batch":[],"sentAt":1709294400000}`, max: 10, code: CodeInvalidType, field: "sentAt"},
}

func TestDecodeBatchKeepsWriteKeyOnError(t *testing.T) {
	for _, body := range []string{
		`{"writeKey":"wk_1"}`,
		`{"batch":{},"writeKey":"wk_1"}`,
		`{"batch":[],"context":1,"writeKey":"wk_1"}`,
		`{"sentAt":"now","batch":[],"writeKey":"wk_1"}`,
		`{"writeKey":"wk_1","batch":[{},{},{}]}`,
	} {
		b, err := newTestNormalizer().DecodeBatch([]byte(body), 2)
		if err == nil || b == nil || b.WriteKey != "wk_1" {
			t.Errorf("DecodeBatch(%s) = %+v, %v; want an error and the writeKey", body, b, err)
		}
	}
}

func TestDecodeBatch(t *testing.T) {
	for _, tc := range batchCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newTestNormalizer().DecodeBatch([]byte(tc.body), tc.max)
			if tc.code != "" {
				se := asError(t, err, tc.code, tc.field)
				// A Batch comes with the error only when the body is an
				// object, so that its writeKey can still authenticate it.
				isObject := strings.HasPrefix(strings.TrimSpace(tc.body), "{") && se.Code != CodeInvalidJSON
				if (b != nil) != isObject {
					t.Errorf("Batch = %+v with error %v; want one only for an object body", b, err)
				}
				if tc.code == CodeInvalidType && tc.field == "" && !strings.Contains(se.Message, "batch") {
					t.Errorf("message %q does not say a batch is expected", se.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(b.Messages) != len(tc.messages) {
				t.Fatalf("got %d messages, want %d", len(b.Messages), len(tc.messages))
			}
			for i, m := range b.Messages {
				if string(m) != tc.messages[i] {
					t.Errorf("message %d = %s, want %s", i, m, tc.messages[i])
				}
			}
			if b.WriteKey != tc.writeKey {
				t.Errorf("WriteKey = %q, want %q", b.WriteKey, tc.writeKey)
			}
			if len(b.Broken) != len(tc.broken) {
				t.Errorf("broken messages %v, want %v", b.Broken, tc.broken)
			}
			for i, want := range tc.broken {
				if err := b.Broken[i]; err == nil || err.Code != CodeInvalidJSON || !strings.Contains(err.Message, want) {
					t.Errorf("message %d: error %v, want invalid_json saying %q", i, err, want)
				}
			}
		})
	}
}

func TestDecodeBatchThenNormalize(t *testing.T) {
	body := `{"writeKey":"wk","sentAt":"2024-03-01T11:00:05.000Z","context":{"library":{"name":"analytics-node"}},"batch":[
		{"type":"group","messageId":"m1","userId":"u1","groupId":"g1","timestamp":"2024-03-01T11:00:00.000Z"},
		42,
		{"type":"track","messageId":"m3","userId":"u1"},
		{"type":"identify","userId":"u2","writeKey":"wk_msg"},
		"not an object",
		{"type":"alias","userId":"u2","previousId":"a2","context":{"ip":"1.2.3.4"}}
	]}`
	n := newTestNormalizer()
	b := mustDecodeBatch(t, n, body)
	want := []struct {
		code, field, typ, messageID, writeKey string
	}{
		{typ: Group, messageID: "m1"},
		{code: CodeInvalidType},
		{code: CodeMissingField, field: "event", typ: Track, messageID: "m3"},
		{typ: Identify, messageID: "gen-1", writeKey: "wk_msg"},
		{code: CodeInvalidType},
		{typ: Alias, messageID: "gen-2"},
	}
	if len(b.Messages) != len(want) {
		t.Fatalf("got %d messages, want %d", len(b.Messages), len(want))
	}
	for i, raw := range b.Messages {
		t.Run(fmt.Sprintf("message %d", i), func(t *testing.T) {
			w := want[i]
			msg, err := n.Normalize(raw, "", &b.Defaults, recvAt)
			if w.code != "" {
				asError(t, err, w.code, w.field)
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if msg.Type != w.typ || msg.MessageID != w.messageID || msg.WriteKey != w.writeKey {
				t.Errorf("Message {Type:%q MessageID:%q WriteKey:%q}, want {%q %q %q}",
					msg.Type, msg.MessageID, msg.WriteKey, w.typ, w.messageID, w.writeKey)
			}
			if err != nil {
				return
			}
			out := decodeOutput(t, msg)
			ctx := mustMarshal(t, out["context"])
			if !strings.Contains(ctx, `"library":{"name":"analytics-node"}`) {
				t.Errorf("batch context not merged: %s", ctx)
			}
			if out["sentAt"] != "2024-03-01T11:00:05.000Z" {
				t.Errorf("sentAt = %#v, want the batch's", out["sentAt"])
			}
		})
	}
	// The group message was corrected by the batch-level sentAt.
	msg, _ := n.Normalize(b.Messages[0], "", &b.Defaults, recvAt)
	if got := msg.Timestamp.Format(wireLayout); got != "2024-03-01T11:59:55.123Z" {
		t.Errorf("timestamp corrected by batch sentAt = %s, want 2024-03-01T11:59:55.123Z", got)
	}
}

// mergeCase is batch-level fields, a message, and the context and
// integrations the normalized message must have ("" = absent).
var mergeCases = []struct {
	name         string
	batch        string
	message      string
	context      string
	integrations string
}{
	{name: "batch context added to a message without one",
		batch:   `"context":{"ip":"1.2.3.4","library":{"name":"analytics.js","version":"2.0"}}`,
		message: `{"type":"identify","userId":"u1"}`,
		context: `{"ip":"1.2.3.4","library":{"name":"analytics.js","version":"2.0"}}`},
	{name: "message context keys win",
		batch:   `"context":{"ip":"1.2.3.4","locale":"en-US"}`,
		message: `{"type":"identify","userId":"u1","context":{"ip":"9.9.9.9","timezone":"UTC"}}`,
		context: `{"ip":"9.9.9.9","timezone":"UTC","locale":"en-US"}`},
	{name: "merge is shallow: a message's nested object replaces the batch's whole",
		batch:   `"context":{"library":{"name":"analytics.js","version":"2.0"},"ip":"1.2.3.4"}`,
		message: `{"type":"identify","userId":"u1","context":{"library":{"version":"3.0"}}}`,
		context: `{"library":{"version":"3.0"},"ip":"1.2.3.4"}`},
	{name: "message null context becomes the batch's",
		batch:   `"context":{"ip":"1.2.3.4"}`,
		message: `{"type":"identify","userId":"u1","context":null}`,
		context: `{"ip":"1.2.3.4"}`},
	{name: "message empty context takes the batch's keys",
		batch:   `"context":{"ip":"1.2.3.4"}`,
		message: `{"type":"identify","userId":"u1","context":{}}`,
		context: `{"ip":"1.2.3.4"}`},
	{name: "message null value for a key wins",
		batch:   `"context":{"ip":"1.2.3.4"}`,
		message: `{"type":"identify","userId":"u1","context":{"ip":null}}`,
		context: `{"ip":null}`},
	{name: "null batch context leaves the message alone",
		batch:   `"context":null`,
		message: `{"type":"identify","userId":"u1","context":{"ip":"9.9.9.9"}}`,
		context: `{"ip":"9.9.9.9"}`},
	{name: "null batch context adds nothing",
		batch:   `"context":null`,
		message: `{"type":"identify","userId":"u1"}`},
	{name: "empty batch context leaves the message's",
		batch:   `"context":{}`,
		message: `{"type":"identify","userId":"u1","context":{"ip":"9.9.9.9"}}`,
		context: `{"ip":"9.9.9.9"}`},
	{name: "batch integrations added",
		batch:        `"integrations":{"All":false,"Mixpanel":true}`,
		message:      `{"type":"track","userId":"u1","event":"e"}`,
		integrations: `{"All":false,"Mixpanel":true}`},
	{name: "message integrations keys win",
		batch:        `"integrations":{"All":false,"Mixpanel":true}`,
		message:      `{"type":"track","userId":"u1","event":"e","integrations":{"Mixpanel":false,"Amplitude":{"session":1}}}`,
		integrations: `{"Mixpanel":false,"Amplitude":{"session":1},"All":false}`},
	{name: "message integrations option object replaces the batch's whole",
		batch:        `"integrations":{"Mixpanel":{"a":1,"b":2}}`,
		message:      `{"type":"track","userId":"u1","event":"e","integrations":{"Mixpanel":{"b":3}}}`,
		integrations: `{"Mixpanel":{"b":3}}`},
	{name: "context and integrations together",
		batch:        `"integrations":{"All":true},"context":{"ip":"1.2.3.4"}`,
		message:      `{"type":"group","userId":"u1","groupId":"g1","context":{"locale":"fr"}}`,
		context:      `{"locale":"fr","ip":"1.2.3.4"}`,
		integrations: `{"All":true}`},
	{name: "batch keys with escapes",
		batch:   `"context":{"\u0069p":"1.2.3.4","caf\u00e9":"\u00e9"}`,
		message: `{"type":"identify","userId":"u1","context":{"ip":"9.9.9.9"}}`,
		context: `{"ip":"9.9.9.9","café":"é"}`},
	{name: "no batch defaults",
		batch:   `"writeKey":"wk"`,
		message: `{"type":"identify","userId":"u1","context":{"ip":"9.9.9.9"}}`,
		context: `{"ip":"9.9.9.9"}`},
}

func TestBatchDefaultsMerged(t *testing.T) {
	for _, tc := range mergeCases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNormalizer()
			b := mustDecodeBatch(t, n, `{`+tc.batch+`,"batch":[`+tc.message+`]}`)
			msg, out := normalizeOK(t, n, string(b.Messages[0]), "", &b.Defaults)
			for _, f := range []struct{ name, want string }{{"context", tc.context}, {"integrations", tc.integrations}} {
				got, ok := rawMemberValue(t, msg.JSON, f.name)
				switch {
				case f.want == "" && ok:
					t.Errorf("output has %s %s, want none", f.name, got)
				case f.want == "":
				case !ok:
					t.Errorf("output has no %s, want %s", f.name, f.want)
				case !jsonEqual(t, got, f.want):
					t.Errorf("%s = %s, want %s", f.name, got, f.want)
				}
			}
			if out["userId"] != "u1" {
				t.Errorf("userId = %#v", out["userId"])
			}
		})
	}
}

func TestBatchDefaultsApplyToEveryMessage(t *testing.T) {
	// The defaults alias the body; normalizing one message must not
	// disturb them for the next.
	n := newTestNormalizer()
	var sb strings.Builder
	sb.WriteString(`{"context":{"ip":"1.2.3.4"},"integrations":{"All":false},"batch":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"identify","userId":"u%d","context":{"n":%d}}`, i, i)
	}
	sb.WriteString(`]}`)
	b := mustDecodeBatch(t, n, sb.String())
	for i, raw := range b.Messages {
		msg, _ := normalizeOK(t, n, string(raw), "", &b.Defaults)
		ctx, _ := rawMemberValue(t, msg.JSON, "context")
		if want := fmt.Sprintf(`{"n":%d,"ip":"1.2.3.4"}`, i); !jsonEqual(t, ctx, want) {
			t.Errorf("message %d context = %s, want %s", i, ctx, want)
		}
		integ, _ := rawMemberValue(t, msg.JSON, "integrations")
		if !jsonEqual(t, integ, `{"All":false}`) {
			t.Errorf("message %d integrations = %s", i, integ)
		}
	}
}
