package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// tokenEncoding writes random bytes with Crockford's lower-case alphabet:
// no padding, no characters that need escaping in URLs, headers or shells.
var tokenEncoding = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return tokenEncoding.EncodeToString(b)
}

// HashSecret is how Keel stores a bearer secret: SHA-256. The secrets are
// 256-bit random values, so a fast hash is enough; a slow one would only
// slow every request down.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SameHash compares two hashes in constant time.
func SameHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// sessionTokenPrefix marks session tokens, so that a token pasted in the
// wrong place is recognised and secret scanners can find leaked ones.
const sessionTokenPrefix = "kss_"

// NewSessionToken returns a new session token (shown to the client once)
// and the hash to store.
func NewSessionToken() (token string, hash []byte) {
	token = sessionTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsSessionToken reports whether s looks like a session token.
func IsSessionToken(s string) bool {
	return strings.HasPrefix(s, sessionTokenPrefix) && len(s) == len(sessionTokenPrefix)+52
}

// Session is a person's login. Only the token's hash is stored.
type Session struct {
	id        SessionID
	user      UserID
	tokenHash []byte
	createdAt time.Time
	expiresAt time.Time
	revoked   bool
}

// NewSession starts a session for u that expires ttl after now.
func NewSession(u UserID, tokenHash []byte, now time.Time, ttl time.Duration) Session {
	now = Timestamp(now)
	return Session{id: SessionID(NewID(PrefixSession, now)), user: u, tokenHash: tokenHash, createdAt: now, expiresAt: now.Add(ttl)}
}

// RehydrateSession rebuilds a stored session.
func RehydrateSession(id SessionID, u UserID, tokenHash []byte, createdAt, expiresAt time.Time, revoked bool) Session {
	return Session{id, u, tokenHash, createdAt.UTC(), expiresAt.UTC(), revoked}
}

func (s Session) ID() SessionID        { return s.id }
func (s Session) User() UserID         { return s.user }
func (s Session) TokenHash() []byte    { return s.tokenHash }
func (s Session) CreatedAt() time.Time { return s.createdAt }
func (s Session) ExpiresAt() time.Time { return s.expiresAt }
func (s Session) Revoked() bool        { return s.revoked }

// Valid reports whether the session may authenticate a request at now.
func (s Session) Valid(now time.Time) bool { return !s.revoked && now.Before(s.expiresAt) }

// Outlived reports whether the session is older than maxAge, the absolute
// lifetime that ends a session however busy it is.
func (s Session) Outlived(now time.Time, maxAge time.Duration) bool {
	return !now.Before(s.createdAt.Add(maxAge))
}

// Slide moves the expiry to now+ttl, the sliding window, but never past
// the session's absolute end, createdAt+maxAge. It reports whether the
// expiry moved by at least SlideStep(ttl), which is when it is worth a
// write: busy clients must not turn every read into a write.
func (s *Session) Slide(now time.Time, ttl, maxAge time.Duration) bool {
	next := Timestamp(now).Add(ttl)
	if end := s.createdAt.Add(maxAge); next.After(end) {
		next = end
	}
	if next.Sub(s.expiresAt) < SlideStep(ttl) {
		return false
	}
	s.expiresAt = next
	return true
}

// SetExpiresAt replaces the expiry with a later one recorded elsewhere (a
// slide not yet written); an earlier one is ignored.
func (s *Session) SetExpiresAt(at time.Time) {
	if at.After(s.expiresAt) {
		s.expiresAt = at
	}
}

// SlideStep is the least a slide must move a session's expiry before it is
// written: a tenth of the TTL, and at most a minute. It must be a fraction
// of the TTL, not a fixed minute: a session whose expiry only moves in
// steps of a minute can never move when the TTL is a minute or less, and
// expires while in use. A session's stored expiry so lags its last use by
// at most this step (plus the write's batching delay).
func SlideStep(ttl time.Duration) time.Duration {
	return min(time.Minute, ttl/10)
}

// APIKey lets a program act in one workspace. Only the secret's hash is
// stored; the public prefix finds the key without revealing the secret.
type APIKey struct {
	id         APIKeyID
	workspace  WorkspaceID
	name       string
	scopes     []Permission
	prefix     string
	secretHash []byte
	expiresAt  *time.Time
	createdBy  UserID
	createdAt  time.Time
	lastUsedAt *time.Time
	revokedAt  *time.Time
	// previousHash is the hash of the secret a rotation replaced, which
	// still authenticates before previousUntil; both are nil otherwise.
	previousHash  []byte
	previousUntil *time.Time
}

// apiKeyPrefix starts every API key; the public prefix and the secret
// follow, separated by underscores: keel_<prefix>_<secret>.
const apiKeyPrefix = "keel_"

// NewAPIKeyInput carries the raw fields of a new key.
type NewAPIKeyInput struct {
	Workspace WorkspaceID
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
	CreatedBy UserID
}

// NewAPIKey validates in and returns the key and its secret, the full
// "keel_…" string that is shown to its creator this once and never again.
func NewAPIKey(in NewAPIKeyInput, now time.Time) (APIKey, string, error) {
	var errs []FieldError
	name, ferr := checkName("name", in.Name)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	scopes, err := ParseScopes(in.Scopes)
	if err != nil {
		errs = append(errs, err.(*Error).Fields...)
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		errs = append(errs, FieldError{"expires_at", "in_the_past", "The expiry must be in the future."})
	}
	if len(errs) > 0 {
		return APIKey{}, "", Invalid(errs...)
	}
	prefix, secret := randomToken(5), randomToken(32) // 8 and 52 characters
	k := APIKey{
		id: APIKeyID(NewID(PrefixAPIKey, now)), workspace: in.Workspace, name: name, scopes: scopes,
		prefix: prefix, secretHash: HashSecret(secret), createdBy: in.CreatedBy, createdAt: Timestamp(now),
	}
	if in.ExpiresAt != nil {
		t := Timestamp(*in.ExpiresAt)
		k.expiresAt = &t
	}
	return k, apiKeyPrefix + prefix + "_" + secret, nil
}

// ParseAPIKeyToken splits "keel_<prefix>_<secret>" into its parts.
func ParseAPIKeyToken(s string) (prefix, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, apiKeyPrefix)
	if !found || len(rest) != 8+1+52 || rest[8] != '_' {
		return "", "", false
	}
	return rest[:8], rest[9:], true
}

