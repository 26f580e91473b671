package domain

import (
	"net/url"
	"strings"
	"time"
)

// An import brings another platform's posts and pages into a workspace.
// Each format's reader (Ghost's JSON export, WordPress's WXR) turns its
// file into these neutral values; the content use cases write them.

// ImportedAuthor is an author as the export names them. Key is what the
// export's entries refer to them by; Email is how an import finds the
// workspace member they are.
type ImportedAuthor struct {
	Key        string
	Email      string
	Name, Slug string
	Bio        string
	AvatarURL  string
	WebsiteURL string
}

// ImportedTag is a tag with the name as its platform shows it and,
// where the export has one, its description.
type ImportedTag struct {
	Name, Slug, Description string
}

// ImportedEntry is one post or page of an export. Source is its stable ID
// on the platform it came from ("ghost:<post id>", "wordpress:<guid>"),
// which makes a second import of the same file find it and change
// nothing. Body is Markdown, converted from the export's HTML.
type ImportedEntry struct {
	Source        string
	Kind          EntryKind
	Title         string
	Slug          string
	Body          string
	Excerpt       string
	Tags          []string // names, as the platform shows them
	Authors       []string // ImportedAuthor.Key; the first wrote it
	Status        EntryStatus
	PublishedAt   *time.Time // published: when; scheduled: when due
	CreatedAt     time.Time
	CoverImageURL string
	SEO           SEO
}

// ImportNote is something an import could not map, said in one line: the
// item (a post's title and source, an author's name) and why.
type ImportNote struct {
	Item   string
	Reason string
}

func (n ImportNote) String() string { return n.Item + ": " + n.Reason }

// MaxImportSourceLen bounds an entry's source ID: WordPress's guid is a URL.
const MaxImportSourceLen = 500

// ImportSlug returns the slug to give an imported item: the platform's
// own when it is a valid Keel slug, so that its URLs carry over, and else
// one made from it (WordPress keeps non-ASCII slugs percent-encoded) or
// from the title. changed says the URL will differ.
func ImportSlug(slug, title string) (_ string, changed bool) {
	slug = strings.TrimSpace(slug)
	if len(slug) <= MaxEntrySlugLen && entrySlugPattern.MatchString(slug) {
		return slug, false
	}
	if u, err := url.PathUnescape(slug); err == nil {
		slug = u
	}
	if slug == "" {
		return Slugify(title), false
	}
	return Slugify(slug), true
}

// NewImportedEntry validates an imported item and returns it as an entry
// of ws written by author: a draft, a scheduled entry, or one published
// at its original date. Its creation time is the original one; it counts
// as updated now, so that incremental builds (updated_since) see it.
func NewImportedEntry(ws WorkspaceID, author UserID, in ImportedEntry, r Rendered, now time.Time) (Entry, error) {
	c := EntryContent{Title: in.Title, Slug: in.Slug, Body: in.Body, Excerpt: in.Excerpt, Tags: in.Tags,
		CoverImageURL: in.CoverImageURL, SEO: in.SEO}
	e, err := NewEntry(ws, author, in.Kind, c, r, now)
	if err != nil {
		return Entry{}, err
	}
	if !in.CreatedAt.IsZero() && in.CreatedAt.Before(now) {
		e.createdAt = Timestamp(in.CreatedAt)
	}
	switch in.Status {
	case EntryDraft, EntryStatus{}:
	case EntryPublished, EntryScheduled:
		at := now
		if in.PublishedAt != nil {
			at = *in.PublishedAt
		}
		if Timestamp(at).After(Timestamp(now)) {
			t := Timestamp(at)
			e.status, e.publishAt = EntryScheduled, &t
			break
		}
		t := Timestamp(at)
		e.status, e.publishedAt = EntryPublished, &t
	default:
		return Entry{}, Invalid(FieldError{"status", "unknown_value", "An import brings drafts, scheduled and published entries."})
	}
	return e, nil
}

// ErrImportedTwice is an item whose source the workspace has imported
// already: a second import of it changes nothing.
var ErrImportedTwice = E(KindConflict, "imported_twice", "This item was imported into the workspace already.")
