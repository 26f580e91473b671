package domain

import (
	"strings"
	"time"
)

// PasswordResetID identifies a password reset.
type PasswordResetID string

func (id PasswordResetID) String() string { return string(id) }

// PrefixPasswordReset starts every password reset's ID.
const PrefixPasswordReset = "pwr"

// PasswordResetTTL is how long a password reset's token can be used.
const PasswordResetTTL = time.Hour

// InvitationResetTTL is how long the link of an instance administrator's
// invitation (a password reset setting the first password) can be used.
const InvitationResetTTL = 7 * 24 * time.Hour

// KindUserInvitation is the outbox kind of an invitation's mail.
const KindUserInvitation = "user_invitation"

// KindPasswordReset is the outbox kind of a password reset's mail.
const KindPasswordReset = "password_reset"

const passwordResetTokenPrefix = "kpr_"

// NewPasswordResetToken returns a new password reset token, 256 random
// bits shown only in the reset's mail, and the hash to store.
func NewPasswordResetToken() (token string, hash []byte) {
	token = passwordResetTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsPasswordResetToken reports whether s looks like a password reset
// token, so that anything else is refused before any lookup.
func IsPasswordResetToken(s string) bool {
	return strings.HasPrefix(s, passwordResetTokenPrefix) && len(s) == len(passwordResetTokenPrefix)+52
}

// ErrPasswordResetUnusable answers every token that cannot reset a
// password: unknown, used and expired alike.
var ErrPasswordResetUnusable = E(KindNotFound, "password_reset_unusable", "This password reset does not exist, was used, or has expired; ask for a new one.")

// PasswordReset lets the holder of its token set a user's password once,
// within PasswordResetTTL. Only the token's hash is stored.
type PasswordReset struct {
	id        PasswordResetID
	user      UserID
	tokenHash []byte
	createdAt time.Time
	expiresAt time.Time
	usedAt    *time.Time
}

// NewPasswordReset starts a reset of u's password at now.
func NewPasswordReset(u UserID, tokenHash []byte, now time.Time) PasswordReset {
	now = Timestamp(now)
	return PasswordReset{id: PasswordResetID(NewID(PrefixPasswordReset, now)), user: u, tokenHash: tokenHash, createdAt: now, expiresAt: now.Add(PasswordResetTTL)}
}

// NewInvitationReset starts the reset that sets the first password of
// u, an invited account: a password reset usable within
// InvitationResetTTL rather than PasswordResetTTL.
func NewInvitationReset(u UserID, tokenHash []byte, now time.Time) PasswordReset {
	r := NewPasswordReset(u, tokenHash, now)
	r.expiresAt = r.createdAt.Add(InvitationResetTTL)
	return r
}

// RehydratePasswordReset rebuilds a stored reset, its times in UTC.
func RehydratePasswordReset(id PasswordResetID, u UserID, tokenHash []byte, createdAt, expiresAt time.Time, usedAt *time.Time) PasswordReset {
	return PasswordReset{id, u, tokenHash, createdAt.UTC(), expiresAt.UTC(), utcPtr(usedAt)}
}

func (r PasswordReset) ID() PasswordResetID  { return r.id }
func (r PasswordReset) User() UserID         { return r.user }
func (r PasswordReset) TokenHash() []byte    { return r.tokenHash }
func (r PasswordReset) CreatedAt() time.Time { return r.createdAt }
func (r PasswordReset) ExpiresAt() time.Time { return r.expiresAt }
func (r PasswordReset) UsedAt() *time.Time   { return r.usedAt }

// Usable reports whether the reset can still set a password at now.
func (r PasswordReset) Usable(now time.Time) bool { return r.usedAt == nil && now.Before(r.expiresAt) }

// Use spends the reset; ErrPasswordResetUnusable when it is not usable.
func (r *PasswordReset) Use(now time.Time) error {
	if !r.Usable(now) {
		return ErrPasswordResetUnusable
	}
	at := Timestamp(now)
	r.usedAt = &at
	return nil
}
