package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
)

// These tests write profiles.db and roster.db rows directly, so that the
// reads are checked against known rows, independently of ApplyProfiles.

func openReadStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// readBase is the time every fixture counts from; minute n is readBase+n.
var readBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func minute(n int) time.Time { return readBase.Add(time.Duration(n) * time.Minute) }

type fixture struct {
	t *testing.T
	s *Store
}

func (f fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.s.pw.ExecContext(context.Background(), query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// group adds a group first seen at minute first and last seen at minute
// last; name is the name trait as groups.name holds it (lower-cased).
func (f fixture) group(ws, id, name string, first, last int) {
	f.t.Helper()
	f.exec(`INSERT INTO groups(workspace, group_id, first_seen, first_seq, first_message_id, first_source,
		last_seen, last_seq, last_message_id, last_source, name) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		ws, id, minute(first).UnixMilli(), first, "m-first-"+id, "web", minute(last).UnixMilli(), last, "m-last-"+id, "server", name)
}

func (f fixture) groupTrait(ws, id, key, name, value string, seq int) {
	f.t.Helper()
	f.exec(`INSERT INTO group_traits(workspace, group_id, key, name, value, ts, seq, source, message_id) VALUES (?,?,?,?,?,?,?,?,?)`,
		ws, id, key, name, value, minute(seq).UnixMilli(), seq, "web", fmt.Sprintf("m%d", seq))
}

func (f fixture) member(ws, groupID, userKey string, first, last int) {
	f.t.Helper()
	f.exec(`INSERT INTO memberships(workspace, group_id, user_key, first_seen, last_seen) VALUES (?,?,?,?,?)`,
		ws, groupID, userKey, minute(first).UnixMilli(), minute(last).UnixMilli())
}

// change adds a trait history entry; old "" stands for no previous value.
func (f fixture) change(ws, groupID string, seq int, key, name, old, new string) {
	f.t.Helper()
	var oldValue any
	if old != "" {
		oldValue = old
	}
	f.exec(`INSERT INTO trait_history(workspace, group_id, seq, key, name, old_value, new_value, message_id, ts) VALUES (?,?,?,?,?,?,?,?,?)`,
		ws, groupID, seq, key, name, oldValue, new, fmt.Sprintf("m%d", seq), minute(seq).UnixMilli())
}

func (f fixture) user(ws, key string, first, last int) {
	f.t.Helper()
	f.exec(`INSERT INTO users(workspace, user_key, first_seen, first_seq, first_message_id, first_source,
		last_seen, last_seq, last_message_id, last_source) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		ws, key, minute(first).UnixMilli(), first, "m-first-"+key, "web", minute(last).UnixMilli(), last, "m-last-"+key, "server")
}

func (f fixture) userTrait(ws, userKey, key, name, value string, seq int) {
	f.t.Helper()
	f.exec(`INSERT INTO user_traits(workspace, user_key, key, name, value, ts, seq, source, message_id) VALUES (?,?,?,?,?,?,?,?,?)`,
		ws, userKey, key, name, value, minute(seq).UnixMilli(), seq, "web", fmt.Sprintf("m%d", seq))
}

func (f fixture) identity(ws, idType, id, userKey string, created int) {
	f.t.Helper()
	f.exec(`INSERT INTO identities(workspace, id_type, id, user_key, created_at, source, first_message_id) VALUES (?,?,?,?,?,?,?)`,
		ws, idType, id, userKey, minute(created).UnixMilli(), "web", fmt.Sprintf("m%d", created))
}

func (f fixture) profileEvent(ws, collection, key string, seq int64) {
	f.t.Helper()
	f.exec(`INSERT INTO profile_events(workspace, collection, profile_key, seq) VALUES (?,?,?,?)`, ws, collection, key, seq)
}

// event writes one event to roster.db's log under the given seq.
func (f fixture) event(ws string, seq int64) {
	f.t.Helper()
	if _, err := f.s.w.ExecContext(context.Background(),
		`INSERT INTO events(seq, workspace, source, message_id, type, received_at, timestamp, warnings, body) VALUES (?,?,?,?,?,?,?,?,?)`,
		seq, ws, "web", fmt.Sprintf("m%d", seq), "group", minute(int(seq)).UnixMilli(), minute(int(seq)).UnixMilli(), nil,
		[]byte(fmt.Sprintf(`{"seq":%d}`, seq))); err != nil {
		f.t.Fatalf("insert event %d: %v", seq, err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

func TestGroup(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "acme inc", 1, 5)
	f.group("a", "empty", "", 2, 2)
	f.group("b", "acme", "other acme", 3, 4)
	f.member("a", "acme", "u1", 1, 1)
	f.member("a", "acme", "u2", 2, 5)
	f.member("b", "acme", "u9", 3, 3)
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

func TestGroupTraits(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "acme", 1, 1)
	f.group("a", "bare", "", 1, 1)
	f.group("b", "acme", "", 1, 1)
	// Inserted out of key order; the object keeps the spaces it was sent with.
	f.groupTrait("a", "acme", "plan", "plan", `"enterprise"`, 3)
	f.groupTrait("a", "acme", "address", "address", `{"city": "Paris", "zip":"75001"}`, 2)
	f.groupTrait("a", "acme", "employees", "employees", `329`, 4)
	f.groupTrait("a", "acme", "createdat", "createdAt", `null`, 5)
	f.groupTrait("b", "acme", "plan", "Plan", `"free"`, 6)
	ctx := context.Background()

	got, err := s.GroupTraits(ctx, "a", "acme")
	if err != nil {
		t.Fatalf("GroupTraits: %v", err)
	}
	want := []store.Trait{
		{Key: "address", Name: "address", Value: json.RawMessage(`{"city": "Paris", "zip":"75001"}`), UpdatedAt: minute(2), Seq: 2, Source: "web", MessageID: "m2"},
		{Key: "createdat", Name: "createdAt", Value: json.RawMessage(`null`), UpdatedAt: minute(5), Seq: 5, Source: "web", MessageID: "m5"},
		{Key: "employees", Name: "employees", Value: json.RawMessage(`329`), UpdatedAt: minute(4), Seq: 4, Source: "web", MessageID: "m4"},
		{Key: "plan", Name: "plan", Value: json.RawMessage(`"enterprise"`), UpdatedAt: minute(3), Seq: 3, Source: "web", MessageID: "m3"},
	}
	if !equalTraits(got, want) {
		t.Errorf("GroupTraits(a, acme) =\n%s\nwant\n%s", fmtTraits(got), fmtTraits(want))
	}

	got, err = s.GroupTraits(ctx, "b", "acme")
	if err != nil || len(got) != 1 || string(got[0].Value) != `"free"` || got[0].Name != "Plan" {
		t.Errorf("GroupTraits(b, acme) = %s, %v; want only plan=\"free\"", fmtTraits(got), err)
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

func equalTraits(a, b []store.Trait) bool {
	return slices.EqualFunc(a, b, func(x, y store.Trait) bool {
		return x.Key == y.Key && x.Name == y.Name && string(x.Value) == string(y.Value) &&
			x.UpdatedAt.Equal(y.UpdatedAt) && x.UpdatedAt.Location() == time.UTC &&
			x.Seq == y.Seq && x.Source == y.Source && x.MessageID == y.MessageID
	})
}

func fmtTraits(ts []store.Trait) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  %s(%s)=%s at %s seq %d %s/%s\n", t.Key, t.Name, t.Value, t.UpdatedAt, t.Seq, t.Source, t.MessageID)
	}
	return b.String()
}

func TestGroupMembers(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "", 1, 1)
	f.group("a", "lonely", "", 1, 1)
	f.group("b", "acme", "", 1, 1)
	for i, u := range []string{"u3", "u1", "u5", "u2", "u4"} {
		f.member("a", "acme", u, i, i+10)
	}
	f.member("b", "acme", "u0", 1, 1)
	f.member("a", "other", "u1", 1, 1)
	ctx := context.Background()

	tests := []struct {
		name      string
		ws, group string
		after     string
		limit     int
		want      []string
		missing   bool
	}{
		{name: "first page", ws: "a", group: "acme", limit: 2, want: []string{"u1", "u2"}},
		{name: "second page", ws: "a", group: "acme", after: "u2", limit: 2, want: []string{"u3", "u4"}},
		{name: "last page", ws: "a", group: "acme", after: "u4", limit: 2, want: []string{"u5"}},
		{name: "past the end", ws: "a", group: "acme", after: "u5", limit: 2, want: nil},
		{name: "after a key that is not a member", ws: "a", group: "acme", after: "u25", limit: 10, want: []string{"u3", "u4", "u5"}},
		{name: "no limit is a default page", ws: "a", group: "acme", limit: 0, want: []string{"u1", "u2", "u3", "u4", "u5"}},
		{name: "other workspace", ws: "b", group: "acme", limit: 10, want: []string{"u0"}},
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

	// u3 was inserted first: minute 0 .. minute 10.
	got, err := s.GroupMembers(ctx, "a", "acme", "u2", 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("GroupMembers: %v, %v", got, err)
	}
	if want := (store.Membership{GroupID: "acme", UserKey: "u3", FirstSeen: minute(0), LastSeen: minute(10)}); got[0] != want {
		t.Errorf("membership = %+v, want %+v", got[0], want)
	}
}

func TestTraitHistory(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "", 1, 1)
	f.group("a", "quiet", "", 1, 1)
	f.group("b", "acme", "", 1, 1)
	f.change("a", "acme", 10, "plan", "plan", "", `"free"`)
	f.change("a", "acme", 10, "name", "name", "", `"Acme"`)
	f.change("a", "acme", 20, "plan", "Plan", `"free"`, `"pro"`)
	f.change("a", "acme", 30, "employees", "employees", "", `12`)
	f.change("a", "acme", 30, "name", "name", `"Acme"`, `"Acme Inc"`)
	f.change("a", "acme", 30, "plan", "plan", `"pro"`, `"enterprise"`)
	f.change("a", "acme", 40, "createdat", "createdAt", "", `"2020-01-01"`)
	f.change("b", "acme", 50, "plan", "plan", "", `"other"`)
	ctx := context.Background()

	tests := []struct {
		name      string
		ws, group string
		key       string
		before    int64
		limit     int
		want      []string // seq/key
		missing   bool
	}{
		{name: "all", ws: "a", group: "acme", limit: 100,
			want: []string{"40/createdat", "30/employees", "30/name", "30/plan", "20/plan", "10/name", "10/plan"}},
		{name: "page ending inside a seq takes the whole seq", ws: "a", group: "acme", limit: 2,
			want: []string{"40/createdat", "30/employees", "30/name", "30/plan"}},
		{name: "next page", ws: "a", group: "acme", before: 30, limit: 2,
			want: []string{"20/plan", "10/name", "10/plan"}},
		{name: "page ending on a seq boundary", ws: "a", group: "acme", limit: 4,
			want: []string{"40/createdat", "30/employees", "30/name", "30/plan"}},
		{name: "one seq larger than the limit", ws: "a", group: "acme", before: 40, limit: 1,
			want: []string{"30/employees", "30/name", "30/plan"}},
		{name: "before the oldest", ws: "a", group: "acme", before: 10, limit: 10, want: nil},
		{name: "one key", ws: "a", group: "acme", key: "plan", limit: 10,
			want: []string{"30/plan", "20/plan", "10/plan"}},
		{name: "one key, spelled unfolded", ws: "a", group: "acme", key: "Created_At", limit: 10,
			want: []string{"40/createdat"}},
		{name: "one key, paged", ws: "a", group: "acme", key: "plan", before: 30, limit: 1,
			want: []string{"20/plan"}},
		{name: "unknown key", ws: "a", group: "acme", key: "nope", limit: 10, want: nil},
		{name: "other workspace", ws: "b", group: "acme", limit: 10, want: []string{"50/plan"}},
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
				ids = append(ids, fmt.Sprintf("%d/%s", c.Seq, c.Key))
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("changes = %v, want %v", ids, tc.want)
			}
		})
	}

	got, err := s.TraitHistory(ctx, "a", "acme", "plan", 0, 10)
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
	if string(latest.Old) != `"pro"` || string(latest.New) != `"enterprise"` || latest.Name != "plan" {
		t.Errorf("latest change = %+v", latest)
	}
	if got[1].Name != "Plan" {
		t.Errorf("change 20 Name = %q, want the spelling of that write, Plan", got[1].Name)
	}
}

