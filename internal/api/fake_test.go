package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"roster/internal/api"
	"roster/internal/auth"
	"roster/internal/spec"
	"roster/internal/store"
)

// fakeStore is an in-memory api.Reader that keeps the promises of
// store.Profiles' doc comments (orders, cursors, ErrNotFound), so that the
// API's tests do not depend on a particular backend.
type fakeStore struct {
	mu         sync.Mutex // guards lastQuery, written by handlers and read by tests
	groups     map[wsKey]*fakeGroup
	users      map[wsKey]*fakeUser
	identities map[wsKey]string // workspace + "type:id" → user key
	events     map[wsKey][]store.Event
	lastQuery  store.GroupQuery
	fail       error
	// head and cursor are the log's and the profile processor's
	// positions; unapplied are the events after cursor.
	head, cursor int64
	unapplied    []store.Event
}

type wsKey struct{ ws, key string }

type fakeGroup struct {
	g       store.Group
	traits  []store.Trait
	members []store.Membership
	history []store.TraitChange
}

type fakeUser struct {
	u      store.User
	traits []store.Trait
	ids    []store.ExternalID
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		groups:     map[wsKey]*fakeGroup{},
		users:      map[wsKey]*fakeUser{},
		identities: map[wsKey]string{},
		events:     map[wsKey][]store.Event{},
	}
}

func (f *fakeStore) addGroup(g store.Group, traits ...store.Trait) {
	f.groups[wsKey{g.Workspace, g.ID}] = &fakeGroup{g: g, traits: traits}
}

func (f *fakeStore) addUser(u store.User, ids []store.ExternalID, traits ...store.Trait) {
	f.users[wsKey{u.Workspace, u.Key}] = &fakeUser{u: u, traits: traits, ids: ids}
	for _, x := range ids {
		f.identities[wsKey{u.Workspace, x.Type + ":" + x.ID}] = u.Key
	}
}

func (f *fakeStore) addMember(ws string, m store.Membership) {
	g := f.groups[wsKey{ws, m.GroupID}]
	g.members = append(g.members, m)
}

// addEvent files an event under a profile ("users" key or "accounts" id),
// with the ids, group and name the log keeps next to its body as spec
// reads them back from it.
func (f *fakeStore) addEvent(collection, key string, e store.Event) {
	if m, err := spec.ReadStored(e.Body); err == nil {
		r := m.Routing
		e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Name = r.UserID, r.AnonymousID, r.PreviousID, r.GroupID, r.Name
	}
	k := wsKey{e.Workspace, collection + "/" + key}
	f.events[k] = append(f.events[k], e)
}

func trait(name string, value string) store.Trait {
	return store.Trait{Key: spec.FoldKey(name), Name: name, Value: json.RawMessage(value), Source: "web", MessageID: "m-" + name, UpdatedAt: t0}
}

func (f *fakeStore) RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error) {
	return nil, f.fail
}

func (f *fakeStore) Head(ctx context.Context) (int64, error) { return f.head, f.fail }

func (f *fakeStore) Cursor(ctx context.Context, name string) (int64, error) { return f.cursor, f.fail }

func (f *fakeStore) Read(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	return f.unapplied[:min(limit, len(f.unapplied))], f.fail
}

func (f *fakeStore) RecentQuarantined(ctx context.Context, workspace string, before int64, limit int) ([]store.Quarantined, error) {
	return nil, f.fail
}

func (f *fakeStore) group(ws, id string) (*fakeGroup, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	g, ok := f.groups[wsKey{ws, id}]
	if !ok {
		return nil, store.ErrNotFound
	}
	return g, nil
}

func (f *fakeStore) user(ws, key string) (*fakeUser, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	u, ok := f.users[wsKey{ws, key}]
	if !ok {
		return nil, store.ErrNotFound
	}
	return u, nil
}

func byKey(ts []store.Trait) []store.Trait {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b store.Trait) int { return strings.Compare(a.Key, b.Key) })
	return ts
}

func (f *fakeStore) Group(ctx context.Context, ws, id string) (store.Group, error) {
	g, err := f.group(ws, id)
	if err != nil {
		return store.Group{}, err
	}
	return g.g, nil
}

func (f *fakeStore) GroupTraits(ctx context.Context, ws, id string) ([]store.Trait, error) {
	g, err := f.group(ws, id)
	if err != nil {
		return nil, err
	}
	return byKey(g.traits), nil
}

