package spec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// validationCase is one call and the error it must produce ("" code: none).
type validationCase struct {
	name     string
	pathType string
	body     string
	code     string
	field    string
}

var validationCases = []validationCase{
	// accepted calls, one per type
	{name: "identify with userId", pathType: Identify, body: `{"userId":"u1","traits":{"email":"a@b.c"}}`},
	{name: "identify with anonymousId only", pathType: Identify, body: `{"anonymousId":"a1"}`},
	{name: "track with event", pathType: Track, body: `{"userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}`},
	{name: "page without name", pathType: Page, body: `{"anonymousId":"a1","properties":{"path":"/"}}`},
	{name: "screen", pathType: Screen, body: `{"userId":"u1","name":"Home"}`},
	{name: "group with groupId", pathType: Group, body: `{"userId":"u1","groupId":"g1","traits":{"name":"Initech"}}`},
	{name: "group with anonymousId", pathType: Group, body: `{"anonymousId":"a1","groupId":"g1"}`},
	{name: "alias with userId and previousId", pathType: Alias, body: `{"userId":"u1","previousId":"a1"}`},
	{name: "batch message carries its type", body: `{"type":"group","userId":"u1","groupId":"g1"}`},
	{name: "empty userId but anonymousId", pathType: Identify, body: `{"userId":"","anonymousId":"a1"}`},
	{name: "null userId but anonymousId", pathType: Identify, body: `{"userId":null,"anonymousId":"a1"}`},
	{name: "numeric groupId 0 is an id", pathType: Group, body: `{"userId":"u1","groupId":0}`},
	{name: "objects may be null", pathType: Identify, body: `{"userId":"u1","traits":null,"properties":null,"context":null,"integrations":null}`},
	{name: "objects may be empty", pathType: Track, body: `{"userId":"u1","event":"e","traits":{},"properties":{},"context":{},"integrations":{}}`},

	// identity
	{name: "no userId or anonymousId", pathType: Identify, body: `{"traits":{}}`, code: CodeMissingField, field: "userId"},
	{name: "empty userId and anonymousId", pathType: Track, body: `{"userId":"","anonymousId":"","event":"e"}`, code: CodeMissingField, field: "userId"},
	{name: "null userId and anonymousId", pathType: Page, body: `{"userId":null,"anonymousId":null}`, code: CodeMissingField, field: "userId"},
	{name: "group without any identity", pathType: Group, body: `{"groupId":"g1"}`, code: CodeMissingField, field: "userId"},
	{name: "empty object", pathType: Screen, body: `{}`, code: CodeMissingField, field: "userId"},

	// group
	{name: "group without groupId", pathType: Group, body: `{"userId":"u1","traits":{"name":"x"}}`, code: CodeMissingField, field: "groupId"},
	{name: "group with empty groupId", pathType: Group, body: `{"userId":"u1","groupId":""}`, code: CodeMissingField, field: "groupId"},
	{name: "group with null groupId", pathType: Group, body: `{"userId":"u1","groupId":null}`, code: CodeMissingField, field: "groupId"},
	{name: "group with boolean groupId", pathType: Group, body: `{"userId":"u1","groupId":true}`, code: CodeInvalidType, field: "groupId"},

	// alias
	{name: "alias without previousId", pathType: Alias, body: `{"userId":"u1"}`, code: CodeMissingField, field: "previousId"},
	{name: "alias with empty previousId", pathType: Alias, body: `{"userId":"u1","previousId":""}`, code: CodeMissingField, field: "previousId"},
	{name: "alias without userId", pathType: Alias, body: `{"anonymousId":"a1","previousId":"a0"}`, code: CodeMissingField, field: "userId"},

	// track
	{name: "track without event", pathType: Track, body: `{"userId":"u1"}`, code: CodeMissingField, field: "event"},
	{name: "track with empty event", pathType: Track, body: `{"userId":"u1","event":""}`, code: CodeMissingField, field: "event"},
	{name: "track with null event", pathType: Track, body: `{"userId":"u1","event":null}`, code: CodeMissingField, field: "event"},
	{name: "track with numeric event", pathType: Track, body: `{"userId":"u1","event":5}`, code: CodeInvalidType, field: "event"},
	{name: "track with object event", pathType: Track, body: `{"userId":"u1","event":{"name":"x"}}`, code: CodeInvalidType, field: "event"},

	// objects
	{name: "traits a string", pathType: Identify, body: `{"userId":"u1","traits":"x"}`, code: CodeInvalidType, field: "traits"},
	{name: "properties an array", pathType: Track, body: `{"userId":"u1","event":"e","properties":[1]}`, code: CodeInvalidType, field: "properties"},
	{name: "context a number", pathType: Page, body: `{"userId":"u1","context":1}`, code: CodeInvalidType, field: "context"},
	{name: "integrations a boolean", pathType: Screen, body: `{"userId":"u1","integrations":true}`, code: CodeInvalidType, field: "integrations"},

	// type of batch messages
	{name: "batch message without type", body: `{"userId":"u1"}`, code: CodeMissingField, field: "type"},
	{name: "batch message with empty type", body: `{"type":"","userId":"u1"}`, code: CodeMissingField, field: "type"},
	{name: "batch message with null type", body: `{"type":null,"userId":"u1"}`, code: CodeMissingField, field: "type"},
	{name: "batch message with numeric type", body: `{"type":1,"userId":"u1"}`, code: CodeInvalidType, field: "type"},
	{name: "batch message with unknown type", body: `{"type":"purchase","userId":"u1"}`, code: CodeInvalidValue, field: "type"},
	{name: "batch message with capitalized type", body: `{"type":"Group","userId":"u1","groupId":"g"}`, code: CodeInvalidValue, field: "type"},
	{name: "batch message with short type", body: `{"type":"g","userId":"u1","groupId":"g"}`, code: CodeInvalidValue, field: "type"},
	{name: "batch group validated as group", body: `{"type":"group","userId":"u1"}`, code: CodeMissingField, field: "groupId"},
	{name: "batch track validated as track", body: `{"type":"track","userId":"u1"}`, code: CodeMissingField, field: "event"},
	{name: "batch alias validated as alias", body: `{"type":"alias","userId":"u1"}`, code: CodeMissingField, field: "previousId"},

	// the path decides the type
	{name: "path group wins over body track", pathType: Group, body: `{"type":"track","userId":"u1","groupId":"g1"}`},
	{name: "path track wins over body group", pathType: Track, body: `{"type":"group","userId":"u1","groupId":"g1"}`, code: CodeMissingField, field: "event"},
	{name: "path type ignores an invalid body type", pathType: Identify, body: `{"type":"bogus","userId":"u1"}`},
	{name: "path type ignores a non-string body type", pathType: Identify, body: `{"type":7,"userId":"u1"}`},
}

