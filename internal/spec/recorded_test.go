package spec

import "testing"

func TestNormalizeKeepRecorded(t *testing.T) {
	n := newTestNormalizer()
	keep := &Defaults{KeepRecorded: true}
	cases := []struct {
		name, body              string
		d                       *Defaults
		wantReceived, wantStamp string
		wantOriginal            string
	}{
		{
			name:         "archive shape keeps receivedAt and the corrected timestamp",
			body:         `{"type":"track","event":"e","userId":"u","originalTimestamp":"2020-01-01T00:00:05.000Z","sentAt":"2020-01-01T00:00:10.000Z","timestamp":"2020-01-01T00:00:02.000Z","receivedAt":"2020-01-01T00:00:07.000Z"}`,
			d:            keep,
			wantReceived: "2020-01-01T00:00:07.000Z", wantStamp: "2020-01-01T00:00:02.000Z", wantOriginal: "2020-01-01T00:00:05.000Z",
		},
		{
			name:         "a RudderStack payload's originalTimestamp is corrected against the recorded receivedAt",
			body:         `{"type":"track","event":"e","userId":"u","originalTimestamp":"2020-01-01T00:00:05.000Z","sentAt":"2020-01-01T00:00:10.000Z","receivedAt":"2020-01-01T00:00:07.000Z"}`,
			d:            keep,
			wantReceived: "2020-01-01T00:00:07.000Z", wantStamp: "2020-01-01T00:00:02.000Z", wantOriginal: "2020-01-01T00:00:05.000Z",
		},
		{
			name:         "a stored timestamp without originalTimestamp is kept, and no originalTimestamp added",
			body:         `{"type":"track","event":"e","userId":"u","timestamp":"2020-01-01T00:00:05.000Z","sentAt":"2020-01-01T00:00:10.000Z","receivedAt":"2020-01-01T00:00:07.000Z"}`,
			d:            keep,
			wantReceived: "2020-01-01T00:00:07.000Z", wantStamp: "2020-01-01T00:00:05.000Z",
		},
		{
			name:         "no timestamp: the recorded receivedAt is the event time",
			body:         `{"type":"identify","userId":"u","receivedAt":"2019-06-01T00:00:00Z"}`,
			d:            keep,
			wantReceived: "2019-06-01T00:00:00.000Z", wantStamp: "2019-06-01T00:00:00.000Z",
		},
		{
			name:         "a receivedAt in the future is server time",
			body:         `{"type":"identify","userId":"u","receivedAt":"2099-01-01T00:00:00Z"}`,
			d:            keep,
			wantReceived: recvAtJSON, wantStamp: recvAtJSON,
		},
		{
			name:         "without KeepRecorded a sent receivedAt is ignored",
			body:         `{"type":"identify","userId":"u","receivedAt":"2019-06-01T00:00:00Z"}`,
			wantReceived: recvAtJSON, wantStamp: recvAtJSON,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, out := normalizeOK(t, n, c.body, "", c.d)
			if got := msg.ReceivedAt.Format(wireLayout); got != c.wantReceived || out["receivedAt"] != c.wantReceived {
				t.Errorf("receivedAt = %s (JSON %v), want %s", got, out["receivedAt"], c.wantReceived)
			}
			if got := msg.Timestamp.Format(wireLayout); got != c.wantStamp || out["timestamp"] != c.wantStamp {
				t.Errorf("timestamp = %s (JSON %v), want %s", got, out["timestamp"], c.wantStamp)
			}
			if got, ok := out["originalTimestamp"]; (c.wantOriginal == "" && ok) || (c.wantOriginal != "" && got != c.wantOriginal) {
				t.Errorf("originalTimestamp = %v, want %s", out["originalTimestamp"], c.wantOriginal)
			}
		})
	}
	_, err := n.Normalize([]byte(`{"type":"identify","userId":"u","receivedAt":"yesterday"}`), "", keep, recvAt)
	asError(t, err, CodeInvalidValue, "receivedAt")
}
