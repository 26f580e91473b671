package ports

import (
	"context"

	"github.com/keelhq/keel/domain"
)

// TwoFactorStore keeps users' two-factor enrolments, one per user.
type TwoFactorStore interface {
	// Get returns u's enrolment, pending or on; domain.ErrNotFound when u
	// has none. In a write transaction it locks the row, so that two
	// logins cannot both spend the same code or recovery code.
	Get(ctx context.Context, u domain.UserID) (domain.TwoFactor, error)
	// Put stores t, replacing u's enrolment if there is one.
	Put(ctx context.Context, t domain.TwoFactor) error
	// Delete removes u's enrolment; deleting none is not an error.
	Delete(ctx context.Context, u domain.UserID) error
}

// LoginChallengeStore keeps the challenges of half-finished logins.
type LoginChallengeStore interface {
	// Add stores a new challenge.
	Add(ctx context.Context, c domain.LoginChallenge) error
	// GetByTokenHash returns the challenge whose token hashes to h,
	// locking it in a write transaction; domain.ErrNotFound when there is
	// none.
	GetByTokenHash(ctx context.Context, h []byte) (domain.LoginChallenge, error)
	// Update saves the challenge's attempts and use; domain.ErrNotFound
	// when there is no such challenge.
	Update(ctx context.Context, c domain.LoginChallenge) error
}
