//go:build unix

// Package compat runs the real Segment and RudderStack client libraries
// against a real Roster binary and checks what Roster stored:
//
//   - @segment/analytics-node (segment-node.mjs)
//   - @rudderstack/rudder-sdk-node, gzipped as it is by default and plain
//     (rudder-node.mjs)
//   - @segment/analytics-next, the analytics.js browser build, in a headless
//     Chromium driven by playwright-core (browser.mjs, browser/page.html)
//
// The libraries are pinned in package.json. Install them first:
//
//	npm ci --prefix test/compat && go test ./test/compat/
//
// The test skips when node or test/compat/node_modules is missing, and the
// browser part skips when /usr/bin/chromium (or $COMPAT_CHROMIUM) is
// missing (on Debian: apt-get install -y chromium).
package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	writeKey    = "wk_compat_0123456789"
	accessToken = "tok_compat_0123456789"

	// clockSkew is how wrong the Node SDKs' clock is made (see
	// lib/skew-clock.mjs): Roster must correct the event time for it.
	clockSkew = time.Hour

	scriptTimeout = 90 * time.Second
)

// The group traits every Node script sends (lib/common.mjs), in order.
const groupTraitsJSON = `{"name":"Acme Inc","industry":"Manufacturing","employees":250,"plan":"enterprise","createdAt":"2021-03-04T05:06:07.000Z","stripe customer id":"cus_Q1w2E3r4"}`

func TestSDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real SDKs against the roster binary; skipped with -short")
	}
	requireNode(t)
	r := startRoster(t)

	t.Run("analytics-node", func(t *testing.T) {
		out := runNodeSDK(t, r, "segment-node.mjs", "seg", clockSkew)
		stored := r.events(t)
		checkNodeSDK(t, stored, out, nodeExpect{
			library:   "@segment/analytics-node",
			version:   packageVersion(t, "@segment/analytics-node"),
			messageID: "node-next-",
			skew:      clockSkew,
		})
	})
	t.Run("analytics-node/profiles", func(t *testing.T) {
		checkProfiles(t, r, "seg")
	})
	t.Run("rudder-sdk-node/gzip", func(t *testing.T) {
		out := runNodeSDK(t, r, "rudder-node.mjs", "rsgz", -clockSkew)
		if !out.Gzip {
			t.Fatal("rudder-node.mjs did not gzip; the default of the SDK is gzip")
		}
		stored := r.events(t)
		checkNodeSDK(t, stored, out, nodeExpect{
			library:        "analytics-node",
			version:        packageVersion(t, "@rudderstack/rudder-sdk-node"),
			skew:           -clockSkew,
			identifyTraits: true,
			channel:        "server",
		})
	})
	t.Run("rudder-sdk-node/plain", func(t *testing.T) {
		out := runNodeSDK(t, r, "rudder-node.mjs", "rsplain", clockSkew, "COMPAT_RUDDER_GZIP=false")
		if out.Gzip {
			t.Fatal("rudder-node.mjs gzipped with COMPAT_RUDDER_GZIP=false")
		}
		stored := r.events(t)
		checkNodeSDK(t, stored, out, nodeExpect{
			library:        "analytics-node",
			version:        packageVersion(t, "@rudderstack/rudder-sdk-node"),
			skew:           clockSkew,
			identifyTraits: true,
			channel:        "server",
		})
	})
	t.Run("analytics-next/browser", func(t *testing.T) {
		testBrowser(t, r, false)
	})
	t.Run("analytics-next/browser-batching", func(t *testing.T) {
		testBrowser(t, r, true)
	})

	t.Run("nothing quarantined", func(t *testing.T) {
		q := r.quarantine(t)
		for _, e := range q {
			t.Errorf("quarantined: source=%s messageId=%s code=%s reason=%s raw=%s", e.Source, e.MessageID, e.Code, e.Reason, truncate(e.Raw, 600))
		}
	})
	t.Run("no duplicates", func(t *testing.T) {
		seen := map[string]int{}
		for _, e := range r.events(t) {
			seen[e.MessageID]++
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("messageId %s stored %d times", id, n)
			}
		}
	})

	r.stop(t)
}

