package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/spec"
	"roster/internal/store"
)

// Where a read needs two statements (rows, then "does the profile
// exist?"), the second runs only when the first found nothing, and either
// outcome is true of some moment.

func (s *Store) requireGroup(ctx context.Context, workspace, groupID string) error {
	return s.require(ctx, "SELECT EXISTS (SELECT 1 FROM groups WHERE workspace = $1 AND group_id = $2)", workspace, "group", groupID)
}

func (s *Store) requireUser(ctx context.Context, workspace, key string) error {
	return s.require(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE workspace = $1 AND user_key = $2)", workspace, "user", key)
}

func (s *Store) require(ctx context.Context, query, workspace, what, id string) error {
	var found bool
	if err := s.pool.QueryRow(ctx, query, workspace, id).Scan(&found); err != nil {
		return fmt.Errorf("postgres: look up %s %q: %w", what, id, err)
	}
	if !found {
		return fmt.Errorf("postgres: %s %q: %w", what, id, store.ErrNotFound)
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

func scanGroup(row pgx.Row) (g store.Group, name string, err error) {
	err = row.Scan(&g.Workspace, &g.ID,
		&g.FirstSeen, &g.FirstMessageID, &g.FirstSource,
		&g.LastSeen, &g.LastMessageID, &g.LastSource,
		&g.Members, &name)
	g.FirstSeen, g.LastSeen = g.FirstSeen.UTC(), g.LastSeen.UTC()
	return g, name, err
}

// Group implements store.Profiles.
func (s *Store) Group(ctx context.Context, workspace, groupID string) (store.Group, error) {
	g, _, err := scanGroup(s.pool.QueryRow(ctx,
		"SELECT "+groupColumns+" FROM groups g WHERE g.workspace = $1 AND g.group_id = $2", workspace, groupID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Group{}, fmt.Errorf("postgres: group %q: %w", groupID, store.ErrNotFound)
	}
	if err != nil {
		return store.Group{}, fmt.Errorf("postgres: group %q: %w", groupID, err)
	}
	return g, nil
}

// traits reads a profile's traits ordered by key; a profile without any
// must exist.
func (s *Store) traits(ctx context.Context, o *owner, workspace, who string) ([]store.Trait, error) {
	rows, err := s.pool.Query(ctx, "SELECT key, name, value, ts, seq, source, message_id FROM "+o.traits+
		" WHERE workspace = $1 AND "+o.column+" = $2 ORDER BY key", workspace, who)
	if err != nil {
		return nil, fmt.Errorf("postgres: traits of %q: %w", who, err)
	}
	var (
		t     store.Trait
		value string
	)
	out, err := collect(rows, []any{&t.Key, &t.Name, &value, &t.UpdatedAt, &t.Seq, &t.Source, &t.MessageID}, func() (store.Trait, error) {
		got := t
		got.Value, got.UpdatedAt = json.RawMessage(value), got.UpdatedAt.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: traits of %q: %w", who, err)
	}
	if len(out) == 0 {
		if o == &groupOwner {
			err = s.requireGroup(ctx, workspace, who)
		} else {
			err = s.requireUser(ctx, workspace, who)
		}
	}
	return out, err
}

// GroupTraits implements store.Profiles.
func (s *Store) GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error) {
	return s.traits(ctx, &groupOwner, workspace, groupID)
}

// UserTraits implements store.Profiles.
func (s *Store) UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error) {
	return s.traits(ctx, &userOwner, workspace, key)
}

func scanMemberships(rows pgx.Rows, err error) ([]store.Membership, error) {
	if err != nil {
		return nil, err
	}
	var m store.Membership
	return collect(rows, []any{&m.GroupID, &m.UserKey, &m.FirstSeen, &m.LastSeen}, func() (store.Membership, error) {
		got := m
		got.FirstSeen, got.LastSeen = got.FirstSeen.UTC(), got.LastSeen.UTC()
		return got, nil
	})
}

// GroupMembers implements store.Profiles.
func (s *Store) GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error) {
	members, err := scanMemberships(s.pool.Query(ctx,
		"SELECT group_id, user_key, first_seen, last_seen FROM memberships WHERE workspace = $1 AND group_id = $2 AND user_key > $3 ORDER BY user_key LIMIT $4",
		workspace, groupID, afterUser, store.PageLimit(limit)))
	if err != nil {
		return nil, fmt.Errorf("postgres: members of %q: %w", groupID, err)
	}
	if len(members) == 0 {
		return nil, s.requireGroup(ctx, workspace, groupID)
	}
	return members, nil
}

// UserGroups implements store.Profiles.
func (s *Store) UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error) {
	groups, err := scanMemberships(s.pool.Query(ctx,
		"SELECT group_id, user_key, first_seen, last_seen FROM memberships WHERE workspace = $1 AND user_key = $2 ORDER BY group_id",
		workspace, key))
	if err != nil {
		return nil, fmt.Errorf("postgres: groups of user %q: %w", key, err)
	}
	if len(groups) == 0 {
		return nil, s.requireUser(ctx, workspace, key)
	}
	return groups, nil
}