func TestNormalizeValidation(t *testing.T) {
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNormalizer()
			msg, err := n.Normalize([]byte(tc.body), tc.pathType, nil, recvAt)
			if msg == nil {
				t.Fatal("Normalize returned a nil Message")
			}
			if tc.code != "" {
				asError(t, err, tc.code, tc.field)
				if msg.JSON != nil {
					t.Errorf("rejected message has JSON %s", msg.JSON)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			out := decodeOutput(t, msg)
			wantType := tc.pathType
			if wantType == "" {
				raw, _ := rawMemberValue(t, []byte(tc.body), "type")
				wantType = strings.Trim(raw, `"`)
			}
			if msg.Type != wantType || out["type"] != wantType {
				t.Errorf("type: Message %q, JSON %v; want %q", msg.Type, out["type"], wantType)
			}
			if msg.UserID == "" && msg.AnonymousID == "" {
				t.Errorf("accepted a message with no identity: %+v", msg)
			}
		})
	}
}

func TestNormalizeObjectFieldsMustBeObjects(t *testing.T) {
	bad := []struct{ name, value string }{
		{"string", `"x"`},
		{"empty string", `""`},
		{"number", `0`},
		{"boolean", `false`},
		{"array", `[]`},
		{"array of objects", `[{"a":1}]`},
	}
	for _, field := range []string{"traits", "properties", "context", "integrations"} {
		for _, v := range bad {
			t.Run(field+" "+v.name, func(t *testing.T) {
				body := fmt.Sprintf(`{"userId":"u1","%s":%s}`, field, v.value)
				_, err := newTestNormalizer().Normalize([]byte(body), Identify, nil, recvAt)
				se := asError(t, err, CodeInvalidType, field)
				if !strings.Contains(se.Message, "object") {
					t.Errorf("message %q does not say an object is expected", se.Message)
				}
			})
		}
		for _, ok := range []string{`null`, `{}`, `{"a":{"b":[1,2]}}`} {
			t.Run(field+" "+ok+" accepted", func(t *testing.T) {
				body := fmt.Sprintf(`{"userId":"u1","%s":%s}`, field, ok)
				_, out := normalizeOK(t, newTestNormalizer(), body, Identify, nil)
				if _, present := out[field]; !present {
					t.Errorf("%s dropped from output", field)
				}
			})
		}
	}
}

