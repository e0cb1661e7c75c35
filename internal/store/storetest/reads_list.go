package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"roster/internal/store"
)

// listGroup logs a group of workspace ws first seen at minute first (from
// web, by users[0], with its name trait unless name is "") and last seen
// at minute last (from server, by the last of users); users default to one
// member, "o".
func (f *fixture) listGroup(ws, id, name string, first, last int, users ...string) {
	f.t.Helper()
	if len(users) == 0 {
		users = []string{"o"}
	}
	traits := ""
	if name != "" {
		traits = `{"name":` + js(name) + `}`
	}
	f.group(ws, first, "m-first-"+id, `"userId":`+js(users[0]), id, traits)
	f.log(ws, "server", last, "group", "m-last-"+id, `"userId":`+js(users[len(users)-1])+`,"groupId":`+js(id))
}

// listFixture has groups in workspace a whose ids, names and times sort
// differently, with ties on name and on last_seen that the id breaks.
// Names tie whatever their case: they sort lower-cased.
func listFixture(t *testing.T, open Opener) (store.Store, *fixture) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	f.listGroup("a", "g1", "zeta", 5, 50, "u1", "u2")
	f.listGroup("a", "g2", "Alpha", 3, 70)
	f.listGroup("a", "g3", "mid", 9, 60, "u1")
	f.listGroup("a", "g4", "alpha", 1, 70)
	f.listGroup("a", "g5", "", 7, 40)
	f.listGroup("a", "g6", "beta", 2, 80)
	f.listGroup("b", "g0", "alpha", 0, 0)
	f.apply()
	return s, f
}

// listAll pages through ListGroups with the given page size and returns the
// ids in order, checking that no page is larger than asked and that only
// the last page has no cursor.
func listAll(t *testing.T, s store.Store, ws string, q store.GroupQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("ListGroups(%+v) does not end", q)
		}
		page, next, err := s.ListGroups(context.Background(), ws, q)
		if err != nil {
			t.Fatalf("ListGroups(%+v): %v", q, err)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("page of %d, limit %d", len(page), q.Limit)
		}
		if next != "" && len(page) == 0 {
			t.Fatalf("empty page with a next cursor")
		}
		for _, g := range page {
			ids = append(ids, g.ID)
		}
		if next == "" {
			return ids
		}
		q.After = next
	}
}

