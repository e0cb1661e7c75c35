package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"roster/internal/store"
)

// Profile processing: one transaction per batch of updates, with the
// cursor, so a crash applies all or none. The rules are those of the
// embedded backend (and the conformance suite): trait values and
// first/last seen are decided by (timestamp, seq), not arrival, so that
// re-applying or applying in another order ends in the same state.
//
// Round trips are what costs here, so a batch reads what it needs up front
// (every identity its events name, the traits of every profile they
// write), applies the events in memory and writes each touched row once,
// every table in one multi-row statement, all sent together.

// Cursor implements store.Profiles.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, "SELECT seq FROM cursors WHERE name = $1", name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: read cursor %s: %w", name, err)
	}
	return seq, nil
}

// lockCursor creates the named cursor if needed, locks its row until the
// transaction ends and returns it. A node that applies the same events
// meanwhile waits here, then sees how far the other one got.
func lockCursor(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var seq int64
	b := &pgx.Batch{}
	b.Queue("INSERT INTO cursors (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name)
	b.Queue("SELECT seq FROM cursors WHERE name = $1 FOR UPDATE", name).QueryRow(func(r pgx.Row) error { return r.Scan(&seq) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("lock cursor %s: %w", name, err)
	}
	return seq, nil
}

// ApplyProfiles implements store.Profiles.
func (s *Store) ApplyProfiles(ctx context.Context, updates []store.ProfileUpdate, upTo int64) error {
	var longKeys int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cursor, err := lockCursor(ctx, tx, store.ProfileCursor)
		if err != nil || upTo <= cursor {
			return err
		}
		todo := make([]*store.ProfileUpdate, 0, len(updates))
		for i := range updates {
			if updates[i].Seq > cursor {
				todo = append(todo, &updates[i])
			}
		}
		a := newApplier(ctx, tx)
		if err := a.prefetch(todo); err != nil {
			return fmt.Errorf("read profiles: %w", err)
		}
		for _, u := range todo {
			if err := a.apply(u); err != nil {
				return fmt.Errorf("apply event %d: %w", u.Seq, err)
			}
		}
		longKeys = a.longKeys
		b := &pgx.Batch{}
		a.queueWrites(b)
		b.Queue("UPDATE cursors SET seq = $2 WHERE name = $1", store.ProfileCursor, upTo)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write profiles: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: apply profiles: %w", err)
	}
	if longKeys > 0 {
		s.log.Warn("postgres: traits with names longer than the limit were not applied",
			"limit_bytes", maxTraitKeyBytes, "traits", longKeys, "up_to", upTo)
	}
	return nil
}

// ResetProfiles implements store.Profiles.
func (s *Store) ResetProfiles(ctx context.Context) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A processor still applying finishes first.
		if _, err := lockCursor(ctx, tx, store.ProfileCursor); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(profileTables, ", "))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: reset profiles: %w", err)
	}
	return nil
}

// applier applies one batch. State that events read back (identities, a
// profile's traits) is cached for the batch; everything it writes is kept
// in memory, one entry per row, until queueWrites. An identity merge works
// on the tables, so it writes what is pending first.
type applier struct {
	ctx context.Context
	tx  pgx.Tx

	// ids caches identities; "" means there is none.
	ids    map[identity]string
	newIDs map[identity]newIdentity
	// newUserIDOf holds the profiles that newIDs gives a user id.
	newUserIDOf map[profileRef]bool
	acts        map[profileRef]activity
	traitSet    map[profileRef]*traitSet
	members     map[membership][2]int64 // first and last seen, Unix ms
	names       map[profileRef]string   // groups whose name trait changed
	events      []profileEvent
	history     map[historyKey]store.TraitChange
	// longKeys counts traits skipped for their name's length.
	longKeys int
}

type identity struct{ workspace, idType, id string }

// newIdentity is an identity to insert and the event that made it.
type newIdentity struct {
	userKey, source, messageID string
	createdAt                  int64
}

type membership struct{ workspace, group, user string }

type profileEvent struct {
	workspace, collection, key string
	seq                        int64
}

