package spec

import (
	"strings"
	"testing"
)

// A time that cannot be right becomes receivedAt, with a warning; a skew of
// centuries is computed without overflowing time.Duration.
func TestNormalizeAbsurdTimestamps(t *testing.T) {
	cases := []struct {
		name, fields, want, warning string
	}{
		{"skew past time.Duration's range", `"timestamp":"1900-01-01T00:00:00Z","sentAt":"2300-01-01T00:00:00Z"`,
			recvAtJSON, "is before 1970-01-01T00:00:00Z"},
		{"year 9999 without sentAt", `"timestamp":"9999-01-01T00:00:00Z"`, recvAtJSON, "more than 24h0m0s after receivedAt"},
		{"year 9999 with a sentAt of today", `"timestamp":"9999-01-01T00:00:00Z","sentAt":"2024-03-01T12:00:00Z"`,
			recvAtJSON, "more than 24h0m0s after receivedAt"},
		{"a far-past sentAt makes the corrected time future", `"timestamp":"2024-03-01T12:00:00Z","sentAt":"1800-01-01T00:00:00Z"`,
			recvAtJSON, "more than 24h0m0s after receivedAt"},
		{"before the epoch without sentAt", `"timestamp":"1969-12-31T23:59:59.999Z"`, recvAtJSON, "is before 1970-01-01T00:00:00Z"},
		{"the epoch itself is kept", `"timestamp":"1970-01-01T00:00:00Z"`, "1970-01-01T00:00:00.000Z", ""},
		{"a day ahead is kept", `"timestamp":"2024-03-02T12:00:00.123Z"`, "2024-03-02T12:00:00.123Z", ""},
		{"a day and a millisecond ahead is not", `"timestamp":"2024-03-02T12:00:00.124Z"`, recvAtJSON, "more than 24h0m0s after receivedAt"},
		{"history years old is kept", `"timestamp":"2015-06-01T08:00:00Z"`, "2015-06-01T08:00:00.000Z", ""},
		{"a clock centuries off, corrected by sentAt", `"timestamp":"2500-01-01T00:00:00Z","sentAt":"2500-01-01T00:00:10Z"`,
			"2024-03-01T11:59:50.123Z", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, out := normalizeOK(t, newTestNormalizer(), `{"userId":"u1",`+tc.fields+`}`, Identify, nil)
			if out["timestamp"] != tc.want {
				t.Errorf("timestamp = %v, want %s", out["timestamp"], tc.want)
			}
			if got := msg.Timestamp.Format(wireLayout); got != tc.want {
				t.Errorf("Message.Timestamp = %s, want %s", got, tc.want)
			}
			switch {
			case tc.warning == "" && len(msg.Warnings) > 0:
				t.Errorf("warnings %q, want none", msg.Warnings)
			case tc.warning != "" && (len(msg.Warnings) != 1 || !strings.Contains(msg.Warnings[0], tc.warning)):
				t.Errorf("warnings %q, want one saying %q", msg.Warnings, tc.warning)
			}
		})
	}
}

// The time warning comes with the reserved-trait warnings, not instead.
func TestNormalizeTimeWarningKeepsTraitWarnings(t *testing.T) {
	msg, _ := normalizeOK(t, newTestNormalizer(), `{"userId":"u1","groupId":"g","traits":{"employees":"many"},"timestamp":"9999-01-01T00:00:00Z"}`, Group, nil)
	if len(msg.Warnings) != 2 {
		t.Fatalf("warnings %q, want the time's and the trait's", msg.Warnings)
	}
}