// listFixture has groups in workspace a whose ids, names and times sort
// differently, with ties on name and on last_seen that group_id breaks.
func listFixture(t *testing.T) (*Store, fixture) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "g1", "zeta", 5, 50)
	f.group("a", "g2", "alpha", 3, 70)
	f.group("a", "g3", "mid", 9, 60)
	f.group("a", "g4", "alpha", 1, 70)
	f.group("a", "g5", "", 7, 40)
	f.group("a", "g6", "beta", 2, 80)
	f.group("b", "g0", "alpha", 0, 0)
	f.member("a", "g1", "u1", 1, 1)
	f.member("a", "g1", "u2", 1, 1)
	f.member("a", "g3", "u1", 1, 1)
	return s, f
}

// listAll pages through ListGroups with the given page size and returns the
// ids in order, checking that no page is larger than asked and that only
// the last page has no cursor.
func listAll(t *testing.T, s *Store, ws string, q store.GroupQuery) []string {
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

func TestListGroupsSort(t *testing.T) {
	s, _ := listFixture(t)
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

func TestListGroupsRows(t *testing.T) {
	s, _ := listFixture(t)
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

func TestListGroupsErrors(t *testing.T) {
	s, _ := listFixture(t)
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
			_, _, err := s.ListGroups(ctx, "a", tc.q)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Errorf("err = %v, want a sqlite: error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestListGroupsStablePaging writes groups between pages, before and after
// the cursor, and moves none of the rows already seen: the pages must
// neither repeat nor skip any group that existed throughout.
func TestListGroupsStablePaging(t *testing.T) {
	for _, sort := range []string{"id", "-id", "name", "-name", "first_seen", "-first_seen", "last_seen", "-last_seen"} {
		t.Run(sort, func(t *testing.T) {
			s, f := listFixture(t)
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
				f.group("a", fmt.Sprintf("g0-%d", i), "aaa", -10-i, -10-i)
				f.group("a", fmt.Sprintf("g9-%d", i), "zzz", 100+i, 100+i)
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

func TestListGroupsFilters(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "acme inc", 1, 1)
	f.group("a", "ACME-EU", "", 2, 2)
	f.group("a", "100%_real", "", 3, 3)
	f.group("a", "100xxreal", "", 4, 4)
	f.group("a", "path\\to", "", 5, 5)
	f.group("a", "g-7", "50% off_sale", 6, 6)
	f.group("a", "ÉCOLE", "école du nord", 7, 7)
	f.group("a", "ÉTÉ", "", 8, 8)
	f.group("a", "big", "big co", 9, 9)
	f.group("b", "acme", "acme b", 1, 1)
	f.groupTrait("a", "acme", "plan", "plan", `"enterprise"`, 1)
	f.groupTrait("a", "acme", "employees", "employees", `329`, 1)
	f.groupTrait("a", "acme", "address", "address", `{"city": "Paris"}`, 1)
	f.groupTrait("a", "big", "plan", "Plan", `"enterprise"`, 1)
	f.groupTrait("a", "big", "employees", "employees", `"329"`, 1)
	f.groupTrait("a", "ACME-EU", "plan", "plan", `"free"`, 1)
	f.groupTrait("a", "g-7", "plan", "plan", `null`, 1)
	f.groupTrait("b", "acme", "plan", "plan", `"enterprise"`, 1)

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

func TestUsers(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.user("a", "k1", 1, 9)
	f.user("a", "k2", 2, 2)
	f.user("b", "k1", 3, 3)
	f.identity("a", store.IDUserID, "alice", "k1", 5)
	f.identity("a", store.IDAnonymousID, "anon-2", "k1", 1)
	f.identity("a", store.IDAnonymousID, "anon-1", "k1", 5)
	f.identity("b", store.IDUserID, "alice", "k1", 3)
	f.userTrait("a", "k1", "name", "name", `"Alice"`, 4)
	f.userTrait("a", "k1", "email", "email", `"a@example.com"`, 6)
	f.userTrait("b", "k1", "name", "name", `"Other"`, 3)
	f.member("a", "g2", "k1", 1, 2)
	f.member("a", "g1", "k1", 3, 4)
	f.member("a", "g1", "k2", 3, 4)
	f.member("b", "g9", "k1", 3, 4)
	ctx := context.Background()

	t.Run("ResolveUser", func(t *testing.T) {
		tests := []struct {
			ws, typ, id string
			want        string
		}{
			{"a", store.IDUserID, "alice", "k1"},
			{"a", store.IDAnonymousID, "anon-1", "k1"},
			{"b", store.IDUserID, "alice", "k1"},
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
		got, err := s.User(ctx, "a", "k1")
		want := store.User{Workspace: "a", Key: "k1", Activity: store.Activity{
			FirstSeen: minute(1), LastSeen: minute(9),
			FirstMessageID: "m-first-k1", FirstSource: "web", LastMessageID: "m-last-k1", LastSource: "server"}}
		if err != nil || got != want {
			t.Errorf("User(a, k1) = %+v, %v\nwant %+v", got, err, want)
		}
		if got, err := s.User(ctx, "b", "k1"); err != nil || got.FirstSeen != minute(3) {
			t.Errorf("User(b, k1) = %+v, %v; want b's own", got, err)
		}
		_, err = s.User(ctx, "a", "nope")
		wantNotFound(t, "User(nope)", err)
		_, err = s.User(ctx, "b", "k2")
		wantNotFound(t, "User(other workspace)", err)
	})

	t.Run("UserTraits", func(t *testing.T) {
		got, err := s.UserTraits(ctx, "a", "k1")
		want := []store.Trait{
			{Key: "email", Name: "email", Value: json.RawMessage(`"a@example.com"`), UpdatedAt: minute(6), Seq: 6, Source: "web", MessageID: "m6"},
			{Key: "name", Name: "name", Value: json.RawMessage(`"Alice"`), UpdatedAt: minute(4), Seq: 4, Source: "web", MessageID: "m4"},
		}
		if err != nil || !equalTraits(got, want) {
			t.Errorf("UserTraits(a, k1) = %v\n%s\nwant\n%s", err, fmtTraits(got), fmtTraits(want))
		}
		if got, err := s.UserTraits(ctx, "a", "k2"); err != nil || len(got) != 0 {
			t.Errorf("UserTraits of a user without traits = %s, %v; want none", fmtTraits(got), err)
		}
		_, err = s.UserTraits(ctx, "a", "nope")
		wantNotFound(t, "UserTraits(nope)", err)
	})

	t.Run("ExternalIDs", func(t *testing.T) {
		got, err := s.ExternalIDs(ctx, "a", "k1")
		if err != nil {
			t.Fatalf("ExternalIDs: %v", err)
		}
		want := []store.ExternalID{
			{Type: store.IDAnonymousID, ID: "anon-2", Source: "web", FirstMessageID: "m1", CreatedAt: minute(1)},
			{Type: store.IDAnonymousID, ID: "anon-1", Source: "web", FirstMessageID: "m5", CreatedAt: minute(5)},
			{Type: store.IDUserID, ID: "alice", Source: "web", FirstMessageID: "m5", CreatedAt: minute(5)},
		}
		if !slices.Equal(got, want) {
			t.Errorf("ExternalIDs = %+v\nwant %+v", got, want)
		}
		if got, err := s.ExternalIDs(ctx, "a", "k2"); err != nil || len(got) != 0 {
			t.Errorf("ExternalIDs of a user without ids = %+v, %v", got, err)
		}
		if got, err := s.ExternalIDs(ctx, "b", "k1"); err != nil || len(got) != 1 {
			t.Errorf("ExternalIDs(b, k1) = %+v, %v; want b's one id", got, err)
		}
		_, err = s.ExternalIDs(ctx, "a", "nope")
		wantNotFound(t, "ExternalIDs(nope)", err)
	})

	t.Run("UserGroups", func(t *testing.T) {
		got, err := s.UserGroups(ctx, "a", "k1")
		want := []store.Membership{
			{GroupID: "g1", UserKey: "k1", FirstSeen: minute(3), LastSeen: minute(4)},
			{GroupID: "g2", UserKey: "k1", FirstSeen: minute(1), LastSeen: minute(2)},
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("UserGroups(a, k1) = %+v, %v\nwant %+v", got, err, want)
		}
		if got, err := s.UserGroups(ctx, "b", "k1"); err != nil || len(got) != 1 || got[0].GroupID != "g9" {
			t.Errorf("UserGroups(b, k1) = %+v, %v; want g9", got, err)
		}
		f.user("a", "k3", 1, 1)
		if got, err := s.UserGroups(ctx, "a", "k3"); err != nil || len(got) != 0 {
			t.Errorf("UserGroups of a user in no group = %+v, %v", got, err)
		}
		_, err = s.UserGroups(ctx, "a", "nope")
		wantNotFound(t, "UserGroups(nope)", err)
	})
}

func TestProfileEvents(t *testing.T) {
	s := openReadStore(t)
	f := fixture{t, s}
	f.group("a", "acme", "", 1, 1)
	f.group("a", "quiet", "", 1, 1)
	f.user("a", "k1", 1, 1)
	for seq := int64(1); seq <= 12; seq++ {
		ws := "a"
		if seq == 12 {
			ws = "b"
		}
		f.event(ws, seq)
	}
	for _, seq := range []int64{2, 3, 5, 8, 9, 11} {
		f.profileEvent("a", "accounts", "acme", seq)
	}
	for _, seq := range []int64{1, 3, 4} {
		f.profileEvent("a", "users", "k1", seq)
	}
	// The same key in the other collection and workspace must not leak in.
	f.profileEvent("a", "users", "acme", 10)
	f.profileEvent("b", "accounts", "acme", 12)
	// An index entry pointing at another workspace's event is not followed.
	f.profileEvent("a", "users", "k1", 12)
	f.group("b", "acme", "", 1, 1)
	ctx := context.Background()

	tests := []struct {
		name                string
		ws, collection, key string
		before              int64
		limit               int
		want                []int64
		missing             bool
		bad                 bool
	}{
		{name: "newest first", ws: "a", collection: "accounts", key: "acme", limit: 4, want: []int64{11, 9, 8, 5}},
		{name: "next page", ws: "a", collection: "accounts", key: "acme", before: 5, limit: 4, want: []int64{3, 2}},
		{name: "before between seqs", ws: "a", collection: "accounts", key: "acme", before: 10, limit: 2, want: []int64{9, 8}},
		{name: "nothing before", ws: "a", collection: "accounts", key: "acme", before: 2, limit: 4, want: nil},
		{name: "user", ws: "a", collection: "users", key: "k1", limit: 10, want: []int64{4, 3, 1}},
		{name: "other workspace", ws: "b", collection: "accounts", key: "acme", limit: 10, want: []int64{12}},
		{name: "group without events", ws: "a", collection: "accounts", key: "quiet", limit: 10, want: nil},
		{name: "missing group", ws: "a", collection: "accounts", key: "nope", limit: 10, missing: true},
		{name: "missing user", ws: "a", collection: "users", key: "nope", limit: 10, missing: true},
		{name: "group key is not a user", ws: "a", collection: "users", key: "quiet", limit: 10, missing: true},
		{name: "user only in another workspace", ws: "b", collection: "users", key: "k1", limit: 10, missing: true},
		{name: "unknown collection", ws: "a", collection: "groups", key: "acme", limit: 10, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ProfileEvents(ctx, tc.ws, tc.collection, tc.key, tc.before, tc.limit)
			switch {
			case tc.missing:
				wantNotFound(t, "ProfileEvents", err)
				return
			case tc.bad:
				if err == nil || errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "sqlite: ") {
					t.Errorf("err = %v, want a sqlite: error that is not ErrNotFound", err)
				}
				return
			case err != nil:
				t.Fatalf("ProfileEvents: %v", err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
				if e.Workspace != tc.ws || e.MessageID != fmt.Sprintf("m%d", e.Seq) || string(e.Body) != fmt.Sprintf(`{"seq":%d}`, e.Seq) ||
					!e.Timestamp.Equal(minute(int(e.Seq))) {
					t.Errorf("event %d = %+v", e.Seq, e)
				}
			}
			if !slices.Equal(seqs, tc.want) {
				t.Errorf("seqs = %v, want %v", seqs, tc.want)
			}
		})
	}
}