func TestNormalizeNumericIDs(t *testing.T) {
	cases := []struct {
		name    string
		literal string
		want    string
	}{
		{"integer", `42`, "42"},
		{"zero", `0`, "0"},
		{"negative integer", `-7`, "-7"},
		{"exponent", `1e3`, "1000"},
		{"upper-case exponent", `1E3`, "1000"},
		{"positive exponent sign", `2e+2`, "200"},
		{"fraction", `1.5`, "1.5"},
		{"fraction with trailing zero", `2.50`, "2.5"},
		{"integral fraction", `1.0`, "1"},
		{"negative exponent", `1e-3`, "0.001"},
		{"negative fraction", `-0.25`, "-0.25"},
		{"beyond float64 precision", `9007199254740993`, "9007199254740993"},
		{"beyond int64", `123456789012345678901234567890`, "123456789012345678901234567890"},
		{"large negative", `-12345678901234567890`, "-12345678901234567890"},
	}
	for _, field := range []string{"userId", "anonymousId", "groupId", "previousId", "messageId"} {
		for _, tc := range cases {
			t.Run(field+" "+tc.name, func(t *testing.T) {
				body := idBody(field, tc.literal)
				msg, out := normalizeOK(t, newTestNormalizer(), body, Group, nil)
				if got := idOf(msg, field); got != tc.want {
					t.Errorf("Message %s = %q, want %q", field, got, tc.want)
				}
				if got, ok := out[field].(string); !ok || got != tc.want {
					t.Errorf("output %s = %#v, want the string %q", field, out[field], tc.want)
				}
			})
		}
	}
}

func TestNormalizeIDErrors(t *testing.T) {
	cases := []struct {
		name    string
		literal string
		code    string
	}{
		{"true", `true`, CodeInvalidType},
		{"false", `false`, CodeInvalidType},
		{"object", `{"id":"x"}`, CodeInvalidType},
		{"empty object", `{}`, CodeInvalidType},
		{"array", `["x"]`, CodeInvalidType},
		{"string over the limit", `"` + strings.Repeat("x", MaxIDBytes+1) + `"`, CodeInvalidValue},
		{"escaped string over the limit", `"` + strings.Repeat(`\u00e9`, MaxIDBytes/2+1) + `"`, CodeInvalidValue},
		{"number over the limit", strings.Repeat("9", MaxIDBytes+1), CodeInvalidValue},
		{"number out of float range", `1e400`, CodeInvalidValue},
	}
	for _, field := range []string{"userId", "anonymousId", "groupId", "previousId", "messageId"} {
		for _, tc := range cases {
			t.Run(field+" "+tc.name, func(t *testing.T) {
				body := idBody(field, tc.literal)
				_, err := newTestNormalizer().Normalize([]byte(body), Group, nil, recvAt)
				asError(t, err, tc.code, field)
			})
		}
		t.Run(field+" exactly at the limit", func(t *testing.T) {
			id := strings.Repeat("x", MaxIDBytes)
			msg, _ := normalizeOK(t, newTestNormalizer(), idBody(field, `"`+id+`"`), Group, nil)
			if got := idOf(msg, field); got != id {
				t.Errorf("%s has %d bytes, want %d", field, len(got), len(id))
			}
		})
	}
}

func TestNormalizeStringIDs(t *testing.T) {
	cases := []struct {
		name    string
		literal string
		want    string
	}{
		{"plain", `"u-1"`, "u-1"},
		{"unicode escape", `"\u0041bc"`, "Abc"},
		{"non-ASCII", `"ünïcödé"`, "ünïcödé"},
		{"numeric string stays a string", `"007"`, "007"},
		{"quote inside", `"a\"b"`, `a"b`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, out := normalizeOK(t, newTestNormalizer(), idBody("userId", tc.literal), Group, nil)
			if msg.UserID != tc.want || out["userId"] != tc.want {
				t.Errorf("userId: Message %q, JSON %#v; want %q", msg.UserID, out["userId"], tc.want)
			}
		})
	}
}

// idBody is a group call with every id set, field's to literal.
func idBody(field, literal string) string {
	ids := []struct{ name, value string }{
		{"messageId", `"m1"`}, {"userId", `"u1"`}, {"anonymousId", `"a1"`}, {"groupId", `"g1"`}, {"previousId", `"p1"`},
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		if id.name == field {
			id.value = literal
		}
		parts[i] = fmt.Sprintf("%q:%s", id.name, id.value)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func idOf(msg *Message, field string) string {
	switch field {
	case "userId":
		return msg.UserID
	case "anonymousId":
		return msg.AnonymousID
	case "groupId":
		return msg.GroupID
	case "previousId":
		return msg.PreviousID
	case "messageId":
		return msg.MessageID
	}
	panic("unknown id field " + field)
}

func TestNormalizeMessageID(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"missing is generated", `{"userId":"u1"}`, "gen-1"},
		{"empty is generated", `{"userId":"u1","messageId":""}`, "gen-1"},
		{"null is generated", `{"userId":"u1","messageId":null}`, "gen-1"},
		{"given is kept", `{"userId":"u1","messageId":"022bb90c-bbac-11e4-8dfc-aa07a5b093db"}`, "022bb90c-bbac-11e4-8dfc-aa07a5b093db"},
		{"escaped is unescaped", `{"userId":"u1","messageId":"m\u002d1"}`, "m-1"},
		{"numeric is stringified", `{"userId":"u1","messageId":12345}`, "12345"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, out := normalizeOK(t, newTestNormalizer(), tc.body, Identify, nil)
			if msg.MessageID != tc.want {
				t.Errorf("MessageID = %q, want %q", msg.MessageID, tc.want)
			}
			if out["messageId"] != tc.want {
				t.Errorf("output messageId = %#v, want %q", out["messageId"], tc.want)
			}
		})
	}
	t.Run("each generated id is fresh", func(t *testing.T) {
		n := newTestNormalizer()
		var ids []string
		for range 3 {
			msg, _ := normalizeOK(t, n, `{"userId":"u1"}`, Identify, nil)
			ids = append(ids, msg.MessageID)
		}
		if want := []string{"gen-1", "gen-2", "gen-3"}; !slices.Equal(ids, want) {
			t.Errorf("generated ids %v, want %v", ids, want)
		}
	})
	t.Run("given id does not call NewID", func(t *testing.T) {
		n := NewNormalizer(func() string { t.Fatal("NewID called for a message with an id"); return "" })
		normalizeOK(t, n, `{"userId":"u1","messageId":"m1"}`, Identify, nil)
	})
}

