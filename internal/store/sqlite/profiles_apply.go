package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"roster/internal/store"
)

// Profile processing runs in profiles.db's single writer: one transaction
// per batch of updates, with the cursor, so a crash applies all or none.
// Every rule is written so that re-applying, or applying in another order,
// ends in the same state where the spec asks for it: trait values and
// first/last seen are decided by (timestamp, seq), not arrival.

// Cursor implements store.Profiles.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.pr.QueryRowContext(ctx, "SELECT seq FROM cursors WHERE name = ?", name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: read cursor %s: %w", name, err)
	}
	return seq, nil
}

// ApplyProfiles implements store.Profiles.
func (s *Store) ApplyProfiles(ctx context.Context, updates []store.ProfileUpdate, upTo int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: apply profiles: %w", err)
	}
	// Once begun, a batch runs to its commit: it is one transaction, so
	// stopping it halfway would only roll it back. Besides, go-sqlite3
	// runs each statement of a cancellable context on a goroutine of its
	// own, which would take the work off the processor's low-priority
	// thread (pipeline.Processor.Run).
	ctx = context.WithoutCancel(ctx)
	s.applying.Lock()
	defer s.applying.Unlock()
	// Taken, the cache is gone if anything below fails: the batch may have
	// changed it without committing.
	cache := s.cache
	s.cache = nil
	tx, err := s.pw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin profiles: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var cursor int64
	if err := tx.QueryRowContext(ctx, "SELECT seq FROM cursors WHERE name = ?", store.ProfileCursor).Scan(&cursor); err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("sqlite: read cursor: %w", err)
	}
	if upTo <= cursor {
		s.cache = cache
		return nil
	}
	bufs, _ := s.buffers.Get().(*rowBuffers)
	if bufs == nil {
		bufs = newRowBuffers()
	}
	defer s.buffers.Put(bufs)
	a := newApplier(ctx, tx, len(updates), bufs, cache)
	if err := a.prefetch(updates); err != nil {
		return fmt.Errorf("sqlite: read profiles: %w", err)
	}
	for i := range updates {
		if updates[i].Seq <= cursor {
			continue
		}
		if err := a.apply(&updates[i]); err != nil {
			return fmt.Errorf("sqlite: apply event %d: %w", updates[i].Seq, err)
		}
	}
	if err := a.flush(); err != nil {
		return fmt.Errorf("sqlite: apply events: %w", err)
	}
	if err := setCursor(ctx, tx, store.ProfileCursor, upTo); err != nil {
		return fmt.Errorf("sqlite: move cursor: %w", err)
	}
	if err := mergeHistory(ctx, tx, upTo, s.historyMerge); err != nil {
		return fmt.Errorf("sqlite: merge history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit profiles: %w", err)
	}
	if s.carrying.keep(cache != nil && len(cache.traits) > 0, a.hits, a.lookups) {
		s.cache = a.carry()
	}
	return nil
}

func setCursor(ctx context.Context, tx *sql.Tx, name string, seq int64) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO cursors(name, seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq", name, seq)
	return err
}

// historyMergeEvents is how many events of the log the recent parts of
// profile_events and trait_history gather before they are moved into the
// main tables.
//
// A profile's history grows at the key of the profile, so a batch
// touching thousands of profiles rewrote a page of these tables for nearly
// every one of them, and the tables only grow: writing them was a third of
// the time of a rebuild, which wrote 25 times the size of profiles.db to
// the disk, and those writes slow the log's fsyncs. Batches write to the
// recent tables instead, which stay small, and the main tables take their
// rows in one pass in key order every historyMergeEvents events, touching
// each page once for several batches: a rebuild of 400,000 events then
// took 35 s instead of 38 s and wrote 2.5 GB instead of 3.3 GB. Reads join
// both parts; a merge moves rows within the batch's transaction, so no
// read sees a row twice or misses one.
const historyMergeEvents = 50000

// historyMergedCursor names the log position the last merge was at.
const historyMergedCursor = "history-merged"

