package domain

import (
	"strings"
	"time"
)

// InvitationID identifies an invitation.
type InvitationID string

func (id InvitationID) String() string { return string(id) }

// InvitationTTL is how long an invitation's link can be used.
const InvitationTTL = 7 * 24 * time.Hour

// PrefixInvitation starts every invitation ID.
const PrefixInvitation = "inv"

const invitationTokenPrefix = "kin_"

// NewInvitationToken returns a new invitation token, 256 random bits that
// are shown only in the invitation's mail, and the hash to store.
func NewInvitationToken() (token string, hash []byte) {
	token = invitationTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsInvitationToken reports whether s looks like an invitation token, so
// that anything else is refused before any lookup.
func IsInvitationToken(s string) bool {
	return strings.HasPrefix(s, invitationTokenPrefix) && len(s) == len(invitationTokenPrefix)+52
}

// ErrInvitationGone answers every token that cannot be accepted: unknown,
// used, revoked or expired alike, so the answer reveals nothing else.
var ErrInvitationGone = E(KindNotFound, "invitation_unusable", "This invitation does not exist, was used or revoked, or has expired.")

// Invitation asks the owner of an e-mail address to join a workspace with
// a role. It is pending until it is accepted, revoked or expires. Only its
// token's hash is stored.
type Invitation struct {
	id         InvitationID
	workspace  WorkspaceID
	email      Email
	role       Role
	tokenHash  []byte
	invitedBy  UserID
	createdAt  time.Time
	expiresAt  time.Time
	acceptedAt *time.Time
	revokedAt  *time.Time
}

// NewInvitation invites email into ws with role, for InvitationTTL from
// now; invitedBy is "" when an API key invited.
func NewInvitation(ws WorkspaceID, email Email, role Role, invitedBy UserID, tokenHash []byte, now time.Time) Invitation {
	now = Timestamp(now)
	return Invitation{
		id: InvitationID(NewID(PrefixInvitation, now)), workspace: ws, email: email, role: role, tokenHash: tokenHash,
		invitedBy: invitedBy, createdAt: now, expiresAt: now.Add(InvitationTTL),
	}
}

// RehydrateInvitation rebuilds a stored invitation, its times in UTC
// whatever the driver returns.
func RehydrateInvitation(id InvitationID, ws WorkspaceID, email Email, role Role, tokenHash []byte, invitedBy UserID, createdAt, expiresAt time.Time, acceptedAt, revokedAt *time.Time) Invitation {
	return Invitation{id, ws, email, role, tokenHash, invitedBy, createdAt.UTC(), expiresAt.UTC(), utcPtr(acceptedAt), utcPtr(revokedAt)}
}

func (i Invitation) ID() InvitationID       { return i.id }
func (i Invitation) Workspace() WorkspaceID { return i.workspace }
func (i Invitation) Email() Email           { return i.email }
func (i Invitation) Role() Role             { return i.role }
func (i Invitation) TokenHash() []byte      { return i.tokenHash }
func (i Invitation) InvitedBy() UserID      { return i.invitedBy }
func (i Invitation) CreatedAt() time.Time   { return i.createdAt }
func (i Invitation) ExpiresAt() time.Time   { return i.expiresAt }
func (i Invitation) AcceptedAt() *time.Time { return i.acceptedAt }
func (i Invitation) RevokedAt() *time.Time  { return i.revokedAt }

// Pending reports whether the invitation can still be accepted at now.
func (i Invitation) Pending(now time.Time) bool {
	return i.acceptedAt == nil && i.revokedAt == nil && now.Before(i.expiresAt)
}

// Accept uses the invitation up; ErrInvitationGone when it is not pending.
func (i *Invitation) Accept(now time.Time) error {
	if !i.Pending(now) {
		return ErrInvitationGone
	}
	at := Timestamp(now)
	i.acceptedAt = &at
	return nil
}

// Revoke withdraws a pending invitation; ErrNotFound when it is not
// pending, as a revoked one is no longer listed.
func (i *Invitation) Revoke(now time.Time) error {
	if !i.Pending(now) {
		return ErrNotFound
	}
	at := Timestamp(now)
	i.revokedAt = &at
	return nil
}
