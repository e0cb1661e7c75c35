package compat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleInBrowser drives the web console in headless Chromium
// (console.mjs): sign in, an account sent by @segment/analytics-node with
// its traits, members and trait history, a member's page, the debugger
// receiving a call sent after it opened, the playground sending a group
// call, a hostile trait value shown as text, and pages 360 px wide.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against the roster binary; skipped with -short")
	}
	requireNode(t)
	chromium := "/usr/bin/chromium"
	if p := os.Getenv("COMPAT_CHROMIUM"); p != "" {
		chromium = p
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is missing: skipping the console browser test (install it with: apt-get install -y chromium)", chromium)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		t.Skip("node_modules/playwright-core is missing: run `npm ci --prefix test/compat`")
	}
	r := startRoster(t)
	stdout := runNode(t, []string{"ROSTER_URL=" + r.url, "ROSTER_WRITE_KEY=" + writeKey, "ROSTER_ACCESS_TOKEN=" + accessToken,
		"COMPAT_RUN=console", "COMPAT_CHROMIUM=" + chromium}, "console.mjs")
	var out struct {
		Checks   []string `json:"checks"`
		Failures []string `json:"failures"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("console.mjs printed no result: %v\n%s", err, stdout)
	}
	for _, c := range out.Checks {
		t.Logf("ok: %s", c)
	}
	for _, f := range out.Failures {
		t.Errorf("console: %s", f)
	}
	if len(out.Checks) < 20 {
		t.Errorf("only %d checks ran", len(out.Checks))
	}
	if strings.Contains(r.logs.String(), accessToken) {
		t.Errorf("the access token is in roster's log")
	}
	r.stop(t)
}
