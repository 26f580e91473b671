package inmem

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type apiKeyStore struct{ tx *stores }

// copyKey returns k with its own secret hash, scopes and times, and with
// lastUsedAt and revokedAt replaced, so that nothing is shared between the
// caller and the store.
func copyKey(k domain.APIKey, lastUsedAt, revokedAt *time.Time) domain.APIKey {
	return domain.RehydrateAPIKey(k.ID(), k.Workspace(), k.Name(), k.Scopes(), k.Prefix(), bytes.Clone(k.SecretHash()),
		k.ExpiresAt(), k.CreatedBy(), k.CreatedAt(), lastUsedAt, revokedAt)
}

func (s apiKeyStore) Add(ctx context.Context, k domain.APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.workspaces[k.Workspace()]; !ok {
		return fmt.Errorf("add API key %s: no such workspace %s", k.ID(), k.Workspace())
	}
	if _, ok := s.tx.s.users[k.CreatedBy()]; !ok {
		return fmt.Errorf("add API key %s: no such user %s", k.ID(), k.CreatedBy())
	}
	for _, o := range s.tx.s.apiKeys {
		if o.ID() == k.ID() || o.Prefix() == k.Prefix() {
			return fmt.Errorf("add API key %s: duplicate ID or prefix", k.ID())
		}
	}
	s.tx.s.apiKeys[k.ID()] = copyKey(k, k.LastUsedAt(), k.RevokedAt())
	return nil
}

func (s apiKeyStore) GetByPrefix(ctx context.Context, prefix string) (domain.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return domain.APIKey{}, err
	}
	for _, k := range s.tx.s.apiKeys {
		if k.Prefix() == prefix {
			return copyKey(k, k.LastUsedAt(), k.RevokedAt()), nil
		}
	}
	return domain.APIKey{}, domain.ErrNotFound
}

func (s apiKeyStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.APIKeyID) (domain.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return domain.APIKey{}, err
	}
	k, ok := s.tx.s.apiKeys[id]
	if !ok || k.Workspace() != ws {
		return domain.APIKey{}, domain.ErrNotFound
	}
	return copyKey(k, k.LastUsedAt(), k.RevokedAt()), nil
}

func (s apiKeyStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.APIKey, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var ks []domain.APIKey
	for k := range maps.Values(s.tx.s.apiKeys) {
		if k.Workspace() == ws {
			ks = append(ks, copyKey(k, k.LastUsedAt(), k.RevokedAt()))
		}
	}
	return paginate(ks, func(k domain.APIKey) string { return string(k.ID()) }, domain.PrefixAPIKey, p, false)
}

func (s apiKeyStore) Revoke(ctx context.Context, k domain.APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.apiKeys[k.ID()]
	if !ok || old.Workspace() != k.Workspace() {
		return domain.ErrNotFound
	}
	s.tx.s.apiKeys[k.ID()] = copyKey(old, old.LastUsedAt(), k.RevokedAt())
	return nil
}

func (s apiKeyStore) RevokeCreatedBy(ctx context.Context, ws domain.WorkspaceID, user domain.UserID, at time.Time) ([]domain.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ks []domain.APIKey
	for id, k := range s.tx.s.apiKeys {
		if k.Workspace() == ws && k.CreatedBy() == user && !k.Revoked() {
			k.Revoke(at)
			s.tx.s.apiKeys[id] = copyKey(k, k.LastUsedAt(), k.RevokedAt())
			ks = append(ks, copyKey(k, k.LastUsedAt(), k.RevokedAt()))
		}
	}
	slices.SortFunc(ks, func(a, b domain.APIKey) int { return strings.Compare(string(a.ID()), string(b.ID())) })
	return ks, nil
}

func (s apiKeyStore) Touch(ctx context.Context, id domain.APIKeyID, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.apiKeys[id]
	if !ok {
		return domain.ErrNotFound
	}
	s.tx.s.apiKeys[id] = copyKey(old, &at, old.RevokedAt())
	return nil
}
