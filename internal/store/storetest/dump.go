package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"roster/internal/store"
)

// ID is an external id of a user profile, for Dump to resolve.
type ID struct{ Type, ID string }

// dumpPage is the page size of Dump's reads; every read is paged to its
// end, so it only sets how many round trips a big profile takes.
const dumpPage = 500

// Dump renders all profile state of a workspace that the read methods
// reach, in a stable order, for comparing two states (incremental against
// rebuilt, before and after re-applying): every group with its traits,
// members, trait history and events; whether each of ids resolves, and to
// which profile; and every user profile reached through members or ids,
// with its traits, identities, groups and events. Users are found only
// through ids and memberships, as the Profile API finds them, so ids should
// name every identity the events used. Internal keys are part of it: a
// profile's key is its first identity, so the same log gives the same keys.
// A read that fails with anything but store.ErrNotFound fails the test.
func Dump(t testing.TB, s store.Profiles, workspace string, ids []ID) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	// found renders a read that may find nothing (a user that a membership
	// names but that is gone), and fails on any other error.
	found := func(what string, err error) bool {
		t.Helper()
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(&b, "  %s: not found\n", what)
			return false
		}
		if err != nil {
			t.Fatalf("dump: %s: %v", what, err)
		}
		return true
	}
	users := map[string]bool{}
	q := store.GroupQuery{Limit: dumpPage}
	for {
		gs, next, err := s.ListGroups(ctx, workspace, q)
		if err != nil {
			t.Fatalf("dump: ListGroups: %v", err)
		}
		for _, g := range gs {
			fmt.Fprintf(&b, "group %+v\n", g)
			ts, err := s.GroupTraits(ctx, workspace, g.ID)
			if found("traits of group "+g.ID, err) {
				writeTraits(&b, ts)
			}
			after := ""
			for {
				ms, err := s.GroupMembers(ctx, workspace, g.ID, after, dumpPage)
				if !found("members of group "+g.ID, err) || len(ms) == 0 {
					break
				}
				for _, m := range ms {
					fmt.Fprintf(&b, "  member %+v\n", m)
					users[m.UserKey] = true
				}
				after = ms[len(ms)-1].UserKey
			}
			var before int64
			for {
				h, err := s.TraitHistory(ctx, workspace, g.ID, "", before, dumpPage)
				if !found("history of group "+g.ID, err) || len(h) == 0 {
					break
				}
				for _, c := range h {
					old := "<none>"
					if c.Old != nil {
						old = string(c.Old)
					}
					fmt.Fprintf(&b, "  change seq=%d key=%s name=%q %s → %s msg=%s at=%s\n", c.Seq, c.Key, c.Name, old, c.New, c.MessageID, c.Timestamp)
				}
				// A page ends with every change of its last event.
				before = h[len(h)-1].Seq
			}
			writeEvents(&b, t, s, workspace, store.Accounts, g.ID, found)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	for _, id := range ids {
		k, err := s.ResolveUser(ctx, workspace, id.Type, id.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			fmt.Fprintf(&b, "identity %s:%s → none\n", id.Type, id.ID)
		case err != nil:
			t.Fatalf("dump: ResolveUser(%s:%s): %v", id.Type, id.ID, err)
		default:
			fmt.Fprintf(&b, "identity %s:%s → %s\n", id.Type, id.ID, k)
			users[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(users)) {
		fmt.Fprintf(&b, "user %s\n", k)
		u, err := s.User(ctx, workspace, k)
		if !found("user "+k, err) {
			continue
		}
		fmt.Fprintf(&b, "  %+v\n", u)
		ts, err := s.UserTraits(ctx, workspace, k)
		if found("traits of user "+k, err) {
			writeTraits(&b, ts)
		}
		xs, err := s.ExternalIDs(ctx, workspace, k)
		if found("ids of user "+k, err) {
			for _, x := range xs {
				fmt.Fprintf(&b, "  id %+v\n", x)
			}
		}
		ms, err := s.UserGroups(ctx, workspace, k)
		if found("groups of user "+k, err) {
			for _, m := range ms {
				fmt.Fprintf(&b, "  in %+v\n", m)
			}
		}
		writeEvents(&b, t, s, workspace, store.Users, k, found)
	}
	return b.String()
}

func writeTraits(b *strings.Builder, ts []store.Trait) {
	for _, tr := range ts {
		fmt.Fprintf(b, "  trait %s name=%q value=%s at=%s seq=%d source=%s msg=%s\n", tr.Key, tr.Name, tr.Value, tr.UpdatedAt, tr.Seq, tr.Source, tr.MessageID)
	}
}

// writeEvents renders the seqs of a profile's events, newest first by time; the
// seq names the event in the log.
func writeEvents(b *strings.Builder, t testing.TB, s store.Profiles, workspace, collection, key string, found func(string, error) bool) {
	t.Helper()
	var seqs []string
	var after store.EventPosition
	for {
		evs, err := s.ProfileEvents(context.Background(), workspace, collection, key, store.EventPage{After: after, Limit: dumpPage})
		if !found("events of "+collection+" "+key, err) || len(evs) == 0 {
			break
		}
		for _, e := range evs {
			seqs = append(seqs, fmt.Sprint(e.Seq))
		}
		after = store.PositionOf(evs[len(evs)-1])
	}
	fmt.Fprintf(b, "  events [%s]\n", strings.Join(seqs, " "))
}
