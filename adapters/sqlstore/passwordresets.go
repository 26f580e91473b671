package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

// passwordResetStore implements ports.PasswordResetStore.
type passwordResetStore struct{ *stores }

const passwordResetColumns = `id, user_id, token_hash, created_at, expires_at, used_at`

func (s passwordResetStore) Add(ctx context.Context, r domain.PasswordReset) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO password_resets (`+passwordResetColumns+`) VALUES (?, ?, ?, ?, ?, ?)`),
		r.ID().String(), r.User().String(), r.TokenHash(), r.CreatedAt(), r.ExpiresAt(), nullTime(r.UsedAt()))
	if err != nil {
		return fmt.Errorf("add password reset %s: %w", r.ID(), err)
	}
	return nil
}

func (s passwordResetStore) GetByTokenHash(ctx context.Context, h []byte) (domain.PasswordReset, error) {
	var (
		id, user             string
		hash                 []byte
		createdAt, expiresAt time.Time
		usedAt               sql.NullTime
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+passwordResetColumns+` FROM password_resets WHERE token_hash = ?`+s.forUpdate()), h).
		Scan(&id, &user, &hash, &createdAt, &expiresAt, &usedAt)
	if isNoRows(err) {
		return domain.PasswordReset{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.PasswordReset{}, fmt.Errorf("get password reset by token: %w", err)
	}
	return domain.RehydratePasswordReset(domain.PasswordResetID(id), domain.UserID(user), hash, createdAt, expiresAt, timePtr(usedAt)), nil
}

func (s passwordResetStore) Update(ctx context.Context, r domain.PasswordReset) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE password_resets SET used_at = ? WHERE id = ?`), nullTime(r.UsedAt()), r.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update password reset %s: %w", r.ID(), err)
	}
	return nil
}

func (s passwordResetStore) SpendForUser(ctx context.Context, u domain.UserID, at time.Time) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL`), at, u.String())
	if err != nil {
		return fmt.Errorf("spend password resets of %s: %w", u, err)
	}
	return nil
}