func testListGroupsSort(t *testing.T, open Opener) {
	s, _ := listFixture(t, open)
	tests := []struct {
		sort string
		want []string
	}{
		{"", []string{"g1", "g2", "g3", "g4", "g5", "g6"}},
		{"id", []string{"g1", "g2", "g3", "g4", "g5", "g6"}},
		{"-id", []string{"g6", "g5", "g4", "g3", "g2", "g1"}},
		{"name", []string{"g5", "g2", "g4", "g6", "g3", "g1"}},
		{"-name", []string{"g1", "g3", "g6", "g4", "g2", "g5"}},
		{"first_seen", []string{"g4", "g6", "g2", "g1", "g5", "g3"}},
		{"-first_seen", []string{"g3", "g5", "g1", "g2", "g6", "g4"}},
		{"last_seen", []string{"g5", "g1", "g3", "g2", "g4", "g6"}},
		{"-last_seen", []string{"g6", "g4", "g2", "g3", "g1", "g5"}},
	}
	for _, tc := range tests {
		for _, limit := range []int{1, 2, 4, 6, 7, 0} {
			t.Run(fmt.Sprintf("%s/limit=%d", tc.sort, limit), func(t *testing.T) {
				got := listAll(t, s, "a", store.GroupQuery{Sort: tc.sort, Limit: limit})
				if !slices.Equal(got, tc.want) {
					t.Errorf("ids = %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func testListGroupsRows(t *testing.T, open Opener) {
	s, _ := listFixture(t, open)
	page, next, err := s.ListGroups(context.Background(), "a", store.GroupQuery{Limit: 1})
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	want := store.Group{Workspace: "a", ID: "g1", Members: 2, Activity: store.Activity{
		FirstSeen: minute(5), LastSeen: minute(50),
		FirstMessageID: "m-first-g1", FirstSource: "web", LastMessageID: "m-last-g1", LastSource: "server"}}
	if len(page) != 1 || page[0] != want || next == "" {
		t.Fatalf("first page = %+v, next %q; want %+v and a cursor", page, next, want)
	}
	page, _, err = s.ListGroups(context.Background(), "a", store.GroupQuery{Text: "g3"})
	if err != nil || len(page) != 1 || page[0].Members != 1 {
		t.Errorf("g3 = %+v, %v; want one group with 1 member", page, err)
	}
}

func testListGroupsErrors(t *testing.T, open Opener) {
	s, _ := listFixture(t, open)
	ctx := context.Background()
	_, byName, err := s.ListGroups(ctx, "a", store.GroupQuery{Sort: "name", Limit: 1})
	if err != nil || byName == "" {
		t.Fatalf("ListGroups: %q, %v", byName, err)
	}
	tests := []struct {
		name string
		q    store.GroupQuery
		want string // in the error
	}{
		{"unknown sort", store.GroupQuery{Sort: "size"}, "id, name, first_seen or last_seen"},
		{"double minus", store.GroupQuery{Sort: "--id"}, "unknown sort"},
		{"bare minus", store.GroupQuery{Sort: "-"}, "unknown sort"},
		{"sort in upper case", store.GroupQuery{Sort: "NAME"}, "unknown sort"},
		{"cursor not base64", store.GroupQuery{After: "!!"}, "cursor"},
		{"cursor not json", store.GroupQuery{After: "bm90IGpzb24"}, "cursor"},
		{"cursor of another sort", store.GroupQuery{Sort: "-name", After: byName}, "cursor"},
		{"trait value not json", store.GroupQuery{Traits: map[string]json.RawMessage{"plan": json.RawMessage(`enterprise`)}}, "not JSON"},
		{"empty trait value", store.GroupQuery{Traits: map[string]json.RawMessage{"plan": nil}}, "not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// ErrInvalid: the API answers the caller's mistake with a 400.
			_, _, err := s.ListGroups(ctx, "a", tc.q)
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want store.ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// testListGroupsStablePaging writes groups between pages, before and after
// the cursor, and moves none of the groups already seen: the pages must
// neither repeat nor skip any group that existed throughout.
func testListGroupsStablePaging(t *testing.T, open Opener) {
	for _, sort := range []string{"id", "-id", "name", "-name", "first_seen", "-first_seen", "last_seen", "-last_seen"} {
		t.Run(sort, func(t *testing.T) {
			s, f := listFixture(t, open)
			ctx := context.Background()
			before := listAll(t, s, "a", store.GroupQuery{Sort: sort})
			q := store.GroupQuery{Sort: sort, Limit: 2}
			var got []string
			for i := 0; ; i++ {
				page, next, err := s.ListGroups(ctx, "a", q)
				if err != nil {
					t.Fatalf("ListGroups: %v", err)
				}
				for _, g := range page {
					got = append(got, g.ID)
				}
				if next == "" {
					break
				}
				// Sort values at both ends of every order.
				f.listGroup("a", fmt.Sprintf("g0-%d", i), "aaa", -10-i, -10-i)
				f.listGroup("a", fmt.Sprintf("g9-%d", i), "zzz", 100+i, 100+i)
				f.apply()
				q.After = next
			}
			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				if seen[id] > 1 {
					t.Errorf("%s listed twice in %v", id, got)
				}
			}
			var kept []string
			for _, id := range got {
				if !strings.Contains(id, "-") {
					kept = append(kept, id)
				}
			}
			if !slices.Equal(kept, before) {
				t.Errorf("original groups = %v, want %v", kept, before)
			}
		})
	}
}

func testListGroupsFilters(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	f := newFixture(t, s)
	for i, g := range []struct{ ws, id, traits string }{
		{"a", "acme", `{"name":"Acme Inc","plan":"enterprise","employees":329,"address":{"city": "Paris"}}`},
		{"a", "ACME-EU", `{"plan":"free"}`},
		{"a", "100%_real", ""},
		{"a", "100xxreal", ""},
		{"a", `path\to`, ""},
		{"a", "g-7", `{"name":"50% Off_Sale","plan":null}`},
		{"a", "ÉCOLE", `{"name":"École du Nord"}`},
		{"a", "ÉTÉ", ""},
		{"a", "big", `{"name":"Big Co","Plan":"enterprise","employees":"329"}`},
		{"b", "acme", `{"name":"Acme B","plan":"enterprise"}`},
	} {
		f.group(g.ws, i, fmt.Sprintf("m%d", i), `"userId":"u1"`, g.id, g.traits)
	}
	f.apply()

	raw := func(kv ...string) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name string
		ws   string
		q    store.GroupQuery
		want []string
	}{
		{name: "id substring", ws: "a", q: store.GroupQuery{Text: "cme"}, want: []string{"ACME-EU", "acme"}},
		{name: "id, other case", ws: "a", q: store.GroupQuery{Text: "Acme"}, want: []string{"ACME-EU", "acme"}},
		{name: "name substring", ws: "a", q: store.GroupQuery{Text: "INC"}, want: []string{"acme"}},
		{name: "percent is literal", ws: "a", q: store.GroupQuery{Text: "100%"}, want: []string{"100%_real"}},
		{name: "underscore is literal", ws: "a", q: store.GroupQuery{Text: "%_r"}, want: []string{"100%_real"}},
		{name: "percent in a name", ws: "a", q: store.GroupQuery{Text: "0% OFF_"}, want: []string{"g-7"}},
		{name: "lone underscore", ws: "a", q: store.GroupQuery{Text: "_"}, want: []string{"100%_real", "g-7"}},
		{name: "backslash is literal", ws: "a", q: store.GroupQuery{Text: `h\t`}, want: []string{`path\to`}},
		{name: "non-ASCII name, other case", ws: "a", q: store.GroupQuery{Text: "ÉCOLE DU"}, want: []string{"ÉCOLE"}},
		{name: "non-ASCII id, same case", ws: "a", q: store.GroupQuery{Text: "ÉT"}, want: []string{"ÉTÉ"}},
		{name: "no match", ws: "a", q: store.GroupQuery{Text: "zzz"}, want: nil},
		{name: "text in another workspace", ws: "b", q: store.GroupQuery{Text: "acme"}, want: []string{"acme"}},
		{name: "string trait", ws: "a", q: store.GroupQuery{Traits: raw("plan", `"enterprise"`)}, want: []string{"acme", "big"}},
		{name: "unfolded trait key", ws: "a", q: store.GroupQuery{Traits: raw("PLAN", `"enterprise"`)}, want: []string{"acme", "big"}},
		{name: "number is not its string", ws: "a", q: store.GroupQuery{Traits: raw("employees", `329`)}, want: []string{"acme"}},
		{name: "string is not its number", ws: "a", q: store.GroupQuery{Traits: raw("employees", `"329"`)}, want: []string{"big"}},
		{name: "null trait", ws: "a", q: store.GroupQuery{Traits: raw("plan", `null`)}, want: []string{"g-7"}},
		{name: "value with spaces", ws: "a", q: store.GroupQuery{Traits: raw("plan", ` "free" `)}, want: []string{"ACME-EU"}},
		{name: "object, spaced differently", ws: "a", q: store.GroupQuery{Traits: raw("address", `{ "city" :"Paris" }`)}, want: []string{"acme"}},
		{name: "all traits must match", ws: "a", q: store.GroupQuery{Traits: raw("plan", `"enterprise"`, "employees", `329`)}, want: []string{"acme"}},
		{name: "no group has both", ws: "a", q: store.GroupQuery{Traits: raw("plan", `"free"`, "employees", `329`)}, want: nil},
		{name: "missing trait", ws: "a", q: store.GroupQuery{Traits: raw("industry", `"x"`)}, want: nil},
		{name: "text and trait", ws: "a", q: store.GroupQuery{Text: "big", Traits: raw("plan", `"enterprise"`)}, want: []string{"big"}},
		{name: "trait in another workspace", ws: "b", q: store.GroupQuery{Traits: raw("plan", `"enterprise"`)}, want: []string{"acme"}},
		{name: "unknown workspace", ws: "c", q: store.GroupQuery{}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{1, 100} {
				q := tc.q
				q.Limit = limit
				got := listAll(t, s, tc.ws, q)
				if !slices.Equal(got, tc.want) {
					t.Errorf("limit %d: ids = %v, want %v", limit, got, tc.want)
				}
			}
		})
	}
}