// timeCase is a call's time fields and what Normalize must make of them.
// batch holds batch-level members (e.g. `"sentAt":"…"`) or is empty.
type timeCase struct {
	name    string
	fields  string
	batch   string
	want    string // timestamp
	wantOT  string // raw originalTimestamp; "" = absent
	wantSAt string // raw sentAt; "" = absent
}

var timeCases = []timeCase{
	{name: "no client times", fields: ``, want: recvAtJSON},
	{name: "timestamp only", fields: `"timestamp":"2024-02-01T10:00:00.000Z"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "timestamp with offset and microseconds", fields: `"timestamp":"2024-02-01T11:00:00.123456+01:00"`,
		want: "2024-02-01T10:00:00.123Z", wantOT: `"2024-02-01T11:00:00.123456+01:00"`},
	{name: "timestamp and sentAt correct the clock", fields: `"timestamp":"2024-03-01T11:00:00.000Z","sentAt":"2024-03-01T11:00:05.000Z"`,
		want: "2024-03-01T11:59:55.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "client clock years ahead", fields: `"timestamp":"2030-01-01T00:00:00.000Z","sentAt":"2030-01-01T00:00:01.500Z"`,
		want: "2024-03-01T11:59:58.623Z", wantOT: `"2030-01-01T00:00:00.000Z"`, wantSAt: `"2030-01-01T00:00:01.500Z"`},
	{name: "sentAt in another zone", fields: `"timestamp":"2024-03-01T11:00:00.000Z","sentAt":"2024-03-01T13:00:10.000+02:00"`,
		want: "2024-03-01T11:59:50.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T13:00:10.000+02:00"`},
	// receivedAt (stored as …00.123) + 0.9 ms = …00.1239: truncated, not rounded.
	{name: "sub-millisecond skew truncates", fields: `"timestamp":"2024-03-01T11:00:00.0009Z","sentAt":"2024-03-01T11:00:00.0000Z"`,
		want: "2024-03-01T12:00:00.123Z", wantOT: `"2024-03-01T11:00:00.0009Z"`, wantSAt: `"2024-03-01T11:00:00.0000Z"`},
	{name: "originalTimestamp as RudderStack sends it", fields: `"originalTimestamp":"2024-03-01T11:00:00.000Z","sentAt":"2024-03-01T11:00:05.000Z"`,
		want: "2024-03-01T11:59:55.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "originalTimestamp only", fields: `"originalTimestamp":"2024-02-01T10:00:00.000Z"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "timestamp wins over originalTimestamp", fields: `"originalTimestamp":"2020-01-01T00:00:00.000Z","timestamp":"2024-02-01T10:00:00.000Z"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "null timestamp falls back to originalTimestamp", fields: `"timestamp":null,"originalTimestamp":"2024-02-01T10:00:00.000Z"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "empty timestamp falls back to originalTimestamp", fields: `"timestamp":"","originalTimestamp":"2024-02-01T10:00:00.000Z"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "empty timestamp is absent", fields: `"timestamp":""`, want: recvAtJSON},
	{name: "null times are absent", fields: `"timestamp":null,"originalTimestamp":null,"sentAt":null`, want: recvAtJSON},
	{name: "sentAt only", fields: `"sentAt":"2024-03-01T11:00:05.000Z"`,
		want: recvAtJSON, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "batch sentAt corrects the message", fields: `"timestamp":"2024-03-01T11:00:00.000Z"`, batch: `"sentAt":"2024-03-01T11:00:05.000Z"`,
		want: "2024-03-01T11:59:55.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "message sentAt wins over batch", fields: `"timestamp":"2024-03-01T11:00:00.000Z","sentAt":"2024-03-01T11:00:01.000Z"`, batch: `"sentAt":"2024-03-01T11:00:05.000Z"`,
		want: "2024-03-01T11:59:59.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T11:00:01.000Z"`},
	{name: "null message sentAt takes the batch's", fields: `"timestamp":"2024-03-01T11:00:00.000Z","sentAt":null`, batch: `"sentAt":"2024-03-01T11:00:05.000Z"`,
		want: "2024-03-01T11:59:55.123Z", wantOT: `"2024-03-01T11:00:00.000Z"`, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "batch sentAt without timestamp", fields: ``, batch: `"sentAt":"2024-03-01T11:00:05.000Z"`,
		want: recvAtJSON, wantSAt: `"2024-03-01T11:00:05.000Z"`},
	{name: "null batch sentAt", fields: `"timestamp":"2024-02-01T10:00:00.000Z"`, batch: `"sentAt":null`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000Z"`},
	{name: "date only", fields: `"timestamp":"2024-02-01"`,
		want: "2024-02-01T00:00:00.000Z", wantOT: `"2024-02-01"`},
	{name: "no zone is UTC", fields: `"timestamp":"2024-02-01T10:00:00.5"`,
		want: "2024-02-01T10:00:00.500Z", wantOT: `"2024-02-01T10:00:00.5"`},
	{name: "space separator", fields: `"timestamp":"2024-02-01 10:00:00"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01 10:00:00"`},
	{name: "offset without colon", fields: `"timestamp":"2024-02-01T11:00:00.000+0100"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T11:00:00.000+0100"`},
	{name: "escaped timestamp kept verbatim", fields: `"timestamp":"2024-02-01T10:00:00.000\u005a"`,
		want: "2024-02-01T10:00:00.000Z", wantOT: `"2024-02-01T10:00:00.000\u005a"`},
	// The first and last years Roster can write are accepted and kept as
	// originalTimestamp; as event times they are absurd (eventtime.go).
	{name: "first representable year", fields: `"timestamp":"0000-01-01T00:00:00Z"`,
		want: recvAtJSON, wantOT: `"0000-01-01T00:00:00Z"`},
	{name: "last representable year", fields: `"timestamp":"9999-12-31T23:59:59.999999Z"`,
		want: recvAtJSON, wantOT: `"9999-12-31T23:59:59.999999Z"`},
	{name: "client receivedAt replaced", fields: `"receivedAt":"1999-01-01T00:00:00.000Z"`, want: recvAtJSON},
	{name: "client receivedAt of the wrong type replaced", fields: `"receivedAt":12`, want: recvAtJSON},
}

func TestNormalizeTimes(t *testing.T) {
	for _, tc := range timeCases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNormalizer()
			body := `{"type":"identify","userId":"u1"`
			if tc.fields != "" {
				body += "," + tc.fields
			}
			body += "}"
			var d *Defaults
			if tc.batch != "" {
				b := mustDecodeBatch(t, n, `{`+tc.batch+`,"batch":[]}`)
				d = &b.Defaults
			}
			msg, out := normalizeOK(t, n, body, "", d)

			if got := msg.Timestamp.Format(wireLayout); got != tc.want {
				t.Errorf("Message.Timestamp = %s, want %s", got, tc.want)
			}
			if out["timestamp"] != tc.want {
				t.Errorf("output timestamp = %#v, want %q", out["timestamp"], tc.want)
			}
			if out["receivedAt"] != recvAtJSON || !msg.ReceivedAt.Equal(recvAt.Truncate(time.Millisecond)) {
				t.Errorf("receivedAt: output %#v, Message %v; want %s", out["receivedAt"], msg.ReceivedAt, recvAtJSON)
			}
			for _, tm := range []time.Time{msg.Timestamp, msg.ReceivedAt} {
				if tm.Location() != time.UTC || tm.Nanosecond()%int(time.Millisecond) != 0 {
					t.Errorf("time %v is not UTC at millisecond precision", tm)
				}
			}
			for _, f := range []struct{ name, want string }{{"originalTimestamp", tc.wantOT}, {"sentAt", tc.wantSAt}} {
				got, ok := rawMemberValue(t, msg.JSON, f.name)
				switch {
				case f.want == "" && ok:
					t.Errorf("output has %s %s, want none", f.name, got)
				case f.want != "" && got != f.want:
					t.Errorf("output %s = %s, want %s verbatim", f.name, got, f.want)
				}
			}
		})
	}
}

