package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/profile"
	"roster/internal/store"
)

// queueChanges queues what profile.Apply decided, a statement per table
// and kind of write, its rows as arrays (unnest). The engine gives each row
// once (one change per record, identity, member and event), which ON
// CONFLICT DO UPDATE requires of one statement.
func queueChanges(b *pgx.Batch, c *profile.Changes) {
	queueRecords(b, c.Records)
	queueIdentities(b, c.Identities)
	queueMemberships(b, c.Memberships)
	queueEvents(b, c.Events)
	queueHistory(b, c.History)
}

func utcMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// queueRecords writes the changed records, and for groups the columns
// ListGroups sorts and searches by, from the new record; a record whose
// profile is gone (merged into another) is deleted.
func queueRecords(b *pgx.Batch, changes []profile.RecordChange) {
	var (
		ws, kinds, ids        []string
		records               [][]byte
		names, folded         []*string
		firstSeen, lastSeen   []*time.Time
		delWS, delKind, delID []string
		buf                   []byte
	)
	for _, c := range changes {
		kind := string(c.Ref.Kind)
		if c.New == nil {
			delWS, delKind, delID = append(delWS, c.Ref.Workspace), append(delKind, kind), append(delID, c.Ref.ID)
			continue
		}
		start := len(buf)
		buf = c.New.Marshal(buf)
		ws, kinds, ids, records = append(ws, c.Ref.Workspace), append(kinds, kind), append(ids, c.Ref.ID), append(records, buf[start:len(buf):len(buf)])
		if c.Ref.Kind != profile.Group {
			names, folded, firstSeen, lastSeen = append(names, nil), append(folded, nil), append(firstSeen, nil), append(lastSeen, nil)
			continue
		}
		name, fold, first, last := c.New.SortName(), store.FoldText(c.Ref.ID), utcMillis(c.New.First.At), utcMillis(c.New.Last.At)
		names, folded, firstSeen, lastSeen = append(names, &name), append(folded, &fold), append(firstSeen, &first), append(lastSeen, &last)
	}
	if len(ws) > 0 {
		b.Queue(`INSERT INTO profiles (workspace, kind, id, record, name, id_folded, first_seen, last_seen)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
			ON CONFLICT (workspace, kind, id) DO UPDATE SET record = EXCLUDED.record,
				name = EXCLUDED.name, id_folded = EXCLUDED.id_folded, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen`,
			ws, kinds, ids, records, names, folded, firstSeen, lastSeen)
	}
	if len(delWS) > 0 {
		b.Queue(`DELETE FROM profiles p USING unnest($1::text[], $2::text[], $3::text[]) AS d(workspace, kind, id)
			WHERE p.workspace = d.workspace AND p.kind = d.kind AND p.id = d.id`, delWS, delKind, delID)
	}
}

func queueIdentities(b *pgx.Batch, ids map[profile.Identity]string) {
	if len(ids) == 0 {
		return
	}
	ws, types, values, keys := make([]string, 0, len(ids)), make([]string, 0, len(ids)), make([]string, 0, len(ids)), make([]string, 0, len(ids))
	for id, key := range ids {
		ws, types, values, keys = append(ws, id.Workspace), append(types, id.Type), append(values, id.ID), append(keys, key)
	}
	b.Queue(`INSERT INTO identities (workspace, id_type, id, user_key)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
		ON CONFLICT (workspace, id_type, id) DO UPDATE SET user_key = EXCLUDED.user_key`,
		ws, types, values, keys)
}

// queueMemberships sets the member rows to what the final records say;
// the engine's times are already the widened ones.
func queueMemberships(b *pgx.Batch, changes []profile.MembershipChange) {
	var (
		ws, groups, users        []string
		first, last              []time.Time
		delWS, delGroup, delUser []string
	)
	for _, m := range changes {
		if m.Deleted {
			delWS, delGroup, delUser = append(delWS, m.Workspace), append(delGroup, m.GroupID), append(delUser, m.UserKey)
			continue
		}
		ws, groups, users = append(ws, m.Workspace), append(groups, m.GroupID), append(users, m.UserKey)
		first, last = append(first, utcMillis(m.Member.First)), append(last, utcMillis(m.Member.Last))
	}
	if len(ws) > 0 {
		b.Queue(`INSERT INTO memberships (workspace, group_id, user_key, first_seen, last_seen)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
			ON CONFLICT (workspace, group_id, user_key) DO UPDATE SET first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen`,
			ws, groups, users, first, last)
	}
	if len(delWS) > 0 {
		b.Queue(`DELETE FROM memberships m USING unnest($1::text[], $2::text[], $3::text[]) AS d(workspace, group_id, user_key)
			WHERE m.workspace = d.workspace AND m.group_id = d.group_id AND m.user_key = d.user_key`, delWS, delGroup, delUser)
	}
}

// queueHistory writes one row per event and group: the changes as
// profile.MarshalHistory encodes them, so that no trait key is in an index.
func queueHistory(b *pgx.Batch, history []profile.HistoryEntry) {
	if len(history) == 0 {
		return
	}
	ws, groups, seqs, changes := make([]string, len(history)), make([]string, len(history)), make([]int64, len(history)), make([][]byte, len(history))
	var buf []byte
	for i, h := range history {
		start := len(buf)
		buf = profile.MarshalHistory(buf, h.Changes)
		ws[i], groups[i], seqs[i], changes[i] = h.Workspace, h.GroupID, h.Seq, buf[start:len(buf):len(buf)]
	}
	b.Queue(`INSERT INTO trait_history (workspace, group_id, seq, changes)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
		ON CONFLICT (workspace, group_id, seq) DO UPDATE SET changes = EXCLUDED.changes`,
		ws, groups, seqs, changes)
}
