package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"roster/internal/profile"
	"roster/internal/store"
)

// Profile processing: the rules are profile.Apply's; this backend loads
// the records a batch starts from and writes the changes it returns, with
// the cursor, in one transaction, so a crash applies all or none.

// profileStateTables are emptied by ResetProfiles, with the cursors.
var profileStateTables = []string{"cursors", "profiles", "identities", "memberships", "profile_events", "trait_history"}

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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cursor, err := lockCursor(ctx, tx, store.ProfileCursor)
		if err != nil || upTo <= cursor {
			return err
		}
		changes, err := profile.Apply(ctx, loader{tx}, updates, cursor)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueChanges(b, changes)
		b.Queue("UPDATE cursors SET seq = $2 WHERE name = $1", store.ProfileCursor, upTo)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write profiles: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: apply profiles: %w", err)
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
		_, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(profileStateTables, ", "))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: reset profiles: %w", err)
	}
	return nil
}

// loader reads what a batch starts from in the transaction that writes it;
// the cursor lock keeps any other writer out until it commits.
type loader struct{ tx pgx.Tx }

// distinct returns the distinct values of f over xs, as a query argument.
func distinct[T any](xs []T, f func(T) string) []string {
	seen := make(map[string]bool, len(xs))
	var out []string
	for _, x := range xs {
		if v := f(x); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// LoadIdentities implements profile.Loader. Each column is matched with
// = ANY, which the primary key serves; the product of the columns may name
// rows not asked for, which are left out here.
func (l loader) LoadIdentities(ctx context.Context, ids []profile.Identity) (map[profile.Identity]string, error) {
	out := make(map[profile.Identity]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	want := make(map[profile.Identity]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	rows, err := l.tx.Query(ctx, "SELECT workspace, id_type, id, user_key FROM identities WHERE workspace = ANY($1) AND id_type = ANY($2) AND id = ANY($3)",
		distinct(ids, func(id profile.Identity) string { return id.Workspace }),
		distinct(ids, func(id profile.Identity) string { return id.Type }),
		distinct(ids, func(id profile.Identity) string { return id.ID }))
	if err != nil {
		return nil, fmt.Errorf("postgres: load identities: %w", err)
	}
	var (
		id  profile.Identity
		key string
	)
	_, err = pgx.ForEachRow(rows, []any{&id.Workspace, &id.Type, &id.ID, &key}, func() error {
		if want[id] {
			out[id] = key
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load identities: %w", err)
	}
	return out, nil
}

// LoadRecords implements profile.Loader: one statement per kind, sent
// together.
func (l loader) LoadRecords(ctx context.Context, refs []profile.Ref) (map[profile.Ref]*profile.Record, error) {
	out := make(map[profile.Ref]*profile.Record, len(refs))
	want := make(map[profile.Ref]bool, len(refs))
	byKind := map[profile.Kind][]profile.Ref{}
	for _, r := range refs {
		want[r] = true
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	b := &pgx.Batch{}
	for kind, refs := range byKind {
		b.Queue("SELECT workspace, id, record FROM profiles WHERE workspace = ANY($1) AND kind = $2 AND id = ANY($3)",
			distinct(refs, func(r profile.Ref) string { return r.Workspace }), string(kind),
			distinct(refs, func(r profile.Ref) string { return r.ID })).Query(func(rows pgx.Rows) error {
			ref := profile.Ref{Kind: kind}
			var raw []byte
			_, err := pgx.ForEachRow(rows, []any{&ref.Workspace, &ref.ID, &raw}, func() error {
				if !want[ref] {
					return nil
				}
				rec, err := profile.Unmarshal(raw)
				if err != nil {
					return fmt.Errorf("%c %q: %w", ref.Kind, ref.ID, err)
				}
				out[ref] = rec
				return nil
			})
			return err
		})
	}
	if err := l.tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: load profiles: %w", err)
	}
	return out, nil
}
