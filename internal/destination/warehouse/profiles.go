package warehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"roster/internal/destination"
	"roster/internal/store"
)

// Profiles is what the warehouse reads of the processed profiles: the
// state the Profile API serves, built by internal/profile. The warehouse
// copies it and applies no profile rule of its own.
type Profiles interface {
	Cursor(ctx context.Context, name string) (int64, error)
	Group(ctx context.Context, workspace, groupID string) (store.Group, error)
	GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error)
	GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error)
	ResolveUser(ctx context.Context, workspace, idType, id string) (string, error)
	User(ctx context.Context, workspace, key string) (store.User, error)
	UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error)
	ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error)
	UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error)
}

// profileColumns are the columns of accounts and users that are not
// traits.
var profileColumns = map[string][]column{
	tableAccounts: {{"id", typeText}, {"first_seen_at", typeTime}, {"last_seen_at", typeTime}, {"member_count", typeInt}, {"uuid_ts", typeTime}},
	tableUsers:    {{"id", typeText}, {"first_seen_at", typeTime}, {"last_seen_at", typeTime}, {"uuid_ts", typeTime}},
}

// membership is a row of the memberships table.
type membership struct {
	groupID, userKey, userID, anonymousID string
	firstSeen, lastSeen                   time.Time
}

// profileRows are the profile tables' rows a batch replaces.
type profileRows struct {
	accounts, users []*row
	memberships     []membership
	// refreshed are groups whose member rows are all replaced: those of
	// a user whose identities the batch may have merged.
	refreshed []string
	// members are users whose member rows are replaced.
	members []string
}

// touched are the profiles a batch's events are about.
type touched struct {
	groups     []string
	userIDs    []string
	identities [][2]string
	// merging are identities of alias calls and of identify calls with
	// both ids, which may move one profile's memberships onto another.
	merging map[[2]string]bool
}

func touches(evs []destination.Event) touched {
	t := touched{merging: map[[2]string]bool{}}
	seen := map[[2]string]bool{}
	addID := func(typ, id string, merge bool) {
		if id == "" {
			return
		}
		k := [2]string{typ, id}
		if merge {
			t.merging[k] = true
		}
		if seen[k] {
			return
		}
		seen[k] = true
		if typ == store.IDGroupID {
			t.groups = append(t.groups, id)
			return
		}
		if typ == store.IDUserID {
			t.userIDs = append(t.userIDs, id)
		}
		t.identities = append(t.identities, k)
	}
	for _, ev := range evs {
		merge := ev.Type == "alias" || (ev.Type == "identify" && ev.UserID != "" && ev.AnonymousID != "")
		addID(store.IDGroupID, ev.GroupID, false)
		addID(store.IDUserID, ev.UserID, merge)
		addID(store.IDAnonymousID, ev.AnonymousID, merge)
		if ev.Type == "alias" {
			addID(store.IDUserID, ev.PreviousID, true)
			addID(store.IDAnonymousID, ev.PreviousID, true)
		}
	}
	return t
}

