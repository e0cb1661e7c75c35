package postgres

import (
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
)

// Identity resolution, by the embedded backend's rules. A user profile has
// a key of its own and any number of identities (user_id, anonymous_id)
// pointing at it. An identify call with both ids, or an alias call, ties an
// anonymous identity (or an older user id) to a user: the anonymous
// profile's traits, memberships, events and identities move onto the
// user's, and later calls with either id reach it. An anonymous profile
// that already belongs to another user id (a shared device) is not merged
// by identify; alias is explicit and always is.

// resolve returns the key of the user profile an update is about, creating
// the profile and merging identities as the call says; "" when the call
// names no identity.
func (a *applier) resolve(u *store.ProfileUpdate) (string, error) {
	ws := u.Workspace
	if u.Type == "alias" && u.UserID != "" && u.PreviousID != "" {
		return a.alias(u)
	}
	if u.UserID == "" {
		if u.AnonymousID == "" {
			return "", nil
		}
		return a.ensure(u, store.IDAnonymousID, u.AnonymousID)
	}
	if u.Type != "identify" || u.AnonymousID == "" {
		return a.ensure(u, store.IDUserID, u.UserID)
	}
	keyU, err := a.lookup(ws, store.IDUserID, u.UserID)
	if err != nil {
		return "", err
	}
	keyA, err := a.lookup(ws, store.IDAnonymousID, u.AnonymousID)
	if err != nil {
		return "", err
	}
	switch {
	case keyA == "" && keyU == "":
		key, err := a.ensure(u, store.IDUserID, u.UserID)
		if err != nil {
			return "", err
		}
		a.addIdentity(u, store.IDAnonymousID, u.AnonymousID, key)
		return key, nil
	case keyA == "":
		a.addIdentity(u, store.IDAnonymousID, u.AnonymousID, keyU)
		return keyU, nil
	case keyA == keyU:
		return keyU, nil
	}
	other, err := a.hasUserID(ws, keyA)
	if err != nil {
		return "", err
	}
	switch {
	case other && keyU == "":
		return a.ensure(u, store.IDUserID, u.UserID)
	case other:
		return keyU, nil
	case keyU == "":
		a.addIdentity(u, store.IDUserID, u.UserID, keyA)
		return keyA, nil
	}
	return keyU, a.merge(ws, keyA, keyU)
}

// alias ties previousId (an earlier user id, or an anonymous id) to userId.
func (a *applier) alias(u *store.ProfileUpdate) (string, error) {
	ws := u.Workspace
	keyU, err := a.lookup(ws, store.IDUserID, u.UserID)
	if err != nil {
		return "", err
	}
	keyP, err := a.lookup(ws, store.IDUserID, u.PreviousID)
	if err == nil && keyP == "" {
		keyP, err = a.lookup(ws, store.IDAnonymousID, u.PreviousID)
	}
	if err != nil {
		return "", err
	}
	switch {
	case keyP == "" && keyU == "":
		key, err := a.ensure(u, store.IDUserID, u.UserID)
		if err != nil {
			return "", err
		}
		// Not seen yet: most often the anonymous id of the same browser.
		a.addIdentity(u, store.IDAnonymousID, u.PreviousID, key)
		return key, nil
	case keyP == "":
		a.addIdentity(u, store.IDAnonymousID, u.PreviousID, keyU)
		return keyU, nil
	case keyU == "":
		a.addIdentity(u, store.IDUserID, u.UserID, keyP)
		return keyP, nil
	case keyP == keyU:
		return keyU, nil
	}
	return keyU, a.merge(ws, keyP, keyU)
}

// ensure returns the profile of an identity, creating both if needed. A new
// profile's key is its first identity, which no other profile can have;
// identities are never deleted, so it has no traits yet either.
func (a *applier) ensure(u *store.ProfileUpdate, idType, id string) (string, error) {
	key, err := a.lookup(u.Workspace, idType, id)
	if err != nil || key != "" {
		return key, err
	}
	key = idType + ":" + id
	a.addIdentity(u, idType, id, key)
	ref := profileRef{&userOwner, u.Workspace, key}
	if _, ok := a.traitSet[ref]; !ok {
		a.traitSet[ref] = newTraitSet()
	}
	return key, nil
}

// lookup finds the profile of an identity, "" when there is none. Most
// are prefetched; merge keeps the cache right.
func (a *applier) lookup(workspace, idType, id string) (string, error) {
	k := identity{workspace, idType, id}
	if key, ok := a.ids[k]; ok {
		return key, nil
	}
	var key string
	err := a.tx.QueryRow(a.ctx, "SELECT user_key FROM identities WHERE workspace = $1 AND id_type = $2 AND id = $3",
		workspace, idType, id).Scan(&key)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	a.ids[k] = key
	return key, nil
}

