package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"roster/internal/spec"
	"roster/internal/store"
)

// Reads below never open a transaction: the reader pool's DSN carries
// _txlock=immediate, so BEGIN on it would take profiles.db's write lock and
// queue behind the profile processor. Where a read needs two statements
// (rows, then "does the profile exist?"), the second runs only when the
// first found nothing, and either outcome is true of some moment.

func (s *Store) requireGroup(ctx context.Context, workspace, groupID string) error {
	var one int
	err := s.pr.QueryRowContext(ctx, "SELECT 1 FROM groups WHERE workspace = ? AND group_id = ?", workspace, groupID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: group %q: %w", groupID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: look up group %q: %w", groupID, err)
	}
	return nil
}

func (s *Store) requireUser(ctx context.Context, workspace, key string) error {
	var one int
	err := s.pr.QueryRowContext(ctx, "SELECT 1 FROM users WHERE workspace = ? AND user_key = ?", workspace, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: user %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: look up user %q: %w", key, err)
	}
	return nil
}

// groupColumns ends with the name column, which Group does not carry but
// ListGroups needs for its cursor.
const groupColumns = `g.workspace, g.group_id,
	g.first_seen, g.first_message_id, g.first_source,
	g.last_seen, g.last_message_id, g.last_source,
	(SELECT count(*) FROM memberships m WHERE m.workspace = g.workspace AND m.group_id = g.group_id),
	g.name`

type scanner interface{ Scan(dest ...any) error }

func scanGroup(row scanner) (g store.Group, name string, err error) {
	var first, last int64
	err = row.Scan(&g.Workspace, &g.ID,
		&first, &g.FirstMessageID, &g.FirstSource,
		&last, &g.LastMessageID, &g.LastSource,
		&g.Members, &name)
	g.FirstSeen, g.LastSeen = timeMillis(first), timeMillis(last)
	return g, name, err
}

// Group implements store.Profiles.
func (s *Store) Group(ctx context.Context, workspace, groupID string) (store.Group, error) {
	g, _, err := scanGroup(s.pr.QueryRowContext(ctx,
		"SELECT "+groupColumns+" FROM groups g WHERE g.workspace = ? AND g.group_id = ?", workspace, groupID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Group{}, fmt.Errorf("sqlite: group %q: %w", groupID, store.ErrNotFound)
	}
	if err != nil {
		return store.Group{}, fmt.Errorf("sqlite: group %q: %w", groupID, err)
	}
	return g, nil
}

func scanTraits(rows *sql.Rows) ([]store.Trait, error) {
	defer rows.Close()
	var out []store.Trait
	for rows.Next() {
		var (
			t     store.Trait
			value []byte
			ts    int64
		)
		if err := rows.Scan(&t.Key, &t.Name, &value, &ts, &t.Seq, &t.Source, &t.MessageID); err != nil {
			return nil, fmt.Errorf("sqlite: scan trait: %w", err)
		}
		t.Value = json.RawMessage(value)
		t.UpdatedAt = timeMillis(ts)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: scan traits: %w", err)
	}
	return out, nil
}

// GroupTraits implements store.Profiles.
func (s *Store) GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error) {
	rows, err := s.pr.QueryContext(ctx,
		"SELECT key, name, value, ts, seq, source, message_id FROM group_traits WHERE workspace = ? AND group_id = ? ORDER BY key",
		workspace, groupID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: group traits of %q: %w", groupID, err)
	}
	traits, err := scanTraits(rows)
	if err != nil {
		return nil, err
	}
	if len(traits) == 0 {
		if err := s.requireGroup(ctx, workspace, groupID); err != nil {
			return nil, err
		}
	}
	return traits, nil
}

func scanMemberships(rows *sql.Rows) ([]store.Membership, error) {
	defer rows.Close()
	var out []store.Membership
	for rows.Next() {
		var (
			m           store.Membership
			first, last int64
		)
		if err := rows.Scan(&m.GroupID, &m.UserKey, &first, &last); err != nil {
			return nil, fmt.Errorf("sqlite: scan membership: %w", err)
		}
		m.FirstSeen, m.LastSeen = timeMillis(first), timeMillis(last)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: scan memberships: %w", err)
	}
	return out, nil
}

// GroupMembers implements store.Profiles.
func (s *Store) GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error) {
	rows, err := s.pr.QueryContext(ctx,
		"SELECT group_id, user_key, first_seen, last_seen FROM memberships WHERE workspace = ? AND group_id = ? AND user_key > ? ORDER BY user_key LIMIT ?",
		workspace, groupID, afterUser, store.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: members of %q: %w", groupID, err)
	}
	members, err := scanMemberships(rows)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		if err := s.requireGroup(ctx, workspace, groupID); err != nil {
			return nil, err
		}
	}
	return members, nil
}

