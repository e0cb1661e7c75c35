package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/store"
)

// The read side of the profile store, checked against state built from
// known events: each read's ordering, paging, workspaces and not-found
// cases. Times are minutes after t0; seqs are whatever the log assigned,
// looked up by message id.

// runReads runs the read tests; each opens its own store.
func runReads(t *testing.T, open Opener) {
	t.Run("Group", func(t *testing.T) { testGroup(t, open) })
	t.Run("GroupTraits", func(t *testing.T) { testGroupTraits(t, open) })
	t.Run("GroupMembers", func(t *testing.T) { testGroupMembers(t, open) })
	t.Run("TraitHistory", func(t *testing.T) { testTraitHistory(t, open) })
	t.Run("ListGroupsSort", func(t *testing.T) { testListGroupsSort(t, open) })
	t.Run("ListGroupsRows", func(t *testing.T) { testListGroupsRows(t, open) })
	t.Run("ListGroupsErrors", func(t *testing.T) { testListGroupsErrors(t, open) })
	t.Run("ListGroupsStablePaging", func(t *testing.T) { testListGroupsStablePaging(t, open) })
	t.Run("ListGroupsFilters", func(t *testing.T) { testListGroupsFilters(t, open) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("ProfileEvents", func(t *testing.T) { testProfileEvents(t, open) })
}

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// fixture logs events as ingestion would and applies them with the real
// processor, remembering the seq the log gave each message.
type fixture struct {
	t      *testing.T
	s      store.Store
	logged []store.Event
	seqs   map[string]int64 // workspace/messageId → seq
	msgs   map[int64]string // seq → messageId
}

func newFixture(t *testing.T, s store.Store) *fixture {
	return &fixture{t: t, s: s, seqs: map[string]int64{}, msgs: map[int64]string{}}
}

// log appends one event of workspace ws from source src at minute at;
// body holds the message's members other than type and messageId.
func (f *fixture) log(ws, src string, at int, typ, msgID, body string) {
	f.t.Helper()
	e := call{typ, msgID, time.Duration(at) * time.Minute, body}.event(ws)
	e.Source = src
	mustAppend(f.t, f.s, []store.Event{e}, nil)
	f.logged = append(f.logged, e)
}

// group logs a group call of identity (JSON members, e.g. `"userId":"u1"`)
// to groupID with traits (a JSON object, or "" for none), from web.
func (f *fixture) group(ws string, at int, msgID, identity, groupID, traits string) {
	f.t.Helper()
	body := identity + `,"groupId":` + js(groupID)
	if traits != "" {
		body += `,"traits":` + traits
	}
	f.log(ws, "web", at, "group", msgID, body)
}

// apply applies everything logged so far and learns the seqs.
func (f *fixture) apply() {
	f.t.Helper()
	catchUp(f.t, f.s)
	for _, e := range readAll(f.t, f.s) {
		f.seqs[e.Workspace+"/"+e.MessageID] = e.Seq
		f.msgs[e.Seq] = e.MessageID
	}
}

// seq is the seq of a message of workspace ws.
func (f *fixture) seq(ws, msgID string) int64 {
	f.t.Helper()
	seq, ok := f.seqs[ws+"/"+msgID]
	if !ok {
		f.t.Fatalf("no logged message %s/%s", ws, msgID)
	}
	return seq
}

// js is s as a JSON string.
func js(s string) string {
	b, _ := json.Marshal(s) // a string: cannot fail
	return string(b)
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
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
