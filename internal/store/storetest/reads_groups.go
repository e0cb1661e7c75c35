package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"roster/internal/store"
)

func testGroup(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	f.group("a", 1, "m-first-acme", `"userId":"u1"`, "acme", `{"name":"Acme Inc"}`)
	f.group("a", 2, "a2", `"userId":"u2"`, "acme", "")
	f.log("a", "server", 5, "group", "m-last-acme", `"userId":"u2","groupId":"acme"`)
	// Activity attributed by context.groupId: a group without members.
	f.log("a", "web", 2, "track", "m-first-empty", `"userId":"u1","event":"Viewed","context":{"groupId":"empty"}`)
	f.log("a", "server", 2, "track", "m-last-empty", `"userId":"u1","event":"Viewed","context":{"groupId":"empty"}`)
	f.group("b", 3, "m-first-acme", `"userId":"u9"`, "acme", `{"name":"Other Acme"}`)
	f.log("b", "server", 4, "group", "m-last-acme", `"userId":"u9","groupId":"acme"`)
	f.apply()
	ctx := context.Background()

	tests := []struct {
		ws, id  string
		want    store.Group
		missing bool
	}{
		{ws: "a", id: "acme", want: store.Group{Workspace: "a", ID: "acme", Members: 2, Activity: store.Activity{
			FirstSeen: minute(1), LastSeen: minute(5),
			FirstMessageID: "m-first-acme", FirstSource: "web", LastMessageID: "m-last-acme", LastSource: "server"}}},
		{ws: "a", id: "empty", want: store.Group{Workspace: "a", ID: "empty", Members: 0, Activity: store.Activity{
			FirstSeen: minute(2), LastSeen: minute(2),
			FirstMessageID: "m-first-empty", FirstSource: "web", LastMessageID: "m-last-empty", LastSource: "server"}}},
		{ws: "b", id: "acme", want: store.Group{Workspace: "b", ID: "acme", Members: 1, Activity: store.Activity{
			FirstSeen: minute(3), LastSeen: minute(4),
			FirstMessageID: "m-first-acme", FirstSource: "web", LastMessageID: "m-last-acme", LastSource: "server"}}},
		{ws: "a", id: "nope", missing: true},
		{ws: "b", id: "empty", missing: true}, // exists in another workspace only
		{ws: "a", id: "ACME", missing: true},  // ids are case-sensitive
	}
	for _, tc := range tests {
		t.Run(tc.ws+"/"+tc.id, func(t *testing.T) {
			got, err := s.Group(ctx, tc.ws, tc.id)
			if tc.missing {
				wantNotFound(t, "Group", err)
				return
			}
			if err != nil {
				t.Fatalf("Group: %v", err)
			}
			if got != tc.want {
				t.Errorf("Group = %+v\nwant   %+v", got, tc.want)
			}
			if got.FirstSeen.Location() != time.UTC {
				t.Errorf("FirstSeen in %v, want UTC", got.FirstSeen.Location())
			}
		})
	}
}

func testGroupTraits(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	// Sent out of key order; the object keeps the spaces it was sent with.
	f.group("a", 3, "m3", `"userId":"u1"`, "acme", `{"plan":"enterprise"}`)
	f.group("a", 2, "m2", `"userId":"u1"`, "acme", `{"address":{"city": "Paris", "zip":"75001"}}`)
	f.group("a", 4, "m4", `"userId":"u1"`, "acme", `{"employees":329}`)
	f.group("a", 5, "m5", `"userId":"u1"`, "acme", `{"createdAt":null}`)
	f.group("a", 1, "m1", `"userId":"u1"`, "bare", "")
	// Tier is no reserved trait: it keeps the spelling it was sent with.
	f.group("b", 6, "m6", `"userId":"u1"`, "acme", `{"Tier":"free"}`)
	f.apply()
	ctx := context.Background()

	got, err := s.GroupTraits(ctx, "a", "acme")
	if err != nil {
		t.Fatalf("GroupTraits: %v", err)
	}
	trait := func(key, name, value string, at int, msg string) store.Trait {
		return store.Trait{Key: key, Name: name, Value: json.RawMessage(value), UpdatedAt: minute(at), Seq: f.seq("a", msg), Source: "web", MessageID: msg}
	}
	want := []store.Trait{
		trait("address", "address", `{"city": "Paris", "zip":"75001"}`, 2, "m2"),
		trait("createdat", "createdAt", `null`, 5, "m5"),
		trait("employees", "employees", `329`, 4, "m4"),
		trait("plan", "plan", `"enterprise"`, 3, "m3"),
	}
	if !equalTraits(got, want) {
		t.Errorf("GroupTraits(a, acme) =\n%s\nwant\n%s", fmtTraits(got), fmtTraits(want))
	}

	got, err = s.GroupTraits(ctx, "b", "acme")
	if err != nil || len(got) != 1 || string(got[0].Value) != `"free"` || got[0].Name != "Tier" {
		t.Errorf("GroupTraits(b, acme) = %s, %v; want only Tier=\"free\"", fmtTraits(got), err)
	}
	got, err = s.GroupTraits(ctx, "a", "bare")
	if err != nil || len(got) != 0 {
		t.Errorf("GroupTraits of a group without traits = %s, %v; want none, no error", fmtTraits(got), err)
	}
	_, err = s.GroupTraits(ctx, "a", "nope")
	wantNotFound(t, "GroupTraits(nope)", err)
	_, err = s.GroupTraits(ctx, "b", "bare")
	wantNotFound(t, "GroupTraits(other workspace)", err)
}