func TestNormalizeTimeFormat(t *testing.T) {
	cases := []struct {
		name string
		recv time.Time
		want string
	}{
		{"whole second", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05.000Z"},
		{"nanoseconds truncated, not rounded", time.Date(2024, 1, 2, 3, 4, 5, 999999999, time.UTC), "2024-01-02T03:04:05.999Z"},
		{"other zone converted to UTC", time.Date(2024, 1, 2, 3, 4, 5, 6000000, time.FixedZone("X", -5*3600)), "2024-01-02T08:04:05.006Z"},
		{"local-zone time with monotonic reading", time.Date(2024, 6, 30, 23, 59, 59, 1000000, time.UTC).Local().Round(0), "2024-06-30T23:59:59.001Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := newTestNormalizer().Normalize([]byte(`{"userId":"u1"}`), Identify, nil, tc.recv)
			if err != nil {
				t.Fatal(err)
			}
			out := decodeOutput(t, msg)
			if out["receivedAt"] != tc.want || out["timestamp"] != tc.want {
				t.Errorf("receivedAt %#v, timestamp %#v; want both %s", out["receivedAt"], out["timestamp"], tc.want)
			}
			if msg.ReceivedAt.Location() != time.UTC {
				t.Errorf("ReceivedAt in %v, want UTC", msg.ReceivedAt.Location())
			}
		})
	}
}

