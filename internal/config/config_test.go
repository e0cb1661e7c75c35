package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "roster.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFull(t *testing.T) {
	c, err := Load(write(t, `
workspaces:
  - id: default
    sources:      [{name: web, writeKey: "wk_1"}]
    accessTokens: [{name: ops, token: "tok_1"}]
    destinations:
      - {name: Webhook, type: webhook, enabled: true, settings: {url: "http://127.0.0.1:9000/hook", secret: "s"}}
      - {name: Mixpanel, type: mixpanel, settings: {projectToken: "p", groupKey: "company"}}
  - id: acme
    sources: [{name: ios, writeKey: "wk_2"}]
limits: {maxMessageBytes: 1000, maxBatchBytes: 5000, maxBatchMessages: 10}
dedupWindow: 48h
publicURL: https://collect.example.com
metrics: {token: "mt_1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Workspaces) != 2 || c.Workspace("acme").Sources[0].WriteKey != "wk_2" {
		t.Errorf("workspaces = %+v", c.Workspaces)
	}
	if d := c.Workspace("default").Destinations; len(d) != 2 || d[0].Settings["url"] != "http://127.0.0.1:9000/hook" || *d[0].Enabled != true {
		t.Errorf("destinations = %+v", d)
	}
	if c.Limits != (Limits{1000, 5000, 10}) {
		t.Errorf("limits = %+v", c.Limits)
	}
	if time.Duration(c.DedupWindow) != 48*time.Hour || c.PublicURL != "https://collect.example.com" {
		t.Errorf("dedupWindow = %v, publicURL = %q", c.DedupWindow, c.PublicURL)
	}
	if c.Metrics.Token != "mt_1" {
		t.Errorf("metrics.token = %q", c.Metrics.Token)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != DefaultLimits {
		t.Errorf("limits = %+v, want Segment's %+v", c.Limits, DefaultLimits)
	}
	if c.Workspace(DefaultWorkspace) == nil {
		t.Error("the default workspace is missing")
	}
}

func TestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "workspaces: [{id: a, sorces: []}]", "sorces"},
		{"missing id", "workspaces: [{sources: []}]", "workspaces[0].id"},
		{"duplicate workspace", "workspaces: [{id: a}, {id: a}]", "workspaces[1].id"},
		{"source without key", "workspaces: [{id: a, sources: [{name: web}]}]", "workspaces[0].sources[0].writeKey"},
		{"source without name", "workspaces: [{id: a, sources: [{writeKey: k}]}]", "workspaces[0].sources[0].name"},
		{"key used twice", "workspaces: [{id: a, sources: [{name: web, writeKey: k}]}, {id: b, sources: [{name: ios, writeKey: k}]}]", "workspaces[1].sources[0].writeKey"},
		{"empty token", "workspaces: [{id: a, accessTokens: [{name: ops}]}]", "workspaces[0].accessTokens[0].token"},
		{"bad duration", "dedupWindow: a day", "not a duration"},
		{"message limit above batch limit", "limits: {maxMessageBytes: 10, maxBatchBytes: 5}", "limits.maxMessageBytes"},
		{"not yaml", "workspaces: [", "yaml"},
		{"destination without name", "workspaces: [{id: a, destinations: [{type: webhook}]}]", "workspaces[0].destinations[0].name"},
		{"destination without type", "workspaces: [{id: a, destinations: [{name: Hook}]}]", "workspaces[0].destinations[0].type"},
		{"destination named twice", "workspaces: [{id: a, destinations: [{name: Hook, type: webhook}, {name: hook, type: webhook}]}]", "workspaces[0].destinations[1].name"},
		{"destination call type", "workspaces: [{id: a, destinations: [{name: Hook, type: webhook, types: [group, grop]}]}]", "workspaces[0].destinations[0].types[1]"},
		{"destination unknown field", "workspaces: [{id: a, destinations: [{name: Hook, type: webhook, setings: {}}]}]", "setings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := Load(write("retention: {events: 400d, archive: /var/roster/archive}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Retention.Events) != 400*24*time.Hour || c.Retention.Archive != "/var/roster/archive" {
		t.Errorf("retention = %+v, want 400 days in /var/roster/archive", c.Retention)
	}
	if c, err := Load(write("dedupWindow: 24h\n")); err != nil || c.Retention.Events != 0 {
		t.Errorf("without the setting: %+v, %v; want no retention", c.Retention, err)
	}
	for _, bad := range []string{"retention: {events: 2h}\n", "retention: {events: -1d}\n", "retention: {events: soon}\n", "dedupWindow: 240h\nretention: {events: 5d}\n"} {
		if _, err := Load(write(bad)); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