// TraitHistory implements store.Profiles.
//
// One event changes several keys under one seq, and the caller's cursor is
// a seq, so a page never ends inside a seq: it holds every change of the
// seqs it reaches, which can be more than limit. Cutting the page after
// limit rows instead would make "before = last seq" skip the rest of that
// event's changes.
func (s *Store) TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	where := "workspace = ? AND group_id = ? AND seq < ?"
	args := []any{workspace, groupID, before}
	if key != "" {
		where += " AND key = ?"
		args = append(args, spec.FoldKey(key))
	}
	// The subquery finds the seq of the limit-th newest change; everything
	// from that seq on is the page. It is NULL when fewer changes remain.
	// The history is in two parts (see historyMergeEvents); each SELECT
	// reads both.
	both := func(columns string) string {
		return "SELECT " + columns + " FROM trait_history WHERE " + where +
			" UNION ALL SELECT " + columns + " FROM trait_history_recent WHERE " + where
	}
	const columns = "seq, key, name, old_value, new_value, message_id, ts"
	query := "SELECT " + columns + " FROM (" + both(columns) + ") WHERE seq >= coalesce((SELECT seq FROM (" +
		both("seq, key") + ") ORDER BY seq DESC, key LIMIT 1 OFFSET ?), ?) ORDER BY seq DESC, key"
	args = append(slices.Repeat(args, 4), store.PageLimit(limit)-1, int64(math.MinInt64))
	rows, err := s.pr.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: trait history of %q: %w", groupID, err)
	}
	defer rows.Close()
	var out []store.TraitChange
	for rows.Next() {
		var (
			c              store.TraitChange
			oldVal, newVal []byte
			ts             int64
		)
		if err := rows.Scan(&c.Seq, &c.Key, &c.Name, &oldVal, &newVal, &c.MessageID, &ts); err != nil {
			return nil, fmt.Errorf("sqlite: scan trait change: %w", err)
		}
		if oldVal != nil {
			c.Old = json.RawMessage(oldVal)
		}
		c.New = json.RawMessage(newVal)
		c.Timestamp = timeMillis(ts)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: trait history of %q: %w", groupID, err)
	}
	if len(out) == 0 {
		if err := s.requireGroup(ctx, workspace, groupID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// likeEscaper makes user text literal inside a LIKE ... ESCAPE '\' pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func likeContains(s string) string { return "%" + likeEscaper.Replace(s) + "%" }

// ListGroups implements store.Profiles.
func (s *Store) ListGroups(ctx context.Context, workspace string, q store.GroupQuery) ([]store.Group, string, error) {
	order, err := q.Order()
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: %w", err)
	}
	col := order.Column
	limit := store.PageLimit(q.Limit)

	where := []string{"g.workspace = ?"}
	args := []any{workspace}
	if q.Text != "" {
		// SQLite's LIKE folds ASCII case only. groups.name is stored
		// lower-cased, so lower-casing the text here folds the rest for
		// names; ids with non-ASCII capitals still match their exact case.
		lower := strings.ToLower(q.Text)
		cond := `g.group_id LIKE ? ESCAPE '\' OR g.name LIKE ? ESCAPE '\'`
		args = append(args, likeContains(lower), likeContains(lower))
		if lower != q.Text {
			cond += ` OR g.group_id LIKE ? ESCAPE '\'`
			args = append(args, likeContains(q.Text))
		}
		where = append(where, "("+cond+")")
	}
	for _, name := range slices.Sorted(maps.Keys(q.Traits)) {
		var value bytes.Buffer
		if err := json.Compact(&value, q.Traits[name]); err != nil {
			return nil, "", fmt.Errorf("sqlite: list groups: %w: trait %q: value is not JSON: %w", store.ErrInvalid, name, err)
		}
		// Scalars are stored without inner spaces, so their text compares
		// as is and can use the value index; objects and arrays are stored
		// as sent, so both sides are minified first.
		valueCol := "value"
		if c := value.Bytes()[0]; c == '{' || c == '[' {
			valueCol = "json(value)"
		}
		where = append(where, "g.group_id IN (SELECT group_id FROM group_traits WHERE workspace = ? AND key = ? AND "+valueCol+" = ?)")
		args = append(args, workspace, spec.FoldKey(name), value.String())
	}
	op, dir := ">", "ASC"
	if order.Desc {
		op, dir = "<", "DESC"
	}
	orderBy := "g.group_id " + dir
	if col != "group_id" {
		orderBy = "g." + col + " " + dir + ", " + orderBy
	}
	if c := order.After; c != nil {
		switch col {
		case "group_id":
			where = append(where, "g.group_id "+op+" ?")
			args = append(args, c.ID)
		case "name":
			where = append(where, "(g.name, g.group_id) "+op+" (?, ?)")
			args = append(args, c.Text, c.ID)
		default:
			where = append(where, "(g."+col+", g.group_id) "+op+" (?, ?)")
			args = append(args, c.Num, c.ID)
		}
	}
	// One row more than the page tells whether there is a next page.
	args = append(args, limit+1)
	rows, err := s.pr.QueryContext(ctx,
		"SELECT "+groupColumns+" FROM groups g WHERE "+strings.Join(where, " AND ")+" ORDER BY "+orderBy+" LIMIT ?", args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list groups: %w", err)
	}
	defer rows.Close()
	var (
		groups []store.Group
		names  []string
	)
	for rows.Next() {
		g, name, err := scanGroup(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: scan group: %w", err)
		}
		groups = append(groups, g)
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list groups: %w", err)
	}
	if len(groups) <= limit {
		return groups, "", nil
	}
	groups = groups[:limit]
	last := groups[limit-1]
	return groups, order.Next(last, names[limit-1]), nil
}

// ResolveUser implements store.Profiles.
func (s *Store) ResolveUser(ctx context.Context, workspace, idType, id string) (string, error) {
	var key string
	err := s.pr.QueryRowContext(ctx,
		"SELECT user_key FROM identities WHERE workspace = ? AND id_type = ? AND id = ?", workspace, idType, id).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: identity %s:%s: %w", idType, id, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: resolve %s:%s: %w", idType, id, err)
	}
	return key, nil
}

