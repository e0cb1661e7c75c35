package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"roster/internal/store"
)

// memory is the smallest backend: maps that Changes are written into. It
// checks the engine's own bookkeeping; storetest checks it on every real
// backend.
type memory struct {
	ids     map[Identity]string
	recs    map[Ref][]byte
	members map[[3]string]Member
	events  []EventRef
	history []HistoryEntry
}

func newMemory() *memory {
	return &memory{ids: map[Identity]string{}, recs: map[Ref][]byte{}, members: map[[3]string]Member{}}
}

func (m *memory) LoadIdentities(_ context.Context, ids []Identity) (map[Identity]string, error) {
	out := map[Identity]string{}
	for _, id := range ids {
		if k, ok := m.ids[id]; ok {
			out[id] = k
		}
	}
	return out, nil
}

func (m *memory) LoadRecords(_ context.Context, refs []Ref) (map[Ref]*Record, error) {
	out := map[Ref]*Record{}
	for _, r := range refs {
		if b, ok := m.recs[r]; ok {
			rec, err := Unmarshal(b)
			if err != nil {
				return nil, err
			}
			out[r] = rec
		}
	}
	return out, nil
}

func (m *memory) apply(t *testing.T, updates ...store.ProfileUpdate) {
	t.Helper()
	c, err := Apply(context.Background(), m, updates, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range c.Records {
		if rc.New == nil {
			delete(m.recs, rc.Ref)
			continue
		}
		m.recs[rc.Ref] = rc.New.Marshal(nil)
	}
	for id, k := range c.Identities {
		m.ids[id] = k
	}
	for _, mc := range c.Memberships {
		k := [3]string{mc.Workspace, mc.GroupID, mc.UserKey}
		if mc.Deleted {
			delete(m.members, k)
		} else {
			m.members[k] = mc.Member
		}
	}
	m.events = append(m.events, c.Events...)
	m.history = append(m.history, c.History...)
}

func (m *memory) record(t *testing.T, kind Kind, id string) *Record {
	t.Helper()
	b, ok := m.recs[Ref{"ws", kind, id}]
	if !ok {
		t.Fatalf("no profile %c %s", kind, id)
	}
	r, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func update(seq int64, typ string, at time.Duration, fields map[string]string, traits ...string) store.ProfileUpdate {
	u := store.ProfileUpdate{Seq: seq, Workspace: "ws", Source: "web", MessageID: fmt.Sprint("m", seq), Type: typ, Timestamp: t0.Add(at),
		UserID: fields["userId"], AnonymousID: fields["anonymousId"], GroupID: fields["groupId"], PreviousID: fields["previousId"]}
	for i := 0; i+1 < len(traits); i += 2 {
		u.Traits = append(u.Traits, store.TraitValue{Name: traits[i], Key: traits[i], Value: json.RawMessage(traits[i+1])})
	}
	return u
}

// The merge of an anonymous member into a user that is a member too leaves
// one membership, with the earliest and latest times, and one member.
func TestMergeOfTwoMembersCountsOne(t *testing.T) {
	m := newMemory()
	m.apply(t,
		update(1, "group", 0, map[string]string{"anonymousId": "a1", "groupId": "g1"}),
		update(2, "group", time.Hour, map[string]string{"userId": "u1", "groupId": "g1"}),
	)
	if n := m.record(t, Group, "g1").Members; n != 2 {
		t.Fatalf("members before merge = %d, want 2", n)
	}
	m.apply(t, update(3, "identify", 2*time.Hour, map[string]string{"userId": "u1", "anonymousId": "a1"}))
	if n := m.record(t, Group, "g1").Members; n != 1 {
		t.Errorf("members after merge = %d, want 1", n)
	}
	want := map[[3]string]Member{{"ws", "g1", "user_id:u1"}: {GroupID: "g1", First: t0.UnixMilli(), Last: t0.Add(time.Hour).UnixMilli()}}
	if !reflect.DeepEqual(m.members, want) {
		t.Errorf("member rows = %v, want %v", m.members, want)
	}
	if _, ok := m.recs[Ref{"ws", User, "anonymous_id:a1"}]; ok {
		t.Error("the merged anonymous profile still exists")
	}
	u := m.record(t, User, "user_id:u1")
	if !reflect.DeepEqual(u.Merged, []string{"anonymous_id:a1"}) || len(u.IDs) != 2 {
		t.Errorf("user after merge: merged %v, ids %v", u.Merged, u.IDs)
	}
	if m.ids[Identity{"ws", "anonymous_id", "a1"}] != "user_id:u1" {
		t.Errorf("anonymous id points at %q", m.ids[Identity{"ws", "anonymous_id", "a1"}])
	}
}

// Traits are last-writer-wins by timestamp whatever the batching: one
// batch, or an event per batch, in log order or with the late one first.
func TestTraitsDoNotDependOnBatching(t *testing.T) {
	calls := []store.ProfileUpdate{
		update(1, "group", 2*time.Hour, map[string]string{"userId": "u1", "groupId": "g1"}, "plan", `"pro"`, "seats", `5`),
		update(2, "group", time.Hour, map[string]string{"userId": "u2", "groupId": "g1"}, "plan", `"free"`, "region", `"eu"`),
		update(3, "group", 3*time.Hour, map[string]string{"userId": "u1", "groupId": "g1"}, "seats", `null`),
	}
	one := newMemory()
	one.apply(t, calls...)
	each := newMemory()
	for _, c := range calls {
		each.apply(t, c)
	}
	for _, m := range []*memory{one, each} {
		g := m.record(t, Group, "g1")
		got := map[string]string{}
		for _, tr := range g.Traits {
			got[tr.Key] = string(tr.Value)
		}
		want := map[string]string{"plan": `"pro"`, "seats": "null", "region": `"eu"`}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("traits = %v, want %v", got, want)
		}
		if g.Members != 2 || g.First.Seq != 2 || g.Last.Seq != 3 {
			t.Errorf("members %d, first seq %d, last seq %d; want 2, 2, 3", g.Members, g.First.Seq, g.Last.Seq)
		}
	}
	// The late old write changed nothing it lost, so only what won is in
	// the history: plan and seats at 1, region at 2, seats at 3.
	var changes []string
	for _, h := range one.history {
		for _, c := range h.Changes {
			changes = append(changes, fmt.Sprintf("%d:%s", c.Seq, c.Key))
		}
	}
	if want := []string{"1:plan", "1:seats", "2:region", "3:seats"}; !reflect.DeepEqual(changes, want) {
		t.Errorf("history = %v, want %v", changes, want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := &Record{
		First: Mark{At: 1, Seq: 2, MessageID: "m", Source: "web"}, Last: Mark{At: 3, Seq: 4},
		Traits:  []store.Trait{{Key: "name", Name: "Name", Value: json.RawMessage(`"Acme"`), UpdatedAt: time.UnixMilli(5).UTC(), Seq: 6, Source: "s", MessageID: "x"}},
		Members: 7,
		Groups:  []Member{{GroupID: "g", First: -8, Last: 9}},
		IDs:     []store.ExternalID{{Type: "user_id", ID: "u", Source: "s", FirstMessageID: "f", CreatedAt: time.UnixMilli(10).UTC()}},
		Merged:  []string{"anonymous_id:a"},
	}
	got, err := Unmarshal(r.Marshal(nil))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, r)
	}
	for n := range len(r.Marshal(nil)) {
		if _, err := Unmarshal(r.Marshal(nil)[:n]); err == nil {
			t.Fatalf("a record cut to %d bytes was read without error", n)
		}
	}
	if got.SortName() != "acme" {
		t.Errorf("sort name %q", got.SortName())
	}
}
