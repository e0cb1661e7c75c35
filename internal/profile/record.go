package profile

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"roster/internal/store"
)

// Kind says whether a profile is an account (group) or a user.
type Kind byte

const (
	Group Kind = 'g'
	User  Kind = 'u'
)

// Ref names one profile: a group by its id, a user by its key.
type Ref struct {
	Workspace string
	Kind      Kind
	ID        string
}

// Identity is an external id of a user profile.
type Identity struct {
	Workspace string
	Type      string // store.IDUserID or store.IDAnonymousID
	ID        string
}

// Mark is the event a profile was first or last seen by.
type Mark struct {
	At        int64 // Unix ms of the corrected timestamp
	Seq       int64
	MessageID string
	Source    string
}

// before reports whether m comes before o in (timestamp, log order).
func (m Mark) before(o Mark) bool { return m.At < o.At || (m.At == o.At && m.Seq < o.Seq) }

// Member is one of a user's memberships.
type Member struct {
	GroupID     string
	First, Last int64 // Unix ms
}

// Record is a profile's whole stored state, one value a profile: its
// activity, its traits with the write that set each, and for a user its
// identities and memberships. A backend stores it as the bytes of Marshal.
type Record struct {
	First, Last Mark
	// Traits are ordered by Key.
	Traits []store.Trait
	// Members counts a group's members.
	Members int
	// Groups are a user's memberships, ordered by GroupID.
	Groups []Member
	// IDs are a user's identities in the order they were tied to it, but
	// for the user id an alias named last, which is moved to the end: the
	// last user id is the one the profile goes by (CurrentUserID).
	IDs []store.ExternalID
	// Merged are the keys of the user profiles merged into this one: their
	// events are this profile's events.
	Merged []string
}

// Activity returns when the profile was first and last seen.
func (r *Record) Activity() store.Activity {
	return store.Activity{
		FirstSeen: time.UnixMilli(r.First.At).UTC(), FirstMessageID: r.First.MessageID, FirstSource: r.First.Source,
		LastSeen: time.UnixMilli(r.Last.At).UTC(), LastMessageID: r.Last.MessageID, LastSource: r.Last.Source,
	}
}

// Memberships returns a user's memberships as the store reports them.
func (r *Record) Memberships(userKey string) []store.Membership {
	out := make([]store.Membership, len(r.Groups))
	for i, g := range r.Groups {
		out[i] = store.Membership{GroupID: g.GroupID, UserKey: userKey, FirstSeen: time.UnixMilli(g.First).UTC(), LastSeen: time.UnixMilli(g.Last).UTC()}
	}
	return out
}

// CurrentUserID is the user id the profile goes by: of the several that
// aliases tie to it, the one the latest alias named; "" for a profile
// known only by anonymous ids.
func (r *Record) CurrentUserID() string {
	for i := len(r.IDs) - 1; i >= 0; i-- {
		if r.IDs[i].Type == store.IDUserID {
			return r.IDs[i].ID
		}
	}
	return ""
}

// ExternalIDs returns a user's identities oldest first (ties by type, then
// id), as the Profile API lists them, the current user id marked.
func (r *Record) ExternalIDs() []store.ExternalID {
	ids := slices.Clone(r.IDs)
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i].Type == store.IDUserID {
			ids[i].Current = true
			break
		}
	}
	slices.SortStableFunc(ids, func(a, b store.ExternalID) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
	return ids
}

// Trait returns the trait of a folded key, or nil.
func (r *Record) Trait(key string) *store.Trait {
	i := sort.Search(len(r.Traits), func(i int) bool { return r.Traits[i].Key >= key })
	if i < len(r.Traits) && r.Traits[i].Key == key {
		return &r.Traits[i]
	}
	return nil
}

// maxSortName bounds the name a group is sorted and searched by, which a
// backend may keep in an index; the full name stays in the traits.
const maxSortName = 512

// SortName is the group's name trait as ListGroups sorts and searches it:
// lower-cased and cut to maxSortName bytes on a character boundary; "" when
// the group has no name or its name is not a string.
func (r *Record) SortName() string {
	t := r.Trait("name")
	if t == nil {
		return ""
	}
	var name string
	if json.Unmarshal(t.Value, &name) != nil {
		return ""
	}
	name = store.FoldText(name)
	if len(name) <= maxSortName {
		return name
	}
	cut := maxSortName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}

// Order is where a group sorts in ListGroups' orders.
type Order struct {
	Name        string // SortName
	First, Last int64  // Unix ms
}

// Order returns where the group sorts.
func (r *Record) Order() Order { return Order{r.SortName(), r.First.At, r.Last.At} }

func (r *Record) hasUserID() bool {
	for _, id := range r.IDs {
		if id.Type == store.IDUserID {
			return true
		}
	}
	return false
}

// touch widens the profile's first and last seen to include first and last.
func (r *Record) touch(first, last Mark) {
	if r.First.Seq == 0 || first.before(r.First) {
		r.First = first
	}
	if r.Last.Seq == 0 || r.Last.before(last) {
		r.Last = last
	}
}

// setTrait is per-trait last-writer-wins by (timestamp, seq): an older
// write, or the same one again, changes nothing. It reports whether the
// value changed and, if the trait had a value, what it was.
func (r *Record) setTrait(t store.Trait) (changed bool, old json.RawMessage) {
	i := sort.Search(len(r.Traits), func(i int) bool { return r.Traits[i].Key >= t.Key })
	if i == len(r.Traits) || r.Traits[i].Key != t.Key {
		r.Traits = append(r.Traits, store.Trait{})
		copy(r.Traits[i+1:], r.Traits[i:])
		r.Traits[i] = t
		return true, nil
	}
	prev := r.Traits[i]
	if !laterWrite(t, prev) {
		return false, nil
	}
	r.Traits[i] = t
	if string(prev.Value) == string(t.Value) {
		return false, nil
	}
	return true, prev.Value
}

func laterWrite(t, than store.Trait) bool {
	a, b := t.UpdatedAt.UnixMilli(), than.UpdatedAt.UnixMilli()
	return a > b || (a == b && t.Seq > than.Seq)
}

// join adds a membership, or widens it; it reports whether it is new.
func (r *Record) join(m Member) bool {
	i := sort.Search(len(r.Groups), func(i int) bool { return r.Groups[i].GroupID >= m.GroupID })
	if i < len(r.Groups) && r.Groups[i].GroupID == m.GroupID {
		g := &r.Groups[i]
		g.First, g.Last = min(g.First, m.First), max(g.Last, m.Last)
		return false
	}
	r.Groups = append(r.Groups, Member{})
	copy(r.Groups[i+1:], r.Groups[i:])
	r.Groups[i] = m
	return true
}

// member returns the user's membership of a group, if any.
func (r *Record) member(groupID string) (Member, bool) {
	i := sort.Search(len(r.Groups), func(i int) bool { return r.Groups[i].GroupID >= groupID })
	if i < len(r.Groups) && r.Groups[i].GroupID == groupID {
		return r.Groups[i], true
	}
	return Member{}, false
}
