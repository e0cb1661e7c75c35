package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
)

// B-tree entries must fit in a third of a page, and random text does not
// compress: a trait name, a name trait or a value of a few KB (a message
// may have 32 KB) must not fail processing, which would stop it for good.
// Traits live in the record, not in an index, so a long name is kept.
func TestLongTraitsDoNotStopProcessing(t *testing.T) {
	s := open(t, store.Options{})
	random := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('a' + rand.IntN(26)))
		}
		return b.String()
	}
	longName, longValue, longKey := random(5000), random(8000), random(2000)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	e := store.Event{Workspace: "ws", Source: "web", MessageID: "m1", Type: "group", Timestamp: at, ReceivedAt: at, UserID: "u", GroupID: "g",
		Body: fmt.Appendf(nil, `{"type":"group","messageId":"m1","userId":"u","groupId":"g","traits":{%q:1,"name":%q,"plan":%q}}`,
			longKey, longName, longValue)}
	if err := s.Append(context.Background(), []store.Event{e}, nil); err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, 10)
	got := map[string]int{}
	ts, err := s.GroupTraits(context.Background(), "ws", "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		got[tr.Key] = len(tr.Value)
	}
	if want := map[string]int{longKey: 1, "name": len(longName) + 2, "plan": len(longValue) + 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("traits (key: value length) = %v, want %v: the 2,000-byte trait name and long values kept whole", got, want)
	}
	gs, _, err := s.ListGroups(context.Background(), "ws", store.GroupQuery{Text: longName[:100], Sort: "name"})
	if err != nil || len(gs) != 1 {
		t.Errorf("search by the start of a long name = %v, %v; want g", gs, err)
	}
	gs, _, err = s.ListGroups(context.Background(), "ws", store.GroupQuery{Traits: map[string]json.RawMessage{longKey: json.RawMessage("1")}})
	if err != nil || len(gs) != 1 {
		t.Errorf("filter by the long trait = %v, %v; want g", gs, err)
	}
}