type historyKey struct {
	workspace, group string
	seq              int64
	key              string
}

// profileRef names a group or user profile.
type profileRef struct {
	o              *owner
	workspace, who string
}

// owner names a table of traits or activity and the column that says whose.
type owner struct {
	traits, activity, column string
	// compact: the traits table keeps objects and arrays minified too,
	// for trait filters (only groups are filtered).
	compact bool
}

var (
	groupOwner = owner{traits: "group_traits", activity: "groups", column: "group_id", compact: true}
	userOwner  = owner{traits: "user_traits", activity: "users", column: "user_key"}
)

// traitSet is a profile's traits as of the applied events; dirty ones are
// not written yet.
type traitSet struct {
	cur   map[string]version
	dirty map[string]store.Trait
}

func newTraitSet() *traitSet {
	return &traitSet{cur: map[string]version{}, dirty: map[string]store.Trait{}}
}

// version is the value of a trait and the write that set it.
type version struct {
	value   string
	ts, seq int64 // Unix ms
}

func newApplier(ctx context.Context, tx pgx.Tx) *applier {
	return &applier{
		ctx: ctx, tx: tx,
		ids:         map[identity]string{},
		newIDs:      map[identity]newIdentity{},
		newUserIDOf: map[profileRef]bool{},
		acts:        map[profileRef]activity{},
		traitSet:    map[profileRef]*traitSet{},
		members:     map[membership][2]int64{},
		names:       map[profileRef]string{},
		history:     map[historyKey]store.TraitChange{},
	}
}

func (a *applier) apply(u *store.ProfileUpdate) error {
	key, err := a.resolve(u)
	if err != nil {
		return err
	}
	act := activityOf(u)
	if key != "" {
		user := profileRef{&userOwner, u.Workspace, key}
		a.touch(user, act)
		a.event(store.Users, u.Workspace, key, u.Seq)
		if u.Type == "identify" {
			for _, t := range u.Traits {
				if a.tooLong(t) {
					continue
				}
				if _, _, err := a.setTrait(user, traitOf(t, u)); err != nil {
					return err
				}
			}
		}
	}
	if u.GroupID == "" {
		return nil
	}
	a.touch(profileRef{&groupOwner, u.Workspace, u.GroupID}, act)
	a.event(store.Accounts, u.Workspace, u.GroupID, u.Seq)
	if u.Type != "group" {
		return nil // context.groupId attributes activity, it is no membership
	}
	for _, t := range u.Traits {
		if a.tooLong(t) {
			continue
		}
		if err := a.setGroupTrait(u, traitOf(t, u)); err != nil {
			return err
		}
	}
	if key != "" {
		ts := u.Timestamp.UnixMilli()
		m := membership{u.Workspace, u.GroupID, key}
		seen, ok := a.members[m]
		if !ok {
			seen = [2]int64{ts, ts}
		}
		a.members[m] = [2]int64{min(seen[0], ts), max(seen[1], ts)}
	}
	return nil
}

// maxTraitKeyBytes bounds a trait's folded name, which is part of B-tree
// keys: an entry must fit in a third of a page (2,704 bytes), with the
// group id (up to spec.MaxIDBytes) beside it. Ingestion does not bound
// trait names, and one longer trait would fail its whole batch again and
// again; such a trait is left out instead (no real trait name comes near).
const maxTraitKeyBytes = 1024

func (a *applier) tooLong(t store.TraitValue) bool {
	if len(t.Key) <= maxTraitKeyBytes {
		return false
	}
	a.longKeys++
	return true
}

// setGroupTrait writes a group trait and, when the value changed, its
// history; the name trait is also kept on the group for search and sort.
func (a *applier) setGroupTrait(u *store.ProfileUpdate, t store.Trait) error {
	ref := profileRef{&groupOwner, u.Workspace, u.GroupID}
	changed, old, err := a.setTrait(ref, t)
	if err != nil || !changed {
		return err
	}
	a.history[historyKey{u.Workspace, u.GroupID, t.Seq, t.Key}] = store.TraitChange{
		Seq: t.Seq, Key: t.Key, Name: t.Name, Old: old, New: t.Value, MessageID: t.MessageID, Timestamp: t.UpdatedAt,
	}
	if t.Key == "name" {
		var name string
		json.Unmarshal(t.Value, &name) //nolint:errcheck // a name that is not a string sorts as ""
		a.names[ref] = sortName(name)
	}
	return nil
}

