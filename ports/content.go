package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// Renderer turns an entry's Markdown into HTML that is safe to put in any
// page (no script, no event handlers, no javascript: or data: URLs), and
// into plain text for excerpts and search. It never fails: Markdown has no
// invalid documents, and unsafe HTML is dropped, not refused.
type Renderer interface {
	Render(markdown string) domain.Rendered
}

// EntryFilter narrows a management listing. Zero fields do not filter.
type EntryFilter struct {
	Kind   *domain.EntryKind
	Status *domain.EntryStatus
	Tag    string // a tag's slug (domain.TagSlug), exact
	Query  string // full-text, as PublicFilter.Query
}

// PublicFilter narrows a listing of published entries.
type PublicFilter struct {
	// Tag is a tag's slug (domain.TagSlug), exact.
	Tag string
	// Author keeps the entries of one author.
	Author domain.UserID
	// UpdatedSince keeps the entries updated at or after it, for a static
	// site's incremental builds.
	UpdatedSince *time.Time
	// Locales is a fallback chain (domain.SiteLocales.Chain): when not
	// empty, it keeps the entries without a locale and, of each
	// translation group, the one published entry whose locale comes first
	// in the chain; entries in no locale of the chain are left out.
	Locales []domain.Locale
	// WithBodies says the caller sends the entries' bodies on: a page
	// then also ends, with a cursor, after the entry that brings its
	// bodies (EntryBytes) to MaxPageBytes.
	WithBodies bool
	// Query is full-text search over title, excerpt, body text and tags.
	// Every word must match, as a prefix, case and accents ignored; the
	// matches come best first. Words are what domain.SearchQuery finds:
	// punctuation, quotes and a search engine's operators are only
	// separators, so no query is an error, and a query without a word
	// does not filter, like an empty one. The same query finds the same
	// entries on every implementation.
	Query string
}

// EntryStore keeps posts and pages and their revisions.
type EntryStore interface {
	// Add stores a new entry; domain.ErrEntrySlugTaken when its workspace
	// has an entry of the same kind with the slug.
	Add(ctx context.Context, e domain.Entry) error
	// Get returns the entry of ws; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) (domain.Entry, error)
	// Update saves e if the stored version is still prevVersion:
	// domain.ErrVersionConflict when it is not, domain.ErrNotFound when the
	// entry is gone, domain.ErrEntrySlugTaken.
	Update(ctx context.Context, e domain.Entry, prevVersion int) error
	// Delete removes the entry with its revisions; domain.ErrNotFound.
	Delete(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) error
	// List returns the entries of ws, most recently created first; with a
	// Query, best match first. A cursor from a listing with a Query is
	// only valid with one, and the other way round: ports.ErrInvalidCursor.
	// Without a Query, a page also ends, with a cursor, after the entry
	// that brings its bodies (EntryBytes) to MaxPageBytes.
	List(ctx context.Context, ws domain.WorkspaceID, f EntryFilter, p Page) ([]domain.Entry, string, error)
	// ClaimDue returns up to limit scheduled entries, of any workspace,
	// whose publish_at is at or before now, earliest first, locked for
	// the caller's transaction: a concurrent caller on another node skips
	// them (FOR UPDATE SKIP LOCKED), so each is published once.
	ClaimDue(ctx context.Context, now time.Time, limit int) ([]domain.Entry, error)

	// Published returns the published entry of ws with kind and slug;
	// domain.ErrNotFound for any other status.
	Published(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slug string) (domain.Entry, error)
	// ListPublished returns published entries of ws and kind, newest
	// published first (pages: lowest NavOrder first, then by slug); with a
	// Query, best match first. A cursor from one order is
	// ports.ErrInvalidCursor in another.
	ListPublished(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, f PublicFilter, p Page) ([]domain.Entry, string, error)

	// Translations returns the entries of ws whose translation group is
	// group (domain.Entry.TranslationGroup), of every status, at most
	// MaxTranslations of them, by locale.
	Translations(ctx context.Context, ws domain.WorkspaceID, group domain.EntryID) ([]domain.Entry, error)

	// AddRevision stores one save of an entry, which must exist and have
	// no revision of the same version.
	AddRevision(ctx context.Context, r domain.Revision) error
	// Revisions returns an entry's revisions, newest first; none for an
	// entry that is not ws's. A page also ends, with a cursor, after the
	// revision that brings its bodies (RevisionBytes) to MaxPageBytes.
	Revisions(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, p Page) ([]domain.Revision, string, error)
	// Revision returns one revision; domain.ErrNotFound.
	Revision(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, version int) (domain.Revision, error)
}