// ---- Roster -----------------------------------------------------------

type roster struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // of cmd.Wait, once done is closed
}

func requireNode(t *testing.T) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (need Node 20+): skipping the SDK compatibility tests")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@segment", "analytics-node")); err != nil {
		t.Skip("test/compat/node_modules is missing: run `npm ci --prefix test/compat` to install the SDKs, then rerun")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, _ := strconv.Atoi(major); n < 20 {
		t.Skipf("node %s is too old: the SDKs and playwright-core need Node 20+", strings.TrimSpace(string(v)))
	}
}

func startRoster(t *testing.T) *roster {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "roster")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "roster/cmd/roster").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	r := &roster{url: "http://" + addr, logs: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", "--addr", addr, "--data", t.TempDir())
	r.cmd.Env = append(os.Environ(),
		"ROSTER_WRITE_KEY="+writeKey,
		"ROSTER_ACCESS_TOKEN="+accessToken,
		"ROSTER_CONFIG=", "ROSTER_DATABASE_URL=", "ROSTER_ADDR=", "ROSTER_DATA=",
	)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("roster log:\n%s", r.logs.String())
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			t.Fatalf("roster exited before it was ready (%v):\n%s", r.err, r.logs.String())
		default:
		}
		resp, err := client.Get(r.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("roster was not ready within 15s:\n%s", r.logs.String())
	return nil
}

