package main

import (
	"strings"
	"testing"
	"time"
)

func TestRebuildProgressPrintsEveryTwoSeconds(t *testing.T) {
	var out strings.Builder
	progress := rebuildProgress(&out, time.Now().Add(-4*time.Second))
	progress(100, 400)
	progress(200, 400) // within two seconds of the last line
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("printed %d lines, want 1:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"100 of 400 events (25%)", "events/s", "to go"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q does not say %q", lines[0], want)
		}
	}
}
