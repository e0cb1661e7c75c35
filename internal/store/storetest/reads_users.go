package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"roster/internal/store"
)

func testUsers(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	// Alice of workspace a: an anonymous visitor (anon-2) in g2 then g1,
	// merged into the profile that an identify gave alice and anon-1.
	f.group("a", 1, "m-first-k1", `"anonymousId":"anon-2"`, "g2", "")
	f.group("a", 2, "m2", `"anonymousId":"anon-2"`, "g2", "")
	f.group("a", 3, "m3", `"anonymousId":"anon-2"`, "g1", "")
	f.group("a", 4, "m4g", `"anonymousId":"anon-2"`, "g1", "")
	f.log("a", "web", 4, "identify", "m4", `"anonymousId":"anon-2","traits":{"name":"Alice"}`)
	f.log("a", "web", 5, "identify", "m5", `"anonymousId":"anon-1","userId":"alice"`)
	f.log("a", "web", 6, "identify", "m6", `"anonymousId":"anon-2","userId":"alice","traits":{"email":"a@example.com"}`)
	f.log("a", "server", 9, "track", "m-last-k1", `"userId":"alice","event":"Clicked"`)
	f.group("a", 3, "c3", `"userId":"carol"`, "g1", "")
	f.group("a", 4, "c4", `"userId":"carol"`, "g1", "")
	// Another alice in workspace b.
	f.log("b", "web", 3, "identify", "b3", `"userId":"alice","traits":{"name":"Other"}`)
	f.group("b", 3, "b3g", `"userId":"alice"`, "g9", "")
	f.group("b", 4, "b4g", `"userId":"alice"`, "g9", "")
	f.apply()
	ctx := context.Background()
	resolve := func(ws, typ, id string) string {
		t.Helper()
		k, err := s.ResolveUser(ctx, ws, typ, id)
		if err != nil {
			t.Fatalf("ResolveUser(%s, %s:%s): %v", ws, typ, id, err)
		}
		return k
	}
	k1, k2, bk1 := resolve("a", store.IDUserID, "alice"), resolve("a", store.IDUserID, "carol"), resolve("b", store.IDUserID, "alice")

	t.Run("ResolveUser", func(t *testing.T) {
		tests := []struct {
			ws, typ, id string
			want        string
		}{
			{"a", store.IDUserID, "alice", k1},
			{"a", store.IDAnonymousID, "anon-1", k1},
			{"a", store.IDAnonymousID, "anon-2", k1}, // merged in
			{"b", store.IDUserID, "alice", bk1},
			{"a", store.IDUserID, "bob", ""},
			{"a", store.IDAnonymousID, "alice", ""}, // right id, wrong type
			{"b", store.IDAnonymousID, "anon-1", ""},
			{"a", store.IDUserID, "Alice", ""},
		}
		for _, tc := range tests {
			got, err := s.ResolveUser(ctx, tc.ws, tc.typ, tc.id)
			if tc.want == "" {
				wantNotFound(t, fmt.Sprintf("ResolveUser(%s, %s:%s)", tc.ws, tc.typ, tc.id), err)
				continue
			}
			if err != nil || got != tc.want {
				t.Errorf("ResolveUser(%s, %s:%s) = %q, %v; want %q", tc.ws, tc.typ, tc.id, got, err, tc.want)
			}
		}
	})

	t.Run("User", func(t *testing.T) {
		got, err := s.User(ctx, "a", k1)
		want := store.User{Workspace: "a", Key: k1, Activity: store.Activity{
			FirstSeen: minute(1), LastSeen: minute(9),
			FirstMessageID: "m-first-k1", FirstSource: "web", LastMessageID: "m-last-k1", LastSource: "server"}}
		if err != nil || got != want {
			t.Errorf("User(a, k1) = %+v, %v\nwant %+v", got, err, want)
		}
		if got, err := s.User(ctx, "b", bk1); err != nil || got.FirstSeen != minute(3) {
			t.Errorf("User(b, k1) = %+v, %v; want b's own", got, err)
		}
		_, err = s.User(ctx, "a", "nope")
		wantNotFound(t, "User(nope)", err)
		_, err = s.User(ctx, "b", k2)
		wantNotFound(t, "User(other workspace)", err)
	})

	t.Run("UserTraits", func(t *testing.T) {
		got, err := s.UserTraits(ctx, "a", k1)
		want := []store.Trait{
			{Key: "email", Name: "email", Value: json.RawMessage(`"a@example.com"`), UpdatedAt: minute(6), Seq: f.seq("a", "m6"), Source: "web", MessageID: "m6"},
			{Key: "name", Name: "name", Value: json.RawMessage(`"Alice"`), UpdatedAt: minute(4), Seq: f.seq("a", "m4"), Source: "web", MessageID: "m4"},
		}
		if err != nil || !equalTraits(got, want) {
			t.Errorf("UserTraits(a, k1) = %v\n%s\nwant\n%s", err, fmtTraits(got), fmtTraits(want))
		}
		if got, err := s.UserTraits(ctx, "a", k2); err != nil || len(got) != 0 {
			t.Errorf("UserTraits of a user without traits = %s, %v; want none", fmtTraits(got), err)
		}
		_, err = s.UserTraits(ctx, "a", "nope")
		wantNotFound(t, "UserTraits(nope)", err)
	})

	t.Run("ExternalIDs", func(t *testing.T) {
		got, err := s.ExternalIDs(ctx, "a", k1)
		if err != nil {
			t.Fatalf("ExternalIDs: %v", err)
		}
		// Oldest first; ids tied in time by type, then id. The user id the
		// profile goes by is marked current.
		want := []store.ExternalID{
			{Type: store.IDAnonymousID, ID: "anon-2", Source: "web", FirstMessageID: "m-first-k1", CreatedAt: minute(1)},
			{Type: store.IDAnonymousID, ID: "anon-1", Source: "web", FirstMessageID: "m5", CreatedAt: minute(5)},
			{Type: store.IDUserID, ID: "alice", Source: "web", FirstMessageID: "m5", CreatedAt: minute(5), Current: true},
			// The email trait of an identify call.
			{Type: store.IDEmail, ID: "a@example.com", Source: "web", FirstMessageID: "m6", CreatedAt: minute(6)},
		}
		if !slices.Equal(got, want) {
			t.Errorf("ExternalIDs = %+v\nwant %+v", got, want)
		}
		want = []store.ExternalID{{Type: store.IDUserID, ID: "carol", Source: "web", FirstMessageID: "c3", CreatedAt: minute(3), Current: true}}
		if got, err := s.ExternalIDs(ctx, "a", k2); err != nil || !slices.Equal(got, want) {
			t.Errorf("ExternalIDs of a user with one id = %+v, %v; want %+v", got, err, want)
		}
		if got, err := s.ExternalIDs(ctx, "b", bk1); err != nil || len(got) != 1 {
			t.Errorf("ExternalIDs(b, k1) = %+v, %v; want b's one id", got, err)
		}
		_, err = s.ExternalIDs(ctx, "a", "nope")
		wantNotFound(t, "ExternalIDs(nope)", err)
	})

	t.Run("UserGroups", func(t *testing.T) {
		got, err := s.UserGroups(ctx, "a", k1)
		want := []store.Membership{
			{GroupID: "g1", UserKey: k1, FirstSeen: minute(3), LastSeen: minute(4)},
			{GroupID: "g2", UserKey: k1, FirstSeen: minute(1), LastSeen: minute(2)},
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("UserGroups(a, k1) = %+v, %v\nwant %+v", got, err, want)
		}
		if got, err := s.UserGroups(ctx, "b", bk1); err != nil || len(got) != 1 || got[0].GroupID != "g9" {
			t.Errorf("UserGroups(b, k1) = %+v, %v; want g9", got, err)
		}
		f.log("a", "web", 1, "identify", "d1", `"userId":"dave"`)
		f.apply()
		if got, err := s.UserGroups(ctx, "a", resolve("a", store.IDUserID, "dave")); err != nil || len(got) != 0 {
			t.Errorf("UserGroups of a user in no group = %+v, %v", got, err)
		}
		_, err = s.UserGroups(ctx, "a", "nope")
		wantNotFound(t, "UserGroups(nope)", err)
	})
}

