package profile

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"roster/internal/store"
)

// Loader reads the stored state that a batch of updates starts from. A
// backend implements it over the transaction that will commit the batch's
// Changes, so that what the engine read is what it writes over.
type Loader interface {
	// LoadIdentities returns the user key of each identity that exists.
	LoadIdentities(ctx context.Context, ids []Identity) (map[Identity]string, error)
	// LoadRecords returns the records of the profiles that exist, for the
	// engine to change: none may be shared with another caller.
	LoadRecords(ctx context.Context, refs []Ref) (map[Ref]*Record, error)
}

// RecordChange is a profile whose record changed. New is nil when the
// profile is gone (merged into another). Existed says whether it was stored
// before the batch and, for a group, Was where it sorted then, so that a
// backend can move what it keeps beside the record (an index of names)
// without reading it again.
type RecordChange struct {
	Ref     Ref
	Existed bool
	Was     Order
	New     *Record
}

// MembershipChange is a row of a group's member list: set to Member, or
// deleted.
type MembershipChange struct {
	Workspace, GroupID, UserKey string
	Member                      Member
	Deleted                     bool
}

// EventRef files an event under a profile ("users" or "accounts"), where
// it sorts among the profile's events (store.EventPosition).
type EventRef struct {
	Workspace, Collection, Key string
	At                         int64 // Unix ms of the corrected timestamp
	Seq                        int64
}

// HistoryEntry is what one event changed of a group's traits.
type HistoryEntry struct {
	Workspace, GroupID string
	Seq                int64
	Changes            []store.TraitChange
}

// Changes is what a batch does to the stored state. A backend writes all
// of it, with its cursor, in one atomic commit.
type Changes struct {
	Records     []RecordChange
	Identities  map[Identity]string // identity → the user key it now points at
	Memberships []MembershipChange
	// Events and History are in log order.
	Events  []EventRef
	History []HistoryEntry
}

// Apply applies updates after cursor (those at or below it were applied
// already) to the state that load reads, and returns the changes. These
// are the profile rules of DESIGN.md, once for every backend.
func Apply(ctx context.Context, load Loader, updates []store.ProfileUpdate, cursor int64) (*Changes, error) {
	a := &applier{ctx: ctx, load: load, ids: map[Identity]string{}, recs: map[Ref]*loaded{},
		changes: &Changes{Identities: map[Identity]string{}}, members: map[memberKey]struct{}{}}
	i := 0
	for i < len(updates) && updates[i].Seq <= cursor {
		i++
	}
	updates = updates[i:]
	if err := a.prefetch(updates); err != nil {
		return nil, err
	}
	for i := range updates {
		if err := a.apply(&updates[i]); err != nil {
			return nil, fmt.Errorf("profile: apply event %d: %w", updates[i].Seq, err)
		}
	}
	return a.finish(), nil
}

// loaded is a profile as the batch has made it, and what the backend needs
// of it as it was loaded.
type loaded struct {
	cur     *Record // nil while the profile does not exist
	existed bool
	was     Order
	dirty   bool
}

type applier struct {
	ctx  context.Context
	load Loader
	// ids caches identity lookups; "" is a lookup that found none.
	ids     map[Identity]string
	recs    map[Ref]*loaded
	order   []Ref // recs in the order first touched, for a stable output
	changes *Changes
	// members are the member rows to write as the final records say.
	members map[memberKey]struct{}
}

type memberKey struct{ workspace, group, user string }

// prefetch loads, in two round trips, the identities a batch names and the
// profiles they and its groups lead to, so that apply seldom reads alone.
func (a *applier) prefetch(updates []store.ProfileUpdate) error {
	var ids []Identity
	seen := map[Identity]bool{}
	want := func(ws, typ, id string) {
		k := Identity{ws, typ, id}
		if id != "" && !seen[k] {
			seen[k] = true
			ids = append(ids, k)
		}
	}
	for i := range updates {
		u := &updates[i]
		want(u.Workspace, store.IDUserID, u.UserID)
		want(u.Workspace, store.IDAnonymousID, u.AnonymousID)
		want(u.Workspace, store.IDEmail, emailOf(u))
		if u.Type == "alias" {
			want(u.Workspace, store.IDUserID, u.PreviousID)
			want(u.Workspace, store.IDAnonymousID, u.PreviousID)
		}
	}
	found, err := a.load.LoadIdentities(a.ctx, ids)
	if err != nil {
		return fmt.Errorf("profile: load identities: %w", err)
	}
	var refs []Ref
	seenRef := map[Ref]bool{}
	wantRef := func(r Ref) {
		if !seenRef[r] {
			seenRef[r] = true
			refs = append(refs, r)
		}
	}
	for _, k := range ids {
		key, ok := found[k]
		a.ids[k] = key
		if !ok {
			key = newUserKey(k.Type, k.ID)
		}
		wantRef(Ref{k.Workspace, User, key})
	}
	for i := range updates {
		if u := &updates[i]; u.GroupID != "" {
			wantRef(Ref{u.Workspace, Group, u.GroupID})
		}
	}
	return a.loadRecords(refs)
}

