package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/profile"
	"roster/internal/spec"
	"roster/internal/store"
)

// Reads of one profile decode its record. Where a read needs two
// statements (rows, then "does the profile exist?"), the second runs only
// when the first found nothing, and either outcome is true of some moment.

func kindName(kind profile.Kind) string {
	if kind == profile.Group {
		return "group"
	}
	return "user"
}

// record reads a profile's record; store.ErrNotFound when there is none.
func (s *Store) record(ctx context.Context, workspace string, kind profile.Kind, id string) (*profile.Record, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, "SELECT record FROM profiles WHERE workspace = $1 AND kind = $2 AND id = $3", workspace, string(kind), id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: %s %q: %w", kindName(kind), id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: %s %q: %w", kindName(kind), id, err)
	}
	r, err := profile.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s %q: %w", kindName(kind), id, err)
	}
	return r, nil
}

// require returns store.ErrNotFound when the profile does not exist.
func (s *Store) require(ctx context.Context, workspace string, kind profile.Kind, id string) error {
	var found bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM profiles WHERE workspace = $1 AND kind = $2 AND id = $3)",
		workspace, string(kind), id).Scan(&found)
	if err != nil {
		return fmt.Errorf("postgres: look up %s %q: %w", kindName(kind), id, err)
	}
	if !found {
		return fmt.Errorf("postgres: %s %q: %w", kindName(kind), id, store.ErrNotFound)
	}
	return nil
}

func groupOf(workspace, id string, r *profile.Record) store.Group {
	return store.Group{Workspace: workspace, ID: id, Activity: r.Activity(), Members: r.Members}
}

// Group implements store.Profiles.
func (s *Store) Group(ctx context.Context, workspace, groupID string) (store.Group, error) {
	r, err := s.record(ctx, workspace, profile.Group, groupID)
	if err != nil {
		return store.Group{}, err
	}
	return groupOf(workspace, groupID, r), nil
}

// GroupTraits implements store.Profiles.
func (s *Store) GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error) {
	r, err := s.record(ctx, workspace, profile.Group, groupID)
	if err != nil {
		return nil, err
	}
	return r.Traits, nil
}

// GroupMembers implements store.Profiles.
func (s *Store) GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT group_id, user_key, first_seen, last_seen FROM memberships WHERE workspace = $1 AND group_id = $2 AND user_key > $3 ORDER BY user_key LIMIT $4",
		workspace, groupID, afterUser, store.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: members of %q: %w", groupID, err)
	}
	var m store.Membership
	members, err := collect(rows, []any{&m.GroupID, &m.UserKey, &m.FirstSeen, &m.LastSeen}, func() (store.Membership, error) {
		got := m
		got.FirstSeen, got.LastSeen = got.FirstSeen.UTC(), got.LastSeen.UTC()
		return got, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: members of %q: %w", groupID, err)
	}
	if len(members) == 0 {
		return nil, s.require(ctx, workspace, profile.Group, groupID)
	}
	return members, nil
}

// historyChunk is how many events TraitHistory reads at a time when it
// selects one trait, which most events leave alone.
const historyChunk = 200

// TraitHistory implements store.Profiles. A row holds one event's
// changes, and the caller's cursor is a seq, so a page never ends inside
// an event: it may be longer than limit.
func (s *Store) TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	if key != "" {
		key = spec.FoldKey(key)
	}
	limit = store.PageLimit(limit)
	chunk := limit // every row has a change
	if key != "" {
		chunk = max(limit, historyChunk)
	}
	var out []store.TraitChange
	for len(out) < limit {
		rows, err := s.pool.Query(ctx, "SELECT seq, changes FROM trait_history WHERE workspace = $1 AND group_id = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4",
			workspace, groupID, before, chunk)
		if err != nil {
			return nil, fmt.Errorf("postgres: trait history of %q: %w", groupID, err)
		}
		var (
			seq, n int64
			raw    []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&seq, &raw}, func() error {
			n, before = n+1, seq
			if len(out) >= limit {
				return nil // the rest of the chunk is the next page's
			}
			changes, err := profile.UnmarshalHistory(raw)
			if err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if key != "" {
				changes = slices.DeleteFunc(changes, func(c store.TraitChange) bool { return c.Key != key })
			}
			slices.SortFunc(changes, func(a, b store.TraitChange) int { return cmp.Compare(a.Key, b.Key) })
			out = append(out, changes...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: trait history of %q: %w", groupID, err)
		}
		if n < int64(chunk) {
			break
		}
	}
	if len(out) == 0 {
		return nil, s.require(ctx, workspace, profile.Group, groupID)
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
	r, err := s.record(ctx, workspace, profile.User, key)
	if err != nil {
		return store.User{}, err
	}
	return store.User{Workspace: workspace, Key: key, Activity: r.Activity()}, nil
}

// UserTraits implements store.Profiles.
func (s *Store) UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error) {
	r, err := s.record(ctx, workspace, profile.User, key)
	if err != nil {
		return nil, err
	}
	return r.Traits, nil
}

// ExternalIDs implements store.Profiles: oldest first.
func (s *Store) ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error) {
	r, err := s.record(ctx, workspace, profile.User, key)
	if err != nil {
		return nil, err
	}
	return r.ExternalIDs(), nil
}

// UserGroups implements store.Profiles.
func (s *Store) UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error) {
	r, err := s.record(ctx, workspace, profile.User, key)
	if err != nil {
		return nil, err
	}
	return r.Memberships(key), nil
}

// timeOf reads back a time that a cursor carries as Unix milliseconds.
func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
