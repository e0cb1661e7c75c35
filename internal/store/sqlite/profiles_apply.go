package sqlite

import (
	"context"

	"roster/internal/store"
)

func (s *Store) Cursor(ctx context.Context, name string) (int64, error) { return 0, errTODO }
func (s *Store) ApplyProfiles(ctx context.Context, updates []store.ProfileUpdate, upTo int64) error {
	return errTODO
}
func (s *Store) ResetProfiles(ctx context.Context) error { return errTODO }
