package profile

import (
	"testing"
	"time"

	"roster/internal/store"
)

// current returns the user ids ExternalIDs marks current.
func current(r *Record) []string {
	var out []string
	for _, id := range r.ExternalIDs() {
		if id.Current {
			out = append(out, id.ID)
		}
	}
	return out
}

// After an alias chain the profile goes by the user id the latest alias
// named, whatever order its identities were tied in, and whether aliases
// tie a new id or merge two profiles; one batch or an event a batch give
// the same.
func TestAliasChainNamesTheCurrentUserID(t *testing.T) {
	chain := []store.ProfileUpdate{
		update(2, "group", 0, map[string]string{"anonymousId": "a1", "groupId": "g1"}),
		update(3, "identify", time.Hour, map[string]string{"anonymousId": "a1", "userId": "u1"}),
		update(4, "alias", 2*time.Hour, map[string]string{"previousId": "u1", "userId": "u2"}),
		update(5, "alias", 3*time.Hour, map[string]string{"previousId": "u2", "userId": "u3"}),
	}
	steps := []struct {
		name    string
		updates []store.ProfileUpdate
		key     string // the profile's key after the step
		want    string
	}{
		{"anon → u1 → u2 → u3", chain, "anonymous_id:a1", "u3"},
		// u9 has a profile of its own, created before any of the chain:
		// the alias merges the chain's profile into it, and u9 is current.
		{"u3 → u9, an older profile", []store.ProfileUpdate{
			update(6, "alias", 4*time.Hour, map[string]string{"previousId": "u3", "userId": "u9"}),
		}, "user_id:u9", "u9"},
		// An alias back to an id the profile already has makes it current.
		{"u9 → u1, both the same profile", []store.ProfileUpdate{
			update(7, "alias", 5*time.Hour, map[string]string{"previousId": "u9", "userId": "u1"}),
		}, "user_id:u9", "u1"},
		// A call under an older id changes nothing.
		{"a call as u2", []store.ProfileUpdate{
			update(8, "identify", 6*time.Hour, map[string]string{"userId": "u2"}),
		}, "user_id:u9", "u1"},
	}
	one, each := newMemory(), newMemory()
	// u9's own profile, first.
	u9 := update(1, "group", -time.Hour, map[string]string{"userId": "u9", "groupId": "g1"})
	one.apply(t, u9)
	each.apply(t, u9)
	for _, step := range steps {
		one.apply(t, step.updates...)
		for _, u := range step.updates {
			each.apply(t, u)
		}
		for name, m := range map[string]*memory{"one batch": one, "an event a batch": each} {
			r := m.record(t, User, step.key)
			if got := r.CurrentUserID(); got != step.want {
				t.Errorf("%s, %s: current user id %q, want %q (ids %v)", step.name, name, got, step.want, r.IDs)
			}
			if got := current(r); len(got) != 1 || got[0] != step.want {
				t.Errorf("%s, %s: ExternalIDs marks %v current, want only %s", step.name, name, got, step.want)
			}
		}
	}
	// Every id stays an identity of the one profile.
	r := one.record(t, User, "user_id:u9")
	if len(r.IDs) != 5 {
		t.Errorf("identities %v, want a1, u1, u2, u3 and u9", r.IDs)
	}
	if got, want := one.record(t, User, "user_id:u9").IDs, each.record(t, User, "user_id:u9").IDs; len(got) != len(want) {
		t.Errorf("one batch gave ids %v, an event a batch %v", got, want)
	}
}

// A profile known only by anonymous ids has no current user id.
func TestAnonymousProfileHasNoCurrentUserID(t *testing.T) {
	m := newMemory()
	m.apply(t, update(2, "group", 0, map[string]string{"anonymousId": "a1", "groupId": "g1"}))
	if r := m.record(t, User, "anonymous_id:a1"); r.CurrentUserID() != "" || len(current(r)) != 0 {
		t.Errorf("anonymous profile: current %q, marked %v", r.CurrentUserID(), current(r))
	}
}
