package domain

import (
	"strings"
	"time"
)

// EmailChangeID identifies a requested change of a user's e-mail address.
type EmailChangeID string

func (id EmailChangeID) String() string { return string(id) }

// PrefixEmailChange starts every e-mail change's ID.
const PrefixEmailChange = "emc"

// EmailChangeTTL is how long the link that confirms a new address works:
// a day, since the new mailbox may be read later than the old one.
const EmailChangeTTL = 24 * time.Hour

// KindEmailChange is the outbox kind of the mail to the new address that
// carries the confirmation link; KindEmailChangeNotice that of the notice
// to the old address, which carries none.
const (
	KindEmailChange       = "email_change"
	KindEmailChangeNotice = "email_change_notice"
)

const emailChangeTokenPrefix = "kec_"

// NewEmailChangeToken returns a new e-mail change token, 256 random bits
// shown only in the mail to the new address, and the hash to store.
func NewEmailChangeToken() (token string, hash []byte) {
	token = emailChangeTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsEmailChangeToken reports whether s looks like an e-mail change token,
// so that anything else is refused before any lookup.
func IsEmailChangeToken(s string) bool {
	return strings.HasPrefix(s, emailChangeTokenPrefix) && len(s) == len(emailChangeTokenPrefix)+52
}

// ErrEmailChangeUnusable answers every token that cannot change an
// address: unknown, used, expired and superseded alike.
var ErrEmailChangeUnusable = E(KindNotFound, "email_change_unusable", "This confirmation link does not exist, was used, or has expired; change the address again.")

// ErrEmailUnchanged refuses a change to the address the account has.
var ErrEmailUnchanged = Invalid(FieldError{"email", "email_unchanged", "This is the account's address already."})

// EmailChange moves a user to a new e-mail address once the holder of its
// token, mailed to that address, confirms it within EmailChangeTTL. Only
// the token's hash is stored.
type EmailChange struct {
	id        EmailChangeID
	user      UserID
	email     Email
	tokenHash []byte
	createdAt time.Time
	expiresAt time.Time
	usedAt    *time.Time
}

// NewEmailChange starts moving u to email at now.
func NewEmailChange(u UserID, email Email, tokenHash []byte, now time.Time) EmailChange {
	now = Timestamp(now)
	return EmailChange{id: EmailChangeID(NewID(PrefixEmailChange, now)), user: u, email: email, tokenHash: tokenHash, createdAt: now, expiresAt: now.Add(EmailChangeTTL)}
}

// RehydrateEmailChange rebuilds a stored change, its times in UTC.
func RehydrateEmailChange(id EmailChangeID, u UserID, email Email, tokenHash []byte, createdAt, expiresAt time.Time, usedAt *time.Time) EmailChange {
	return EmailChange{id, u, email, tokenHash, createdAt.UTC(), expiresAt.UTC(), utcPtr(usedAt)}
}

func (c EmailChange) ID() EmailChangeID    { return c.id }
func (c EmailChange) User() UserID         { return c.user }
func (c EmailChange) Email() Email         { return c.email }
func (c EmailChange) TokenHash() []byte    { return c.tokenHash }
func (c EmailChange) CreatedAt() time.Time { return c.createdAt }
func (c EmailChange) ExpiresAt() time.Time { return c.expiresAt }
func (c EmailChange) UsedAt() *time.Time   { return c.usedAt }

// Usable reports whether the change can still be confirmed at now.
func (c EmailChange) Usable(now time.Time) bool { return c.usedAt == nil && now.Before(c.expiresAt) }

// Use spends the change; ErrEmailChangeUnusable when it is not usable.
func (c *EmailChange) Use(now time.Time) error {
	if !c.Usable(now) {
		return ErrEmailChangeUnusable
	}
	at := Timestamp(now)
	c.usedAt = &at
	return nil
}
