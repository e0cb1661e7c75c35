package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"roster/internal/archive"
)

// history is a workspace's worth of calls: traits, identities, a late
// old event, a call attributed to a group, and clock skew to correct.
const history = `{"batch":[
 {"type":"group","messageId":"h1","userId":"u1","groupId":"acme","traits":{"name":"Acme","plan":"trial"},"timestamp":"2021-03-01T00:00:00Z"},
 {"type":"identify","messageId":"h2","userId":"u1","traits":{"email":"u1@acme.io","plan":"free"},"timestamp":"2021-03-02T00:00:00Z"},
 {"type":"identify","messageId":"h3","anonymousId":"a1","traits":{"seen":true}},
 {"type":"identify","messageId":"h4","anonymousId":"a1","userId":"u2","traits":{"email":"u2@acme.io"}},
 {"type":"group","messageId":"h5","userId":"u2","groupId":"acme","traits":{"plan":"pro","seats":10}},
 {"type":"group","messageId":"h6","userId":"u2","groupId":"acme","traits":{"plan":"legacy","industry":"Tech"},"timestamp":"2020-01-01T00:00:00Z"},
 {"type":"track","messageId":"h7","userId":"u2","event":"Seat Added","context":{"groupId":"acme"}},
 {"type":"group","messageId":"h8","anonymousId":"a9","groupId":"globex","traits":{"name":"Globex"},"timestamp":"2030-01-01T00:00:05Z","sentAt":"2030-01-01T00:00:10Z"}
]}`

func stripped(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(archive.Strip([]byte(l)))
	}
	return out
}

// An exported workspace imported into another Roster gives the same
// profiles and the same stored events; importing it again stores nothing.
func TestExportImportRoundTrip(t *testing.T) {
	a, b := startInstance(t, ""), startInstance(t, "")
	a.post(t, "/v1/batch", history)
	a.caughtUp(t)

	file := filepath.Join(t.TempDir(), "events.ndjson.gz")
	if _, stderr, err := runCmd(t, "export", "--url", a.url, "--token", testToken, "--output", file, "--gzip", "--page", "3"); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	stdout, stderr, err := runCmd(t, "import", "--url", b.url, "--write-key", testWriteKey, "--state", filepath.Join(t.TempDir(), "state"), file)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "sent 8, accepted 8, deduplicated 0, rejected 0, unparsable 0") {
		t.Errorf("summary: %s", stdout)
	}
	b.caughtUp(t)

	eventsA, eventsB := stripped(a.exportLines(t)), stripped(b.exportLines(t))
	if len(eventsA) != 8 || !reflect.DeepEqual(eventsA, eventsB) {
		t.Fatalf("stored events differ after the round trip:\n%s\n---\n%s", strings.Join(eventsA, "\n"), strings.Join(eventsB, "\n"))
	}
	accountsA := a.exportLines(t, "--profiles", "accounts")
	if len(accountsA) != 2 || !reflect.DeepEqual(accountsA, b.exportLines(t, "--profiles", "accounts")) {
		t.Fatalf("account profiles differ after the round trip:\n%s\n---\n%s", accountsA, b.exportLines(t, "--profiles", "accounts"))
	}
	for _, id := range []string{"user_id:u1", "user_id:u2", "anonymous_id:a1"} {
		var ta, tb any
		a.get(t, "/v1/spaces/default/collections/users/profiles/"+id+"/traits", &ta)
		b.get(t, "/v1/spaces/default/collections/users/profiles/"+id+"/traits", &tb)
		if !reflect.DeepEqual(ta, tb) {
			t.Errorf("%s traits differ: %v vs %v", id, ta, tb)
		}
	}

	// Importing the same file again is deduplicated whole.
	stdout, stderr, err = runCmd(t, "import", "--url", b.url, "--write-key", testWriteKey, "--state", filepath.Join(t.TempDir(), "state"), file)
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "sent 8, accepted 0, deduplicated 8, rejected 0, unparsable 0") {
		t.Errorf("second summary: %s", stdout)
	}
	b.caughtUp(t)
	if again := stripped(b.exportLines(t)); !reflect.DeepEqual(again, eventsA) {
		t.Errorf("a second import changed the stored events: %d events", len(again))
	}
	if again := b.exportLines(t, "--profiles", "accounts"); !reflect.DeepEqual(again, accountsA) {
		t.Errorf("a second import changed the profiles")
	}
}

func gzipFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A Segment archive and a RudderStack backup from 2020 keep their times:
// the account is first seen in 2020, the later of two old calls wins
// whatever order they come in, and bad lines are reported by position.
func TestImportHistoricalArchive(t *testing.T) {
	in := startInstance(t, "")
	path := filepath.Join(t.TempDir(), "archive.ndjson.gz")
	gzipFile(t, path,
		`{"type":"group","messageId":"s1","userId":"u1","groupId":"acme","traits":{"plan":"enterprise"},"originalTimestamp":"2020-06-01T10:00:00.000Z","sentAt":"2020-06-01T10:00:01.000Z","timestamp":"2020-06-01T10:00:04.000Z","receivedAt":"2020-06-01T10:00:05.000Z","projectId":"src1","version":2}`,
		`{"type":"group","messageId":"s2","userId":"u1","groupId":"acme","traits":{"plan":"startup","industry":"Retail"},"originalTimestamp":"2020-01-15T09:00:00.000Z","sentAt":"2020-01-15T09:00:00.000Z","timestamp":"2020-01-15T09:00:00.000Z","receivedAt":"2020-01-15T09:00:00.000Z"}`,
		`{"type":"group","messageId":"s3",`,
		`{"JobID":7,"UserID":"u1","CustomVal":"GW","CreatedAt":"2020-02-01T00:00:01Z","EventPayload":{"batch":[{"type":"identify","messageId":"r1","userId":"u1","traits":{"email":"u1@acme.io"},"originalTimestamp":"2020-02-01T00:00:00.000Z","sentAt":"2020-02-01T00:00:00.000Z"}],"receivedAt":"2020-02-01T00:00:00.500Z","writeKey":"rudder"}}`,
		`{"type":"group","messageId":"s5","userId":"u1"}`,
	)
	stdout, stderr, err := runCmd(t, "import", "--url", in.url, "--write-key", testWriteKey, "--state", filepath.Join(t.TempDir(), "state"), path)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "sent 4, accepted 3, deduplicated 0, rejected 1, unparsable 1") {
		t.Errorf("summary: %s", stdout)
	}
	for _, want := range []string{path + ":3: unparsable", path + ":5: rejected (missing_field)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not report %q:\n%s", want, stderr)
		}
	}
	in.caughtUp(t)
	var g struct {
		Traits    map[string]any `json:"traits"`
		FirstSeen string         `json:"first_seen"`
		LastSeen  string         `json:"last_seen"`
	}
	in.get(t, "/v1/workspaces/default/groups/acme", &g)
	if g.FirstSeen != "2020-01-15T09:00:00.000Z" || g.LastSeen != "2020-06-01T10:00:04.000Z" {
		t.Errorf("acme seen %s to %s, want 2020-01-15T09:00:00.000Z to 2020-06-01T10:00:04.000Z", g.FirstSeen, g.LastSeen)
	}
	if g.Traits["plan"] != "enterprise" || g.Traits["industry"] != "Retail" {
		t.Errorf("acme traits = %v, want the June plan and January's industry", g.Traits)
	}
	received := map[string]string{}
	for _, line := range in.exportLines(t) {
		var e struct{ MessageID, ReceivedAt, Timestamp string }
		if err := json.Unmarshal(archive.Strip([]byte(line)), &e); err != nil {
			t.Fatal(err)
		}
		received[e.MessageID] = e.ReceivedAt + " " + e.Timestamp
	}
	want := map[string]string{
		"s1": "2020-06-01T10:00:05.000Z 2020-06-01T10:00:04.000Z",
		"s2": "2020-01-15T09:00:00.000Z 2020-01-15T09:00:00.000Z",
		"r1": "2020-02-01T00:00:00.500Z 2020-02-01T00:00:00.500Z",
	}
	if !reflect.DeepEqual(received, want) {
		t.Errorf("stored times (receivedAt timestamp) = %v, want %v", received, want)
	}
}

// An import killed half way and resumed stores every event exactly once.
func TestImportResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 30,000 events")
	}
	in := startInstance(t, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "big.ndjson")
	const n = 30000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"group","messageId":"k%d","userId":"u%d","groupId":"g%d","traits":{"n":%d}}`+"\n", i, i%100, i%10, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	args := []string{"import", "--url", in.url, "--write-key", testWriteKey, "--state", state, "--batch", "20", "--concurrency", "2", path}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_RUN_MAIN=1")
	cmd.Args = append([]string{"roster"}, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has saved progress, without warning.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := os.ReadFile(state); err == nil && bytes.Contains(st, []byte(`"done"`)) && !bytes.Contains(st, []byte(`:0}`)) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the import saved no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Skip("the import finished before it could be killed")
	}
	stdout, stderr, err := runCmd(t, "import", "--url", in.url, "--write-key", testWriteKey, "--state", state, "--resume", path)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "resumed:") {
		t.Errorf("the resume skipped nothing: %s", stdout)
	}
	lines := in.exportLines(t)
	seen := map[string]bool{}
	for _, l := range lines {
		var e struct{ MessageID string }
		json.Unmarshal([]byte(l), &e)
		if seen[e.MessageID] {
			t.Fatalf("%s stored twice", e.MessageID)
		}
		seen[e.MessageID] = true
	}
	if len(seen) != n {
		t.Fatalf("stored %d events after the resume, want %d", len(seen), n)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the state file is left after a finished import: %v", err)
	}
}
