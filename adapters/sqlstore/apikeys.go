package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// apiKeyStore implements ports.APIKeyStore.
type apiKeyStore struct{ *stores }

const apiKeyColumns = `id, workspace_id, name, scopes, prefix, secret_hash, expires_at, created_by, created_at, last_used_at, revoked_at, previous_secret_hash, previous_until`

type apiKeyRow struct {
	id, workspaceID, name, scopes, prefix string
	secretHash                            []byte
	expiresAt                             sql.NullTime
	createdBy                             string
	createdAt                             time.Time
	lastUsedAt, revokedAt                 sql.NullTime
	previousSecretHash                    []byte
	previousUntil                         sql.NullTime
}

// toDomain splits the stored scopes without checking them against
// domain.Scopes: a scope retired in a later release must not make the
// keys that hold it unreadable.
func (r apiKeyRow) toDomain() domain.APIKey {
	var scopes []domain.Permission
	for _, s := range strings.Fields(r.scopes) {
		obj, act, _ := strings.Cut(s, ":")
		scopes = append(scopes, domain.Permission{Object: obj, Action: act})
	}
	return domain.RehydrateAPIKey(domain.APIKeyID(r.id), domain.WorkspaceID(r.workspaceID), r.name, scopes, r.prefix, r.secretHash,
		timePtr(r.expiresAt), domain.UserID(r.createdBy), r.createdAt, timePtr(r.lastUsedAt), timePtr(r.revokedAt),
		r.previousSecretHash, timePtr(r.previousUntil))
}

func scanAPIKey(sc scanner) (domain.APIKey, error) {
	var r apiKeyRow
	err := sc.Scan(&r.id, &r.workspaceID, &r.name, &r.scopes, &r.prefix, &r.secretHash, &r.expiresAt, &r.createdBy, &r.createdAt, &r.lastUsedAt, &r.revokedAt, &r.previousSecretHash, &r.previousUntil)
	if err != nil {
		return domain.APIKey{}, err
	}
	return r.toDomain(), nil
}

func (s apiKeyStore) Add(ctx context.Context, k domain.APIKey) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID().String(), k.Workspace().String(), k.Name(), scopeColumn(k), k.Prefix(), k.SecretHash(),
		nullTime(k.ExpiresAt()), k.CreatedBy().String(), k.CreatedAt(), nullTime(k.LastUsedAt()), nullTime(k.RevokedAt()),
		k.PreviousSecretHash(), nullTime(k.PreviousUntil()))
	if err != nil {
		return fmt.Errorf("add API key %s: %w", k.ID(), err)
	}
	return nil
}

func (s apiKeyStore) GetByPrefix(ctx context.Context, prefix string) (domain.APIKey, error) {
	k, err := scanAPIKey(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`), prefix))
	if isNoRows(err) {
		return domain.APIKey{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("get API key by prefix: %w", err)
	}
	return k, nil
}

func (s apiKeyStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.APIKeyID) (domain.APIKey, error) {
	k, err := scanAPIKey(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE workspace_id = ? AND id = ?`),
		ws.String(), id.String()))
	if isNoRows(err) {
		return domain.APIKey{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("get API key %s: %w", id, err)
	}
	return k, nil
}

func (s apiKeyStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.APIKey, string, error) {
	limit, err := pageOf(p, domain.PrefixAPIKey)
	if err != nil {
		return nil, "", err
	}
	ks, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`),
		scanAPIKey, ws.String(), p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list API keys of %s: %w", ws, err)
	}
	ks, next := cut(ks, limit, func(k domain.APIKey) string { return k.ID().String() })
	return ks, next, nil
}

func (s apiKeyStore) Update(ctx context.Context, k domain.APIKey) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET name = ?, scopes = ?, secret_hash = ?, previous_secret_hash = ?, previous_until = ? WHERE workspace_id = ? AND id = ?`),
		k.Name(), scopeColumn(k), k.SecretHash(), k.PreviousSecretHash(), nullTime(k.PreviousUntil()), k.Workspace().String(), k.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update API key %s: %w", k.ID(), err)
	}
	return nil
}

// scopeColumn stores a key's scopes as one space-separated string.
func scopeColumn(k domain.APIKey) string {
	scopes := make([]string, 0, len(k.Scopes()))
	for _, p := range k.Scopes() {
		scopes = append(scopes, p.String())
	}
	return strings.Join(scopes, " ")
}

func (s apiKeyStore) Revoke(ctx context.Context, k domain.APIKey) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET revoked_at = ? WHERE workspace_id = ? AND id = ?`),
		nullTime(k.RevokedAt()), k.Workspace().String(), k.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", k.ID(), err)
	}
	return nil
}

func (s apiKeyStore) RevokeCreatedBy(ctx context.Context, ws domain.WorkspaceID, user domain.UserID, at time.Time) ([]domain.APIKey, error) {
	const live = ` WHERE workspace_id = ? AND created_by = ? AND revoked_at IS NULL`
	ks, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+apiKeyColumns+` FROM api_keys`+live+` ORDER BY id`), scanAPIKey, ws.String(), user.String())
	if err == nil && len(ks) > 0 {
		for i := range ks {
			ks[i].Revoke(at)
		}
		_, err = s.q.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET revoked_at = ?`+live), *ks[0].RevokedAt(), ws.String(), user.String())
	}
	if err != nil {
		return nil, fmt.Errorf("revoke API keys of %s in %s: %w", user, ws, err)
	}
	return ks, nil
}

func (s apiKeyStore) Touch(ctx context.Context, id domain.APIKeyID, at time.Time) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`), at, id.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("touch API key %s: %w", id, err)
	}
	return nil
}
