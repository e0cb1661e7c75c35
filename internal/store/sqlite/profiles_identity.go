package sqlite

import (
	"database/sql"
	"errors"

	"roster/internal/store"
)

// Identity resolution. A user profile has a key of its own and any number
// of identities (user_id, anonymous_id) pointing at it. An identify call
// with both ids, or an alias call, ties an anonymous identity (or an older
// user id) to a user: the anonymous profile's traits, memberships, events
// and identities move onto the user's, and later calls with either id reach
// it. An anonymous profile that already belongs to another user id (a
// shared device) is not merged by identify; alias is explicit and always is.

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
		return key, a.addIdentity(u, store.IDAnonymousID, u.AnonymousID, key)
	case keyA == "":
		return keyU, a.addIdentity(u, store.IDAnonymousID, u.AnonymousID, keyU)
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
		return keyA, a.addIdentity(u, store.IDUserID, u.UserID, keyA)
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
		return key, a.addIdentity(u, store.IDAnonymousID, u.PreviousID, key)
	case keyP == "":
		return keyU, a.addIdentity(u, store.IDAnonymousID, u.PreviousID, keyU)
	case keyU == "":
		return keyP, a.addIdentity(u, store.IDUserID, u.UserID, keyP)
	case keyP == keyU:
		return keyU, nil
	}
	return keyU, a.merge(ws, keyP, keyU)
}

// ensure returns the profile of an identity, creating both if needed. A new
// profile's key is its first identity, which no other profile can have.
func (a *applier) ensure(u *store.ProfileUpdate, idType, id string) (string, error) {
	key, err := a.lookup(u.Workspace, idType, id)
	if err != nil || key != "" {
		return key, err
	}
	key = idType + ":" + id
	return key, a.addIdentity(u, idType, id, key)
}

// lookup finds the profile of an identity, "" when there is none. Found
// identities are cached for the batch; merge keeps the cache right.
func (a *applier) lookup(workspace, idType, id string) (string, error) {
	k := identity{workspace, idType, id}
	if key, ok := a.ids[k]; ok {
		return key, nil
	}
	var key string
	err := a.tx.QueryRowContext(a.ctx, "SELECT user_key FROM identities WHERE workspace = ? AND id_type = ? AND id = ?",
		workspace, idType, id).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err == nil {
		a.ids[k] = key
	}
	return key, err
}

// addIdentity ties an identity to a profile. The row is written with the
// batch's other pending rows; until then the cache answers lookups of it.
func (a *applier) addIdentity(u *store.ProfileUpdate, idType, id, key string) error {
	k := identity{u.Workspace, idType, id}
	a.ids[k] = key
	a.newIDs[k] = newIdentity{key, u.Timestamp.UnixMilli(), u.Source, u.MessageID}
	return nil
}

// newIdentity is an identities row not written yet.
type newIdentity struct {
	key       string
	createdAt int64
	source    string
	messageID string
}

// flushIdentities writes the identities added since the last flush.
func (a *applier) flushIdentities() error {
	if len(a.newIDs) == 0 {
		return nil
	}
	rs := a.scratch
	rs.reset(3)
	for k, n := range a.newIDs {
		rs.str(k.workspace).str(k.idType).str(k.id).str(n.key).num(n.createdAt).str(n.source).str(n.messageID).end()
	}
	clear(a.newIDs)
	return a.insert("INSERT INTO identities(workspace, id_type, id, user_key, created_at, source, first_message_id)", rs,
		" ON CONFLICT DO UPDATE SET user_key = excluded.user_key")
}

func (a *applier) hasUserID(workspace, key string) (bool, error) {
	// The query reads the table, so pending identities must be in it.
	if err := a.flushIdentities(); err != nil {
		return false, err
	}
	var n int
	err := a.tx.QueryRowContext(a.ctx, "SELECT count(*) FROM identities WHERE workspace = ? AND user_key = ? AND id_type = ?",
		workspace, key, store.IDUserID).Scan(&n)
	return n > 0, err
}

// merge moves everything of profile from onto profile to: traits by
// last-writer-wins, memberships and activity by their earliest and latest
// times, identities and events as they are.
func (a *applier) merge(workspace, from, to string) error {
	// Everything pending must be in the tables to move with the profile.
	if err := a.flush(); err != nil {
		return err
	}
	rows, err := a.tx.QueryContext(a.ctx, "SELECT key, name, value, ts, seq, source, message_id FROM user_traits WHERE workspace = ? AND user_key = ?", workspace, from)
	if err != nil {
		return err
	}
	var traits []store.Trait
	for rows.Next() {
		var (
			t     store.Trait
			value string
			ts    int64
		)
		if err := rows.Scan(&t.Key, &t.Name, &value, &ts, &t.Seq, &t.Source, &t.MessageID); err != nil {
			rows.Close()
			return err
		}
		t.Value, t.UpdatedAt = []byte(value), timeMillis(ts)
		traits = append(traits, t)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, t := range traits {
		if _, _, err := a.setTrait(profileRef{&userOwner, workspace, to}, t); err != nil {
			return err
		}
	}
	var act activity
	err = a.tx.QueryRowContext(a.ctx,
		"SELECT first_seen, first_seq, first_message_id, first_source, last_seen, last_seq, last_message_id, last_source FROM users WHERE workspace = ? AND user_key = ?",
		workspace, from).Scan(&act.firstSeen, &act.firstSeq, &act.firstMsg, &act.firstSrc, &act.lastSeen, &act.lastSeq, &act.lastMsg, &act.lastSrc)
	switch {
	case err == nil:
		a.touch(profileRef{&userOwner, workspace, to}, act)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	for _, q := range []string{
		`INSERT INTO memberships(workspace, group_id, user_key, first_seen, last_seen)
			SELECT workspace, group_id, ?2, first_seen, last_seen FROM memberships WHERE workspace = ?1 AND user_key = ?3
			ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)`,
		`DELETE FROM memberships WHERE workspace = ?1 AND user_key = ?3`,
		`INSERT OR IGNORE INTO profile_events(workspace, collection, profile_key, seq)
			SELECT workspace, collection, ?2, seq FROM profile_events WHERE workspace = ?1 AND collection = 'users' AND profile_key = ?3`,
		`DELETE FROM profile_events WHERE workspace = ?1 AND collection = 'users' AND profile_key = ?3`,
		`INSERT OR IGNORE INTO profile_events_recent(workspace, collection, profile_key, seq)
			SELECT workspace, collection, ?2, seq FROM profile_events_recent WHERE workspace = ?1 AND collection = 'users' AND profile_key = ?3`,
		`DELETE FROM profile_events_recent WHERE workspace = ?1 AND collection = 'users' AND profile_key = ?3`,
		`UPDATE identities SET user_key = ?2 WHERE workspace = ?1 AND user_key = ?3`,
		`DELETE FROM user_traits WHERE workspace = ?1 AND user_key = ?3`,
		`DELETE FROM users WHERE workspace = ?1 AND user_key = ?3`,
	} {
		if err := a.exec(q, workspace, to, from); err != nil {
			return err
		}
	}
	delete(a.traitSet, profileRef{&userOwner, workspace, from})
	for k, key := range a.ids {
		if key == from {
			a.ids[k] = to
		}
	}
	return nil
}
