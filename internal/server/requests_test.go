package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// A flood of failures writes perSecond lines a second; the first line
// after it says how many were left out, and each line has the reason.
func TestFailureLogIsRateLimited(t *testing.T) {
	var out bytes.Buffer
	f := newFailureLog(slog.New(slog.NewJSONHandler(&out, nil)))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	answer := []byte(`{"success":false,"code":"missing_field","field":"groupId","message":"groupId: is required"}`)
	for range 1000 {
		f.log("POST", "/v1/{call}", 400, answer, time.Millisecond)
	}
	now = now.Add(time.Second)
	f.log("GET", "/v1/workspaces/{workspace}/events", 401, []byte(`{"error":{"code":"unauthorized","message":"x"}}`), time.Millisecond)

	var lines []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		lines = append(lines, l)
	}
	if len(lines) != f.perSecond+1 {
		t.Fatalf("%d lines for 1001 failures over two seconds, want %d", len(lines), f.perSecond+1)
	}
	first, last := lines[0], lines[len(lines)-1]
	if first["code"] != "missing_field" || first["field"] != "groupId" || first["route"] != "/v1/{call}" || first["status"] != 400.0 {
		t.Errorf("first line = %v", first)
	}
	for k, v := range first {
		if v == "groupId: is required" {
			t.Errorf("the answer's message, which may quote the body, was logged as %s", k)
		}
	}
	if last["code"] != "unauthorized" || last["suppressed"] != float64(1000-f.perSecond) {
		t.Errorf("line after the flood = %v, want code unauthorized and suppressed %d", last, 1000-f.perSecond)
	}
}
