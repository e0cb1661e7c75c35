package sqlite

import (
	"context"
	"errors"

	"roster/internal/store"
)

// TODO(helper): these reads are being written; see store.Profiles.
var errTODO = errors.New("sqlite: not implemented yet")

func (s *Store) Group(ctx context.Context, workspace, groupID string) (store.Group, error) {
	return store.Group{}, errTODO
}
func (s *Store) GroupTraits(ctx context.Context, workspace, groupID string) ([]store.Trait, error) {
	return nil, errTODO
}
func (s *Store) GroupMembers(ctx context.Context, workspace, groupID, afterUser string, limit int) ([]store.Membership, error) {
	return nil, errTODO
}
func (s *Store) TraitHistory(ctx context.Context, workspace, groupID, key string, before int64, limit int) ([]store.TraitChange, error) {
	return nil, errTODO
}
func (s *Store) ListGroups(ctx context.Context, workspace string, q store.GroupQuery) ([]store.Group, string, error) {
	return nil, "", errTODO
}
func (s *Store) ResolveUser(ctx context.Context, workspace, idType, id string) (string, error) {
	return "", errTODO
}
func (s *Store) User(ctx context.Context, workspace, key string) (store.User, error) {
	return store.User{}, errTODO
}
func (s *Store) UserTraits(ctx context.Context, workspace, key string) ([]store.Trait, error) {
	return nil, errTODO
}
func (s *Store) ExternalIDs(ctx context.Context, workspace, key string) ([]store.ExternalID, error) {
	return nil, errTODO
}
func (s *Store) UserGroups(ctx context.Context, workspace, key string) ([]store.Membership, error) {
	return nil, errTODO
}
func (s *Store) ProfileEvents(ctx context.Context, workspace, collection, key string, before int64, limit int) ([]store.Event, error) {
	return nil, errTODO
}