// newUserKey is the key of a new user profile: its first identity, which
// no other profile can have.
func newUserKey(idType, id string) string { return idType + ":" + id }

func (a *applier) loadRecords(refs []Ref) error {
	if len(refs) == 0 {
		return nil
	}
	recs, err := a.load.LoadRecords(a.ctx, refs)
	if err != nil {
		return fmt.Errorf("profile: load profiles: %w", err)
	}
	for _, r := range refs {
		// The loader handed the record over: the batch changes it in place.
		l := &loaded{cur: recs[r], existed: recs[r] != nil}
		if l.existed && r.Kind == Group {
			l.was = l.cur.Order()
		}
		a.recs[r] = l
		a.order = append(a.order, r)
	}
	return nil
}

// profile returns a profile's state, loading it if the batch has not.
func (a *applier) profile(r Ref) (*loaded, error) {
	if l, ok := a.recs[r]; ok {
		return l, nil
	}
	if err := a.loadRecords([]Ref{r}); err != nil {
		return nil, err
	}
	return a.recs[r], nil
}

// record returns a profile's record for writing, creating the profile if
// it does not exist.
func (a *applier) record(r Ref) (*Record, error) {
	l, err := a.profile(r)
	if err != nil {
		return nil, err
	}
	if l.cur == nil {
		l.cur = &Record{}
	}
	l.dirty = true
	return l.cur, nil
}

func (a *applier) apply(u *store.ProfileUpdate) error {
	key, err := a.resolve(u)
	if err != nil {
		return err
	}
	mark := Mark{At: u.Timestamp.UnixMilli(), Seq: u.Seq, MessageID: u.MessageID, Source: u.Source}
	if key != "" {
		user, err := a.record(Ref{u.Workspace, User, key})
		if err != nil {
			return err
		}
		user.touch(mark, mark)
		a.event(store.Users, u.Workspace, key, mark)
		if u.Type == "identify" {
			for _, t := range u.Traits {
				user.setTrait(traitOf(t, u))
			}
			if err := a.claimEmail(u, key); err != nil {
				return err
			}
		}
	}
	if u.GroupID == "" {
		return nil
	}
	group, err := a.record(Ref{u.Workspace, Group, u.GroupID})
	if err != nil {
		return err
	}
	group.touch(mark, mark)
	a.event(store.Accounts, u.Workspace, u.GroupID, mark)
	if u.Type != "group" {
		return nil // context.groupId attributes activity, it is no membership
	}
	var changes []store.TraitChange
	for _, tv := range u.Traits {
		t := traitOf(tv, u)
		if changed, old := group.setTrait(t); changed {
			changes = append(changes, store.TraitChange{Seq: u.Seq, Key: t.Key, Name: t.Name, Old: old, New: t.Value, MessageID: u.MessageID, Timestamp: t.UpdatedAt})
		}
	}
	if len(changes) > 0 {
		a.changes.History = append(a.changes.History, HistoryEntry{Workspace: u.Workspace, GroupID: u.GroupID, Seq: u.Seq, Changes: changes})
	}
	if key == "" {
		return nil
	}
	user, err := a.record(Ref{u.Workspace, User, key})
	if err != nil {
		return err
	}
	if user.join(Member{GroupID: u.GroupID, First: mark.At, Last: mark.At}) {
		group.Members++
	}
	a.members[memberKey{u.Workspace, u.GroupID, key}] = struct{}{}
	return nil
}

func traitOf(t store.TraitValue, u *store.ProfileUpdate) store.Trait {
	return store.Trait{Key: t.Key, Name: t.Name, Value: t.Value, UpdatedAt: u.Timestamp, Seq: u.Seq, Source: u.Source, MessageID: u.MessageID}
}

func (a *applier) event(collection, workspace, key string, m Mark) {
	a.changes.Events = append(a.changes.Events, EventRef{Workspace: workspace, Collection: collection, Key: key, At: m.At, Seq: m.Seq})
}

// finish gathers the changed records and the member rows as the final
// records say.
func (a *applier) finish() *Changes {
	c := a.changes
	for _, r := range a.order {
		if l := a.recs[r]; l.dirty {
			c.Records = append(c.Records, RecordChange{Ref: r, Existed: l.existed, Was: l.was, New: l.cur})
		}
	}
	for k := range a.members {
		m := MembershipChange{Workspace: k.workspace, GroupID: k.group, UserKey: k.user, Deleted: true}
		if l := a.recs[Ref{k.workspace, User, k.user}]; l != nil && l.cur != nil {
			member, ok := l.cur.member(k.group)
			m.Member, m.Deleted = member, !ok
		}
		c.Memberships = append(c.Memberships, m)
	}
	// Map order is random; a backend that locks rows must take them in one
	// order, or two commits could deadlock.
	slices.SortFunc(c.Memberships, func(x, y MembershipChange) int {
		return cmp.Or(cmp.Compare(x.Workspace, y.Workspace), cmp.Compare(x.GroupID, y.GroupID), cmp.Compare(x.UserKey, y.UserKey))
	})
	return c
}