var timeErrorCases = []struct {
	name   string
	fields string
	code   string
	field  string
}{
	{"timestamp not a date", `"timestamp":"yesterday"`, CodeInvalidValue, "timestamp"},
	{"timestamp month 13", `"timestamp":"2024-13-01T00:00:00Z"`, CodeInvalidValue, "timestamp"},
	{"timestamp with garbage after", `"timestamp":"2024-01-01T00:00:00Zjunk"`, CodeInvalidValue, "timestamp"},
	{"timestamp a number", `"timestamp":1709294400`, CodeInvalidType, "timestamp"},
	{"timestamp a boolean", `"timestamp":true`, CodeInvalidType, "timestamp"},
	{"timestamp an object", `"timestamp":{}`, CodeInvalidType, "timestamp"},
	{"timestamp before year 0 in UTC", `"timestamp":"0000-01-01T00:30:00+01:00"`, CodeInvalidValue, "timestamp"},
	{"timestamp after year 9999 in UTC", `"timestamp":"9999-12-31T23:30:00-01:00"`, CodeInvalidValue, "timestamp"},
	{"originalTimestamp not a date", `"originalTimestamp":"nope"`, CodeInvalidValue, "timestamp"},
	{"originalTimestamp a number", `"originalTimestamp":5`, CodeInvalidType, "timestamp"},
	{"sentAt not a date", `"timestamp":"2024-01-01T00:00:00Z","sentAt":"later"`, CodeInvalidValue, "sentAt"},
	{"sentAt alone not a date", `"sentAt":"2024-01-01T25:00:00Z"`, CodeInvalidValue, "sentAt"},
	{"sentAt after year 9999 in UTC", `"sentAt":"9999-12-31T23:30:00-01:00"`, CodeInvalidValue, "sentAt"},
	{"sentAt a number", `"sentAt":5`, CodeInvalidType, "sentAt"},
	{"sentAt an array", `"sentAt":["2024-01-01"]`, CodeInvalidType, "sentAt"},
}

