package postgres

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// queueWrites queues everything the applier holds, a statement per table
// whose rows come as arrays (unnest), and forgets it. Rows of one statement
// never conflict with each other (the maps that gather them have one entry
// per row), which ON CONFLICT DO UPDATE requires.
func (a *applier) queueWrites(b *pgx.Batch) {
	for _, o := range []*owner{&groupOwner, &userOwner} {
		a.queueActivity(b, o)
		a.queueTraits(b, o)
	}
	a.queueNames(b)
	a.queueIdentities(b)
	a.queueMemberships(b)
	a.queueEvents(b)
	a.queueHistory(b)
}

func utcMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// touchConflict merges an activity row into the stored one. SET
// expressions all see the row as it was, so each column picks its side with
// the same comparison.
func touchConflict(o *owner) string {
	const earlier = "(EXCLUDED.first_seen, EXCLUDED.first_seq) < (t.first_seen, t.first_seq)"
	const later = "(EXCLUDED.last_seen, EXCLUDED.last_seq) > (t.last_seen, t.last_seq)"
	set := ""
	for _, c := range []struct{ cond, col string }{
		{earlier, "first_message_id"}, {earlier, "first_source"}, {earlier, "first_seq"}, {earlier, "first_seen"},
		{later, "last_message_id"}, {later, "last_source"}, {later, "last_seq"}, {later, "last_seen"},
	} {
		if set != "" {
			set += ", "
		}
		set += c.col + " = CASE WHEN " + c.cond + " THEN EXCLUDED." + c.col + " ELSE t." + c.col + " END"
	}
	return " ON CONFLICT (workspace, " + o.column + ") DO UPDATE SET " + set
}

func (a *applier) queueActivity(b *pgx.Batch, o *owner) {
	var (
		ws, who, firstMsg, firstSrc, lastMsg, lastSrc []string
		firstSeen, lastSeen                           []time.Time
		firstSeq, lastSeq                             []int64
	)
	for ref, act := range a.acts {
		if ref.o != o {
			continue
		}
		ws, who = append(ws, ref.workspace), append(who, ref.who)
		firstSeen, firstSeq = append(firstSeen, utcMillis(act.firstSeen)), append(firstSeq, act.firstSeq)
		firstMsg, firstSrc = append(firstMsg, act.firstMsg), append(firstSrc, act.firstSrc)
		lastSeen, lastSeq = append(lastSeen, utcMillis(act.lastSeen)), append(lastSeq, act.lastSeq)
		lastMsg, lastSrc = append(lastMsg, act.lastMsg), append(lastSrc, act.lastSrc)
		delete(a.acts, ref)
	}
	if len(ws) == 0 {
		return
	}
	b.Queue("INSERT INTO "+o.activity+" AS t (workspace, "+o.column+
		", first_seen, first_seq, first_message_id, first_source, last_seen, last_seq, last_message_id, last_source)"+
		" SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[], $9::text[], $10::text[])"+
		touchConflict(o),
		ws, who, firstSeen, firstSeq, firstMsg, firstSrc, lastSeen, lastSeq, lastMsg, lastSrc)
}

// queueTraits writes the dirty traits. Most writes repeat a value and only
// move its version; PostgreSQL sees that the indexed value is unchanged and
// updates such a row in place.
func (a *applier) queueTraits(b *pgx.Batch, o *owner) {
	var (
		ws, who, key, name, value, source, msg []string
		compact                                []*string
		ts                                     []time.Time
		seq                                    []int64
	)
	for ref, set := range a.traitSet {
		if ref.o != o {
			continue
		}
		for k, t := range set.dirty {
			ws, who, key, name = append(ws, ref.workspace), append(who, ref.who), append(key, t.Key), append(name, t.Name)
			value, compact = append(value, string(t.Value)), append(compact, compactJSON(t.Value))
			ts, seq = append(ts, ms(t.UpdatedAt).UTC()), append(seq, t.Seq)
			source, msg = append(source, t.Source), append(msg, t.MessageID)
			delete(set.dirty, k)
		}
	}
	if len(ws) == 0 {
		return
	}
	cols := "workspace, " + o.column + ", key, name, value, ts, seq, source, message_id"
	from := "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[], $8::text[], $9::text[])"
	set := "name = EXCLUDED.name, value = EXCLUDED.value, ts = EXCLUDED.ts, seq = EXCLUDED.seq, source = EXCLUDED.source, message_id = EXCLUDED.message_id"
	args := []any{ws, who, key, name, value, ts, seq, source, msg}
	if o.compact {
		cols += ", compact"
		from = from[:len(from)-1] + ", $10::text[])"
		set += ", compact = EXCLUDED.compact"
		args = append(args, compact)
	}
	b.Queue("INSERT INTO "+o.traits+" ("+cols+") SELECT * FROM "+from+
		" ON CONFLICT (workspace, "+o.column+", key) DO UPDATE SET "+set, args...)
}

