package config

import (
	"slices"
	"strings"
	"testing"
)

func TestProfileAPISettings(t *testing.T) {
	c, err := Load(write(t, `
workspaces:
  - id: default
  - id: acme
    profileAPI: {idTypes: [user_id], rateLimit: 100}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Workspace("default").ProfileAPI.UserIDTypes(); !slices.Equal(got, []string{"user_id", "anonymous_id", "email"}) {
		t.Errorf("default id types = %v, want user_id, anonymous_id and email", got)
	}
	if p := c.Workspace("acme").ProfileAPI; !slices.Equal(p.UserIDTypes(), []string{"user_id"}) || p.RateLimit != 100 {
		t.Errorf("acme profile API = %+v", p)
	}
	for body, want := range map[string]string{
		"workspaces: [{id: a, profileAPI: {idTypes: [phone]}}]": "workspaces[0].profileAPI.idTypes[0]",
		"workspaces: [{id: a, profileAPI: {rateLimit: -1}}]":    "workspaces[0].profileAPI.rateLimit",
	} {
		if _, err := Load(write(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", body, err, want)
		}
	}
}
