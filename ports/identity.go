package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// Page asks for one page of a list ordered by ID: the items after the
// cursor After ("" for the first page), at most Size() of them. Cursors are
// the IDs of the last item of the previous page; an After that no listing
// could have returned gets ErrInvalidCursor.
type Page struct {
	After string
	Limit int
}

// Page sizes: a zero Limit means DefaultPageLimit, and no page holds more
// than MaxPageLimit items whatever the caller asks for.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Size is the number of items the page holds at most.
func (p Page) Size() int {
	switch {
	case p.Limit == 0:
		return DefaultPageLimit
	case p.Limit < 1:
		return 1
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// ErrInvalidCursor rejects a cursor no listing returned.
var ErrInvalidCursor = domain.Invalid(domain.FieldError{
	Field: "cursor", Code: "invalid_cursor", Message: "The cursor is not valid; start again from the first page.",
})

// UserStore keeps users.
type UserStore interface {
	// Add stores a new user; domain.ErrEmailTaken when the e-mail is in use.
	Add(ctx context.Context, u domain.User) error
	// Get returns the user; domain.ErrNotFound when there is none.
	Get(ctx context.Context, id domain.UserID) (domain.User, error)
	// GetByEmail returns the user with the canonical e-mail; ErrNotFound.
	GetByEmail(ctx context.Context, email domain.Email) (domain.User, error)
	// Update saves name, status, password hash and the admin flag.
	Update(ctx context.Context, u domain.User) error
	// List returns users ordered by ID, and the cursor of the next page
	// ("" on the last).
	List(ctx context.Context, p Page) ([]domain.User, string, error)
	// Any reports whether at least one user exists.
	Any(ctx context.Context) (bool, error)
}

// WorkspaceStore keeps workspaces.
type WorkspaceStore interface {
	// Add stores a new workspace; domain.ErrSlugTaken when the slug is used.
	Add(ctx context.Context, w domain.Workspace) error
	// Get returns the workspace; domain.ErrNotFound when there is none.
	Get(ctx context.Context, id domain.WorkspaceID) (domain.Workspace, error)
	// GetBySlug returns the workspace with the slug; domain.ErrNotFound.
	GetBySlug(ctx context.Context, slug string) (domain.Workspace, error)
	// Update saves name and slug; domain.ErrSlugTaken.
	Update(ctx context.Context, w domain.Workspace) error
	// Delete removes the workspace with its memberships and API keys.
	Delete(ctx context.Context, id domain.WorkspaceID) error
	// ListForUser returns the workspaces u is a member of, by ID.
	ListForUser(ctx context.Context, u domain.UserID, p Page) ([]domain.Workspace, string, error)
}

// MembershipStore keeps who holds which role where.
type MembershipStore interface {
	// Add stores a new membership; domain.ErrAlreadyMember if one exists.
	Add(ctx context.Context, m domain.Membership) error
	// Get returns the membership; domain.ErrNotFound when there is none.
	Get(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) (domain.Membership, error)
	// SetRole changes the role of an existing membership; ErrNotFound.
	SetRole(ctx context.Context, ws domain.WorkspaceID, u domain.UserID, r domain.Role) error
	// Remove deletes the membership; ErrNotFound.
	Remove(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) error
	// List returns a workspace's memberships ordered by user ID.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.Membership, string, error)
	// ListForUser returns every membership of u.
	ListForUser(ctx context.Context, u domain.UserID) ([]domain.Membership, error)
	// CountOwners counts the owners of ws. Implementations lock what they
	// count (SELECT … FOR UPDATE on PostgreSQL), so that two concurrent
	// demotions cannot both see a second owner.
	CountOwners(ctx context.Context, ws domain.WorkspaceID) (int, error)
}

// SessionStore keeps login sessions.
type SessionStore interface {
	Add(ctx context.Context, s domain.Session) error
	// GetByTokenHash returns the session whose token hashes to h;
	// domain.ErrNotFound when there is none.
	GetByTokenHash(ctx context.Context, h []byte) (domain.Session, error)
	// SetExpiry moves a session's expiry (the sliding window).
	SetExpiry(ctx context.Context, id domain.SessionID, at time.Time) error
	// Revoke ends one session; revoking a revoked one is not an error.
	Revoke(ctx context.Context, id domain.SessionID) error
	// RevokeUser ends every session of u.
	RevokeUser(ctx context.Context, u domain.UserID) error
	// RevokeUserExcept ends every session of u but keep, after a password
	// change made with keep.
	RevokeUserExcept(ctx context.Context, u domain.UserID, keep domain.SessionID) error
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	Add(ctx context.Context, k domain.APIKey) error
	// GetByPrefix returns the key with the public prefix; ErrNotFound.
	GetByPrefix(ctx context.Context, prefix string) (domain.APIKey, error)
	// Get returns the key of ws with the ID; ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.APIKeyID) (domain.APIKey, error)
	// List returns the keys of ws ordered by ID, revoked ones included.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.APIKey, string, error)
	// Update saves the key's name, scopes and secrets (the current one and
	// the one a rotation replaced, with its end); ErrNotFound when there
	// is no such key in its workspace.
	Update(ctx context.Context, k domain.APIKey) error
	// Revoke saves the key's revocation time.
	Revoke(ctx context.Context, k domain.APIKey) error
	// RevokeCreatedBy revokes at at every key of ws that user created and
	// that is not revoked yet, and returns those keys, revoked, ordered by
	// ID.
	RevokeCreatedBy(ctx context.Context, ws domain.WorkspaceID, user domain.UserID, at time.Time) ([]domain.APIKey, error)
	// Touch records that the key was used at.
	Touch(ctx context.Context, id domain.APIKeyID, at time.Time) error
}

// InvitationStore keeps invitations to workspaces.
type InvitationStore interface {
	// Add stores a new invitation.
	Add(ctx context.Context, inv domain.Invitation) error
	// Get returns the invitation of ws with the ID; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.InvitationID) (domain.Invitation, error)
	// GetByTokenHash returns the invitation whose token hashes to h;
	// domain.ErrNotFound when there is none.
	GetByTokenHash(ctx context.Context, h []byte) (domain.Invitation, error)
	// ListPending returns the invitations of ws that are neither accepted
	// nor revoked and expire after now, ordered by ID, and the next cursor.
	ListPending(ctx context.Context, ws domain.WorkspaceID, now time.Time, p Page) ([]domain.Invitation, string, error)
	// PendingFor returns the invitations of ws to email that are neither
	// accepted nor revoked and expire after now, ordered by ID. In a write
	// transaction it first locks the workspace, so that two transactions
	// that invite the same address see each other's invitation.
	PendingFor(ctx context.Context, ws domain.WorkspaceID, email domain.Email, now time.Time) ([]domain.Invitation, error)
	// Update saves when the invitation was accepted or revoked;
	// domain.ErrNotFound when there is no such invitation.
	Update(ctx context.Context, inv domain.Invitation) error
}

// PasswordResetStore keeps password resets.
type PasswordResetStore interface {
	// Add stores a new reset.
	Add(ctx context.Context, r domain.PasswordReset) error
	// GetByTokenHash returns the reset whose token hashes to h;
	// domain.ErrNotFound when there is none.
	GetByTokenHash(ctx context.Context, h []byte) (domain.PasswordReset, error)
	// Update saves when the reset was used; domain.ErrNotFound when there
	// is no such reset.
	Update(ctx context.Context, r domain.PasswordReset) error
	// SpendForUser marks every unused reset of u as used at at, so that
	// only a link sent after it works (a resent invitation).
	SpendForUser(ctx context.Context, u domain.UserID, at time.Time) error
}

// EmailChangeStore keeps requested changes of users' e-mail addresses.
type EmailChangeStore interface {
	// Add stores a new change.
	Add(ctx context.Context, c domain.EmailChange) error
	// GetByTokenHash returns the change whose token hashes to h;
	// domain.ErrNotFound when there is none.
	GetByTokenHash(ctx context.Context, h []byte) (domain.EmailChange, error)
	// Update saves when the change was used; domain.ErrNotFound when
	// there is no such change.
	Update(ctx context.Context, c domain.EmailChange) error
	// EndPending marks every unused change of u used at now, so that only
	// the newest request's link can change the address.
	EndPending(ctx context.Context, u domain.UserID, now time.Time) error
}

// AuditStore appends and lists audit events; there is no update.
type AuditStore interface {
	Add(ctx context.Context, e domain.AuditEvent) error
	// List returns the events of ws, newest first, and the next cursor.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.AuditEvent, string, error)
}

// PolicyRule is one line of the authorization policy in Casbin's terms:
// Type "p" (V0 subject or role, V1 domain, V2 object, V3 action) or "g"
// (V0 subject, V1 role or parent subject, V2 domain).
type PolicyRule struct {
	Type           string
	V0, V1, V2, V3 string
}

// PolicyStore is the authorization policy as the database holds it.
type PolicyStore interface {
	// Rules returns the whole policy: the role permissions ("p") and one
	// grouping rule ("g") per membership and per unrevoked API key. Expiry
	// is left to authentication, which knows the time; a cached policy does
	// not.
	Rules(ctx context.Context) ([]PolicyRule, error)
}

// PasswordHasher hashes and checks passwords. Hashes carry their
// parameters, so they can be raised later without breaking old hashes.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches hash, and whether hash was
	// made with weaker parameters than the current ones and should be
	// replaced. A malformed hash is an error.
	Verify(ctx context.Context, password, hash string) (ok, rehash bool, err error)
}

// Authorizer decides what principals may do in workspaces.
type Authorizer interface {
	// Authorize returns nil when p holds perm in ws;
	// domain.ErrUnauthenticated for an anonymous p; domain.ErrNotFound
	// when p has no access to ws at all (its existence is not revealed);
	// domain.ErrForbidden when p may see ws but not do this; an internal
	// error when it cannot decide.
	Authorize(ctx context.Context, p domain.Principal, ws domain.WorkspaceID, perm domain.Permission) error
	// Reload makes later decisions reflect every policy change committed
	// so far. Use cases call it after committing a change; other nodes
	// notice through the "policies" counter within a second.
	Reload(ctx context.Context) error
}

// PolicyCounter is the counter bumped with every policy change.
const PolicyCounter = "policies"

// CredentialsCounter is the counter bumped with every change that ends
// sessions or replaces an API key's secret without changing the policy
// (logout, a password changed or reset, a user disabled, a key rotated):
// nodes forget the tokens they cached when it moves.
const CredentialsCounter = "credentials"

// PublicContentCounter is the counter bumped with every change to what the
// public content API shows: publications, edits of published entries, and
// a workspace's slug or public origins. Nodes poll it to empty their
// caches of public responses.
const PublicContentCounter = "content.public"

// RateLimiter limits attempts per key with a token bucket.
type RateLimiter interface {
	// Allow takes one attempt for key, or returns false and how long to
	// wait.
	Allow(ctx context.Context, key string) (bool, time.Duration)
}

// FailureLimiter throttles attempts by their failures only, so that
// callers who succeed are never slowed. Check comes before an attempt and
// takes nothing; Fail records a failed one; Succeed may forget key's
// failures (a limiter whose point is a ceiling on failures may ignore it).
type FailureLimiter interface {
	// Check reports whether key may attempt now, or how long to wait.
	Check(ctx context.Context, key string) (bool, time.Duration)
	// Fail records a failed attempt for key.
	Fail(ctx context.Context, key string)
	// Succeed records a successful attempt for key.
	Succeed(ctx context.Context, key string)
}
