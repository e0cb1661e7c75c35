package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"roster/internal/pipeline"
	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// The profile rules of DESIGN.md, checked through a backend: events are
// appended to its log and applied by the real processor, as in the server.

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// call is one event of a scenario.
type call struct {
	typ, msgID string
	at         time.Duration // after t0
	body       string        // the rest of the message, JSON members
}

func (c call) event(ws string) store.Event {
	body := fmt.Sprintf(`{"type":%q,"messageId":%q`, c.typ, c.msgID)
	if c.body != "" {
		body += "," + c.body
	}
	body += "}"
	e := store.Event{Workspace: ws, Source: "web", MessageID: c.msgID, Type: c.typ,
		ReceivedAt: t0.Add(c.at), Timestamp: t0.Add(c.at), Body: []byte(body)}
	// With the ids, group and name ingestion would have logged with it.
	if m, err := spec.ReadStored(e.Body); err == nil {
		r := m.Routing
		e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = r.UserID, r.AnonymousID, r.PreviousID, r.GroupID, r.Name
	}
	return e
}

// scenario appends calls (each its own append, in order) and applies them.
func scenario(t *testing.T, s store.Store, calls ...call) {
	t.Helper()
	for _, c := range calls {
		mustAppend(t, s, []store.Event{c.event("ws")}, nil)
	}
	catchUp(t, s)
}

func catchUp(t *testing.T, s store.Store) {
	t.Helper()
	p := pipeline.NewProcessor(s, s, discardLogger())
	if _, err := p.CatchUp(context.Background()); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
}

func traits(t *testing.T, ts []store.Trait, err error) map[string]string {
	t.Helper()
	if err != nil {
		t.Fatalf("traits: %v", err)
	}
	out := map[string]string{}
	for _, tr := range ts {
		out[tr.Name] = string(tr.Value)
	}
	return out
}

func groupTraits(t *testing.T, s store.Store, id string) map[string]string {
	t.Helper()
	ts, err := s.GroupTraits(context.Background(), "ws", id)
	return traits(t, ts, err)
}

func userKey(t *testing.T, s store.Store, idType, id string) string {
	t.Helper()
	k, err := s.ResolveUser(context.Background(), "ws", idType, id)
	if err != nil {
		t.Fatalf("ResolveUser(%s:%s): %v", idType, id, err)
	}
	return k
}

func userGroups(t *testing.T, s store.Store, key string) []string {
	t.Helper()
	ms, err := s.UserGroups(context.Background(), "ws", key)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.GroupID)
	}
	return out
}

func members(t *testing.T, s store.Store, group string) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		ms, err := s.GroupMembers(context.Background(), "ws", group, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		for _, m := range ms {
			out = append(out, m.UserKey)
		}
		after = ms[len(ms)-1].UserKey
	}
}