// maxSortName bounds groups.name: it is a B-tree key, and an entry must
// fit in a third of a page. The full name stays in the traits.
const maxSortName = 512

// sortName is the name trait as groups.name keeps it: lower-cased and cut
// to maxSortName bytes on a character boundary.
func sortName(name string) string {
	name = strings.ToLower(name)
	if len(name) <= maxSortName {
		return name
	}
	cut := maxSortName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}

func traitOf(t store.TraitValue, u *store.ProfileUpdate) store.Trait {
	return store.Trait{Key: t.Key, Name: t.Name, Value: t.Value, UpdatedAt: u.Timestamp, Seq: u.Seq, Source: u.Source, MessageID: u.MessageID}
}

// traits returns a profile's traits: prefetched, or loaded now (a profile
// that an identity merge made the target of).
func (a *applier) traits(ref profileRef) (*traitSet, error) {
	if set, ok := a.traitSet[ref]; ok {
		return set, nil
	}
	if err := a.loadTraits(ref.o, []profileRef{ref}); err != nil {
		return nil, err
	}
	return a.traitSet[ref], nil
}

// setTrait is per-trait last-writer-wins by (timestamp, seq): an older
// write, or the same one again, changes nothing. It reports whether the
// value changed and what it was.
func (a *applier) setTrait(ref profileRef, t store.Trait) (changed bool, old json.RawMessage, err error) {
	set, err := a.traits(ref)
	if err != nil {
		return false, nil, err
	}
	ts := t.UpdatedAt.UnixMilli()
	prev, found := set.cur[t.Key]
	if found && !later(ts, t.Seq, prev.ts, prev.seq) {
		return false, nil, nil
	}
	set.cur[t.Key] = version{string(t.Value), ts, t.Seq}
	set.dirty[t.Key] = t
	if !found {
		return true, nil, nil
	}
	return prev.value != string(t.Value), json.RawMessage(prev.value), nil
}

func later(ts, seq, thanTS, thanSeq int64) bool {
	return ts > thanTS || (ts == thanTS && seq > thanSeq)
}

// activity is when a profile was first and last seen: the earliest and the
// latest event by (timestamp, seq), whatever order they arrive in.
type activity struct {
	firstSeen, firstSeq int64 // Unix ms
	firstMsg, firstSrc  string
	lastSeen, lastSeq   int64
	lastMsg, lastSrc    string
}

func activityOf(u *store.ProfileUpdate) activity {
	ts := u.Timestamp.UnixMilli()
	return activity{ts, u.Seq, u.MessageID, u.Source, ts, u.Seq, u.MessageID, u.Source}
}

// touch records an event's time on a profile, merged with what the batch
// already recorded there.
func (a *applier) touch(ref profileRef, act activity) {
	cur, ok := a.acts[ref]
	if !ok {
		a.acts[ref] = act
		return
	}
	if later(cur.firstSeen, cur.firstSeq, act.firstSeen, act.firstSeq) {
		cur.firstSeen, cur.firstSeq, cur.firstMsg, cur.firstSrc = act.firstSeen, act.firstSeq, act.firstMsg, act.firstSrc
	}
	if later(act.lastSeen, act.lastSeq, cur.lastSeen, cur.lastSeq) {
		cur.lastSeen, cur.lastSeq, cur.lastMsg, cur.lastSrc = act.lastSeen, act.lastSeq, act.lastMsg, act.lastSrc
	}
	a.acts[ref] = cur
}

func (a *applier) event(collection, workspace, key string, seq int64) {
	a.events = append(a.events, profileEvent{workspace, collection, key, seq})
}
