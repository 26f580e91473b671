package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// twoFactorStore implements ports.TwoFactorStore.
type twoFactorStore struct{ *stores }

// recoveryHashLen is the size of each hash packed in recovery_hashes.
const recoveryHashLen = 32

func (s twoFactorStore) Get(ctx context.Context, u domain.UserID) (domain.TwoFactor, error) {
	var (
		sealed, packed []byte
		createdAt      time.Time
		enabledAt      sql.NullTime
		lastStep       int64
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT secret_sealed, created_at, enabled_at, last_step, recovery_hashes FROM two_factor WHERE user_id = ?`+s.forUpdate()), u.String()).
		Scan(&sealed, &createdAt, &enabledAt, &lastStep, &packed)
	if isNoRows(err) {
		return domain.TwoFactor{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.TwoFactor{}, fmt.Errorf("get two-factor of %s: %w", u, err)
	}
	var hashes [][]byte
	for len(packed) >= recoveryHashLen {
		hashes = append(hashes, bytes.Clone(packed[:recoveryHashLen]))
		packed = packed[recoveryHashLen:]
	}
	return domain.RehydrateTwoFactor(u, sealed, createdAt, timePtr(enabledAt), lastStep, hashes), nil
}

func (s twoFactorStore) Put(ctx context.Context, t domain.TwoFactor) error {
	packed := []byte{}
	for _, h := range t.RecoveryHashes() {
		if len(h) != recoveryHashLen {
			return fmt.Errorf("put two-factor of %s: a recovery hash of %d bytes", t.User(), len(h))
		}
		packed = append(packed, h...)
	}
	// Both engines spell an upsert this way.
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO two_factor (user_id, secret_sealed, created_at, enabled_at, last_step, recovery_hashes)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at,
			enabled_at = excluded.enabled_at, last_step = excluded.last_step, recovery_hashes = excluded.recovery_hashes`),
		t.User().String(), t.SealedSecret(), t.CreatedAt(), nullTime(t.EnabledAt()), t.LastStep(), packed)
	if err != nil {
		return fmt.Errorf("put two-factor of %s: %w", t.User(), err)
	}
	return nil
}

func (s twoFactorStore) Delete(ctx context.Context, u domain.UserID) error {
	if _, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM two_factor WHERE user_id = ?`), u.String()); err != nil {
		return fmt.Errorf("delete two-factor of %s: %w", u, err)
	}
	return nil
}

// loginChallengeStore implements ports.LoginChallengeStore.
type loginChallengeStore struct{ *stores }

const loginChallengeColumns = `id, user_id, token_hash, created_at, expires_at, attempts, used_at`

func (s loginChallengeStore) Add(ctx context.Context, c domain.LoginChallenge) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO login_challenges (`+loginChallengeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.ID().String(), c.User().String(), c.TokenHash(), c.CreatedAt(), c.ExpiresAt(), c.Attempts(), nullTime(c.UsedAt()))
	if err != nil {
		return fmt.Errorf("add login challenge %s: %w", c.ID(), err)
	}
	return nil
}

func (s loginChallengeStore) GetByTokenHash(ctx context.Context, h []byte) (domain.LoginChallenge, error) {
	var (
		id, user             string
		hash                 []byte
		createdAt, expiresAt time.Time
		attempts             int
		usedAt               sql.NullTime
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+loginChallengeColumns+` FROM login_challenges WHERE token_hash = ?`+s.forUpdate()), h).
		Scan(&id, &user, &hash, &createdAt, &expiresAt, &attempts, &usedAt)
	if isNoRows(err) {
		return domain.LoginChallenge{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.LoginChallenge{}, fmt.Errorf("get login challenge by token: %w", err)
	}
	return domain.RehydrateLoginChallenge(domain.LoginChallengeID(id), domain.UserID(user), hash, createdAt, expiresAt, attempts, timePtr(usedAt)), nil
}

func (s loginChallengeStore) Update(ctx context.Context, c domain.LoginChallenge) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE login_challenges SET attempts = ?, used_at = ? WHERE id = ?`), c.Attempts(), nullTime(c.UsedAt()), c.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update login challenge %s: %w", c.ID(), err)
	}
	return nil
}

func (s *stores) TwoFactor() ports.TwoFactorStore            { return twoFactorStore{s} }
func (s *stores) LoginChallenges() ports.LoginChallengeStore { return loginChallengeStore{s} }
