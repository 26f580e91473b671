package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

// sessionStore implements ports.SessionStore.
type sessionStore struct{ *stores }

const sessionColumns = `id, user_id, token_hash, created_at, expires_at, revoked`

type sessionRow struct {
	id, userID           string
	tokenHash            []byte
	createdAt, expiresAt time.Time
	revoked              bool
}

func (r sessionRow) toDomain() domain.Session {
	return domain.RehydrateSession(domain.SessionID(r.id), domain.UserID(r.userID), r.tokenHash, r.createdAt, r.expiresAt, r.revoked)
}

func (s sessionStore) Add(ctx context.Context, ses domain.Session) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`),
		string(ses.ID()), ses.User().String(), ses.TokenHash(), ses.CreatedAt(), ses.ExpiresAt(), ses.Revoked())
	if err != nil {
		return fmt.Errorf("add session of %s: %w", ses.User(), err)
	}
	return nil
}

func (s sessionStore) GetByTokenHash(ctx context.Context, h []byte) (domain.Session, error) {
	var r sessionRow
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`), h).
		Scan(&r.id, &r.userID, &r.tokenHash, &r.createdAt, &r.expiresAt, &r.revoked)
	if isNoRows(err) {
		return domain.Session{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("get session by token: %w", err)
	}
	return r.toDomain(), nil
}

func (s sessionStore) SetExpiry(ctx context.Context, id domain.SessionID, at time.Time) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE sessions SET expires_at = ? WHERE id = ?`), at, string(id))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("set expiry of session %s: %w", id, err)
	}
	return nil
}

func (s sessionStore) Revoke(ctx context.Context, id domain.SessionID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE sessions SET revoked = ? WHERE id = ?`), true, string(id))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", id, err)
	}
	return nil
}

func (s sessionStore) RevokeUserExcept(ctx context.Context, u domain.UserID, keep domain.SessionID) error {
	if _, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE sessions SET revoked = ? WHERE user_id = ? AND id <> ?`), true, u.String(), string(keep)); err != nil {
		return fmt.Errorf("revoke other sessions of %s: %w", u, err)
	}
	return nil
}

func (s sessionStore) RevokeUser(ctx context.Context, u domain.UserID) error {
	if _, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE sessions SET revoked = ? WHERE user_id = ?`), true, u.String()); err != nil {
		return fmt.Errorf("revoke sessions of %s: %w", u, err)
	}
	return nil
}