func (f *fakeStore) GroupMembers(ctx context.Context, ws, id, afterUser string, limit int) ([]store.Membership, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	g, ok := f.groups[wsKey{ws, id}]
	if !ok {
		return nil, nil
	}
	ms := slices.Clone(g.members)
	slices.SortFunc(ms, func(a, b store.Membership) int { return strings.Compare(a.UserKey, b.UserKey) })
	var out []store.Membership
	for _, m := range ms {
		if m.UserKey > afterUser && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeStore) TraitHistory(ctx context.Context, ws, id, key string, before int64, limit int) ([]store.TraitChange, error) {
	g, err := f.group(ws, id)
	if err != nil {
		return nil, err
	}
	hs := slices.Clone(g.history)
	slices.SortFunc(hs, func(a, b store.TraitChange) int {
		return cmp.Or(cmp.Compare(b.Seq, a.Seq), strings.Compare(a.Key, b.Key))
	})
	var out []store.TraitChange
	for _, c := range hs {
		if (before <= 0 || c.Seq < before) && (key == "" || c.Key == key) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// query returns the last GroupQuery ListGroups was given.
func (f *fakeStore) query() store.GroupQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastQuery
}

// ListGroups filters like the interface says and sorts by id (the fake
// ignores other sorts); its cursor is the last id returned.
func (f *fakeStore) ListGroups(ctx context.Context, ws string, q store.GroupQuery) ([]store.Group, string, error) {
	f.mu.Lock()
	f.lastQuery = q
	f.mu.Unlock()
	if f.fail != nil {
		return nil, "", f.fail
	}
	var all []store.Group
	for k, g := range f.groups {
		if k.ws != ws || g.g.ID <= q.After {
			continue
		}
		if q.Text != "" {
			name := ""
			for _, t := range g.traits {
				if t.Key == "name" {
					json.Unmarshal(t.Value, &name)
				}
			}
			text := strings.ToLower(q.Text)
			if !strings.Contains(strings.ToLower(g.g.ID), text) && !strings.Contains(strings.ToLower(name), text) {
				continue
			}
		}
		match := true
		for key, want := range q.Traits {
			found := false
			for _, t := range g.traits {
				if t.Key == key && bytes.Equal(t.Value, want) {
					found = true
				}
			}
			match = match && found
		}
		if match {
			all = append(all, g.g)
		}
	}
	slices.SortFunc(all, func(a, b store.Group) int { return strings.Compare(a.ID, b.ID) })
	if len(all) > q.Limit {
		all = all[:q.Limit]
		return all, all[len(all)-1].ID, nil
	}
	return all, "", nil
}

func (f *fakeStore) ResolveUser(ctx context.Context, ws, idType, id string) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	key, ok := f.identities[wsKey{ws, idType + ":" + id}]
	if !ok {
		return "", store.ErrNotFound
	}
	return key, nil
}

func (f *fakeStore) User(ctx context.Context, ws, key string) (store.User, error) {
	u, err := f.user(ws, key)
	if err != nil {
		return store.User{}, err
	}
	return u.u, nil
}

func (f *fakeStore) UserTraits(ctx context.Context, ws, key string) ([]store.Trait, error) {
	u, err := f.user(ws, key)
	if err != nil {
		return nil, err
	}
	return byKey(u.traits), nil
}

// ExternalIDs returns ids in an order of its own (reverse insertion), to
// show that the API orders them itself.
func (f *fakeStore) ExternalIDs(ctx context.Context, ws, key string) ([]store.ExternalID, error) {
	u, err := f.user(ws, key)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(u.ids)
	// The last user id given is the current one, as in a profile record.
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i].Type == store.IDUserID {
			ids[i].Current = true
			break
		}
	}
	slices.Reverse(ids)
	return ids, nil
}

func (f *fakeStore) UserGroups(ctx context.Context, ws, key string) ([]store.Membership, error) {
	if _, err := f.user(ws, key); err != nil {
		return nil, err
	}
	var out []store.Membership
	for k, g := range f.groups {
		if k.ws != ws {
			continue
		}
		for _, m := range g.members {
			if m.UserKey == key {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.Membership) int { return strings.Compare(a.GroupID, b.GroupID) })
	return out, nil
}

// ProfileEvents orders the profile's events by time, then log position,
// as the interface says.
func (f *fakeStore) ProfileEvents(ctx context.Context, ws, collection, key string, page store.EventPage) ([]store.Event, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	evs := slices.Clone(f.events[wsKey{ws, collection + "/" + key}])
	slices.SortFunc(evs, func(a, b store.Event) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.Seq, b.Seq))
	})
	if !page.Ascending {
		slices.Reverse(evs)
	}
	var out []store.Event
	for _, e := range evs {
		if page.Past(store.PositionOf(e)) && len(out) < page.Limit {
			out = append(out, e)
		}
	}
	return out, nil
}

var _ api.Reader = (*fakeStore)(nil)

// serveFake serves the read API over st, with the tokens of the Pebble
// fixture: tokAcme for acme, tokBeta for beta.
func serveFake(t *testing.T, st *fakeStore) *fixture {
	t.Helper()
	return serveFakeWith(t, st, nil)
}

// serveFakeWith is serveFake with Profile API settings.
func serveFakeWith(t *testing.T, st *fakeStore, settings map[string]api.ProfileSettings) *fixture {
	t.Helper()
	reg := auth.NewRegistry(
		[]store.Source{{Workspace: "acme", Name: "web", WriteKey: keyWeb}},
		[]store.AccessToken{
			{Workspace: "acme", Name: "ops", Hash: auth.HashToken(tokAcme)},
			{Workspace: "beta", Name: "ops", Hash: auth.HashToken(tokBeta)},
		})
	mux := http.NewServeMux()
	api.New(st, reg).WithProfileSettings(settings).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, client: srv.Client()}
}