// readProfiles reads the current state of the profiles a batch touched.
// keyColumns maps a folded trait key to the column a table keeps it in,
// so that every spelling of a trait lands in one column.
func readProfiles(ctx context.Context, p Profiles, ws string, t touched, loadedAt time.Time, keyColumns map[string]map[string]string, out *batchRows) (*profileRows, error) {
	pr := &profileRows{}
	for _, g := range t.groups {
		group, err := p.Group(ctx, ws, g)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g, err)
		}
		traits, err := p.GroupTraits(ctx, ws, g)
		if err != nil {
			return nil, fmt.Errorf("group %s traits: %w", g, err)
		}
		r := newRow(g, loadedAt)
		r.set("id", g)
		r.set("first_seen_at", nonZero(group.FirstSeen))
		r.set("last_seen_at", nonZero(group.LastSeen))
		r.set("member_count", json.Number(fmt.Sprint(group.Members)))
		r.set("uuid_ts", loadedAt)
		traitColumns(r, tableAccounts, traits, keyColumns[tableAccounts], out)
		pr.accounts = append(pr.accounts, r)
	}
	keys := map[string]bool{}
	var keyOrder []string
	refresh := map[string]bool{}
	for _, id := range t.identities {
		key, err := p.ResolveUser(ctx, ws, id[0], id[1])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %s %s: %w", id[0], id[1], err)
		}
		if !keys[key] {
			keys[key] = true
			keyOrder = append(keyOrder, key)
		}
		if t.merging[id] {
			refresh[key] = true
		}
		if id[0] == store.IDUserID {
			r, err := userRow(ctx, p, ws, key, id[1], loadedAt, keyColumns[tableUsers], out)
			if err != nil {
				return nil, err
			}
			if r != nil {
				pr.users = append(pr.users, r)
			}
		}
	}
	groups := map[string]bool{}
	for _, key := range keyOrder {
		ms, err := p.UserGroups(ctx, ws, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("user %s groups: %w", key, err)
		}
		if !refresh[key] {
			ids, err := p.ExternalIDs(ctx, ws, key)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("user %s ids: %w", key, err)
			}
			pr.members = append(pr.members, key)
			for _, m := range ms {
				pr.memberships = append(pr.memberships, memberRow(m, ids))
			}
			continue
		}
		for _, m := range ms {
			if !groups[m.GroupID] {
				groups[m.GroupID] = true
				pr.refreshed = append(pr.refreshed, m.GroupID)
			}
		}
	}
	for _, g := range pr.refreshed {
		if err := groupMembers(ctx, p, ws, g, pr); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

func userRow(ctx context.Context, p Profiles, ws, key, userID string, loadedAt time.Time, keyColumns map[string]string, out *batchRows) (*row, error) {
	u, err := p.User(ctx, ws, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", key, err)
	}
	traits, err := p.UserTraits(ctx, ws, key)
	if err != nil {
		return nil, fmt.Errorf("user %s traits: %w", key, err)
	}
	r := newRow(userID, loadedAt)
	r.set("id", userID)
	r.set("first_seen_at", nonZero(u.FirstSeen))
	r.set("last_seen_at", nonZero(u.LastSeen))
	r.set("uuid_ts", loadedAt)
	traitColumns(r, tableUsers, traits, keyColumns, out)
	return r, nil
}

// groupMembers reads every member of a group.
func groupMembers(ctx context.Context, p Profiles, ws, g string, pr *profileRows) error {
	after := ""
	for {
		ms, err := p.GroupMembers(ctx, ws, g, after, 1000)
		if err != nil {
			return fmt.Errorf("group %s members: %w", g, err)
		}
		if len(ms) == 0 {
			return nil
		}
		for _, m := range ms {
			ids, err := p.ExternalIDs(ctx, ws, m.UserKey)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("user %s ids: %w", m.UserKey, err)
			}
			pr.memberships = append(pr.memberships, memberRow(m, ids))
		}
		after = ms[len(ms)-1].UserKey
	}
}

// memberRow names a member by its first user id and first anonymous id,
// as the Profile API lists them.
func memberRow(m store.Membership, ids []store.ExternalID) membership {
	r := membership{groupID: m.GroupID, userKey: m.UserKey, firstSeen: m.FirstSeen, lastSeen: m.LastSeen}
	for _, x := range ids {
		switch {
		case x.Type == store.IDUserID && r.userID == "":
			r.userID = x.ID
		case x.Type == store.IDAnonymousID && r.anonymousID == "":
			r.anonymousID = x.ID
		}
	}
	return r
}

// traitColumns adds a profile's traits to its row: one column per folded
// trait key, objects flattened. A trait whose value is null adds no value:
// the column stays NULL.
func traitColumns(r *row, table string, traits []store.Trait, keyColumns map[string]string, out *batchRows) {
	for _, t := range traits {
		v := decode(t.Value)
		if v == nil {
			continue
		}
		col, ok := keyColumns[t.Key]
		if !ok {
			col = SnakeCase(t.Name)
		}
		if col == "" {
			out.discards = append(out.discards, discard{table, t.Name, text(v), r.id, r.receivedAt, "name has no letter or digit"})
			continue
		}
		if m, ok := v.(map[string]any); ok {
			flatten(r, col, m, "", out, table)
			continue
		}
		if slices.ContainsFunc(profileColumns[table], func(c column) bool { return c.name == col }) {
			out.discards = append(out.discards, discard{table, col, text(v), r.id, r.receivedAt, "reserved column: " + t.Name})
			continue
		}
		keyColumns[t.Key] = col
		if a, ok := v.([]any); ok {
			v = text(a)
		}
		r.set(col, v)
	}
}

// decode reads a stored trait value, numbers kept as sent.
func decode(raw json.RawMessage) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}