// stop sends SIGTERM and expects a graceful exit with status 0.
func (r *roster) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-r.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("roster did not exit within 40s of SIGTERM:\n%s", r.logs.String())
	}
	if r.err != nil {
		t.Errorf("roster did not exit cleanly after SIGTERM: %v\n%s", r.err, r.logs.String())
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "msg=stopped") {
		t.Errorf("roster log has no graceful stop (msg=stopped):\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, "level=ERROR"):
			t.Errorf("roster logged an error: %s", line)
		case strings.Contains(line, "level=WARN"):
			t.Logf("roster logged a warning: %s", line)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type storedEvent struct {
	Seq        int64           `json:"seq"`
	Source     string          `json:"source"`
	MessageID  string          `json:"messageId"`
	Type       string          `json:"type"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Timestamp  time.Time       `json:"timestamp"`
	Warnings   []string        `json:"warnings"`
	Message    json.RawMessage `json:"message"`
}

type quarantined struct {
	Source    string `json:"source"`
	MessageID string `json:"messageId"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	Raw       string `json:"raw"`
}

// events reads every stored event through the read API, following the
// cursor; newest first.
func (r *roster) events(t *testing.T) []storedEvent {
	t.Helper()
	var all []storedEvent
	readAll(t, r.url+"/v1/workspaces/default/events", func(data json.RawMessage) int {
		var page []storedEvent
		if err := json.Unmarshal(data, &page); err != nil {
			t.Fatalf("events: %v: %s", err, truncate(string(data), 400))
		}
		all = append(all, page...)
		return len(page)
	})
	return all
}

func (r *roster) quarantine(t *testing.T) []quarantined {
	t.Helper()
	var all []quarantined
	readAll(t, r.url+"/v1/workspaces/default/quarantine", func(data json.RawMessage) int {
		var page []quarantined
		if err := json.Unmarshal(data, &page); err != nil {
			t.Fatalf("quarantine: %v: %s", err, truncate(string(data), 400))
		}
		all = append(all, page...)
		return len(page)
	})
	return all
}

func readAll(t *testing.T, base string, add func(json.RawMessage) int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	next := ""
	for range 1000 {
		u := base + "?limit=200"
		if next != "" {
			u += "&next=" + url.QueryEscape(next)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.SetBasicAuth(accessToken, "")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
		}
		var page struct {
			Data   json.RawMessage `json:"data"`
			Cursor struct {
				HasMore bool   `json:"has_more"`
				Next    string `json:"next"`
			} `json:"cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET %s: %v: %s", u, err, truncate(string(body), 400))
		}
		if add(page.Data) == 0 || !page.Cursor.HasMore {
			return
		}
		next = page.Cursor.Next
	}
	t.Fatalf("GET %s: more than 1000 pages", base)
}

// ---- Node SDKs --------------------------------------------------------

// nodeOutput is what segment-node.mjs and rudder-node.mjs print.
type nodeOutput struct {
	Library string `json:"library"`
	Run     string `json:"run"`
	Gzip    bool   `json:"gzip"`
	Sent    struct {
		UserID          string          `json:"userId"`
		PreviousID      string          `json:"previousId"`
		GroupID         string          `json:"groupId"`
		GroupTraitsJSON string          `json:"groupTraitsJSON"`
		IdentifyTraits  json.RawMessage `json:"identifyTraits"`
		Event           string          `json:"event"`
		Properties      json.RawMessage `json:"properties"`
		PageCategory    string          `json:"pageCategory"`
		PageName        string          `json:"pageName"`
		PageProperties  json.RawMessage `json:"pageProperties"`
	} `json:"sent"`
	Calls map[string]struct {
		MessageID string `json:"messageId"`
		Error     string `json:"error"`
	} `json:"calls"`
	Errors []string `json:"errors"`

	// started and finished bound the run in the test's (true) clock.
	started, finished time.Time
}

// runNodeSDK runs a script with the process clock off by skew.
func runNodeSDK(t *testing.T, r *roster, script, run string, skew time.Duration, env ...string) nodeOutput {
	t.Helper()
	env = append(env,
		"ROSTER_URL="+r.url,
		"ROSTER_WRITE_KEY="+writeKey,
		"COMPAT_RUN="+run,
		"COMPAT_CLOCK_SKEW_MS="+strconv.FormatInt(skew.Milliseconds(), 10),
	)
	var out nodeOutput
	out.started = time.Now()
	stdout := runNode(t, env, "--import", "./lib/skew-clock.mjs", script)
	out.finished = time.Now()
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("%s printed no result: %v\n%s", script, err, stdout)
	}
	for _, typ := range []string{"group", "identify", "track", "page", "alias"} {
		c, ok := out.Calls[typ]
		switch {
		case !ok:
			t.Errorf("%s: the %s call was not reported delivered", script, typ)
		case c.Error != "":
			t.Errorf("%s: %s failed in the SDK: %s", script, typ, c.Error)
		case c.MessageID == "":
			t.Errorf("%s: %s: the SDK exposed no messageId", script, typ)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// runNode runs node with args in this directory, bounded in time; the
// process group is killed afterwards so that nothing it started survives.
func runNode(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "COMPAT_SCRIPT_TIMEOUT_MS="+strconv.FormatInt((scriptTimeout-5*time.Second).Milliseconds(), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Start()
	if err != nil {
		t.Fatalf("node %s: %v", strings.Join(args, " "), err)
	}
	err = cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of the group
	if stderr.Len() > 0 {
		t.Logf("node %s stderr:\n%s", args[len(args)-1], stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("node %s: timed out after %s\nstdout:\n%s", args[len(args)-1], scriptTimeout, stdout.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s", args[len(args)-1], err, stdout.String())
	}
	return stdout.Bytes()
}

type nodeExpect struct {
	library, version string
	messageID        string // prefix of SDK messageIds, if any
	skew             time.Duration
	// identifyTraits: the SDK copies identify traits into context.traits.
	identifyTraits bool
	channel        string
}

func checkNodeSDK(t *testing.T, stored []storedEvent, out nodeOutput, want nodeExpect) {
	t.Helper()
	byID := map[string]storedEvent{}
	for _, e := range stored {
		byID[e.MessageID] = e
	}
	if out.Library != want.library {
		t.Errorf("script reported library %q", out.Library)
	}
	if out.Sent.GroupTraitsJSON != groupTraitsJSON {
		t.Fatalf("the script sent other group traits than this test expects:\n got %s\nwant %s", out.Sent.GroupTraitsJSON, groupTraitsJSON)
	}
	for _, typ := range []string{"group", "identify", "track", "page", "alias"} {
		t.Run(typ, func(t *testing.T) {
			id := out.Calls[typ].MessageID
			if !strings.HasPrefix(id, want.messageID) {
				t.Errorf("SDK messageId %q does not start with %q", id, want.messageID)
			}
			e, ok := byID[id]
			if !ok {
				t.Fatalf("no stored event has the SDK's messageId %s (%d events stored)", id, len(stored))
			}
			m := decodeMessage(t, e)
			checkEnvelope(t, e, m, typ, id)
			if got := m.str("userId"); got != out.Sent.UserID {
				t.Errorf("userId = %q, want %q", got, out.Sent.UserID)
			}
			if got := m.str("context", "library", "name"); got != want.library {
				t.Errorf("context.library.name = %q, want %q", got, want.library)
			}
			if got := m.str("context", "library", "version"); got != want.version {
				t.Errorf("context.library.version = %q, want %q", got, want.version)
			}
			if want.channel != "" {
				if got := m.str("channel"); got != want.channel {
					t.Errorf("channel = %q, want %q", got, want.channel)
				}
			}
			checkTimes(t, e, m, out.started, out.finished, want.skew)

			switch typ {
			case "group":
				if got := m.str("groupId"); got != out.Sent.GroupID {
					t.Errorf("groupId = %q, want %q", got, out.Sent.GroupID)
				}
				if got := string(m.raw("traits")); got != groupTraitsJSON {
					t.Errorf("traits not kept verbatim:\n got %s\nwant %s", got, groupTraitsJSON)
				}
				if len(e.Warnings) > 0 {
					t.Errorf("warnings on valid group traits: %q", e.Warnings)
				}
			case "identify":
				sameJSON(t, "traits", m.raw("traits"), out.Sent.IdentifyTraits)
				if want.identifyTraits {
					sameJSON(t, "context.traits", m.raw("context", "traits"), out.Sent.IdentifyTraits)
				}
				if len(e.Warnings) > 0 {
					t.Errorf("warnings on valid identify traits: %q", e.Warnings)
				}
			case "track":
				if got := m.str("event"); got != out.Sent.Event {
					t.Errorf("event = %q, want %q", got, out.Sent.Event)
				}
				sameJSON(t, "properties", m.raw("properties"), out.Sent.Properties)
			case "page":
				if got := m.str("name"); got != out.Sent.PageName {
					t.Errorf("name = %q, want %q", got, out.Sent.PageName)
				}
				if got := m.str("category"); got != out.Sent.PageCategory {
					t.Errorf("category = %q, want %q", got, out.Sent.PageCategory)
				}
				// analytics-node also copies category into properties.
				containsJSON(t, "properties", m.raw("properties"), out.Sent.PageProperties)
			case "alias":
				if got := m.str("previousId"); got != out.Sent.PreviousID {
					t.Errorf("previousId = %q, want %q", got, out.Sent.PreviousID)
				}
			}
		})
	}
}

// message is a stored normalized event, its members undecoded.
type message map[string]json.RawMessage

func decodeMessage(t *testing.T, e storedEvent) message {
	t.Helper()
	var m message
	if err := json.Unmarshal(e.Message, &m); err != nil {
		t.Fatalf("stored message is not a JSON object: %v: %s", err, e.Message)
	}
	return m
}

func (m message) raw(path ...string) json.RawMessage {
	cur := m
	for i, p := range path {
		v, ok := cur[p]
		if !ok {
			return nil
		}
		if i == len(path)-1 {
			return v
		}
		cur = nil
		if json.Unmarshal(v, &cur) != nil {
			return nil
		}
	}
	return nil
}

func (m message) str(path ...string) string {
	var s string
	json.Unmarshal(m.raw(path...), &s) //nolint:errcheck // absent or not a string: ""
	return s
}

func (m message) time(t *testing.T, name string) time.Time {
	t.Helper()
	s := m.str(name)
	if s == "" {
		t.Fatalf("stored message has no %s: %s", name, mustJSON(m))
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// checkEnvelope checks what every stored event has, whatever the SDK.
func checkEnvelope(t *testing.T, e storedEvent, m message, typ, id string) {
	t.Helper()
	if e.Type != typ || m.str("type") != typ {
		t.Errorf("type = %q (message %q), want %q", e.Type, m.str("type"), typ)
	}
	if e.MessageID != id || m.str("messageId") != id {
		t.Errorf("messageId = %q (message %q), want %q", e.MessageID, m.str("messageId"), id)
	}
	if e.Source != "default" {
		t.Errorf("source = %q, want default", e.Source)
	}
	if _, ok := m["writeKey"]; ok {
		t.Errorf("the write key was stored in the message: %s", truncate(string(e.Message), 600))
	}
}

// checkTimes checks receivedAt and the corrected timestamp. The client's
// clock was off by skew, so its own time (kept as originalTimestamp) is off
// by about skew, while timestamp = receivedAt - (sentAt - originalTimestamp)
// must land back in the true time of the run.
func checkTimes(t *testing.T, e storedEvent, m message, started, finished time.Time, skew time.Duration) {
	t.Helper()
	const slack = 2 * time.Second
	received := m.time(t, "receivedAt")
	ts := m.time(t, "timestamp")
	orig := m.time(t, "originalTimestamp")
	sent := m.time(t, "sentAt")
	if !received.Equal(e.ReceivedAt) || !ts.Equal(e.Timestamp) {
		t.Errorf("the event's receivedAt/timestamp (%s, %s) differ from its message's (%s, %s)", e.ReceivedAt, e.Timestamp, received, ts)
	}
	if received.Before(started.Add(-slack)) || received.After(finished.Add(slack)) {
		t.Errorf("receivedAt %s is outside the run [%s, %s]", received.Format(time.RFC3339Nano), started.Format(time.RFC3339Nano), finished.Format(time.RFC3339Nano))
	}
	if want := received.Add(-sent.Sub(orig)); !ts.Equal(want) {
		t.Errorf("timestamp = %s, want receivedAt - (sentAt - originalTimestamp) = %s - (%s - %s) = %s",
			ts.Format(time.RFC3339Nano), received.Format(time.RFC3339Nano), sent.Format(time.RFC3339Nano), orig.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
	if ts.Before(started.Add(-slack)) || ts.After(received) {
		t.Errorf("timestamp %s was not corrected into the run [%s, receivedAt %s] (client clock off by %s)",
			ts.Format(time.RFC3339Nano), started.Format(time.RFC3339Nano), received.Format(time.RFC3339Nano), skew)
	}
	if d := orig.Sub(received) - skew; d < -10*time.Second || d > 10*time.Second {
		t.Errorf("originalTimestamp %s is not the client's skewed time (receivedAt %s, skew %s)", orig.Format(time.RFC3339Nano), received.Format(time.RFC3339Nano), skew)
	}
}

func sameJSON(t *testing.T, name string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %v: %s", name, err, got)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Errorf("%s: sent value: %v", name, err)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", name, got, want)
	}
}

// containsJSON checks that the object got has every member of want.
func containsJSON(t *testing.T, name string, got, want json.RawMessage) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %v: %s", name, err, got)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Errorf("%s: sent value: %v", name, err)
		return
	}
	for k, v := range w {
		if !reflect.DeepEqual(g[k], v) {
			t.Errorf("%s = %s, want the members of %s", name, got, want)
			return
		}
	}
}

func packageVersion(t *testing.T, pkg string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("node_modules", filepath.FromSlash(pkg), "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s/package.json: %v", pkg, err)
	}
	return p.Version
}

// ---- Browser ----------------------------------------------------------

type browserOutput struct {
	Library string `json:"library"`
	Run     string `json:"run"`
	UserID  string `json:"userId"`
	Calls   map[string]struct {
		MessageID   string `json:"messageId"`
		AnonymousID string `json:"anonymousId"`
		Error       string `json:"error"`
	} `json:"calls"`
	Requests []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Status int    `json:"status"`
	} `json:"requests"`
	Preflights []struct {
		Method          string            `json:"method"`
		URL             string            `json:"url"`
		Status          int               `json:"status"`
		Headers         map[string]string `json:"headers"`
		ResponseHeaders map[string]string `json:"responseHeaders"`
		Error           string            `json:"error"`
	} `json:"preflights"`
	Console        []string `json:"console"`
	PageErrors     []string `json:"pageErrors"`
	FailedRequests []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Error  string `json:"error"`
	} `json:"failedRequests"`
	Error string `json:"error"`
}

// testBrowser loads browser/page.html from a test server (one origin) in
// Chromium; the page loads analytics.js with cdnURL pointing at Roster
// (another origin), which serves the settings and takes the calls: one
// POST per call to /v1/{i,g,t}, or with batching one POST to /v1/b.
func testBrowser(t *testing.T, r *roster, batching bool) {
	chromium := "/usr/bin/chromium"
	if p := os.Getenv("COMPAT_CHROMIUM"); p != "" {
		chromium = p
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is missing: skipping the analytics.js browser test (install it with: apt-get install -y chromium)", chromium)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		t.Skip("node_modules/playwright-core is missing: run `npm ci --prefix test/compat`")
	}
	bundleDir := filepath.Join("node_modules", "@segment", "analytics-next", "dist", "umd")
	if _, err := os.Stat(filepath.Join(bundleDir, "index.js")); err != nil {
		t.Fatalf("analytics-next browser build not found: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "page.html"))
	})
	mux.Handle("GET /analytics-next/", http.StripPrefix("/analytics-next/", http.FileServer(http.Dir(bundleDir))))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	site := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site.Listener.Close()
	site.Listener = ln
	site.Start()
	defer site.Close()

	run := "browser"
	q := url.Values{"writeKey": {writeKey}, "cdn": {r.url}}
	if batching {
		run = "browser-batching"
		q.Set("batching", "1")
	}
	q.Set("run", run)
	pageURL := site.URL + "/?" + q.Encode()
	started := time.Now()
	stdout := runNode(t, []string{"COMPAT_PAGE_URL=" + pageURL, "COMPAT_CHROMIUM=" + chromium}, "browser.mjs")
	var out browserOutput
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("browser.mjs printed no result: %v\n%s", err, stdout)
	}
	defer func() {
		if t.Failed() {
			t.Logf("browser.mjs output:\n%s", stdout)
		}
	}()
	if out.Error != "" {
		t.Fatalf("page failed: %s", out.Error)
	}
	for _, e := range out.PageErrors {
		t.Errorf("uncaught error in the page: %s", e)
	}
	for _, c := range out.Console {
		if strings.Contains(c, "CORS") || strings.Contains(c, "analytics") || strings.Contains(c, "Failed") {
			t.Errorf("browser console: %s", c)
		}
	}
	for _, f := range out.FailedRequests {
		t.Errorf("request failed in the browser: %s %s: %s", f.Method, f.URL, f.Error)
	}

	// Every request stays on 127.0.0.1: the settings Roster serves must not
	// make analytics.js call Segment's CDN or API.
	var settings int
	posts := map[string]int{}
	for _, req := range out.Requests {
		u, err := url.Parse(req.URL)
		if err != nil || u.Hostname() != "127.0.0.1" {
			t.Errorf("the page called outside 127.0.0.1: %s %s (%d)", req.Method, req.URL, req.Status)
			continue
		}
		if !strings.HasPrefix(req.URL, r.url+"/") {
			continue
		}
		switch {
		case req.Method == http.MethodGet && u.Path == "/v1/projects/"+writeKey+"/settings":
			settings++
		case req.Method == http.MethodPost:
			posts[u.Path]++
		}
		if req.Status < 200 || req.Status > 299 {
			t.Errorf("Roster answered %d to the browser's %s %s", req.Status, req.Method, req.URL)
		}
	}
	if settings != 1 {
		t.Errorf("analytics.js fetched its settings from Roster %d times, want 1", settings)
	}
	wantPosts := []string{"/v1/i", "/v1/g", "/v1/t"}
	if batching {
		wantPosts = []string{"/v1/b"}
	}
	for _, p := range wantPosts {
		if posts[p] == 0 {
			t.Errorf("analytics.js sent no POST %s to Roster (it sent %v)", p, posts)
		}
	}
	// analytics.js sends Authorization, so the POSTs are preflighted.
	preflights := 0
	for _, p := range out.Preflights {
		if !strings.HasPrefix(p.URL, r.url+"/") {
			continue
		}
		preflights++
		if p.Error != "" || p.Status < 200 || p.Status > 299 {
			t.Errorf("CORS preflight %s %s failed: status %d %s (response headers %v)", p.Method, p.URL, p.Status, p.Error, p.ResponseHeaders)
		}
	}
	if preflights == 0 {
		t.Errorf("no CORS preflight to Roster was seen; the page and Roster must be on different origins")
	}

	for _, typ := range []string{"identify", "group", "track"} {
		c, ok := out.Calls[typ]
		switch {
		case !ok:
			t.Fatalf("the page did not record the %s call", typ)
		case c.Error != "":
			t.Errorf("analytics.js reported the %s call undelivered: %s", typ, c.Error)
		case !strings.HasPrefix(c.MessageID, "ajs-next-"):
			t.Errorf("%s: messageId %q is not analytics.js's", typ, c.MessageID)
		}
	}

	// Roster acknowledged the POSTs, so the events should be there; poll a
	// little in case of any delivery lag.
	want := map[string]string{}
	for typ, c := range out.Calls {
		want[c.MessageID] = typ
	}
	found := map[string]storedEvent{}
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range r.events(t) {
			if _, ok := want[e.MessageID]; ok {
				found[e.MessageID] = e
			}
		}
		if len(found) == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	finished := time.Now()
	version := packageVersion(t, "@segment/analytics-next")
	for _, typ := range []string{"identify", "group", "track"} {
		t.Run(typ, func(t *testing.T) {
			c := out.Calls[typ]
			e, ok := found[c.MessageID]
			if !ok {
				t.Fatalf("the %s call (messageId %s) was not stored within 15s", typ, c.MessageID)
			}
			m := decodeMessage(t, e)
			checkEnvelope(t, e, m, typ, c.MessageID)
			if got := m.str("userId"); got != out.UserID {
				t.Errorf("userId = %q, want %q", got, out.UserID)
			}
			if got := m.str("anonymousId"); got == "" || got != c.AnonymousID {
				t.Errorf("anonymousId = %q, want %q", got, c.AnonymousID)
			}
			if got := m.str("context", "library", "name"); got != "analytics.js" {
				t.Errorf("context.library.name = %q, want analytics.js", got)
			}
			if got := m.str("context", "library", "version"); !strings.HasSuffix(got, "next-"+version) {
				t.Errorf("context.library.version = %q, want …next-%s", got, version)
			}
			if got := m.str("context", "page", "url"); got != pageURL {
				t.Errorf("context.page.url = %q, want %q", got, pageURL)
			}
			if got := m.str("context", "userAgent"); !strings.Contains(got, "Chrome") {
				t.Errorf("context.userAgent = %q, want Chromium's", got)
			}
			// Same clock in the browser and here: no skew to correct, but the
			// correction must still hold exactly.
			checkTimes(t, e, m, started, finished, 0)
			switch typ {
			case "group":
				if got := m.str("groupId"); got != "acme" {
					t.Errorf("groupId = %q, want acme", got)
				}
				if got := string(m.raw("traits")); got != `{"name":"Acme"}` {
					t.Errorf("traits = %s, want {\"name\":\"Acme\"}", got)
				}
			case "identify":
				sameJSON(t, "traits", m.raw("traits"), json.RawMessage(`{"email":"ada@acme.example"}`))
			case "track":
				if got := m.str("event"); got != "Clicked" {
					t.Errorf("event = %q, want Clicked", got)
				}
			}
		})
	}
}

// ---- helpers ----------------------------------------------------------

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