// mergeHistory moves the recent history into the main tables when the
// log has moved every events past the last merge.
func mergeHistory(ctx context.Context, tx *sql.Tx, upTo, every int64) error {
	var merged int64
	err := tx.QueryRowContext(ctx, "SELECT seq FROM cursors WHERE name = ?", historyMergedCursor).Scan(&merged)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if upTo-merged < every {
		return nil
	}
	for _, q := range []string{
		"INSERT OR IGNORE INTO profile_events SELECT workspace, collection, profile_key, seq FROM profile_events_recent",
		"DELETE FROM profile_events_recent",
		"INSERT OR REPLACE INTO trait_history SELECT workspace, group_id, seq, key, name, old_value, new_value, message_id, ts FROM trait_history_recent",
		"DELETE FROM trait_history_recent",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return setCursor(ctx, tx, historyMergedCursor, upTo)
}

// ResetProfiles implements store.Profiles.
func (s *Store) ResetProfiles(ctx context.Context) error {
	s.applying.Lock()
	defer s.applying.Unlock()
	s.cache = nil
	tx, err := s.pw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin reset: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, t := range profileTables {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("sqlite: reset %s: %w", t, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit reset: %w", err)
	}
	return nil
}

// applier applies one batch. Within it, state that events read back (a
// profile's traits, identities) is cached, and writes that later events
// only add to (activity, traits, memberships, events, history) are kept in
// memory and written at the end, many rows to a statement: a statement per
// row was most of the cost. Everything pending is flushed before an
// identity merge, which works on the tables.
type applier struct {
	ctx context.Context
	tx  *sql.Tx

	ids      map[identity]string
	acts     map[profileRef]activity
	traitSet map[profileRef]*traitSet
	members  map[membership][2]int64  // first and last seen
	names    map[profileRef]string    // groups whose name trait changed
	newIDs   map[identity]newIdentity // identities added, not written yet
	// hits of lookups are the profiles whose traits the prefetch found
	// in the cache the batch started from.
	hits, lookups int
	*rowBuffers
}

// rowBuffers are the rows an applier gathers and the JSON of its
// statements. They are kept from batch to batch (Store.buffers): grown
// anew for every batch, they were a third of the bytes that processing
// allocated.
type rowBuffers struct {
	events  *rows // profile_events
	history *rows // trait_history
	// scratch and scratch2 gather the rows flush writes from the maps;
	// buf holds a statement's JSON.
	scratch, scratch2 *rows
	buf               []byte
}

func newRowBuffers() *rowBuffers {
	return &rowBuffers{events: newRows(4), history: newRows(4), scratch: newRows(0), scratch2: newRows(0)}
}

type identity struct{ workspace, idType, id string }

type membership struct{ workspace, group, user string }

// profileRef names a group or user profile.
type profileRef struct {
	o              *owner
	workspace, who string
}

// newApplier returns an applier for a batch of n updates that gathers its
// rows in bufs, emptied first, and starts from the identities and traits
// of cache, if any. Its maps are sized for the batch up front: growing
// them a step at a time showed in the profile.
func newApplier(ctx context.Context, tx *sql.Tx, n int, bufs *rowBuffers, cache *profileCache) *applier {
	bufs.events.reset(4)
	bufs.history.reset(4)
	if cache == nil {
		cache = &profileCache{}
	}
	if cache.ids == nil {
		cache.ids = make(map[identity]string, 2*n)
	}
	if cache.traits == nil {
		cache.traits = make(map[profileRef]*traitSet, n)
	}
	return &applier{
		ctx: ctx, tx: tx, rowBuffers: bufs,
		ids:      cache.ids,
		acts:     make(map[profileRef]activity, n),
		traitSet: cache.traits,
		members:  make(map[membership][2]int64, n/2),
		names:    map[profileRef]string{},
		newIDs:   make(map[identity]newIdentity, n),
	}
}

// profileCache is what an applier read of identities and traits, as its
// batch committed them. The next batch starts from it: the processor is
// profiles.db's only writer, so the tables still hold what it says, and
// the profiles a batch touches are mostly those the one before touched.
// Reading them again was a fifth of the processor's time.
type profileCache struct {
	ids    map[identity]string
	traits map[profileRef]*traitSet
}

// carryIDs and carryProfiles bound what a cache keeps, at a few MB each:
// past them, the next batch starts that map afresh, which costs only its
// reads.
const (
	carryIDs      = 50000
	carryProfiles = 20000
)

// carryPolicy decides whether a batch starts from the last one's cache. A
// cache pays where batches touch the same profiles. Where they seldom do
// (a million groups), it only holds two batches' profiles in memory where
// one would do: 15 to 35 MB more at the peak, against a 300 MB budget. So
// when a carried cache answered under a quarter of a batch's profiles, the
// next batches start afresh, and the next try comes after twice as many
// batches as the last, up to maxCarryBackoff.
type carryPolicy struct{ skip, backoff int }

const maxCarryBackoff = 64

// keep reports whether the batch that just committed should pass its
// cache on; carried says whether it started from one, with hits of its
// lookups answered there.
func (c *carryPolicy) keep(carried bool, hits, lookups int) bool {
	switch {
	case c.skip > 0:
		c.skip--
		return c.skip == 0
	case !carried || 4*hits >= lookups:
		c.backoff = 0
		return true
	}
	c.backoff = min(max(2*c.backoff, 1), maxCarryBackoff)
	c.skip = c.backoff
	return false
}

// carry returns the applier's caches for the next batch, once its
// transaction has committed.
func (a *applier) carry() *profileCache {
	c := &profileCache{ids: a.ids, traits: a.traitSet}
	if len(c.ids) > carryIDs {
		c.ids = nil
	}
	if len(c.traits) > carryProfiles {
		c.traits = nil
	}
	return c
}

// flush writes everything pending.
func (a *applier) flush() error {
	if err := a.flushIdentities(); err != nil {
		return fmt.Errorf("identities: %w", err)
	}
	rs := a.scratch
	for _, o := range []*owner{&groupOwner, &userOwner} {
		rs.reset(2)
		for ref, act := range a.acts {
			if ref.o == o {
				rs.str(ref.workspace).str(ref.who).num(act.firstSeen).num(act.firstSeq).str(act.firstMsg).str(act.firstSrc).
					num(act.lastSeen).num(act.lastSeq).str(act.lastMsg).str(act.lastSrc).end()
			}
		}
		if err := a.insert("INSERT INTO "+o.activity+"(workspace, "+o.column+
			", first_seen, first_seq, first_message_id, first_source, last_seen, last_seq, last_message_id, last_source)", rs, touchConflict); err != nil {
			return fmt.Errorf("%s: %w", o.activity, err)
		}
		// Most writes repeat a trait's value and only move its version;
		// leaving value out of those updates leaves its index alone.
		changed, moved := rs, a.scratch2
		changed.reset(3)
		moved.reset(3)
		for ref, ts := range a.traitSet {
			if ref.o != o {
				continue
			}
			for i := range ts.traits {
				e := &ts.traits[i]
				if !e.dirty {
					continue
				}
				to := changed
				if e.moved {
					to = moved
				}
				to.str(ref.workspace).str(ref.who).str(e.key).str(e.name).str(e.cur.value).
					num(e.cur.ts).num(e.cur.seq).str(e.source).str(e.msgID).end()
				e.inTable, e.dirty, e.moved = true, false, false
				e.name, e.source, e.msgID = "", "", ""
			}
		}
		insert := "INSERT INTO " + o.traits + "(workspace, " + o.column + ", key, name, value, ts, seq, source, message_id)"
		version := " ON CONFLICT DO UPDATE SET name = excluded.name, ts = excluded.ts, seq = excluded.seq, source = excluded.source, message_id = excluded.message_id"
		if err := a.insert(insert, changed, version+", value = excluded.value"); err != nil {
			return fmt.Errorf("%s: %w", o.traits, err)
		}
		if err := a.insert(insert, moved, version); err != nil {
			return fmt.Errorf("%s: %w", o.traits, err)
		}
	}
	clear(a.acts)
	for ref, name := range a.names {
		if err := a.exec("UPDATE groups SET name = ? WHERE workspace = ? AND group_id = ?", name, ref.workspace, ref.who); err != nil {
			return fmt.Errorf("group name: %w", err)
		}
	}
	clear(a.names)
	rs.reset(3)
	for m, seen := range a.members {
		rs.str(m.workspace).str(m.group).str(m.user).num(seen[0]).num(seen[1]).end()
	}
	clear(a.members)
	if err := a.insert("INSERT INTO memberships(workspace, group_id, user_key, first_seen, last_seen)", rs,
		" ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)"); err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	if err := a.insert("INSERT OR IGNORE INTO profile_events_recent(workspace, collection, profile_key, seq)", a.events, ""); err != nil {
		return fmt.Errorf("profile events: %w", err)
	}
	if err := a.insert("INSERT OR REPLACE INTO trait_history_recent(workspace, group_id, seq, key, name, old_value, new_value, message_id, ts)", a.history, ""); err != nil {
		return fmt.Errorf("trait history: %w", err)
	}
	a.events.reset(4)
	a.history.reset(4)
	return nil
}

func (a *applier) exec(query string, args ...any) error {
	_, err := a.tx.ExecContext(a.ctx, query, args...)
	return err
}

// owner names a table of traits or activity and the column that says whose.
type owner struct{ traits, activity, column string }

var (
	groupOwner = owner{traits: "group_traits", activity: "groups", column: "group_id"}
	userOwner  = owner{traits: "user_traits", activity: "users", column: "user_key"}
)

func (a *applier) apply(u *store.ProfileUpdate) error {
	key, err := a.resolve(u)
	if err != nil {
		return err
	}
	act := activityOf(u)
	if key != "" {
		a.touch(profileRef{&userOwner, u.Workspace, key}, act)
		a.event(store.Users, u.Workspace, key, u.Seq)
		if u.Type == "identify" {
			for _, t := range u.Traits {
				if _, _, err := a.setTrait(profileRef{&userOwner, u.Workspace, key}, traitOf(t, u)); err != nil {
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

// setGroupTrait writes a group trait and, when the value changed, its
// history; the name trait is also kept on the group for search and sort.
func (a *applier) setGroupTrait(u *store.ProfileUpdate, t store.Trait) error {
	changed, old, err := a.setTrait(profileRef{&groupOwner, u.Workspace, u.GroupID}, t)
	if err != nil || !changed {
		return err
	}
	a.history.str(u.Workspace).str(u.GroupID).num(t.Seq).str(t.Key).str(t.Name)
	if old == nil {
		a.history.null()
	} else {
		a.history.str(string(old))
	}
	a.history.str(string(t.Value)).str(t.MessageID).num(t.UpdatedAt.UnixMilli()).end()
	if t.Key == "name" {
		var name string
		json.Unmarshal(t.Value, &name) //nolint:errcheck // a name that is not a string sorts as ""
		a.names[profileRef{&groupOwner, u.Workspace, u.GroupID}] = strings.ToLower(name)
	}
	return nil
}

func traitOf(t store.TraitValue, u *store.ProfileUpdate) store.Trait {
	return store.Trait{Key: t.Key, Name: t.Name, Value: t.Value, UpdatedAt: u.Timestamp, Seq: u.Seq, Source: u.Source, MessageID: u.MessageID}
}

// version is the stored value of a trait and the write that set it.
type version struct {
	value   string
	ts, seq int64
}

// traits returns a profile's traits, read once and then kept: by the
// prefetch for most profiles, here for the others.
func (a *applier) traits(ref profileRef) (*traitSet, error) {
	if set, ok := a.traitSet[ref]; ok {
		return set, nil
	}
	if err := a.loadTraits(ref.o, [][2]string{{ref.workspace, ref.who}}); err != nil {
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
	i := set.find(t.Key)
	found := i >= 0
	if !found {
		i = set.add(t.Key)
	} else if prev := set.traits[i].cur; !later(ts, t.Seq, prev.ts, prev.seq) {
		return false, nil, nil
	}
	e := &set.traits[i]
	prev := e.cur
	e.cur = version{string(t.Value), ts, t.Seq}
	// moved: the table's value is the one just set. Before this write it
	// was prev's if prev was written, or if it too only moved.
	same := found && prev.value == e.cur.value
	e.moved = same && (e.moved || (e.inTable && !e.dirty))
	e.dirty, e.name, e.source, e.msgID = true, t.Name, t.Source, t.MessageID
	if !found {
		return true, nil, nil
	}
	return !same, json.RawMessage(prev.value), nil
}

func later(ts, seq, thanTS, thanSeq int64) bool {
	return ts > thanTS || (ts == thanTS && seq > thanSeq)
}

// activity is when a profile was first and last seen: the earliest and the
// latest event by (timestamp, seq), whatever order they arrive in.
type activity struct {
	firstSeen, firstSeq int64
	firstMsg, firstSrc  string
	lastSeen, lastSeq   int64
	lastMsg, lastSrc    string
}

func activityOf(u *store.ProfileUpdate) activity {
	ts := u.Timestamp.UnixMilli()
	return activity{ts, u.Seq, u.MessageID, u.Source, ts, u.Seq, u.MessageID, u.Source}
}

// touchConflict merges an activity row into the stored one. SET
// expressions all see the row as it was, so each column picks its side with
// the same comparison.
var touchConflict = func() string {
	const earlier = "(excluded.first_seen < first_seen OR (excluded.first_seen = first_seen AND excluded.first_seq < first_seq))"
	const later = "(excluded.last_seen > last_seen OR (excluded.last_seen = last_seen AND excluded.last_seq > last_seq))"
	pick := func(cond, col string) string {
		return col + " = CASE WHEN " + cond + " THEN excluded." + col + " ELSE " + col + " END"
	}
	return " ON CONFLICT DO UPDATE SET " + strings.Join([]string{
		pick(earlier, "first_message_id"), pick(earlier, "first_source"), pick(earlier, "first_seq"), pick(earlier, "first_seen"),
		pick(later, "last_message_id"), pick(later, "last_source"), pick(later, "last_seq"), pick(later, "last_seen"),
	}, ", ")
}()

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
	a.events.str(workspace).str(collection).str(key).num(seq).end()
}