// compactJSON is an object or array value minified, as trait filters
// compare it; nil for other values, which are compared as stored.
func compactJSON(v json.RawMessage) *string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil // not JSON: then no filter value can match it either
	}
	return new(buf.String())
}

func (a *applier) queueNames(b *pgx.Batch) {
	var ws, ids, names []string
	for ref, name := range a.names {
		ws, ids, names = append(ws, ref.workspace), append(ids, ref.who), append(names, name)
	}
	clear(a.names)
	if len(ws) == 0 {
		return
	}
	b.Queue(`UPDATE groups AS g SET name = v.name FROM unnest($1::text[], $2::text[], $3::text[]) AS v(workspace, group_id, name)
		WHERE g.workspace = v.workspace AND g.group_id = v.group_id`, ws, ids, names)
}

func (a *applier) queueIdentities(b *pgx.Batch) {
	var (
		ws, types, ids, keys, sources, msgs []string
		created                             []time.Time
	)
	for id, n := range a.newIDs {
		ws, types, ids, keys = append(ws, id.workspace), append(types, id.idType), append(ids, id.id), append(keys, n.userKey)
		created, sources, msgs = append(created, utcMillis(n.createdAt)), append(sources, n.source), append(msgs, n.messageID)
	}
	clear(a.newIDs)
	clear(a.newUserIDOf)
	if len(ws) == 0 {
		return
	}
	b.Queue(`INSERT INTO identities (workspace, id_type, id, user_key, created_at, source, first_message_id)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
		ON CONFLICT (workspace, id_type, id) DO UPDATE SET user_key = EXCLUDED.user_key`,
		ws, types, ids, keys, created, sources, msgs)
}

func (a *applier) queueMemberships(b *pgx.Batch) {
	var (
		ws, groups, users []string
		first, last       []time.Time
	)
	for m, seen := range a.members {
		ws, groups, users = append(ws, m.workspace), append(groups, m.group), append(users, m.user)
		first, last = append(first, utcMillis(seen[0])), append(last, utcMillis(seen[1]))
	}
	clear(a.members)
	if len(ws) == 0 {
		return
	}
	b.Queue(`INSERT INTO memberships AS t (workspace, group_id, user_key, first_seen, last_seen)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
		ON CONFLICT (workspace, group_id, user_key) DO UPDATE
		SET first_seen = least(t.first_seen, EXCLUDED.first_seen), last_seen = greatest(t.last_seen, EXCLUDED.last_seen)`,
		ws, groups, users, first, last)
}

func (a *applier) queueEvents(b *pgx.Batch) {
	if len(a.events) == 0 {
		return
	}
	ws := make([]string, len(a.events))
	collections := make([]string, len(a.events))
	keys := make([]string, len(a.events))
	seqs := make([]int64, len(a.events))
	for i, e := range a.events {
		ws[i], collections[i], keys[i], seqs[i] = e.workspace, e.collection, e.key, e.seq
	}
	a.events = a.events[:0]
	b.Queue(`INSERT INTO profile_events (workspace, collection, profile_key, seq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
		ws, collections, keys, seqs)
}

func (a *applier) queueHistory(b *pgx.Batch) {
	var (
		ws, groups, keys, names, news, msgs []string
		olds                                []*string
		seqs                                []int64
		ts                                  []time.Time
	)
	for k, c := range a.history {
		var old *string
		if c.Old != nil {
			old = new(string(c.Old))
		}
		ws, groups, seqs, keys, names = append(ws, k.workspace), append(groups, k.group), append(seqs, c.Seq), append(keys, c.Key), append(names, c.Name)
		olds, news, msgs, ts = append(olds, old), append(news, string(c.New)), append(msgs, c.MessageID), append(ts, ms(c.Timestamp).UTC())
	}
	clear(a.history)
	if len(ws) == 0 {
		return
	}
	b.Queue(`INSERT INTO trait_history (workspace, group_id, seq, key, name, old_value, new_value, message_id, ts)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
		ON CONFLICT (workspace, group_id, seq, key) DO UPDATE SET name = EXCLUDED.name, old_value = EXCLUDED.old_value,
			new_value = EXCLUDED.new_value, message_id = EXCLUDED.message_id, ts = EXCLUDED.ts`,
		ws, groups, seqs, keys, names, olds, news, msgs, ts)
}
