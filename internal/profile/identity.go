package profile

import (
	"encoding/json"
	"fmt"
	"strings"

	"roster/internal/store"
)

// Identity resolution. A user profile has a key of its own and any number
// of identities (user_id, anonymous_id, email) pointing at it. An identify call
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
	keyU, err := a.lookup(Identity{ws, store.IDUserID, u.UserID})
	if err != nil {
		return "", err
	}
	keyA, err := a.lookup(Identity{ws, store.IDAnonymousID, u.AnonymousID})
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
	anon, err := a.profile(Ref{ws, User, keyA})
	if err != nil {
		return "", err
	}
	other := anon.cur != nil && anon.cur.hasUserID()
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

// claimEmail ties the email trait of an identify call to the user as an
// email identity, so that the user can be looked up by it. An email is a
// lookup key, never a reason to merge: one that another profile claimed
// first stays with that profile.
func (a *applier) claimEmail(u *store.ProfileUpdate, key string) error {
	email := emailOf(u)
	if email == "" {
		return nil
	}
	owner, err := a.lookup(Identity{u.Workspace, store.IDEmail, email})
	if err != nil || owner != "" {
		return err
	}
	return a.addIdentity(u, store.IDEmail, email, key)
}

// emailOf is the email trait of an identify call, "" when it has none or
// it is not a non-empty string.
func emailOf(u *store.ProfileUpdate) string {
	if u.Type != "identify" {
		return ""
	}
	for _, t := range u.Traits {
		if t.Key != "email" {
			continue
		}
		var s string
		if json.Unmarshal(t.Value, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	}
	return ""
}

// alias ties previousId (an earlier user id, or an anonymous id) to userId,
// which becomes the user id the profile goes by.
func (a *applier) alias(u *store.ProfileUpdate) (string, error) {
	key, err := a.tieAlias(u)
	if err != nil || key == "" {
		return key, err
	}
	return key, a.makeCurrent(Ref{u.Workspace, User, key}, u.UserID)
}

// makeCurrent moves a user id of the profile to the end of its identities,
// where Record.CurrentUserID finds it, unless it is there already.
func (a *applier) makeCurrent(r Ref, userID string) error {
	l, err := a.profile(r)
	if err != nil || l.cur == nil || l.cur.CurrentUserID() == userID {
		return err
	}
	user, err := a.record(r)
	if err != nil {
		return err
	}
	for i, id := range user.IDs {
		if id.Type == store.IDUserID && id.ID == userID {
			user.IDs = append(append(user.IDs[:i:i], user.IDs[i+1:]...), id)
			return nil
		}
	}
	return nil
}

// tieAlias does what alias says to the profiles and returns the one it
// names.
func (a *applier) tieAlias(u *store.ProfileUpdate) (string, error) {
	ws := u.Workspace
	keyU, err := a.lookup(Identity{ws, store.IDUserID, u.UserID})
	if err != nil {
		return "", err
	}
	keyP, err := a.lookup(Identity{ws, store.IDUserID, u.PreviousID})
	if err == nil && keyP == "" {
		keyP, err = a.lookup(Identity{ws, store.IDAnonymousID, u.PreviousID})
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

// ensure returns the profile of an identity, creating both if needed.
func (a *applier) ensure(u *store.ProfileUpdate, idType, id string) (string, error) {
	key, err := a.lookup(Identity{u.Workspace, idType, id})
	if err != nil || key != "" {
		return key, err
	}
	key = newUserKey(idType, id)
	return key, a.addIdentity(u, idType, id, key)
}

// lookup finds the profile of an identity, "" when there is none.
func (a *applier) lookup(k Identity) (string, error) {
	if key, ok := a.ids[k]; ok {
		return key, nil
	}
	found, err := a.load.LoadIdentities(a.ctx, []Identity{k})
	if err != nil {
		return "", fmt.Errorf("profile: load identity: %w", err)
	}
	a.ids[k] = found[k]
	return found[k], nil
}

// addIdentity ties an identity to a profile.
func (a *applier) addIdentity(u *store.ProfileUpdate, idType, id, key string) error {
	user, err := a.record(Ref{u.Workspace, User, key})
	if err != nil {
		return err
	}
	k := Identity{u.Workspace, idType, id}
	a.ids[k] = key
	a.changes.Identities[k] = key
	user.IDs = append(user.IDs, store.ExternalID{Type: idType, ID: id, Source: u.Source, FirstMessageID: u.MessageID, CreatedAt: u.Timestamp})
	return nil
}

// merge moves everything of profile from onto profile to: traits by
// last-writer-wins, memberships and activity by their earliest and latest
// times, identities as they are; from's events become to's.
func (a *applier) merge(workspace, from, to string) error {
	src, err := a.profile(Ref{workspace, User, from})
	if err != nil {
		return err
	}
	dst, err := a.record(Ref{workspace, User, to})
	if err != nil {
		return err
	}
	old := src.cur
	if old == nil {
		return nil // an identity without a profile: nothing to move
	}
	src.cur, src.dirty = nil, true
	for _, t := range old.Traits {
		dst.setTrait(t)
	}
	dst.touch(old.First, old.Last)
	for _, m := range old.Groups {
		a.members[memberKey{workspace, m.GroupID, from}] = struct{}{}
		a.members[memberKey{workspace, m.GroupID, to}] = struct{}{}
		if dst.join(m) {
			continue
		}
		// Both were members: the group has one member fewer.
		group, err := a.record(Ref{workspace, Group, m.GroupID})
		if err != nil {
			return err
		}
		group.Members--
	}
	for _, id := range old.IDs {
		k := Identity{workspace, id.Type, id.ID}
		a.ids[k] = to
		a.changes.Identities[k] = to
		dst.IDs = append(dst.IDs, id)
	}
	dst.Merged = append(append(dst.Merged, from), old.Merged...)
	return nil
}