func TestNormalizeTimeErrors(t *testing.T) {
	for _, tc := range timeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"userId":"u1",` + tc.fields + `}`
			_, err := newTestNormalizer().Normalize([]byte(body), Identify, nil, recvAt)
			asError(t, err, tc.code, tc.field)
		})
	}
}

func TestNormalizeKeepsUnknownFieldsVerbatim(t *testing.T) {
	body := `{"type":"track","event":"Signed Up","userId":"u1","writeKey":"wk_secret",
	"zeta":{ "nested" : {"deep":[1, 2,{"x":"\u00e9\ud83d\ude00"}]},"n":1.50e+2 },
	"alpha":"caf\u00e9 \"quoted\" \\ slash \/ \t",
	"num":  12.340 ,
	"empty":{}, "arr":[ ], "nul":null, "t":true, "f":false, "neg":-0.0,
	"properties":{"b":1,"a":{"z":[],"y":"\u2028"}},
	"caf\u00e9":"key with an escape",
	"version":"1.1","channel":"server",
	"receivedAt":"1999-01-01T00:00:00.000Z"}`
	n := newTestNormalizer()
	msg, out := normalizeOK(t, n, body, "", nil)

	if msg.WriteKey != "wk_secret" {
		t.Errorf("WriteKey = %q, want wk_secret", msg.WriteKey)
	}
	if _, ok := out["writeKey"]; ok {
		t.Errorf("writeKey left in output: %s", msg.JSON)
	}
	if out["receivedAt"] != recvAtJSON {
		t.Errorf("receivedAt = %#v, want server time %s", out["receivedAt"], recvAtJSON)
	}

	in := rawMembers(t, []byte(body))
	got := rawMembers(t, msg.JSON)
	normalized := map[string]bool{"type": true, "messageId": true, "writeKey": true, "receivedAt": true, "timestamp": true, "userId": true}
	var wantOrder, gotOrder []string
	for _, m := range in {
		if normalized[m.name] {
			continue
		}
		wantOrder = append(wantOrder, m.name)
		v, ok := rawMemberValue(t, msg.JSON, m.name)
		if !ok {
			t.Errorf("field %q dropped", m.name)
			continue
		}
		if v != m.value {
			t.Errorf("field %q = %s, want %s verbatim", m.name, v, m.value)
		}
	}
	for _, m := range got {
		if slices.Contains(wantOrder, m.name) {
			gotOrder = append(gotOrder, m.name)
		}
	}
	if !slices.Equal(gotOrder, wantOrder) {
		t.Errorf("unknown fields in order %q, want %q", gotOrder, wantOrder)
	}
	var names []string
	for _, m := range got {
		names = append(names, m.name)
	}
	slices.Sort(names)
	want := []string{"alpha", "arr", "café", "channel", "empty", "event", "f", "messageId", "neg", "nul", "num", "properties",
		"receivedAt", "t", "timestamp", "type", "userId", "version", "zeta"}
	if !slices.Equal(names, want) {
		t.Errorf("output fields %q, want %q", names, want)
	}
}

// identityCase is an invalid call and what Normalize must still report of it.
var identityCases = []struct {
	name      string
	pathType  string
	body      string
	code      string
	field     string
	typ       string
	messageID string
	writeKey  string
}{
	{"missing groupId", Group, `{"messageId":"m1","writeKey":"wk","userId":"u1"}`,
		CodeMissingField, "groupId", Group, "m1", "wk"},
	{"missing identity, id generated", Track, `{"event":"e","writeKey":"wk"}`,
		CodeMissingField, "userId", Track, "gen-1", "wk"},
	{"numeric messageId", Identify, `{"messageId":99,"writeKey":"wk"}`,
		CodeMissingField, "userId", Identify, "99", "wk"},
	{"bad traits", Identify, `{"messageId":"m1","writeKey":"wk","userId":"u1","traits":[]}`,
		CodeInvalidType, "traits", Identify, "m1", "wk"},
	{"bad timestamp", Page, `{"messageId":"m1","writeKey":"wk","userId":"u1","timestamp":"soon"}`,
		CodeInvalidValue, "timestamp", Page, "m1", "wk"},
	{"bad userId type", Identify, `{"messageId":"m1","writeKey":"wk","userId":true}`,
		CodeInvalidType, "userId", Identify, "m1", "wk"},
	{"writeKey after the error", Alias, `{"userId":"u1","messageId":"m1","writeKey":"wk"}`,
		CodeMissingField, "previousId", Alias, "m1", "wk"},
	{"batch message without type", "", `{"messageId":"m2","writeKey":"wk","userId":"u1"}`,
		CodeMissingField, "type", "", "m2", "wk"},
	{"batch message with numeric type", "", `{"type":3,"messageId":"m2","writeKey":"wk","userId":"u1"}`,
		CodeInvalidType, "type", "", "m2", "wk"},
	{"batch message with unknown type", "", `{"type":"purchase","messageId":"m3","writeKey":"wk","userId":"u1"}`,
		CodeInvalidValue, "type", "purchase", "m3", "wk"},
	{"unreadable messageId", Identify, `{"messageId":{"a":1},"writeKey":"wk","userId":"u1"}`,
		CodeInvalidType, "messageId", Identify, "", "wk"},
	{"writeKey not a string", Identify, `{"messageId":"m1","writeKey":5}`,
		CodeMissingField, "userId", Identify, "m1", ""},
}

func TestNormalizeErrorKeepsIdentity(t *testing.T) {
	for _, tc := range identityCases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := newTestNormalizer().Normalize([]byte(tc.body), tc.pathType, nil, recvAt)
			asError(t, err, tc.code, tc.field)
			if msg == nil {
				t.Fatal("nil Message with the error")
			}
			if msg.Type != tc.typ || msg.MessageID != tc.messageID || msg.WriteKey != tc.writeKey {
				t.Errorf("Message {Type:%q MessageID:%q WriteKey:%q}, want {%q %q %q}",
					msg.Type, msg.MessageID, msg.WriteKey, tc.typ, tc.messageID, tc.writeKey)
			}
			if !msg.ReceivedAt.Equal(recvAt.Truncate(time.Millisecond)) {
				t.Errorf("ReceivedAt = %v, want %v", msg.ReceivedAt, recvAt)
			}
		})
	}
}

var malformedCases = []struct {
	name string
	body string
	code string
}{
	{"empty body", ``, CodeInvalidJSON},
	{"only whitespace", " \n\t ", CodeInvalidJSON},
	{"unterminated object", `{"userId":"u1"`, CodeInvalidJSON},
	{"unterminated string", `{"userId":"u1`, CodeInvalidJSON},
	{"trailing comma", `{"userId":"u1",}`, CodeInvalidJSON},
	{"missing colon", `{"userId" "u1"}`, CodeInvalidJSON},
	{"single quotes", `{'userId':'u1'}`, CodeInvalidJSON},
	{"unquoted name", `{userId:"u1"}`, CodeInvalidJSON},
	{"NaN", `{"userId":"u1","n":NaN}`, CodeInvalidJSON},
	{"leading zero", `{"userId":012}`, CodeInvalidJSON},
	{"trailing garbage", `{"userId":"u1"} x`, CodeInvalidJSON},
	{"second object", `{"userId":"u1"}{"userId":"u2"}`, CodeInvalidJSON},
	{"extra brace", `{"userId":"u1"}}`, CodeInvalidJSON},
	{"duplicate key", `{"userId":"a","userId":"b"}`, CodeInvalidJSON},
	{"duplicate key by escape", `{"userId":"a","\u0075serId":"b"}`, CodeInvalidJSON},
	{"duplicate unknown key", `{"userId":"a","x":1,"x":1}`, CodeInvalidJSON},
	{"duplicate nested key", `{"userId":"a","traits":{"name":"x","name":"y"}}`, CodeInvalidJSON},
	{"duplicate deeply nested key", `{"userId":"a","context":{"l":[{"k":1,"k":2}]}}`, CodeInvalidJSON},
	{"invalid UTF-8 in a value", "{\"userId\":\"u\xff1\"}", CodeInvalidJSON},
	{"invalid UTF-8 in a name", "{\"userId\":\"u1\",\"\xc3\x28\":1}", CodeInvalidJSON},
	{"invalid UTF-8 in a nested value", "{\"userId\":\"u1\",\"traits\":{\"name\":\"\xed\xa0\x80\"}}", CodeInvalidJSON},
	{"lone surrogate escape", `{"userId":"\ud800"}`, CodeInvalidJSON},
	{"bad escape", `{"userId":"\x41"}`, CodeInvalidJSON},
	{"raw control character", "{\"userId\":\"a\x01b\"}", CodeInvalidJSON},
	{"byte order mark", "\xef\xbb\xbf{\"userId\":\"u1\"}", CodeInvalidJSON},
	{"array", `[{"userId":"u1"}]`, CodeInvalidType},
	{"empty array", `[]`, CodeInvalidType},
	{"string", `"userId"`, CodeInvalidType},
	{"number", `42`, CodeInvalidType},
	{"null", `null`, CodeInvalidType},
	{"boolean", `true`, CodeInvalidType},
}

func TestNormalizeMalformed(t *testing.T) {
	for _, tc := range malformedCases {
		for _, pathType := range []string{"", Group} {
			t.Run(tc.name+" path "+pathType, func(t *testing.T) {
				msg, err := newTestNormalizer().Normalize([]byte(tc.body), pathType, nil, recvAt)
				se := asError(t, err, tc.code, "")
				want := "malformed JSON"
				if tc.code == CodeInvalidType {
					want = "JSON object"
				}
				if !strings.Contains(se.Message, want) {
					t.Errorf("message %q does not contain %q", se.Message, want)
				}
				if msg == nil || msg.JSON != nil {
					t.Errorf("Message = %+v, want an empty one", msg)
				}
			})
		}
	}
}

func TestNormalizeReusesNormalizer(t *testing.T) {
	// One Normalizer, used for many calls in a row, good and bad, must not
	// carry anything from one call to the next.
	n := newTestNormalizer()
	if _, err := n.Normalize([]byte(`{"userId":"a","traits":{"x":1,"x":2}}`), Identify, nil, recvAt); err == nil {
		t.Fatal("duplicate trait accepted")
	}
	if _, err := n.Normalize([]byte(`{"userId":`), Identify, nil, recvAt); err == nil {
		t.Fatal("truncated body accepted")
	}
	msg, out := normalizeOK(t, n, `{"userId":"u2","groupId":"g2","traits":{"x":1}}`, Group, nil)
	if msg.UserID != "u2" || msg.GroupID != "g2" || msg.Warnings != nil {
		t.Errorf("state leaked between calls: %+v", msg)
	}
	if !jsonEqual(t, mustMarshal(t, out["traits"]), `{"x":1}`) {
		t.Errorf("traits = %v", out["traits"])
	}
}

func TestErrorString(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
	}{
		{&Error{Code: CodeMissingField, Field: "groupId", Message: "is required"}, "groupId: is required"},
		{&Error{Code: CodeInvalidJSON, Message: "malformed JSON"}, "malformed JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			var se *Error
			if !errors.As(fmt.Errorf("wrapped: %w", tc.err), &se) || se != tc.err {
				t.Error("errors.As does not find a wrapped *Error")
			}
		})
	}
}

func TestTypeFromPath(t *testing.T) {
	cases := []struct {
		seg  string
		want string
		ok   bool
	}{
		{"identify", Identify, true}, {"i", Identify, true},
		{"track", Track, true}, {"t", Track, true},
		{"page", Page, true}, {"p", Page, true},
		{"screen", Screen, true}, {"s", Screen, true},
		{"group", Group, true}, {"g", Group, true},
		{"alias", Alias, true}, {"a", Alias, true},
		{"batch", "", false}, {"b", "", false}, {"Group", "", false}, {"", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.seg, func(t *testing.T) {
			got, ok := TypeFromPath(tc.seg)
			if got != tc.want || ok != tc.ok {
				t.Errorf("TypeFromPath(%q) = %q, %v; want %q, %v", tc.seg, got, ok, tc.want, tc.ok)
			}
		})
	}
}