func testGroupMembers(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	users := []string{"u3", "u1", "u5", "u2", "u4"}
	for i, u := range users {
		f.group("a", i, fmt.Sprintf("%s-first", u), `"userId":`+js(u), "acme", "")
		f.group("a", i+10, fmt.Sprintf("%s-last", u), `"userId":`+js(u), "acme", "")
	}
	f.group("b", 1, "b1", `"userId":"u0"`, "acme", "")
	f.group("a", 1, "o1", `"userId":"u1"`, "other", "")
	f.log("a", "web", 1, "track", "l1", `"userId":"u9","event":"Viewed","context":{"groupId":"lonely"}`)
	f.apply()
	ctx := context.Background()

	// Members are ordered by user key, which the engine derives from the
	// ids; what the pages must hold follows from the keys it gave.
	key := map[string]string{}
	for _, u := range append(users, "u0") {
		ws := "a"
		if u == "u0" {
			ws = "b"
		}
		k, err := s.ResolveUser(ctx, ws, store.IDUserID, u)
		if err != nil {
			t.Fatalf("ResolveUser(%s): %v", u, err)
		}
		key[u] = k
	}
	var k []string
	for _, u := range users {
		k = append(k, key[u])
	}
	slices.Sort(k)
	// A key between the second and third, as "u25" is between "u2" and "u3".
	notMember := k[1] + "5"
	if notMember >= k[2] {
		t.Fatalf("user keys %v: no key between the second and third", k)
	}

	tests := []struct {
		name      string
		ws, group string
		after     string
		limit     int
		want      []string
		missing   bool
	}{
		{name: "first page", ws: "a", group: "acme", limit: 2, want: k[0:2]},
		{name: "second page", ws: "a", group: "acme", after: k[1], limit: 2, want: k[2:4]},
		{name: "last page", ws: "a", group: "acme", after: k[3], limit: 2, want: k[4:]},
		{name: "past the end", ws: "a", group: "acme", after: k[4], limit: 2, want: nil},
		{name: "after a key that is not a member", ws: "a", group: "acme", after: notMember, limit: 10, want: k[2:]},
		{name: "no limit is a default page", ws: "a", group: "acme", limit: 0, want: k},
		{name: "other workspace", ws: "b", group: "acme", limit: 10, want: []string{key["u0"]}},
		{name: "group without members", ws: "a", group: "lonely", limit: 10, want: nil},
		{name: "missing group", ws: "a", group: "nope", limit: 10, missing: true},
		{name: "group only in another workspace", ws: "b", group: "lonely", limit: 10, missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GroupMembers(ctx, tc.ws, tc.group, tc.after, tc.limit)
			if tc.missing {
				wantNotFound(t, "GroupMembers", err)
				return
			}
			if err != nil {
				t.Fatalf("GroupMembers: %v", err)
			}
			var keys []string
			for _, m := range got {
				keys = append(keys, m.UserKey)
				if m.GroupID != tc.group {
					t.Errorf("membership %+v has GroupID %q, want %q", m, m.GroupID, tc.group)
				}
			}
			if !slices.Equal(keys, tc.want) {
				t.Errorf("members = %v, want %v", keys, tc.want)
			}
		})
	}

	// u3 joined first: minute 0 .. minute 10.
	got, err := s.GroupMembers(ctx, "a", "acme", key["u2"], 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("GroupMembers: %v, %v", got, err)
	}
	if want := (store.Membership{GroupID: "acme", UserKey: key["u3"], FirstSeen: minute(0), LastSeen: minute(10)}); got[0] != want {
		t.Errorf("membership = %+v, want %+v", got[0], want)
	}
}