func testProfileEvents(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	ctx := context.Background()
	// Event mN is at minute N: ann's are m1, m3, m4; group acme's m2, m3,
	// m5, m8, m9, m11 (bea's, some by context.groupId); cid's m6, m7, m10.
	acme := `,"context":{"groupId":"acme"}`
	f.log("a", "web", 1, "track", "m1", `"userId":"ann","event":"E"`)
	f.log("a", "web", 2, "track", "m2", `"userId":"bea","event":"E"`+acme)
	f.group("a", 3, "m3", `"userId":"ann"`, "acme", "")
	f.log("a", "web", 4, "track", "m4", `"userId":"ann","event":"E"`)
	f.log("a", "web", 5, "track", "m5", `"userId":"bea","event":"E"`+acme)
	f.log("a", "web", 6, "track", "m6", `"userId":"cid","event":"E"`)
	f.log("a", "web", 7, "track", "m7", `"userId":"cid","event":"E"`)
	f.group("a", 8, "m8", `"userId":"bea"`, "acme", "")
	f.log("a", "web", 9, "track", "m9", `"userId":"bea","event":"E"`+acme)
	f.apply()
	ann, err := s.ResolveUser(ctx, "a", store.IDUserID, "ann")
	if err != nil {
		t.Fatal(err)
	}
	// The same key in the other collection must not leak in: a group
	// whose id is ann's user key.
	f.group("a", 10, "m10", `"userId":"cid"`, ann, "")
	f.log("a", "web", 11, "track", "m11", `"userId":"bea","event":"E"`+acme)
	f.group("b", 12, "m12", `"userId":"zed"`, "acme", "")
	// Late arrivals: m0 is the oldest of acme's, m9b ties with m9 and
	// comes after it in the log.
	f.log("a", "web", 0, "track", "m0", `"userId":"bea","event":"E"`+acme)
	f.log("a", "web", 9, "track", "m9b", `"userId":"bea","event":"E"`+acme)
	f.apply()
	logged := map[string]store.Event{}
	for _, e := range f.logged {
		logged[e.Workspace+"/"+e.MessageID] = e
	}
	at := func(msg string) store.EventPosition {
		return store.EventPosition{At: logged["a/"+msg].Timestamp.UnixMilli(), Seq: f.seq("a", msg)}
	}
	newest := func(limit int) store.EventPage { return store.EventPage{Limit: limit} }

	tests := []struct {
		name                string
		ws, collection, key string
		page                store.EventPage
		want                []string
		missing             bool
		bad                 bool
	}{
		{name: "newest first by time, ties by log order", ws: "a", collection: "accounts", key: "acme", page: newest(4), want: []string{"m11", "m9b", "m9", "m8"}},
		{name: "next page", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{After: at("m8"), Limit: 4}, want: []string{"m5", "m3", "m2", "m0"}},
		{name: "after a tie", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{After: at("m9b"), Limit: 1}, want: []string{"m9"}},
		{name: "after a position that is no event", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{After: at("m10"), Limit: 2}, want: []string{"m9b", "m9"}},
		{name: "nothing after the oldest", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{After: at("m0"), Limit: 4}, want: nil},
		{name: "oldest first", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{Ascending: true, Limit: 3}, want: []string{"m0", "m2", "m3"}},
		{name: "oldest first, next page", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{Ascending: true, After: at("m8"), Limit: 3}, want: []string{"m9", "m9b", "m11"}},
		{name: "oldest first, after the newest", ws: "a", collection: "accounts", key: "acme", page: store.EventPage{Ascending: true, After: at("m11"), Limit: 3}, want: nil},
		{name: "user", ws: "a", collection: "users", key: ann, page: newest(10), want: []string{"m4", "m3", "m1"}},
		{name: "user oldest first", ws: "a", collection: "users", key: ann, page: store.EventPage{Ascending: true, Limit: 10}, want: []string{"m1", "m3", "m4"}},
		{name: "group named as the user key", ws: "a", collection: "accounts", key: ann, page: newest(10), want: []string{"m10"}},
		{name: "other workspace", ws: "b", collection: "accounts", key: "acme", page: newest(10), want: []string{"m12"}},
		{name: "missing group", ws: "a", collection: "accounts", key: "nope", page: newest(10), missing: true},
		{name: "missing user", ws: "a", collection: "users", key: "nope", page: newest(10), missing: true},
		{name: "group key is not a user", ws: "a", collection: "users", key: "acme", page: newest(10), missing: true},
		{name: "user only in another workspace", ws: "b", collection: "users", key: ann, page: newest(10), missing: true},
		{name: "unknown collection", ws: "a", collection: "groups", key: "acme", page: newest(10), bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ProfileEvents(ctx, tc.ws, tc.collection, tc.key, tc.page)
			switch {
			case tc.missing:
				wantNotFound(t, "ProfileEvents", err)
				return
			case tc.bad:
				if err == nil || errors.Is(err, store.ErrNotFound) {
					t.Errorf("err = %v, want an error that is not ErrNotFound", err)
				}
				return
			case err != nil:
				t.Fatalf("ProfileEvents: %v", err)
			}
			var msgs []string
			for _, e := range got {
				msgs = append(msgs, e.MessageID)
				want := logged[tc.ws+"/"+e.MessageID]
				if e.Workspace != tc.ws || e.Seq != f.seqs[tc.ws+"/"+e.MessageID] || string(e.Body) != string(want.Body) ||
					!e.Timestamp.Equal(want.Timestamp) || e.Source != want.Source || e.Type != want.Type {
					t.Errorf("event %d = %+v\nlogged %+v", e.Seq, e, want)
				}
			}
			if !slices.Equal(msgs, tc.want) {
				t.Errorf("events = %v, want %v", msgs, tc.want)
			}
		})
	}
}