// User implements store.Profiles.
func (s *Store) User(ctx context.Context, workspace, key string) (store.User, error) {
	var (
		u           store.User
		first, last int64
	)
	err := s.pr.QueryRowContext(ctx,
		`SELECT workspace, user_key, first_seen, first_message_id, first_source, last_seen, last_message_id, last_source
		FROM users WHERE workspace = ? AND user_key = ?`, workspace, key).
		Scan(&u.Workspace, &u.Key, &first, &u.FirstMessageID, &u.FirstSource, &last, &u.LastMessageID, &u.LastSource)
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("sqlite: user %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user %q: %w", key, err)
	}
	u.FirstSeen, u.LastSeen = timeMillis(first), timeMillis(last)
	return u, nil
}

// UserTraits implements store.Profiles.
func (s *Store) UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error) {
	rows, err := s.pr.QueryContext(ctx,
		"SELECT key, name, value, ts, seq, source, message_id FROM user_traits WHERE workspace = ? AND user_key = ? ORDER BY key",
		workspace, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: user traits of %q: %w", key, err)
	}
	traits, err := scanTraits(rows)
	if err != nil {
		return nil, err
	}
	if len(traits) == 0 {
		if err := s.requireUser(ctx, workspace, key); err != nil {
			return nil, err
		}
	}
	return traits, nil
}

// ExternalIDs implements store.Profiles.
func (s *Store) ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error) {
	rows, err := s.pr.QueryContext(ctx,
		"SELECT id_type, id, source, first_message_id, created_at FROM identities WHERE workspace = ? AND user_key = ? ORDER BY created_at, id_type, id",
		workspace, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: external ids of %q: %w", key, err)
	}
	defer rows.Close()
	var out []store.ExternalID
	for rows.Next() {
		var (
			x       store.ExternalID
			created int64
		)
		if err := rows.Scan(&x.Type, &x.ID, &x.Source, &x.FirstMessageID, &created); err != nil {
			return nil, fmt.Errorf("sqlite: scan external id: %w", err)
		}
		x.CreatedAt = timeMillis(created)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: external ids of %q: %w", key, err)
	}
	if len(out) == 0 {
		if err := s.requireUser(ctx, workspace, key); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UserGroups implements store.Profiles.
func (s *Store) UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error) {
	rows, err := s.pr.QueryContext(ctx,
		"SELECT group_id, user_key, first_seen, last_seen FROM memberships WHERE workspace = ? AND user_key = ? ORDER BY group_id",
		workspace, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: groups of user %q: %w", key, err)
	}
	groups, err := scanMemberships(rows)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		if err := s.requireUser(ctx, workspace, key); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// ProfileEvents implements store.Profiles. The index of a profile's events
// lives in profiles.db and the events in roster.db, so it takes one query
// on each.
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, before int64, limit int) ([]store.Event, error) {
	var require func(ctx context.Context, workspace, key string) error
	switch collection {
	case "users":
		require = s.requireUser
	case "accounts":
		require = s.requireGroup
	default:
		return nil, fmt.Errorf("sqlite: profile events: unknown collection %q: want users or accounts", collection)
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pr.QueryContext(ctx,
		// Both parts of the history (see historyMergeEvents), merged in
		// order as they are read.
		"SELECT seq FROM profile_events WHERE workspace = ?1 AND collection = ?2 AND profile_key = ?3 AND seq < ?4"+
			" UNION ALL SELECT seq FROM profile_events_recent WHERE workspace = ?1 AND collection = ?2 AND profile_key = ?3 AND seq < ?4"+
			" ORDER BY seq DESC LIMIT ?5",
		workspace, collection, key, before, store.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: profile events of %s/%q: %w", collection, key, err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: scan profile event: %w", err)
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: profile events of %s/%q: %w", collection, key, err)
	}
	if len(seqs) == 0 {
		return nil, require(ctx, workspace, key)
	}
	// The seqs travel as one JSON array so that no limit meets SQLite's
	// cap on bound parameters.
	list, err := json.Marshal(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: profile events: %w", err)
	}
	erows, err := s.r.QueryContext(ctx,
		"SELECT "+eventColumns+" FROM events WHERE seq IN (SELECT value FROM json_each(?)) AND workspace = ? ORDER BY seq DESC",
		string(list), workspace)
	if err != nil {
		return nil, fmt.Errorf("sqlite: profile events of %s/%q: %w", collection, key, err)
	}
	return scanEvents(erows)
}
