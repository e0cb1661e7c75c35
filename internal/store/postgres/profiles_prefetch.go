package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
)

// prefetch reads, in two round trips, what applying updates will look up:
// every identity they name (absent ones are cached as absent), then the
// traits of every profile they write traits to. Without it a batch would
// take a round trip per profile.
func (a *applier) prefetch(updates []*store.ProfileUpdate) error {
	want := map[identity]bool{}
	for _, u := range updates {
		for _, id := range []identity{
			{u.Workspace, store.IDUserID, u.UserID},
			{u.Workspace, store.IDAnonymousID, u.AnonymousID},
			{u.Workspace, store.IDUserID, u.PreviousID},
			{u.Workspace, store.IDAnonymousID, u.PreviousID},
		} {
			if id.id != "" {
				want[id] = true
			}
		}
	}
	if err := a.loadIdentities(want); err != nil {
		return err
	}
	groups := map[profileRef]bool{}
	users := map[profileRef]bool{}
	for _, u := range updates {
		if len(u.Traits) == 0 {
			continue
		}
		switch u.Type {
		case "group":
			if u.GroupID != "" {
				groups[profileRef{&groupOwner, u.Workspace, u.GroupID}] = true
			}
		case "identify":
			for _, id := range []identity{{u.Workspace, store.IDUserID, u.UserID}, {u.Workspace, store.IDAnonymousID, u.AnonymousID}} {
				if key := a.ids[id]; key != "" {
					users[profileRef{&userOwner, u.Workspace, key}] = true
				}
			}
		}
	}
	b := &pgx.Batch{}
	a.queueLoadTraits(b, &groupOwner, groups)
	a.queueLoadTraits(b, &userOwner, users)
	return a.tx.SendBatch(a.ctx, b).Close()
}

func (a *applier) loadIdentities(want map[identity]bool) error {
	if len(want) == 0 {
		return nil
	}
	var ws, types, ids []string
	for id := range want {
		ws, types, ids = append(ws, id.workspace), append(types, id.idType), append(ids, id.id)
		a.ids[id] = ""
	}
	rows, err := a.tx.Query(a.ctx, `SELECT i.workspace, i.id_type, i.id, i.user_key
		FROM unnest($1::text[], $2::text[], $3::text[]) AS k(workspace, id_type, id)
		JOIN identities i ON i.workspace = k.workspace AND i.id_type = k.id_type AND i.id = k.id`, ws, types, ids)
	if err != nil {
		return err
	}
	var (
		id  identity
		key string
	)
	_, err = pgx.ForEachRow(rows, []any{&id.workspace, &id.idType, &id.id, &key}, func() error {
		a.ids[id] = key
		return nil
	})
	return err
}

// loadTraits reads the traits of profiles not cached yet.
func (a *applier) loadTraits(o *owner, refs []profileRef) error {
	want := map[profileRef]bool{}
	for _, r := range refs {
		want[r] = true
	}
	b := &pgx.Batch{}
	a.queueLoadTraits(b, o, want)
	return a.tx.SendBatch(a.ctx, b).Close()
}

// queueLoadTraits queues the read of the traits of refs (all of owner o)
// not cached yet, and caches them when it runs.
func (a *applier) queueLoadTraits(b *pgx.Batch, o *owner, refs map[profileRef]bool) {
	var ws, who []string
	for r := range refs {
		if _, ok := a.traitSet[r]; ok {
			continue
		}
		ws, who = append(ws, r.workspace), append(who, r.who)
		a.traitSet[r] = newTraitSet()
	}
	if len(ws) == 0 {
		return
	}
	b.Queue("SELECT t.workspace, t."+o.column+", t.key, t.value, t.ts, t.seq FROM unnest($1::text[], $2::text[]) AS r(workspace, who) "+
		"JOIN "+o.traits+" t ON t.workspace = r.workspace AND t."+o.column+" = r.who", ws, who).Query(func(rows pgx.Rows) error {
		var (
			ref = profileRef{o: o}
			key string
			v   version
			ts  time.Time
		)
		_, err := pgx.ForEachRow(rows, []any{&ref.workspace, &ref.who, &key, &v.value, &ts, &v.seq}, func() error {
			v.ts = ts.UnixMilli()
			a.traitSet[ref].cur[key] = v
			return nil
		})
		return err
	})
}
