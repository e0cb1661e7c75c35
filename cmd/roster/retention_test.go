package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"roster/internal/archive"
)

// With retention, events older than the period are archived and trimmed
// from the log without changing a profile; a rebuild from the archive and
// the log gives the same profiles; the archive imports into another Roster.
func TestRetentionArchivesTrimsAndRebuilds(t *testing.T) {
	dir := t.TempDir()
	in := startIn(t, dir, testConfig("retention: {events: 400d, every: 50ms}\n"))
	// Old events come in through /v1/import with their recorded times,
	// then recent ones.
	in.post(t, "/v1/import", `{"batch":[
		{"type":"group","messageId":"o1","userId":"u1","groupId":"acme","traits":{"name":"Acme","plan":"trial"},"timestamp":"2020-01-01T00:00:00.000Z","receivedAt":"2020-01-01T00:00:01.000Z"},
		{"type":"identify","messageId":"o2","userId":"u1","traits":{"email":"u1@acme.io"},"timestamp":"2020-01-02T00:00:00.000Z","receivedAt":"2020-01-02T00:00:01.000Z"},
		{"type":"group","messageId":"o3","userId":"u2","groupId":"acme","traits":{"seats":5},"timestamp":"2020-02-01T00:00:00.000Z","receivedAt":"2020-02-01T00:00:01.000Z"}]}`)
	in.post(t, "/v1/batch", `{"batch":[
		{"type":"group","messageId":"n1","userId":"u1","groupId":"acme","traits":{"plan":"pro"}},
		{"type":"group","messageId":"n2","userId":"u3","groupId":"globex","traits":{"name":"Globex"}}]}`)
	in.caughtUp(t)

	archiveDir := filepath.Join(dir, "data", "archive")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if files, _ := archive.Files(archiveDir); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention archived nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	accounts := in.exportLines(t, "--profiles", "accounts")
	var left []string
	for _, l := range in.exportLines(t) {
		left = append(left, l[strings.Index(l, `"messageId":"`)+13:][:2])
	}
	if !reflect.DeepEqual(left, []string{"n1", "n2"}) {
		t.Fatalf("the log holds %v after retention, want n1 n2", left)
	}
	if len(accounts) != 2 || !strings.Contains(accounts[0], `"firstSeen":"2020-01-01T00:00:00.000Z"`) || !strings.Contains(accounts[0], `"seats":5`) {
		t.Fatalf("acme after retention: %s", accounts)
	}
	in.stop()

	if stdout, stderr, err := runCmd(t, "rebuild", "--data", filepath.Join(dir, "data"), "--config", in.config); err != nil || !strings.Contains(stdout, "from 5 events") {
		t.Fatalf("rebuild: %v\n%s%s", err, stdout, stderr)
	}
	again := startIn(t, dir, testConfig(""))
	if got := again.exportLines(t, "--profiles", "accounts"); !reflect.DeepEqual(got, accounts) {
		t.Fatalf("profiles after a rebuild from archive and log:\n%s\nwant\n%s", got, accounts)
	}

	// The archive is roster import input.
	files, _ := filepath.Glob(filepath.Join(archiveDir, "*.ndjson.gz"))
	other := startInstance(t, "")
	if stdout, stderr, err := runCmd(t, append([]string{"import", "--url", other.url, "--write-key", testWriteKey, "--state", filepath.Join(t.TempDir(), "s")}, files...)...); err != nil || !strings.Contains(stdout, "accepted 3,") {
		t.Fatalf("import of the archive: %v\n%s%s", err, stdout, stderr)
	}
}

// An export continued from a cursor writes what follows it, appended,
// and nothing twice; the filters apply.
func TestExportContinuesFromCursor(t *testing.T) {
	in := startInstance(t, "")
	in.post(t, "/v1/batch", history)
	path := filepath.Join(t.TempDir(), "all.ndjson")
	if _, _, err := runCmd(t, "export", "--url", in.url, "--token", testToken, "--output", path, "--page", "3"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	all := strings.SplitAfter(string(b), "\n")
	all = all[:len(all)-1]
	if len(all) != 8 {
		t.Fatalf("exported %d events, want 8", len(all))
	}
	// Stop after the first five, as an interrupted export would, and
	// continue from the fifth's position.
	part := filepath.Join(t.TempDir(), "part.ndjson")
	os.WriteFile(part, []byte(strings.Join(all[:5], "")), 0o600)
	e, err := archive.ParseLine([]byte(all[4]))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "export", "--url", in.url, "--token", testToken, "--output", part, "--cursor", fmt.Sprint(e.Seq), "--page", "2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(part); string(got) != string(b) {
		t.Errorf("continued export differs from the whole:\n%s\nwant\n%s", got, b)
	}
	groups := in.exportLines(t, "--type", "group", "--since", "2021-01-01T00:00:00Z")
	if len(groups) != 3 { // h1, h5 and h8 (corrected to now), not h6 (2020)
		t.Errorf("group calls since 2021: %d, want 3", len(groups))
	}
}
