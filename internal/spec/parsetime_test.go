package spec

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-01T12:30:45.123Z", utc("2024-03-01T12:30:45.123Z"), true},
		{"2024-03-01T12:30:45+02:00", utc("2024-03-01T10:30:45Z"), true},
		{"2024-03-01T12:30:45+0200", utc("2024-03-01T10:30:45Z"), true},
		{"2024-03-01T12:30:45", utc("2024-03-01T12:30:45Z"), true},  // no zone: UTC
		{"2024-03-01 12:30:45Z", utc("2024-03-01T12:30:45Z"), true}, // space for T
		{"2024-03-01 12:30:45.5", utc("2024-03-01T12:30:45.5Z"), true},
		{"2024-03-01", utc("2024-03-01T00:00:00Z"), true},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2024-03-01T12:30", time.Time{}, false}, // no seconds
		{" 2024-03-01", time.Time{}, false},      // callers trim
		{"1709296245", time.Time{}, false},       // Unix seconds are not ISO-8601
	} {
		got, ok := ParseTime(c.in)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		// It is the parser the normalizer uses.
		_, err := parseTime(c.in)
		if (err == nil) != ok {
			t.Errorf("ParseTime(%q) ok %v, parseTime error %v", c.in, ok, err)
		}
	}
}