// AuthorStore keeps the public profiles of workspace members: Add makes a
// member's first profile (an entry's default one, an importer's), and Put
// replaces it when the member or an admin edits it.
type AuthorStore interface {
	// Put adds or replaces the profile of a.User() in a.Workspace();
	// domain.ErrAuthorSlugTaken when another member of the workspace has
	// the slug.
	Put(ctx context.Context, a domain.Author) error
	// Add stores a when a.User() has no profile in a.Workspace() and no
	// other member of it has a's slug, and reports whether it did. It
	// never fails on either conflict, even with a concurrent Add of the
	// same member or slug, so the caller's transaction goes on: it reads
	// the member's profile again, or tries another slug.
	Add(ctx context.Context, a domain.Author) (bool, error)
	// Get returns the profile of user in ws; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, user domain.UserID) (domain.Author, error)
	// BySlug returns the profile with the slug in ws; domain.ErrNotFound.
	BySlug(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.Author, error)
	// Of returns the profiles of the users in ws, keyed by user; a user
	// without one has no key. At most MaxPageLimit users.
	Of(ctx context.Context, ws domain.WorkspaceID, users []domain.UserID) (map[domain.UserID]domain.Author, error)
	// List returns the profiles of ws by slug.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.Author, string, error)
}

// TagStore keeps each workspace's tags. EntryStore.Add and Update add
// the tags an entry carries that its workspace does not have yet, named
// as the entry spells them, so that every tag an entry carries exists.
type TagStore interface {
	// Put adds the tag or replaces the name and description of the tag
	// of ws with its slug (an importer's upsert), and writes the name
	// into the tags of every entry that carries it, whose updated_at
	// becomes now when its spelling changed.
	Put(ctx context.Context, t domain.Tag, now time.Time) error
	// Get returns the tag of ws with the slug; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.Tag, error)
	// List returns the tags of ws by slug, each with the number of its
	// published posts; publishedOnly leaves out the tags that have none.
	List(ctx context.Context, ws domain.WorkspaceID, publishedOnly bool, p Page) ([]domain.TagCount, string, error)
	// Count returns one tag with the number of its published posts;
	// domain.ErrNotFound.
	Count(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.TagCount, error)
}

// EventStore keeps each workspace's change feed: one event per change a
// partner may care about, written in the change's transaction.
type EventStore interface {
	// Add queues e in the caller's transaction, and with it one pending
	// delivery per enabled webhook endpoint of e's workspace that
	// subscribes to e's type (see DeliveryStore), none for
	// domain.EventWebhookTest.
	Add(ctx context.Context, e domain.Event) error
	// List returns the events of ws of type typ ("" for every type) that
	// follow the event p.After in feed order, never domain.EventWebhookTest
	// ones, which are no change. Feed order is commit order for events of
	// transactions that did not overlap; an event is listed
	// only once no transaction still running can commit one before it,
	// so a reader that resumes after the last ID it saw never misses an
	// event and never sees one twice. A cursor that names no event of ws
	// (retention deleted it) returns domain.ErrCursorExpired; a malformed
	// one ErrInvalidCursor.
	List(ctx context.Context, ws domain.WorkspaceID, typ string, p Page) ([]domain.Event, string, error)
	// Redact replaces the data of every event of ws about subject with
	// data, keeping the events, their IDs and their order, and returns how
	// many it changed: erasure must not leave a person's data in the feed.
	Redact(ctx context.Context, ws domain.WorkspaceID, subject string, data []byte) (int, error)
	// RedactSubmissionsOf replaces the data of every event of ws about a
	// submission of form with {"id", "form_id"}, and returns how many it
	// changed: the form's deletion takes its submissions with it.
	RedactSubmissionsOf(ctx context.Context, ws domain.WorkspaceID, form domain.FormID) (int, error)
	// DeleteCreatedBefore deletes at most limit events created before t,
	// oldest first, and at most limit webhook deliveries created before t
	// that have ended (not pending), so that the delivery log does not
	// grow forever; it returns how many rows it deleted in all, so a
	// result below limit means nothing more is due. It keeps
	// the last event of each workspace (webhook.test aside), however old,
	// so that a reader that has seen everything keeps a valid cursor.
	DeleteCreatedBefore(ctx context.Context, t time.Time, limit int) (int, error)
}

// EntryBytes is the size of an entry that counts towards MaxPageBytes in
// EntryStore.List: its body, rendered and as text.
func EntryBytes(e domain.Entry) int {
	return len(e.Body()) + len(e.Rendered().HTML) + len(e.Rendered().Text)
}

// RevisionBytes is the size of a revision that counts towards
// MaxPageBytes in EntryStore.Revisions: its body.
func RevisionBytes(r domain.Revision) int { return len(r.Content.Body) }

// MaxTranslations bounds the entries EntryStore.Translations returns.
const MaxTranslations = 100

// SiteLocaleStore keeps each workspace's locale settings.
type SiteLocaleStore interface {
	// Get returns the settings of ws, domain.DefaultSiteLocales when it
	// has none stored.
	Get(ctx context.Context, ws domain.WorkspaceID) (domain.SiteLocales, error)
	// Put stores the settings, replacing any; domain.ErrNotFound when the
	// workspace does not exist.
	Put(ctx context.Context, l domain.SiteLocales) error
}