// TraitHistory implements store.Profiles.
//
// One event changes several keys under one seq, and the caller's cursor is
// a seq, so a page never ends inside a seq: it holds every change of the
// seqs it reaches, which can be more than limit.
func (s *Store) TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	where := "workspace = $1 AND group_id = $2 AND seq < $3 AND ($4 = '' OR key = $4)"
	folded := ""
	if key != "" {
		folded = spec.FoldKey(key)
	}
	// The subquery finds the seq of the limit-th newest change; everything
	// from that seq on is the page. It is NULL when fewer changes remain.
	rows, err := s.pool.Query(ctx, "SELECT seq, key, name, old_value, new_value, message_id, ts FROM trait_history WHERE "+where+
		" AND seq >= coalesce((SELECT seq FROM trait_history WHERE "+where+" ORDER BY seq DESC, key LIMIT 1 OFFSET $5), $6)"+
		" ORDER BY seq DESC, key",
		workspace, groupID, before, folded, store.PageLimit(limit)-1, int64(math.MinInt64))
	if err != nil {
		return nil, fmt.Errorf("postgres: trait history of %q: %w", groupID, err)
	}
	var (
		c        store.TraitChange
		old      *string
		newValue string
	)
	out, err := collect(rows, []any{&c.Seq, &c.Key, &c.Name, &old, &newValue, &c.MessageID, &c.Timestamp}, func() (store.TraitChange, error) {
		got := c
		got.Old = nil
		if old != nil {
			got.Old = json.RawMessage(*old)
		}
		got.New, got.Timestamp = json.RawMessage(newValue), got.Timestamp.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: trait history of %q: %w", groupID, err)
	}
	if len(out) == 0 {
		return nil, s.requireGroup(ctx, workspace, groupID)
	}
	return out, nil
}

// ResolveUser implements store.Profiles.
func (s *Store) ResolveUser(ctx context.Context, workspace, idType, id string) (string, error) {
	var key string
	err := s.pool.QueryRow(ctx,
		"SELECT user_key FROM identities WHERE workspace = $1 AND id_type = $2 AND id = $3", workspace, idType, id).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: identity %s:%s: %w", idType, id, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: resolve %s:%s: %w", idType, id, err)
	}
	return key, nil
}

// User implements store.Profiles.
func (s *Store) User(ctx context.Context, workspace, key string) (store.User, error) {
	u := store.User{Workspace: workspace, Key: key}
	err := s.pool.QueryRow(ctx,
		`SELECT first_seen, first_message_id, first_source, last_seen, last_message_id, last_source
		FROM users WHERE workspace = $1 AND user_key = $2`, workspace, key).
		Scan(&u.FirstSeen, &u.FirstMessageID, &u.FirstSource, &u.LastSeen, &u.LastMessageID, &u.LastSource)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("postgres: user %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: user %q: %w", key, err)
	}
	u.FirstSeen, u.LastSeen = u.FirstSeen.UTC(), u.LastSeen.UTC()
	return u, nil
}

// ExternalIDs implements store.Profiles.
func (s *Store) ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT id_type, id, source, first_message_id, created_at FROM identities WHERE workspace = $1 AND user_key = $2 ORDER BY created_at, id_type, id",
		workspace, key)
	if err != nil {
		return nil, fmt.Errorf("postgres: external ids of %q: %w", key, err)
	}
	var x store.ExternalID
	out, err := collect(rows, []any{&x.Type, &x.ID, &x.Source, &x.FirstMessageID, &x.CreatedAt}, func() (store.ExternalID, error) {
		got := x
		got.CreatedAt = got.CreatedAt.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: external ids of %q: %w", key, err)
	}
	if len(out) == 0 {
		return nil, s.requireUser(ctx, workspace, key)
	}
	return out, nil
}

// ProfileEvents implements store.Profiles.
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, before int64, limit int) ([]store.Event, error) {
	var require func(ctx context.Context, workspace, key string) error
	switch collection {
	case store.Users:
		require = s.requireUser
	case store.Accounts:
		require = s.requireGroup
	default:
		return nil, fmt.Errorf("postgres: profile events: unknown collection %q: want users or accounts", collection)
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, "SELECT "+eventColumns+` FROM events WHERE workspace = $1 AND seq IN
		(SELECT seq FROM profile_events WHERE workspace = $1 AND collection = $2 AND profile_key = $3 AND seq < $4 ORDER BY seq DESC LIMIT $5)
		ORDER BY seq DESC`,
		workspace, collection, key, before, store.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: profile events of %s/%q: %w", collection, key, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, require(ctx, workspace, key)
	}
	return events, nil
}

// timeOf reads back a time that a cursor carries as Unix milliseconds.
func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