// RehydrateAPIKey rebuilds a stored key. previousHash and previousUntil
// are the replaced secret of a rotation still in its grace period, or nil.
func RehydrateAPIKey(id APIKeyID, ws WorkspaceID, name string, scopes []Permission, prefix string, secretHash []byte,
	expiresAt *time.Time, createdBy UserID, createdAt time.Time, lastUsedAt, revokedAt *time.Time, previousHash []byte, previousUntil *time.Time) APIKey {
	if len(previousHash) == 0 || previousUntil == nil {
		previousHash, previousUntil = nil, nil
	}
	return APIKey{id, ws, name, scopes, prefix, secretHash, utcPtr(expiresAt), createdBy, createdAt.UTC(), utcPtr(lastUsedAt), utcPtr(revokedAt),
		previousHash, utcPtr(previousUntil)}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (k APIKey) ID() APIKeyID           { return k.id }
func (k APIKey) Workspace() WorkspaceID { return k.workspace }
func (k APIKey) Name() string           { return k.name }
func (k APIKey) Scopes() []Permission   { return append([]Permission(nil), k.scopes...) }
func (k APIKey) Prefix() string         { return k.prefix }
func (k APIKey) SecretHash() []byte     { return k.secretHash }
func (k APIKey) ExpiresAt() *time.Time  { return k.expiresAt }
func (k APIKey) CreatedBy() UserID      { return k.createdBy }
func (k APIKey) CreatedAt() time.Time   { return k.createdAt }
func (k APIKey) LastUsedAt() *time.Time { return k.lastUsedAt }
func (k APIKey) RevokedAt() *time.Time  { return k.revokedAt }
func (k APIKey) Revoked() bool          { return k.revokedAt != nil }

// PreviousSecretHash and PreviousUntil describe the secret the last
// rotation replaced while it still authenticates; nil otherwise.
func (k APIKey) PreviousSecretHash() []byte { return k.previousHash }
func (k APIKey) PreviousUntil() *time.Time  { return k.previousUntil }

// Usable reports whether the key may authenticate a request at now.
func (k APIKey) Usable(now time.Time) bool {
	return k.revokedAt == nil && (k.expiresAt == nil || now.Before(*k.expiresAt))
}

// Matches reports, in constant time, whether secret is this key's.
func (k APIKey) Matches(secret string) bool { return SameHash(HashSecret(secret), k.secretHash) }

// MatchesPrevious reports, in constant time, whether secret is the one the
// last rotation replaced and its grace period has not ended at now.
func (k APIKey) MatchesPrevious(secret string, now time.Time) bool {
	return k.previousUntil != nil && now.Before(*k.previousUntil) && SameHash(HashSecret(secret), k.previousHash)
}

// The grace period of a rotation: how long the replaced secret keeps
// working, so that every deployment of a program can switch to the new one.
const (
	DefaultAPIKeyGrace = 24 * time.Hour
	MaxAPIKeyGrace     = 7 * 24 * time.Hour
)

// ParseAPIKeyGrace reads a grace period written as a Go duration ("1h",
// "90m", "0s"); nil is the default of 24 hours. It must lie between 0 and
// 7 days: a longer overlap would keep a leaked secret working too long.
func ParseAPIKeyGrace(s *string) (time.Duration, error) {
	if s == nil {
		return DefaultAPIKeyGrace, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		return 0, Invalid(FieldError{"grace_period", "invalid_duration", "Give a duration such as \"1h\" or \"30m\"."})
	}
	if d < 0 || d > MaxAPIKeyGrace {
		return 0, Invalid(FieldError{"grace_period", "out_of_range", "The grace period must be between 0 and 7 days (168h)."})
	}
	return d, nil
}

// Rotate gives the key a new secret, returned as the full "keel_…" token
// to show this once, and keeps the current one working for grace (0 ends
// it at once). The prefix stays, so both secrets find the key. Only one
// secret is kept in grace: rotating again drops the one replaced before.
func (k *APIKey) Rotate(grace time.Duration, now time.Time) (string, error) {
	if k.revokedAt != nil {
		return "", ErrAPIKeyRevoked
	}
	if grace < 0 || grace > MaxAPIKeyGrace {
		return "", Invalid(FieldError{"grace_period", "out_of_range", "The grace period must be between 0 and 7 days (168h)."})
	}
	k.previousHash, k.previousUntil = nil, nil
	if grace > 0 {
		until := Timestamp(now.Add(grace))
		k.previousHash, k.previousUntil = k.secretHash, &until
	}
	secret := randomToken(32)
	k.secretHash = HashSecret(secret)
	return apiKeyPrefix + k.prefix + "_" + secret, nil
}

// ErrAPIKeyRevoked refuses a change to a revoked key, which can never
// authenticate again: a client changing it is most likely confused about
// which key it holds.
var ErrAPIKeyRevoked = E(KindConflict, "api_key_revoked", "The API key is revoked and cannot change.")

// Update renames the key and narrows its scopes; a nil name or scopes
// keeps them. Scopes may only narrow: widening a key would hand a program
// more than was granted when its secret was shown, so a scope the key
// does not hold is refused (422 scope_not_held), as is an empty list.
func (k *APIKey) Update(name *string, scopes []string) error {
	if k.revokedAt != nil {
		return ErrAPIKeyRevoked
	}
	var errs []FieldError
	newName := k.name
	if name != nil {
		n, ferr := checkName("name", *name)
		if ferr != nil {
			errs = append(errs, *ferr)
		}
		newName = n
	}
	newScopes := k.scopes
	if scopes != nil {
		ps, err := ParseScopes(scopes)
		if err != nil {
			errs = append(errs, err.(*Error).Fields...)
		}
		for _, p := range ps {
			if !slices.Contains(k.scopes, p) {
				errs = append(errs, FieldError{"scopes", "scope_not_held", "The key does not hold " + quote(p.String()) + "; scopes may only narrow."})
			}
		}
		newScopes = ps
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	k.name, k.scopes = newName, newScopes
	return nil
}

// Revoke ends the key at now. Revoking twice keeps the first time.
func (k *APIKey) Revoke(now time.Time) {
	if k.revokedAt == nil {
		t := Timestamp(now)
		k.revokedAt = &t
	}
}

// AuditEvent records who did what to what, from where. Events are written
// in the same transaction as the change they describe and never edited.
type AuditEvent struct {
	ID         AuditID
	Workspace  WorkspaceID // empty for instance-wide events (login, setup, users)
	ActorKind  string      // "user", "api_key", "anonymous"
	ActorID    string
	Action     string // "member.added", "login.failed", ...
	TargetKind string
	TargetID   string
	IP         string
	UserAgent  string
	Details    map[string]string
	CreatedAt  time.Time
}

// NewAuditEvent stamps an event with an ID and time. User agents are cut
// to 512 bytes, on a character boundary: they are client-controlled and
// end up in every listing.
func NewAuditEvent(e AuditEvent, now time.Time) AuditEvent {
	e.ID = AuditID(NewID(PrefixAudit, now))
	e.CreatedAt = Timestamp(now)
	e.UserAgent = TruncateUTF8(e.UserAgent, 512)
	return e
}
