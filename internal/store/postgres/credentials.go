package postgres

import (
	"context"
	"fmt"

	"roster/internal/store"
)

// Sources implements store.Credentials.
func (s *Store) Sources(ctx context.Context) ([]store.Source, error) {
	rows, err := s.pool.Query(ctx, "SELECT workspace, name, write_key FROM sources ORDER BY created_at, write_key")
	if err != nil {
		return nil, fmt.Errorf("postgres: sources: %w", err)
	}
	var src store.Source
	out, err := collect(rows, []any{&src.Workspace, &src.Name, &src.WriteKey}, func() (store.Source, error) { return src, nil })
	if err != nil {
		return nil, fmt.Errorf("postgres: sources: %w", err)
	}
	return out, nil
}

// PutSource implements store.Credentials. A write key is unique: putting
// it again moves it to the new source.
func (s *Store) PutSource(ctx context.Context, src store.Source) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sources (write_key, workspace, name, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (write_key) DO UPDATE SET workspace = EXCLUDED.workspace, name = EXCLUDED.name`,
		src.WriteKey, src.Workspace, src.Name, ms(s.opts.Now()))
	if err != nil {
		return fmt.Errorf("postgres: put source: %w", err)
	}
	return nil
}

// AccessTokens implements store.Credentials.
func (s *Store) AccessTokens(ctx context.Context) ([]store.AccessToken, error) {
	rows, err := s.pool.Query(ctx, "SELECT workspace, name, hash FROM access_tokens ORDER BY created_at, hash")
	if err != nil {
		return nil, fmt.Errorf("postgres: access tokens: %w", err)
	}
	var t store.AccessToken
	out, err := collect(rows, []any{&t.Workspace, &t.Name, &t.Hash}, func() (store.AccessToken, error) { return t, nil })
	if err != nil {
		return nil, fmt.Errorf("postgres: access tokens: %w", err)
	}
	return out, nil
}

// PutAccessToken implements store.Credentials.
func (s *Store) PutAccessToken(ctx context.Context, t store.AccessToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO access_tokens (hash, workspace, name, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (hash) DO UPDATE SET workspace = EXCLUDED.workspace, name = EXCLUDED.name`,
		t.Hash, t.Workspace, t.Name, ms(s.opts.Now()))
	if err != nil {
		return fmt.Errorf("postgres: put access token: %w", err)
	}
	return nil
}