func runProfiles(t *testing.T, open Opener) {
	t.Run("UserInTwoGroups", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"name":"Initech"}`},
			call{"group", "m2", time.Second, `"userId":"u1","groupId":"g2","traits":{"name":"Globex"}`},
			call{"group", "m3", 2 * time.Second, `"userId":"u2","groupId":"g1"`},
		)
		u1 := userKey(t, s, store.IDUserID, "u1")
		if got := userGroups(t, s, u1); !reflect.DeepEqual(got, []string{"g1", "g2"}) {
			t.Errorf("u1 groups = %v, want [g1 g2]", got)
		}
		if got := members(t, s, "g1"); len(got) != 2 {
			t.Errorf("g1 members = %v, want u1 and u2", got)
		}
		g, err := s.Group(context.Background(), "ws", "g1")
		if err != nil || g.Members != 2 || !g.FirstSeen.Equal(t0) || !g.LastSeen.Equal(t0.Add(2*time.Second)) || g.FirstMessageID != "m1" || g.LastMessageID != "m3" {
			t.Errorf("g1 = %+v, %v", g, err)
		}
	})

	t.Run("NullReplacesOmissionPersists", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"name":"Initech","plan":"trial","address":{"city":"Austin","state":"TX"}}`},
			call{"group", "m2", time.Second, `"userId":"u1","groupId":"g1","traits":{"plan":null,"address":{"city":"Boston"}}`},
		)
		want := map[string]string{"name": `"Initech"`, "plan": "null", "address": `{"city":"Boston"}`}
		if got := groupTraits(t, s, "g1"); !reflect.DeepEqual(got, want) {
			t.Errorf("traits = %v, want %v (null sets null, absent keeps, objects replaced whole)", got, want)
		}
	})

	t.Run("TraitNamesFold", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"createdAt":"2020-01-01T00:00:00Z","stripe customer id":"cus_1"}`},
			call{"group", "m2", time.Second, `"userId":"u1","groupId":"g1","traits":{"created_at":"2021-01-01T00:00:00Z","stripe_customer_id":"cus_2"}`},
			call{"group", "m3", 2 * time.Second, `"userId":"u1","groupId":"g1","traits":{"Created At":"2022-01-01T00:00:00Z"}`},
		)
		want := map[string]string{"Created At": `"2022-01-01T00:00:00Z"`, "stripe_customer_id": `"cus_2"`}
		if got := groupTraits(t, s, "g1"); !reflect.DeepEqual(got, want) {
			t.Errorf("traits = %v, want %v (one entry per folded name, under the spelling of the winning value, reserved or not)", got, want)
		}
	})

	t.Run("EmailTraitIsAnExternalID", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"identify", "m1", 0, `"userId":"u1","traits":{"Email":"ann@initech.com"}`},
			call{"identify", "m2", time.Second, `"userId":"u2","traits":{"email":"ann@initech.com"}`},
			call{"identify", "m3", 2 * time.Second, `"userId":"u3","traits":{"email":42}`},
		)
		ku := userKey(t, s, store.IDUserID, "u1")
		if got := userKey(t, s, store.IDEmail, "ann@initech.com"); got != ku {
			t.Errorf("email:ann@initech.com → %q, want u1's profile %q (the first to claim it keeps it)", got, ku)
		}
		ids, err := s.ExternalIDs(context.Background(), "ws", ku)
		if err != nil || len(ids) != 2 || ids[0].Type != store.IDEmail || ids[0].ID != "ann@initech.com" || ids[0].FirstMessageID != "m1" {
			t.Errorf("external ids of u1 = %+v, %v; want email and user_id", ids, err)
		}
		ids, err = s.ExternalIDs(context.Background(), "ws", userKey(t, s, store.IDUserID, "u3"))
		if err != nil || len(ids) != 1 {
			t.Errorf("external ids of u3 = %+v, %v; a number is no email", ids, err)
		}
	})

	t.Run("LateOldEventDoesNotOverwrite", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "new", time.Hour, `"userId":"u1","groupId":"g1","traits":{"plan":"enterprise"}`},
			call{"group", "old", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial","industry":"Tech"}`},
		)
		want := map[string]string{"plan": `"enterprise"`, "industry": `"Tech"`}
		if got := groupTraits(t, s, "g1"); !reflect.DeepEqual(got, want) {
			t.Errorf("traits = %v, want %v", got, want)
		}
		g, err := s.Group(context.Background(), "ws", "g1")
		if err != nil || g.FirstMessageID != "old" || g.LastMessageID != "new" {
			t.Errorf("first/last seen by timestamp, not arrival: %+v, %v", g, err)
		}
	})

	t.Run("AnonymousMemberBecomesUserAfterIdentify", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"identify", "m0", 0, `"anonymousId":"a1","traits":{"firstName":"Ann","plan":"free"}`},
			call{"group", "m1", time.Second, `"anonymousId":"a1","groupId":"g1","traits":{"name":"Initech"}`},
			call{"identify", "m2", 2 * time.Second, `"anonymousId":"a1","userId":"u1","traits":{"email":"ann@initech.com","plan":"pro"}`},
			call{"track", "m3", 3 * time.Second, `"anonymousId":"a1","event":"Clicked"`},
		)
		ku, ka := userKey(t, s, store.IDUserID, "u1"), userKey(t, s, store.IDAnonymousID, "a1")
		if ku != ka {
			t.Fatalf("user_id:u1 → %q and anonymous_id:a1 → %q: not one profile", ku, ka)
		}
		if got := userGroups(t, s, ku); !reflect.DeepEqual(got, []string{"g1"}) {
			t.Errorf("groups = %v, want the anonymous membership g1", got)
		}
		if got := members(t, s, "g1"); !reflect.DeepEqual(got, []string{ku}) {
			t.Errorf("g1 members = %v, want only %s", got, ku)
		}
		ts, err := s.UserTraits(context.Background(), "ws", ku)
		want := map[string]string{"firstName": `"Ann"`, "email": `"ann@initech.com"`, "plan": `"pro"`}
		if got := traits(t, ts, err); !reflect.DeepEqual(got, want) {
			t.Errorf("traits = %v, want %v", got, want)
		}
		evs, err := s.ProfileEvents(context.Background(), "ws", "users", ku, store.EventPage{Limit: 10})
		if err != nil || len(evs) != 4 || evs[0].MessageID != "m3" {
			t.Errorf("events of the merged profile = %v, %v; want all four, newest first", evs, err)
		}
	})

	t.Run("AnonymousMemberBecomesUserAfterAlias", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"anonymousId":"a2","groupId":"g2"`},
			call{"group", "m2", time.Second, `"userId":"u2","groupId":"g3"`},
			call{"alias", "m3", 2 * time.Second, `"userId":"u2","previousId":"a2"`},
			call{"group", "m4", 3 * time.Second, `"anonymousId":"a2","groupId":"g4"`},
		)
		ku := userKey(t, s, store.IDUserID, "u2")
		if ka := userKey(t, s, store.IDAnonymousID, "a2"); ka != ku {
			t.Fatalf("after alias a2 → %q, u2 → %q", ka, ku)
		}
		if got := userGroups(t, s, ku); !reflect.DeepEqual(got, []string{"g2", "g3", "g4"}) {
			t.Errorf("groups = %v, want g2 g3 g4 (later calls with the old id reach the user)", got)
		}
	})

	t.Run("ContextGroupIDAttributesActivity", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"userId":"u1","groupId":"42"`},
			call{"track", "m2", time.Second, `"userId":"u2","event":"Report Run","context":{"groupId":42}`},
		)
		evs, err := s.ProfileEvents(context.Background(), "ws", "accounts", "42", store.EventPage{Limit: 10})
		if err != nil || len(evs) != 2 || evs[0].MessageID != "m2" {
			t.Errorf("group 42 events = %v, %v; want the track call attributed", evs, err)
		}
		if got := members(t, s, "42"); len(got) != 1 {
			t.Errorf("members = %v: context.groupId must not make a membership", got)
		}
	})

	t.Run("TraitHistory", func(t *testing.T) {
		s := open(t, store.Options{})
		scenario(t, s,
			call{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial","name":"Initech"}`},
			call{"group", "m2", time.Second, `"userId":"u1","groupId":"g1","traits":{"plan":"trial"}`},
			call{"group", "m3", 2 * time.Second, `"userId":"u1","groupId":"g1","traits":{"plan":"enterprise"}`},
		)
		h, err := s.TraitHistory(context.Background(), "ws", "g1", "plan", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range h {
			got = append(got, fmt.Sprintf("%s:%s→%s@%s", c.Name, c.Old, c.New, c.MessageID))
		}
		want := []string{`plan:"trial"→"enterprise"@m3`, `plan:→"trial"@m1`}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("history = %v, want %v (newest first; an unchanged value is no change)", got, want)
		}
		if !h[0].Timestamp.Equal(t0.Add(2 * time.Second)) {
			t.Errorf("change timestamp = %v", h[0].Timestamp)
		}
	})

	t.Run("ReapplyingIsIdempotent", func(t *testing.T) {
		s := open(t, store.Options{})
		calls := []call{
			{"group", "m1", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"trial"}`},
			{"identify", "m2", time.Second, `"userId":"u1","anonymousId":"a1","traits":{"name":"Ann"}`},
			{"group", "m3", 2 * time.Second, `"userId":"u1","groupId":"g1","traits":{"plan":"pro"}`},
		}
		scenario(t, s, calls...)
		before := dump(t, s)
		// Apply the whole log again over the state, as after a crash
		// between commit and cursor... which cannot happen, but must not hurt.
		evs := readAll(t, s)
		var updates []store.ProfileUpdate
		for _, e := range evs {
			updates = append(updates, mustUpdate(t, e))
		}
		if err := s.ApplyProfiles(context.Background(), updates, evs[len(evs)-1].Seq); err != nil {
			t.Fatal(err)
		}
		if after := dump(t, s); after != before {
			t.Errorf("state changed when re-applied:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("RebuildEqualsIncremental", func(t *testing.T) {
		s := open(t, store.Options{})
		var calls []call
		for i := range 60 {
			g := fmt.Sprintf("g%d", i%7)
			switch i % 5 {
			case 0:
				calls = append(calls, call{"group", fmt.Sprintf("m%d", i), time.Duration(i%13) * time.Minute,
					fmt.Sprintf(`"anonymousId":"a%d","groupId":%q,"traits":{"plan":"p%d","employees":%d}`, i%11, g, i%4, i)})
			case 1:
				calls = append(calls, call{"identify", fmt.Sprintf("m%d", i), time.Duration(i%17) * time.Minute,
					fmt.Sprintf(`"anonymousId":"a%d","userId":"u%d","traits":{"plan":"x%d"}`, i%11, i%5, i)})
			case 2:
				calls = append(calls, call{"group", fmt.Sprintf("m%d", i), time.Duration(i%3) * time.Minute,
					fmt.Sprintf(`"userId":"u%d","groupId":%q,"traits":{"Plan":"q%d","name":"G%d"}`, i%5, g, i, i)})
			case 3:
				calls = append(calls, call{"alias", fmt.Sprintf("m%d", i), time.Minute,
					fmt.Sprintf(`"userId":"u%d","previousId":"a%d"`, i%5, (i+3)%11)})
			default:
				calls = append(calls, call{"track", fmt.Sprintf("m%d", i), time.Duration(i) * time.Second,
					fmt.Sprintf(`"userId":"u%d","event":"E","context":{"groupId":%q}`, i%5, g)})
			}
		}
		// Incrementally, a few events at a time, as the server does.
		for i := 0; i < len(calls); i += 4 {
			for _, c := range calls[i:min(i+4, len(calls))] {
				mustAppend(t, s, []store.Event{c.event("ws")}, nil)
			}
			catchUp(t, s)
		}
		incremental := dump(t, s)
		if err := s.ResetProfiles(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, s); strings.Contains(got, "g0") {
			t.Fatalf("state left after ResetProfiles: %s", got)
		}
		if c, err := s.Cursor(context.Background(), store.ProfileCursor); err != nil || c != 0 {
			t.Fatalf("cursor after reset = %d, %v", c, err)
		}
		catchUp(t, s)
		if rebuilt := dump(t, s); rebuilt != incremental {
			t.Errorf("rebuild differs from incremental state:\nincremental %s\nrebuilt     %s", incremental, rebuilt)
		}
	})

	t.Run("ListGroupsPagingStableUnderWrites", func(t *testing.T) {
		s := open(t, store.Options{})
		for i := range 10 {
			scenario(t, s, call{"group", fmt.Sprintf("m%d", i), time.Duration(i) * time.Second,
				fmt.Sprintf(`"userId":"u1","groupId":"g%02d","traits":{"plan":%q}`, i*2, []string{"trial", "enterprise"}[i%2])})
		}
		seen := map[string]int{}
		q := store.GroupQuery{Limit: 3}
		for page := 0; ; page++ {
			gs, next, err := s.ListGroups(context.Background(), "ws", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				seen[g.ID]++
			}
			// Writes between pages: new groups before and after the cursor.
			scenario(t, s, call{"group", fmt.Sprintf("w%d", page), time.Minute, fmt.Sprintf(`"userId":"u1","groupId":"g%02d"`, page*4+1)})
			if next == "" {
				break
			}
			q.After = next
		}
		for i := range 10 {
			if id := fmt.Sprintf("g%02d", i*2); seen[id] != 1 {
				t.Errorf("%s listed %d times", id, seen[id])
			}
		}
		gs, _, err := s.ListGroups(context.Background(), "ws", store.GroupQuery{Limit: 50, Traits: map[string]json.RawMessage{"plan": json.RawMessage(`"enterprise"`)}})
		if err != nil || len(gs) != 5 {
			t.Errorf("plan=enterprise lists %d groups, %v; want 5", len(gs), err)
		}
	})
}

func mustUpdate(t *testing.T, e store.Event) store.ProfileUpdate {
	t.Helper()
	u, err := profile.FromEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// dump renders the profile state of the scenarios' workspace, whose
// identities are a0…a10 and u0…u10.
func dump(t *testing.T, s store.Store) string {
	t.Helper()
	var ids []ID
	for i := range 11 {
		ids = append(ids, ID{store.IDAnonymousID, fmt.Sprintf("a%d", i)}, ID{store.IDUserID, fmt.Sprintf("u%d", i)})
	}
	return Dump(t, s, "ws", ids)
}
