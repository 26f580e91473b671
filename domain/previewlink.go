package domain

import (
	"strings"
	"time"
)

// PreviewLinkID identifies a preview link.
type PreviewLinkID string

func (id PreviewLinkID) String() string { return string(id) }

// PrefixPreviewLink starts every preview link's ID.
const PrefixPreviewLink = "pvl"

// The lifetime a preview link may be given, and the one it gets when none
// is asked for.
const (
	MinPreviewTTL     = time.Minute
	MaxPreviewTTL     = 30 * 24 * time.Hour
	DefaultPreviewTTL = 7 * 24 * time.Hour
)

// MaxActivePreviewLinks bounds the links of one entry that are neither
// expired nor revoked, so that a script cannot grow the table without end.
const MaxActivePreviewLinks = 50

const previewTokenPrefix = "kpv_"

// NewPreviewToken returns a new preview token, 256 random bits shown only
// in the answer that creates the link, and the hash to store.
func NewPreviewToken() (token string, hash []byte) {
	token = previewTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsPreviewToken reports whether s looks like a preview token, so that
// anything else is refused before any lookup.
func IsPreviewToken(s string) bool {
	return strings.HasPrefix(s, previewTokenPrefix) && len(s) == len(previewTokenPrefix)+52
}

// Errors of preview links. An expired or revoked link answers as an
// unknown one: 404, so that a token says nothing of the link it was.
var (
	ErrPreviewLinkUnusable  = E(KindNotFound, "preview_link_not_found", "This preview link does not exist, was revoked, or has expired.")
	ErrTooManyPreviewLinks  = E(KindConflict, "too_many_preview_links", "The entry has 50 active preview links; revoke one first.")
	errPreviewTTLOutOfRange = Invalid(FieldError{"expires_in", "out_of_range", "Use from 60 seconds (a minute) to 2592000 seconds (30 days)."})
)

// PreviewLink lets whoever holds its token read one entry's current
// state, draft or not, through the public API until it expires or is
// revoked. Only the token's hash is stored.
type PreviewLink struct {
	id        PreviewLinkID
	workspace WorkspaceID
	entry     EntryID
	tokenHash []byte
	actorKind string // "user" or "api_key", as Principal.Actor
	actorID   string
	createdAt time.Time
	expiresAt time.Time
	revokedAt *time.Time
}

// NewPreviewLink makes a link to e, created by p at now, that lasts ttl
// (DefaultPreviewTTL when zero), and returns it with its token.
func NewPreviewLink(e Entry, p Principal, ttl time.Duration, now time.Time) (PreviewLink, string, error) {
	if ttl == 0 {
		ttl = DefaultPreviewTTL
	}
	if ttl < MinPreviewTTL || ttl > MaxPreviewTTL {
		return PreviewLink{}, "", errPreviewTTLOutOfRange
	}
	now = Timestamp(now)
	token, hash := NewPreviewToken()
	kind, id := p.Actor()
	return PreviewLink{
		id: PreviewLinkID(NewID(PrefixPreviewLink, now)), workspace: e.Workspace(), entry: e.ID(), tokenHash: hash,
		actorKind: kind, actorID: id, createdAt: now, expiresAt: now.Add(ttl),
	}, token, nil
}

// PreviewLinkRecord is a preview link as stored, for RehydratePreviewLink.
type PreviewLinkRecord struct {
	ID                   PreviewLinkID
	Workspace            WorkspaceID
	Entry                EntryID
	TokenHash            []byte
	ActorKind, ActorID   string
	CreatedAt, ExpiresAt time.Time
	RevokedAt            *time.Time
}

// RehydratePreviewLink rebuilds a stored link, its times in UTC.
func RehydratePreviewLink(r PreviewLinkRecord) PreviewLink {
	return PreviewLink{r.ID, r.Workspace, r.Entry, r.TokenHash, r.ActorKind, r.ActorID, r.CreatedAt.UTC(), r.ExpiresAt.UTC(), utcPtr(r.RevokedAt)}
}

func (l PreviewLink) ID() PreviewLinkID      { return l.id }
func (l PreviewLink) Workspace() WorkspaceID { return l.workspace }
func (l PreviewLink) Entry() EntryID         { return l.entry }
func (l PreviewLink) TokenHash() []byte      { return l.tokenHash }
func (l PreviewLink) Actor() (kind, id string) {
	return l.actorKind, l.actorID
}
func (l PreviewLink) CreatedAt() time.Time  { return l.createdAt }
func (l PreviewLink) ExpiresAt() time.Time  { return l.expiresAt }
func (l PreviewLink) RevokedAt() *time.Time { return l.revokedAt }

// Active reports whether the link still shows its entry at now.
func (l PreviewLink) Active(now time.Time) bool {
	return l.revokedAt == nil && now.Before(l.expiresAt)
}

// Revoke ends the link at now and reports whether it was active; revoking
// a link twice keeps the first time.
func (l *PreviewLink) Revoke(now time.Time) bool {
	if l.revokedAt != nil {
		return false
	}
	now = Timestamp(now)
	l.revokedAt = &now
	return now.Before(l.expiresAt)
}