func testTraitHistory(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	// tier is no reserved trait, so that each write keeps its spelling.
	f.group("a", 10, "m10", `"userId":"u1"`, "acme", `{"tier":"free","name":"Acme"}`)
	f.group("a", 20, "m20", `"userId":"u1"`, "acme", `{"Tier":"pro"}`)
	f.group("a", 30, "m30", `"userId":"u1"`, "acme", `{"employees":12,"name":"Acme Inc","tier":"enterprise"}`)
	f.group("a", 40, "m40", `"userId":"u1"`, "acme", `{"createdAt":"2020-01-01"}`)
	f.group("a", 1, "q1", `"userId":"u1"`, "quiet", "")
	f.group("b", 50, "m50", `"userId":"u1"`, "acme", `{"tier":"other"}`)
	f.apply()
	ctx := context.Background()
	seq := func(msg string) int64 { return f.seq("a", msg) }

	tests := []struct {
		name      string
		ws, group string
		key       string
		before    int64
		limit     int
		want      []string // messageId/key
		missing   bool
	}{
		{name: "all", ws: "a", group: "acme", limit: 100,
			want: []string{"m40/createdat", "m30/employees", "m30/name", "m30/tier", "m20/tier", "m10/name", "m10/tier"}},
		{name: "page ending inside a seq takes the whole seq", ws: "a", group: "acme", limit: 2,
			want: []string{"m40/createdat", "m30/employees", "m30/name", "m30/tier"}},
		{name: "next page", ws: "a", group: "acme", before: seq("m30"), limit: 2,
			want: []string{"m20/tier", "m10/name", "m10/tier"}},
		{name: "page ending on a seq boundary", ws: "a", group: "acme", limit: 4,
			want: []string{"m40/createdat", "m30/employees", "m30/name", "m30/tier"}},
		{name: "one seq larger than the limit", ws: "a", group: "acme", before: seq("m40"), limit: 1,
			want: []string{"m30/employees", "m30/name", "m30/tier"}},
		{name: "before the oldest", ws: "a", group: "acme", before: seq("m10"), limit: 10, want: nil},
		{name: "one key", ws: "a", group: "acme", key: "tier", limit: 10,
			want: []string{"m30/tier", "m20/tier", "m10/tier"}},
		{name: "one key, spelled unfolded", ws: "a", group: "acme", key: "Created_At", limit: 10,
			want: []string{"m40/createdat"}},
		{name: "one key, paged", ws: "a", group: "acme", key: "tier", before: seq("m30"), limit: 1,
			want: []string{"m20/tier"}},
		{name: "unknown key", ws: "a", group: "acme", key: "nope", limit: 10, want: nil},
		{name: "other workspace", ws: "b", group: "acme", limit: 10, want: []string{"m50/tier"}},
		{name: "group without history", ws: "a", group: "quiet", limit: 10, want: nil},
		{name: "missing group", ws: "a", group: "nope", limit: 10, missing: true},
		{name: "group only in another workspace", ws: "b", group: "quiet", limit: 10, missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TraitHistory(ctx, tc.ws, tc.group, tc.key, tc.before, tc.limit)
			if tc.missing {
				wantNotFound(t, "TraitHistory", err)
				return
			}
			if err != nil {
				t.Fatalf("TraitHistory: %v", err)
			}
			var ids []string
			for _, c := range got {
				ids = append(ids, fmt.Sprintf("%s/%s", f.msgs[c.Seq], c.Key))
				if c.MessageID != f.msgs[c.Seq] {
					t.Errorf("change %+v: seq %d is message %s", c, c.Seq, f.msgs[c.Seq])
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("changes = %v, want %v", ids, tc.want)
			}
		})
	}

	got, err := s.TraitHistory(ctx, "a", "acme", "tier", 0, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("TraitHistory: %v, %v", got, err)
	}
	first, latest := got[2], got[0]
	if first.Old != nil {
		t.Errorf("first change Old = %q, want nil", first.Old)
	}
	if string(first.New) != `"free"` || first.MessageID != "m10" || !first.Timestamp.Equal(minute(10)) || first.Timestamp.Location() != time.UTC {
		t.Errorf("first change = %+v", first)
	}
	if string(latest.Old) != `"pro"` || string(latest.New) != `"enterprise"` || latest.Name != "tier" {
		t.Errorf("latest change = %+v", latest)
	}
	if got[1].Name != "Tier" {
		t.Errorf("change m20 Name = %q, want the spelling of that write, Tier", got[1].Name)
	}
}
