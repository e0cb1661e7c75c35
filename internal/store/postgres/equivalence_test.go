package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// The same log, applied by the embedded backend and by this one, must read
// back the same through every read method. The rules are profile.Apply's;
// what this checks is this backend's part: the records it loads across
// batch boundaries, and its own reads (search, sort, trait filters,
// history pages) against the embedded backend's. The log is random
// (seeded), with the awkward cases mixed in: late events, equal
// timestamps, names that fold together, null and object traits, LIKE
// metacharacters and non-ASCII in ids and names, identity merges,
// context.groupId, duplicates.

// randomLog returns n events of workspace "ws".
func randomLog(seed uint64, n int) []store.Event {
	r := rand.New(rand.NewPCG(seed, seed))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	groups := []string{"g1", "g2", "g3", "acme", "ACME-EU", "100%_real", `path\\to`, "ÉCOLE", "42"}
	groupTraits := func() string {
		var ts []string
		for range 1 + r.IntN(4) {
			ts = append(ts, pick(
				`"name":"Acme Inc"`, `"Name":"50% OFF_sale"`, `"name":"école du nord"`, `"name":"Big Co"`, `"name":null`,
				`"plan":"trial"`, `"Plan":"pro"`, `"plan":"enterprise"`, `"plan":null`,
				`"createdAt":"2020-01-01T00:00:00Z"`, `"created_at":"2021-01-01T00:00:00Z"`, `"Created At":"2022-01-01T00:00:00Z"`,
				`"address":{"city": "Paris", "zip":"75001"}`, `"address":{ "city":"Boston" }`,
				`"employees":329`, `"employees":"329"`, `"employees":1e3`, `"tags":["a", "b"]`, `"stripe customer id":"cus_1"`,
			))
		}
		return "{" + strings.Join(ts, ",") + "}"
	}
	userTraits := func() string {
		return "{" + pick(`"email":"ann@example.com"`, `"firstName":"Ann"`, `"first_name":"Bob"`, `"plan":"free"`, `"plan":null`) + "}"
	}
	user := func() string { return fmt.Sprintf("u%d", r.IntN(6)) }
	anon := func() string { return fmt.Sprintf("a%d", r.IntN(8)) }
	who := func() string {
		switch r.IntN(3) {
		case 0:
			return fmt.Sprintf(`"userId":%q`, user())
		case 1:
			return fmt.Sprintf(`"anonymousId":%q`, anon())
		}
		return fmt.Sprintf(`"userId":%q,"anonymousId":%q`, user(), anon())
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var out []store.Event
	for i := range n {
		msgID := fmt.Sprintf("m%d", i)
		if i > 0 && r.IntN(20) == 0 {
			msgID = out[r.IntN(len(out))].MessageID // a retry: dedup drops it
		}
		var typ, body string
		switch k := r.IntN(10); {
		case k < 4:
			typ = "group"
			body = fmt.Sprintf(`%s,"groupId":%q,"traits":%s`, who(), pick(groups...), groupTraits())
		case k < 6:
			typ = "identify"
			body = fmt.Sprintf(`%s,"traits":%s`, who(), userTraits())
		case k < 7:
			typ = "alias"
			body = fmt.Sprintf(`"userId":%q,"previousId":%q`, user(), pick(anon(), user()))
		case k < 9:
			typ = "track"
			body = fmt.Sprintf(`%s,"event":"E","context":{"groupId":%s}`, who(), pick(`"g1"`, `"acme"`, `42`, `"ÉCOLE"`))
		default:
			typ = "page"
			body = who()
		}
		// Minutes: many events share a timestamp, and arrive out of order.
		ts := t0.Add(time.Duration(r.IntN(60)) * time.Minute)
		out = append(out, logged(store.Event{Workspace: "ws", Source: "web", MessageID: msgID, Type: typ, ReceivedAt: ts, Timestamp: ts,
			Body: fmt.Appendf(nil, `{"type":%q,"messageId":%q,%s}`, typ, msgID, body)}))
	}
	return out
}

// logged adds the ids and group that ingestion logs with a body. They are
// read here with encoding/json, as spec.ReadStored refuses the repeated
// trait names that randomLog sends on purpose.
func logged(e store.Event) store.Event {
	var m struct {
		UserID, AnonymousID, PreviousID, GroupID string
		Context                                  struct{ GroupID json.RawMessage }
	}
	if err := json.Unmarshal(e.Body, &m); err != nil {
		panic(err)
	}
	e.UserID, e.AnonymousID, e.PreviousID = m.UserID, m.AnonymousID, m.PreviousID
	switch e.Type {
	case "group":
		e.GroupID = m.GroupID
	case "track", "page":
		e.GroupID = strings.Trim(string(m.Context.GroupID), `"`) // "g1" or 42
	}
	return e
}

func applyAll(t *testing.T, s store.Store, batch int) {
	t.Helper()
	p := pipeline.NewProcessor(s, s, discard())
	p.Batch = batch
	if _, err := p.CatchUp(context.Background()); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
}

// listAll pages through ListGroups and renders every page with its cursor.
func listAll(t *testing.T, s store.Store, q store.GroupQuery) string {
	t.Helper()
	var b strings.Builder
	for range 100 {
		gs, next, err := s.ListGroups(context.Background(), "ws", q)
		if err != nil {
			return "error: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), "pebble: "), "postgres: ")
		}
		for _, g := range gs {
			fmt.Fprintf(&b, "%s ", g.ID)
		}
		fmt.Fprintf(&b, "| %s\n", next)
		if next == "" {
			return b.String()
		}
		q.After = next
	}
	t.Fatalf("ListGroups %+v does not end", q)
	return ""
}

func TestSameStateAsEmbedded(t *testing.T) {
	pgtest.URL(t) // skips before the embedded store is made
	ref, err := pebble.Open(context.Background(), t.TempDir(), store.Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	small, large := open(t, store.Options{}), open(t, store.Options{})
	log := randomLog(7, 600)
	for i := 0; i < len(log); {
		n := 1 + i%17
		chunk := log[i:min(i+n, len(log))]
		for _, s := range []store.Store{ref, small, large} {
			if err := s.Append(context.Background(), chunk, nil); err != nil {
				t.Fatal(err)
			}
		}
		i += n
	}
	applyAll(t, ref, 10000)
	// Batches of 7 cross every cache and merge path at batch boundaries.
	applyAll(t, small, 7)
	applyAll(t, large, 10000)

	var ids []storetest.ID
	for i := range 8 {
		ids = append(ids, storetest.ID{Type: store.IDUserID, ID: fmt.Sprintf("u%d", i)}, storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprintf("a%d", i)})
	}
	want := storetest.Dump(t, ref, "ws", ids)
	for name, s := range map[string]store.Store{"batches of 7": small, "one batch": large} {
		if got := storetest.Dump(t, s, "ws", ids); got != want {
			t.Errorf("%s: state differs from the embedded backend's:\n%s", name, firstDiff(got, want))
		}
	}

	raw := func(kv ...string) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return m
	}
	var queries []store.GroupQuery
	for _, sort := range []string{"", "id", "-id", "name", "-name", "first_seen", "-first_seen", "last_seen", "-last_seen", "size"} {
		queries = append(queries, store.GroupQuery{Sort: sort, Limit: 2})
	}
	for _, text := range []string{"acme", "ACME", "cme-", "%", "_", `\`, "école", "ÉCOLE", "É", "0% OFF", "zzz"} {
		queries = append(queries, store.GroupQuery{Text: text, Limit: 2}, store.GroupQuery{Text: text, Sort: "-name", Limit: 3})
	}
	for _, tr := range [][]string{
		{"plan", `"pro"`}, {"PLAN", ` "pro" `}, {"plan", `null`}, {"employees", `329`}, {"employees", `"329"`}, {"employees", `1e3`},
		{"address", `{"city":"Paris","zip":"75001"}`}, {"address", `{ "city" : "Boston" }`}, {"tags", `["a","b"]`},
		{"created_at", `"2022-01-01T00:00:00Z"`}, {"plan", `pro`},
	} {
		queries = append(queries, store.GroupQuery{Traits: raw(tr...), Limit: 2})
	}
	queries = append(queries, store.GroupQuery{Text: "a", Traits: raw("plan", `"pro"`, "name", `"Big Co"`), Sort: "last_seen", Limit: 1})
	for _, q := range queries {
		want := listAll(t, ref, q)
		for name, s := range map[string]store.Store{"batches of 7": small, "one batch": large} {
			if got := listAll(t, s, q); got != want {
				t.Errorf("%s: ListGroups(%+v):\n%s\nwant (embedded):\n%s", name, q, got, want)
			}
		}
	}
	for _, g := range []string{"g1", "acme", "ÉCOLE", "nope"} {
		for _, key := range []string{"", "PLAN", "created at"} {
			want := historyPages(ref, g, key)
			if got := historyPages(large, g, key); got != want {
				t.Errorf("TraitHistory(%s, %q):\n%s\nwant (embedded):\n%s", g, key, got, want)
			}
		}
	}
}

// historyPages reads a group's trait history two changes a page.
func historyPages(s store.Store, group, key string) string {
	var b strings.Builder
	var before int64
	for {
		h, err := s.TraitHistory(context.Background(), "ws", group, key, before, 2)
		if err != nil {
			return fmt.Sprintf("error (not found: %v)", errors.Is(err, store.ErrNotFound))
		}
		if len(h) == 0 {
			return b.String()
		}
		for _, c := range h {
			fmt.Fprintf(&b, "%d %s %s %s→%s; ", c.Seq, c.Key, c.Name, c.Old, c.New)
		}
		b.WriteString("|\n")
		before = h[len(h)-1].Seq
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, gl, wl)
		}
	}
	return "(equal)"
}