// addIdentity records a new identity of a profile, written with the rest.
func (a *applier) addIdentity(u *store.ProfileUpdate, idType, id, key string) {
	k := identity{u.Workspace, idType, id}
	a.ids[k] = key
	n, ok := a.newIDs[k]
	if !ok {
		n = newIdentity{source: u.Source, messageID: u.MessageID, createdAt: u.Timestamp.UnixMilli()}
	}
	n.userKey = key
	a.newIDs[k] = n
	if idType == store.IDUserID {
		a.newUserIDOf[profileRef{&userOwner, u.Workspace, key}] = true
	}
}

// hasUserID says whether a profile has a user id, among the identities
// not written yet or in the table.
func (a *applier) hasUserID(workspace, key string) (bool, error) {
	if a.newUserIDOf[profileRef{&userOwner, workspace, key}] {
		return true, nil
	}
	var found bool
	err := a.tx.QueryRow(a.ctx, "SELECT EXISTS (SELECT 1 FROM identities WHERE workspace = $1 AND user_key = $2 AND id_type = $3)",
		workspace, key, store.IDUserID).Scan(&found)
	return found, err
}

// merge moves everything of profile from onto profile to: traits by
// last-writer-wins, memberships and activity by their earliest and latest
// times, identities and events as they are. It takes two round trips: what
// is pending is written and from's traits and activity read back, then the
// rest moves in SQL.
func (a *applier) merge(workspace, from, to string) error {
	b := &pgx.Batch{}
	a.queueWrites(b)
	var traits []store.Trait
	b.Queue("SELECT key, name, value, ts, seq, source, message_id FROM user_traits WHERE workspace = $1 AND user_key = $2",
		workspace, from).Query(func(rows pgx.Rows) error {
		var (
			t     store.Trait
			value string
		)
		var err error
		traits, err = collect(rows, []any{&t.Key, &t.Name, &value, &t.UpdatedAt, &t.Seq, &t.Source, &t.MessageID}, func() (store.Trait, error) {
			got := t
			got.Value, got.UpdatedAt = []byte(value), got.UpdatedAt.UTC()
			return got, nil
		})
		return err
	})
	var (
		act         activity
		hasActivity bool
	)
	b.Queue(`SELECT first_seen, first_seq, first_message_id, first_source, last_seen, last_seq, last_message_id, last_source
		FROM users WHERE workspace = $1 AND user_key = $2`, workspace, from).QueryRow(func(r pgx.Row) error {
		var err error
		act, err = scanActivity(r)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		hasActivity = err == nil
		return err
	})
	if err := a.tx.SendBatch(a.ctx, b).Close(); err != nil {
		return err
	}
	toRef := profileRef{&userOwner, workspace, to}
	for _, t := range traits {
		if _, _, err := a.setTrait(toRef, t); err != nil {
			return err
		}
	}
	if hasActivity {
		a.touch(toRef, act)
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO memberships AS t (workspace, group_id, user_key, first_seen, last_seen)
		SELECT workspace, group_id, $3, first_seen, last_seen FROM memberships WHERE workspace = $1 AND user_key = $2
		ON CONFLICT (workspace, group_id, user_key) DO UPDATE
		SET first_seen = least(t.first_seen, EXCLUDED.first_seen), last_seen = greatest(t.last_seen, EXCLUDED.last_seen)`,
		workspace, from, to)
	b.Queue(`INSERT INTO profile_events (workspace, collection, profile_key, seq)
		SELECT workspace, collection, $3, seq FROM profile_events WHERE workspace = $1 AND collection = 'users' AND profile_key = $2
		ON CONFLICT DO NOTHING`, workspace, from, to)
	b.Queue("UPDATE identities SET user_key = $3 WHERE workspace = $1 AND user_key = $2", workspace, from, to)
	for _, q := range []string{
		"DELETE FROM memberships WHERE workspace = $1 AND user_key = $2",
		"DELETE FROM profile_events WHERE workspace = $1 AND collection = 'users' AND profile_key = $2",
		"DELETE FROM user_traits WHERE workspace = $1 AND user_key = $2",
		"DELETE FROM users WHERE workspace = $1 AND user_key = $2",
	} {
		b.Queue(q, workspace, from)
	}
	if err := a.tx.SendBatch(a.ctx, b).Close(); err != nil {
		return err
	}
	delete(a.traitSet, profileRef{&userOwner, workspace, from})
	for k, key := range a.ids {
		if key == from {
			a.ids[k] = to
		}
	}
	return nil
}

func scanActivity(r pgx.Row) (activity, error) {
	var (
		act         activity
		first, last time.Time
	)
	err := r.Scan(&first, &act.firstSeq, &act.firstMsg, &act.firstSrc, &last, &act.lastSeq, &act.lastMsg, &act.lastSrc)
	act.firstSeen, act.lastSeen = first.UnixMilli(), last.UnixMilli()
	return act, err
}
