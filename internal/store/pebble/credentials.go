package pebble

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"roster/internal/binrec"
	"roster/internal/store"
)

// A credential is keyed by what makes it unique, the write key or the
// token's hash, and holds its workspace, name and creation time; the
// lists come in creation order, as the other backend gives them. There are few,
// so they are sorted in memory.

const (
	kindSource = 's'
	kindToken  = 't'
)

func credentialKey(kind byte, id []byte) []byte {
	return appendString([]byte{prefixCredential, kind}, string(id))
}

type credential struct {
	id, workspace, name string
	created             int64
}

// putCredential writes a credential, keeping its creation time if it
// exists: a source put again under its key is renamed, not recreated.
func (s *Store) putCredential(kind byte, id []byte, workspace, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.credMu.Lock()
	defer s.credMu.Unlock()
	key := credentialKey(kind, id)
	created := s.opts.Now().UnixMilli()
	v, closer, err := s.db.Get(key)
	switch {
	case err == nil:
		d := binrec.NewReader(v)
		d.Bytes() // workspace and name: only the creation time is kept
		d.Bytes()
		if c := d.Varint(); d.Err() == nil {
			created = c
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("pebble: put credential: %w", err)
	}
	value := binary.AppendVarint(binrec.AppendString(binrec.AppendString(nil, workspace), name), created)
	if err := s.db.Set(key, value, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: put credential: %w", err)
	}
	return nil
}

func (s *Store) credentials(ctx context.Context, kind byte) ([]credential, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	prefix := []byte{prefixCredential, kind}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("pebble: credentials: %w", err)
	}
	defer it.Close()
	var out []credential
	for it.First(); it.Valid(); it.Next() {
		id, _, err := readString(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("pebble: credentials: %w", err)
		}
		d := binrec.NewReader(it.Value())
		c := credential{id: id, workspace: d.String(), name: d.String(), created: d.Varint()}
		if d.Err() != nil {
			return nil, fmt.Errorf("pebble: credentials: %w", d.Err())
		}
		out = append(out, c)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: credentials: %w", err)
	}
	slices.SortStableFunc(out, func(a, b credential) int { return cmp.Compare(a.created, b.created) })
	return out, nil
}

// Sources implements store.Credentials.
func (s *Store) Sources(ctx context.Context) ([]store.Source, error) {
	cs, err := s.credentials(ctx, kindSource)
	if err != nil {
		return nil, err
	}
	out := make([]store.Source, len(cs))
	for i, c := range cs {
		out[i] = store.Source{Workspace: c.workspace, Name: c.name, WriteKey: c.id}
	}
	return out, nil
}

// PutSource implements store.Credentials.
func (s *Store) PutSource(ctx context.Context, src store.Source) error {
	return s.putCredential(kindSource, []byte(src.WriteKey), src.Workspace, src.Name)
}

// AccessTokens implements store.Credentials.
func (s *Store) AccessTokens(ctx context.Context) ([]store.AccessToken, error) {
	cs, err := s.credentials(ctx, kindToken)
	if err != nil {
		return nil, err
	}
	out := make([]store.AccessToken, len(cs))
	for i, c := range cs {
		out[i] = store.AccessToken{Workspace: c.workspace, Name: c.name, Hash: []byte(c.id)}
	}
	return out, nil
}

// PutAccessToken implements store.Credentials.
func (s *Store) PutAccessToken(ctx context.Context, t store.AccessToken) error {
	return s.putCredential(kindToken, t.Hash, t.Workspace, t.Name)
}
