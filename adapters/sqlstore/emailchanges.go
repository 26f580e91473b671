package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

// emailChangeStore implements ports.EmailChangeStore.
type emailChangeStore struct{ *stores }

const emailChangeColumns = `id, user_id, email, token_hash, created_at, expires_at, used_at`

func (s emailChangeStore) Add(ctx context.Context, c domain.EmailChange) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO email_changes (`+emailChangeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.ID().String(), c.User().String(), c.Email().String(), c.TokenHash(), c.CreatedAt(), c.ExpiresAt(), nullTime(c.UsedAt()))
	if err != nil {
		return fmt.Errorf("add e-mail change %s: %w", c.ID(), err)
	}
	return nil
}

func (s emailChangeStore) GetByTokenHash(ctx context.Context, h []byte) (domain.EmailChange, error) {
	var (
		id, user, email      string
		hash                 []byte
		createdAt, expiresAt time.Time
		usedAt               sql.NullTime
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+emailChangeColumns+` FROM email_changes WHERE token_hash = ?`+s.forUpdate()), h).
		Scan(&id, &user, &email, &hash, &createdAt, &expiresAt, &usedAt)
	if isNoRows(err) {
		return domain.EmailChange{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.EmailChange{}, fmt.Errorf("get e-mail change by token: %w", err)
	}
	return domain.RehydrateEmailChange(domain.EmailChangeID(id), domain.UserID(user), domain.Email(email), hash, createdAt, expiresAt, timePtr(usedAt)), nil
}

func (s emailChangeStore) Update(ctx context.Context, c domain.EmailChange) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE email_changes SET used_at = ? WHERE id = ?`), nullTime(c.UsedAt()), c.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update e-mail change %s: %w", c.ID(), err)
	}
	return nil
}

func (s emailChangeStore) EndPending(ctx context.Context, u domain.UserID, now time.Time) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE email_changes SET used_at = ? WHERE user_id = ? AND used_at IS NULL`), domain.Timestamp(now).UTC(), u.String())
	if err != nil {
		return fmt.Errorf("end pending e-mail changes of %s: %w", u, err)
	}
	return nil
}
