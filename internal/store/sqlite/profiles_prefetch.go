package sqlite

import (
	"encoding/json"

	"roster/internal/store"
)

// Prefetching fills the batch's caches before the first event is applied:
// one query for every identity the batch names and one for the traits of
// every profile it is likely to write, instead of a query each the first
// time an event asks. A point query through database/sql costs more than
// the lookup itself, and a batch asks thousands of them.
//
// A prefetched entry is the table's content at the start of the batch, so
// it can stand in for the lazy read it replaces; an identity that is not
// in the table is cached as "" (known absent). The applier keeps both
// caches right as it writes, and whatever was not prefetched is still read
// lazily.

// prefetch warms the caches for updates, which are all to be applied.
func (a *applier) prefetch(updates []store.ProfileUpdate) error {
	if err := a.prefetchIdentities(updates); err != nil {
		return err
	}
	return a.prefetchTraits(updates)
}

// identitiesNamed returns the identities resolve may look up for u.
func identitiesNamed(u *store.ProfileUpdate, add func(idType, id string)) {
	switch {
	case u.Type == "alias" && u.UserID != "" && u.PreviousID != "":
		add(store.IDUserID, u.UserID)
		add(store.IDUserID, u.PreviousID)
		add(store.IDAnonymousID, u.PreviousID)
	case u.UserID == "":
		if u.AnonymousID != "" {
			add(store.IDAnonymousID, u.AnonymousID)
		}
	default:
		add(store.IDUserID, u.UserID)
		if u.Type == "identify" && u.AnonymousID != "" {
			add(store.IDAnonymousID, u.AnonymousID)
		}
	}
}

func (a *applier) prefetchIdentities(updates []store.ProfileUpdate) error {
	var keys [][3]string
	for i := range updates {
		u := &updates[i]
		identitiesNamed(u, func(idType, id string) {
			k := identity{u.Workspace, idType, id}
			if _, ok := a.ids[k]; !ok {
				a.ids[k] = "" // absent unless the query finds it
				keys = append(keys, [3]string{k.workspace, k.idType, k.id})
			}
		})
	}
	if len(keys) == 0 {
		return nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	// CROSS JOIN keeps the list as the outer loop, so that each entry is
	// one primary-key probe.
	rows, err := a.tx.QueryContext(a.ctx, `SELECT i.workspace, i.id_type, i.id, i.user_key
		FROM jsonb_each(?) AS j CROSS JOIN identities AS i
		WHERE i.workspace = j.value->>0 AND i.id_type = j.value->>1 AND i.id = j.value->>2`, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   identity
			key string
		)
		if err := rows.Scan(&k.workspace, &k.idType, &k.id, &key); err != nil {
			return err
		}
		a.ids[k] = key
	}
	return rows.Err()
}

// prefetchTraits loads the traits of the groups that group calls write and
// of the user profiles that identify calls are expected to resolve to.
func (a *applier) prefetchTraits(updates []store.ProfileUpdate) error {
	var groups, users [][2]string
	seen := map[profileRef]bool{}
	want := func(ref profileRef, list *[][2]string) {
		if seen[ref] {
			return
		}
		seen[ref] = true
		a.lookups++
		if _, cached := a.traitSet[ref]; cached {
			a.hits++
			return
		}
		*list = append(*list, [2]string{ref.workspace, ref.who})
	}
	for i := range updates {
		u := &updates[i]
		if len(u.Traits) == 0 {
			continue
		}
		switch u.Type {
		case "group":
			if u.GroupID != "" {
				want(profileRef{&groupOwner, u.Workspace, u.GroupID}, &groups)
			}
		case "identify":
			// The profile an identity points to, or the one resolve would
			// create for it; a guess that proves wrong only costs a lazy
			// read later.
			for _, k := range []identity{{u.Workspace, store.IDUserID, u.UserID}, {u.Workspace, store.IDAnonymousID, u.AnonymousID}} {
				if k.id == "" {
					continue
				}
				key := a.ids[k]
				if key == "" {
					key = k.idType + ":" + k.id
				}
				want(profileRef{&userOwner, u.Workspace, key}, &users)
			}
		}
	}
	if err := a.loadTraits(&groupOwner, groups); err != nil {
		return err
	}
	return a.loadTraits(&userOwner, users)
}

// loadTraits caches the traits of the given (workspace, owner) profiles,
// an empty set for those that have none.
func (a *applier) loadTraits(o *owner, refs [][2]string) error {
	if len(refs) == 0 {
		return nil
	}
	for _, r := range refs {
		a.traitSet[profileRef{o, r[0], r[1]}] = newTraitSet()
	}
	list, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	rows, err := a.tx.QueryContext(a.ctx, "SELECT t.workspace, t."+o.column+`, t.key, t.value, t.ts, t.seq
		FROM jsonb_each(?) AS j CROSS JOIN `+o.traits+` AS t
		WHERE t.workspace = j.value->>0 AND t.`+o.column+` = j.value->>1`, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	var ref profileRef
	ref.o = o
	for rows.Next() {
		var (
			key string
			v   version
		)
		if err := rows.Scan(&ref.workspace, &ref.who, &key, &v.value, &v.ts, &v.seq); err != nil {
			return err
		}
		a.traitSet[ref].loaded(key, v)
	}
	return rows.Err()
}
