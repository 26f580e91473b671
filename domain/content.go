package domain

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EntryID names a post or a page.
type EntryID string

// PrefixEntry starts every entry ID.
const PrefixEntry = "ent"

func (id EntryID) String() string { return string(id) }

// EntryKind is closed: these variables are its only values.
type EntryKind struct{ s string }

var (
	KindPost = EntryKind{"post"}
	KindPage = EntryKind{"page"}
)

// ParseEntryKind accepts the wire and stored spellings.
func ParseEntryKind(s string) (EntryKind, error) {
	switch s {
	case KindPost.s, KindPage.s:
		return EntryKind{s}, nil
	}
	return EntryKind{}, Invalid(FieldError{"kind", "unknown_value", "Use post or page."})
}

func (k EntryKind) String() string { return k.s }
func (k EntryKind) IsZero() bool   { return k.s == "" }

// EntryStatus is closed: these variables are its only values.
type EntryStatus struct{ s string }

var (
	EntryDraft     = EntryStatus{"draft"}
	EntryScheduled = EntryStatus{"scheduled"} // published by the scheduler at PublishAt
	EntryPublished = EntryStatus{"published"}
	EntryArchived  = EntryStatus{"archived"}
)

// ParseEntryStatus accepts the wire and stored spellings.
func ParseEntryStatus(s string) (EntryStatus, error) {
	for _, st := range []EntryStatus{EntryDraft, EntryScheduled, EntryPublished, EntryArchived} {
		if st.s == s {
			return st, nil
		}
	}
	return EntryStatus{}, Invalid(FieldError{"status", "unknown_value", "Use draft, scheduled, published or archived."})
}

func (s EntryStatus) String() string { return s.s }

// SEO overrides what search engines and link previews show.
type SEO struct {
	Title, Description string
}

// EntryContent is what an editor writes: the fields a revision keeps.
type EntryContent struct {
	Title         string
	Slug          string
	Body          string // Markdown
	Excerpt       string // as written; "" derives one from the body
	Tags          []string
	CoverImageURL string
	CoverMedia    MediaID // a cover from the media library, "" for none; the use cases check it is an image there
	SEO           SEO
	// NavOrder places a page in the site's navigation: the public list of
	// pages is sorted by it, lowest first. Posts keep 0.
	NavOrder int
}

// EntryPatch changes the content fields that are not nil.
type EntryPatch struct {
	Title         *string
	Slug          *string
	Body          *string
	Excerpt       *string
	Tags          *[]string
	CoverImageURL *string
	CoverMedia    *MediaID // "" removes the cover
	SEO           *SEO
	NavOrder      *int
}

// Apply returns c with the patch's fields. A new title keeps the slug:
// published URLs must not move because a headline was reworded.
func (p EntryPatch) Apply(c EntryContent) EntryContent {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Title, p.Title)
	set(&c.Slug, p.Slug)
	set(&c.Body, p.Body)
	set(&c.Excerpt, p.Excerpt)
	set(&c.CoverImageURL, p.CoverImageURL)
	if p.CoverMedia != nil {
		c.CoverMedia = *p.CoverMedia
	}
	if p.Tags != nil {
		c.Tags = slices.Clone(*p.Tags)
	}
	if p.SEO != nil {
		c.SEO = *p.SEO
	}
	if p.NavOrder != nil {
		c.NavOrder = *p.NavOrder
	}
	return c
}

// Rendered is a Markdown body turned into safe HTML, and its plain text
// for excerpts and search. A ports.Renderer makes it.
type Rendered struct {
	HTML string
	Text string
}

// Limits on an entry, which keep one entry from costing much to store,
// render or index.
const (
	MaxTitleLen       = 300
	MaxEntrySlugLen   = 120
	MaxBodyBytes      = 1 << 20
	MaxExcerptLen     = 1000
	MaxTags           = 20
	MaxTagLen         = 50
	MaxSEOTitleLen    = 120
	MaxSEODescLen     = 320
	MaxURLLen         = 2048
	MaxNavOrder       = 1_000_000
	derivedExcerptLen = 200
)

// Entry is a post or a page; it is valid from birth and changes state
// only along the publication state machine:
//
//	draft ──publish(at > now)──▶ scheduled ──due──▶ published
//	draft/scheduled/archived ──publish──▶ published
//	published ──unpublish──▶ draft or archived
//	scheduled ──unpublish──▶ draft (the schedule is cancelled)
//
// Every change adds one to Version, which the API exposes as the ETag
// for optimistic concurrency.
type Entry struct {
	id          EntryID
	workspace   WorkspaceID
	kind        EntryKind
	author      UserID
	content     EntryContent
	rendered    Rendered
	excerpt     string // Excerpt(), worked out once from content and rendered
	status      EntryStatus
	publishAt   *time.Time
	publishedAt *time.Time
	createdAt   time.Time
	updatedAt   time.Time
	version     int
	// locale is the entry's language, "" for none; group is the ID that
	// the entries translating each other share, "" for the entry's own.
	locale Locale
	group  EntryID
}

// NewEntry validates c and returns a draft written by author at now. An
// empty slug is derived from the title. r is c.Body rendered.
func NewEntry(ws WorkspaceID, author UserID, kind EntryKind, c EntryContent, r Rendered, now time.Time) (Entry, error) {
	if kind.IsZero() {
		return Entry{}, Invalid(FieldError{"kind", "required", "Use post or page."})
	}
	if c.Slug == "" {
		c.Slug = Slugify(c.Title)
	}
	c, err := checkContent(c)
	if err != nil {
		return Entry{}, err
	}
	now = Timestamp(now)
	return Entry{
		id: EntryID(NewID(PrefixEntry, now)), workspace: ws, kind: kind, author: author,
		content: c, rendered: r, excerpt: excerptOf(c, r), status: EntryDraft, createdAt: now, updatedAt: now, version: 1,
	}, nil
}

// EntryRecord is an entry as stored, for Rehydrate.
type EntryRecord struct {
	ID                     EntryID
	Workspace              WorkspaceID
	Kind                   EntryKind
	Author                 UserID
	Content                EntryContent
	Rendered               Rendered
	Status                 EntryStatus
	PublishAt, PublishedAt *time.Time
	CreatedAt, UpdatedAt   time.Time
	Version                int
	Locale                 Locale
	TranslationGroup       EntryID // "" for the entry's own
}

// RehydrateEntry rebuilds a stored entry without validating it again.
func RehydrateEntry(r EntryRecord) Entry {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return Entry{
		id: r.ID, workspace: r.Workspace, kind: r.Kind, author: r.Author, content: r.Content,
		rendered: r.Rendered, excerpt: excerptOf(r.Content, r.Rendered), status: r.Status, publishAt: utc(r.PublishAt), publishedAt: utc(r.PublishedAt),
		createdAt: r.CreatedAt.UTC(), updatedAt: r.UpdatedAt.UTC(), version: r.Version,
		locale: r.Locale, group: r.TranslationGroup,
	}
}

func (e Entry) ID() EntryID             { return e.id }
func (e Entry) Workspace() WorkspaceID  { return e.workspace }
func (e Entry) Kind() EntryKind         { return e.kind }
func (e Entry) Author() UserID          { return e.author }
func (e Entry) Content() EntryContent   { c := e.content; c.Tags = slices.Clone(c.Tags); return c }
func (e Entry) Title() string           { return e.content.Title }
func (e Entry) Slug() string            { return e.content.Slug }
func (e Entry) Body() string            { return e.content.Body }
func (e Entry) Tags() []string          { return slices.Clone(e.content.Tags) }
func (e Entry) NavOrder() int           { return e.content.NavOrder }
func (e Entry) CoverImageURL() string   { return e.content.CoverImageURL }
func (e Entry) CoverMedia() MediaID     { return e.content.CoverMedia }
func (e Entry) SEO() SEO                { return e.content.SEO }
func (e Entry) Rendered() Rendered      { return e.rendered }
func (e Entry) Status() EntryStatus     { return e.status }
func (e Entry) PublishAt() *time.Time   { return e.publishAt }
func (e Entry) PublishedAt() *time.Time { return e.publishedAt }
func (e Entry) CreatedAt() time.Time    { return e.createdAt }
func (e Entry) UpdatedAt() time.Time    { return e.updatedAt }
func (e Entry) Version() int            { return e.version }
func (e Entry) IsPublished() bool       { return e.status == EntryPublished }
func (e Entry) ExcerptWritten() string  { return e.content.Excerpt }
func (e Entry) Record() EntryRecord {
	return EntryRecord{e.id, e.workspace, e.kind, e.author, e.Content(), e.rendered, e.status, e.publishAt, e.publishedAt, e.createdAt, e.updatedAt, e.version, e.locale, e.group}
}
func (e *Entry) touch(now time.Time) { e.updatedAt = Timestamp(now); e.version++ }

// Excerpt is the excerpt as written, or else the start of the body's text
// cut at a word boundary.
func (e Entry) Excerpt() string { return e.excerpt }

// excerptOf is Excerpt for c rendered as r. Entries keep its result:
// deriving it on every call took a tenth of a search request's CPU.
func excerptOf(c EntryContent, r Rendered) string {
	if c.Excerpt != "" {
		return c.Excerpt
	}
	return deriveExcerpt(r.Text)
}

// Revise replaces the content with c, rendered as r, and counts a new
// version. It is all or nothing: an invalid c changes nothing.
func (e *Entry) Revise(c EntryContent, r Rendered, now time.Time) error {
	c, err := checkContent(c)
	if err != nil {
		return err
	}
	e.content, e.rendered, e.excerpt = c, r, excerptOf(c, r)
	e.touch(now)
	return nil
}

// Publish publishes the entry now, or schedules it when at is after now.
// It reports whether the entry became published (not only scheduled), so
// the caller emits the published event exactly when that happens.
func (e *Entry) Publish(at *time.Time, now time.Time) (published bool, err error) {
	if e.status == EntryPublished {
		return false, ErrAlreadyPublished
	}
	now = Timestamp(now)
	if at != nil && Timestamp(*at).After(now) {
		t := Timestamp(*at)
		e.status, e.publishAt = EntryScheduled, &t
		e.touch(now)
		return false, nil
	}
	e.status, e.publishAt, e.publishedAt = EntryPublished, nil, &now
	e.touch(now)
	return true, nil
}

// PublishGrace is how far in the past a requested publication time may be
// and still mean "now": a client's clock running a little behind, or a
// form filled in slowly, publishes at once as it always did.
const PublishGrace = 5 * time.Minute

// IsBackdate reports whether publishing at at, seen at now, would date the
// entry in the past: only imports may, since it rewrites the site's
// history (feeds and lists sort by that date).
func IsBackdate(at *time.Time, now time.Time) bool {
	return at != nil && Timestamp(*at).Before(Timestamp(now).Add(-PublishGrace))
}

// PublishBackdated publishes the entry as of at, a time in the past: an
// imported archive keeps its dates. The caller checks the import
// permission; this checks only that at is a past time.
func (e *Entry) PublishBackdated(at, now time.Time) error {
	if e.status == EntryPublished {
		return ErrAlreadyPublished
	}
	at, now = Timestamp(at), Timestamp(now)
	if at.After(now) {
		return Invalid(FieldError{"publish_at", "invalid_time", "A backdated publication needs a time in the past."})
	}
	e.status, e.publishAt, e.publishedAt = EntryPublished, nil, &at
	e.touch(now)
	return nil
}

// ErrPublishAtInPast refuses a past publication time to a caller who may
// not import: it used to be taken silently as now, which lost an imported
// archive's dates without a word.
var ErrPublishAtInPast = func() *Error {
	e := E(KindInvalid, "publish_at_in_past", "publish_at is in the past: dating an entry in the past needs the content:import permission (admins and owners); leave publish_at out to publish now.")
	e.Fields = []FieldError{{"publish_at", "in_past", "This time is past: give a future time, or none to publish now. Only admins and owners may date an entry in the past."}}
	return e
}()

// PublishIfDue publishes a scheduled entry whose time has come and reports
// whether it did. The entry's published_at is the time it was scheduled
// for, not the moment the scheduler ran: feeds sort by the promised time.
func (e *Entry) PublishIfDue(now time.Time) bool {
	if e.status != EntryScheduled || e.publishAt == nil || e.publishAt.After(now) {
		return false
	}
	at := *e.publishAt
	e.status, e.publishAt, e.publishedAt = EntryPublished, nil, &at
	e.touch(now)
	return true
}

// Unpublish takes a published entry back to draft or into the archive, or
// cancels a schedule (to draft only). It reports whether the entry was
// published, so the caller emits the unpublished event only then.
func (e *Entry) Unpublish(to EntryStatus, now time.Time) (wasPublished bool, err error) {
	if to != EntryDraft && to != EntryArchived {
		return false, Invalid(FieldError{"status", "unknown_value", "Unpublish to draft or archived."})
	}
	switch e.status {
	case EntryPublished:
		wasPublished = true
	case EntryScheduled:
		if to != EntryDraft {
			return false, ErrNotPublished.WithMessage("A scheduled entry can only go back to draft.")
		}
	default:
		return false, ErrNotPublished
	}
	e.status, e.publishAt = to, nil
	e.touch(now)
	return wasPublished, nil
}

// Errors of the content rules.
var (
	ErrEntrySlugTaken   = E(KindConflict, "slug_taken", "Another entry of this kind uses this slug.")
	ErrVersionConflict  = E(KindPrecondition, "version_conflict", "The entry changed since you read it; fetch it again and reapply your change.")
	ErrAlreadyPublished = E(KindConflict, "already_published", "The entry is already published.")
	ErrNotPublished     = E(KindConflict, "not_published", "The entry is not published or scheduled.")
)

var entrySlugPattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

func checkContent(c EntryContent) (EntryContent, error) {
	var errs []FieldError
	add := func(field, code, msg string) { errs = append(errs, FieldError{field, code, msg}) }

	c.Title = strings.TrimSpace(c.Title)
	switch n := utf8.RuneCountInString(c.Title); {
	case n == 0:
		add("title", "required", "Give the entry a title.")
	case n > MaxTitleLen || !utf8.ValidString(c.Title) || hasControl(c.Title):
		add("title", "invalid_title", "Use at most 300 printable characters.")
	}
	c.Slug = strings.TrimSpace(c.Slug)
	if len(c.Slug) > MaxEntrySlugLen || !entrySlugPattern.MatchString(c.Slug) {
		add("slug", "invalid_slug", "Use 1 to 120 lower-case letters and digits, words joined by single hyphens.")
	}
	if len(c.Body) > MaxBodyBytes || !utf8.ValidString(c.Body) {
		add("body", "invalid_body", "Use at most 1 MiB of UTF-8 text.")
	}
	c.Excerpt = strings.TrimSpace(c.Excerpt)
	if utf8.RuneCountInString(c.Excerpt) > MaxExcerptLen || !utf8.ValidString(c.Excerpt) {
		add("excerpt", "too_long", "Use at most 1,000 characters.")
	}
	tags, ok := normaliseTags(c.Tags)
	if !ok {
		add("tags", "invalid_tags", "Use at most 20 tags of 1 to 50 printable characters, without commas.")
	}
	c.Tags = tags
	if c.NavOrder < -MaxNavOrder || c.NavOrder > MaxNavOrder {
		add("nav_order", "out_of_range", "Use a whole number from -1,000,000 to 1,000,000.")
	}
	c.CoverImageURL = strings.TrimSpace(c.CoverImageURL)
	if c.CoverImageURL != "" && !webURL(c.CoverImageURL) {
		add("cover_image_url", "invalid_url", "Use an absolute http or https URL.")
	}
	if c.CoverMedia != "" && !ValidID(PrefixMedia, string(c.CoverMedia)) {
		add("cover_media_id", "not_found", ErrCoverNotFound.Fields[0].Message)
	}
	c.SEO.Title, c.SEO.Description = strings.TrimSpace(c.SEO.Title), strings.TrimSpace(c.SEO.Description)
	if utf8.RuneCountInString(c.SEO.Title) > MaxSEOTitleLen || hasControl(c.SEO.Title) {
		add("seo.title", "too_long", "Use at most 120 printable characters.")
	}
	if utf8.RuneCountInString(c.SEO.Description) > MaxSEODescLen || hasControl(c.SEO.Description) {
		add("seo.description", "too_long", "Use at most 320 printable characters.")
	}
	if len(errs) > 0 {
		return EntryContent{}, Invalid(errs...)
	}
	return c, nil
}

// normaliseTags trims tags, keeping each as typed ("News" stays "News"),
// and drops those whose slug an earlier one has, keeping the first order,
// so "Go" and "go " are one tag and tag filters, which match slugs, are
// exact.
func normaliseTags(in []string) ([]string, bool) {
	out := make([]string, 0, len(in))
	slugs := make([]string, 0, len(in))
	for _, t := range in {
		t, ok := checkTagName(t)
		if !ok {
			return nil, false
		}
		if s := TagSlug(t); !slices.Contains(slugs, s) {
			out, slugs = append(out, t), append(slugs, s)
		}
	}
	return out, len(out) <= MaxTags
}

// TagSlugs are the slugs of the entry's tags, in the same order.
func (e Entry) TagSlugs() []string {
	out := make([]string, len(e.content.Tags))
	for i, t := range e.content.Tags {
		out[i] = TagSlug(t)
	}
	return out
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(s) <= MaxURLLen && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// deriveExcerpt is the start of text, its runs of white space made one
// space, cut at a word boundary. It joins only the words it needs: an
// excerpt derived from the whole of a long body cost more than the rest
// of a search request's Go code.
func deriveExcerpt(text string) string {
	var b strings.Builder
	n := 0
	for w := range strings.FieldsSeq(text) {
		if n > derivedExcerptLen {
			break
		}
		if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += utf8.RuneCountInString(w)
	}
	text = b.String()
	if n <= derivedExcerptLen {
		return text
	}
	cut := []rune(text)[:derivedExcerptLen]
	s := string(cut)
	if i := strings.LastIndexByte(s, ' '); i > derivedExcerptLen/2 {
		s = s[:i]
	}
	return strings.TrimRight(s, " ,;:.-") + "…"
}

// Slugify derives a URL slug from a title: letters with accents lose them
// ("Crème brûlée" → "creme-brulee"), other runs of characters become one
// hyphen, and a title with no Latin letter or digit gives "untitled".
func Slugify(title string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(title) {
		var s string
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			s = string(r)
		default:
			s = transliterate[r]
		}
		if s == "" {
			hyphen = b.Len() > 0
			continue
		}
		if hyphen {
			b.WriteByte('-')
			hyphen = false
		}
		b.WriteString(s)
		if b.Len() >= MaxEntrySlugLen {
			break
		}
	}
	out := b.String()
	if len(out) > MaxEntrySlugLen {
		out = out[:MaxEntrySlugLen]
	}
	out = strings.Trim(out, "-")
	if out == "" {
		return "untitled"
	}
	return out
}

// transliterate spells the lower-case letters of the Latin-1 Supplement
// and Latin Extended-A blocks, and the usual Greek and Cyrillic ones, in
// ASCII, which covers the titles of most European languages.
var transliterate = func() map[rune]string {
	m := map[rune]string{}
	for s, from := range map[string]string{
		"a": "àáâãäåāăą", "ae": "æ", "c": "çćĉċč", "d": "ďđð", "e": "èéêëēĕėęě",
		"g": "ĝğġģ", "h": "ĥħ", "i": "ìíîïĩīĭįı", "ij": "ĳ", "j": "ĵ", "k": "ķ",
		"l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő", "oe": "œ", "r": "ŕŗř",
		"s": "śŝşšș", "ss": "ß", "t": "ţťŧț", "th": "þ", "u": "ùúûüũūŭůűų",
		"w": "ŵ", "y": "ýÿŷ", "z": "źżž",
	} {
		for _, r := range from {
			m[r] = s
		}
	}
	for r, s := range map[rune]string{
		'α': "a", 'β': "v", 'γ': "g", 'δ': "d", 'ε': "e", 'ζ': "z", 'η': "i", 'θ': "th",
		'ι': "i", 'κ': "k", 'λ': "l", 'μ': "m", 'ν': "n", 'ξ': "x", 'ο': "o", 'π': "p",
		'ρ': "r", 'σ': "s", 'ς': "s", 'τ': "t", 'υ': "y", 'φ': "f", 'χ': "ch", 'ψ': "ps", 'ω': "o",
		'ά': "a", 'έ': "e", 'ή': "i", 'ί': "i", 'ό': "o", 'ύ': "y", 'ώ': "o",
		'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "yo", 'ж': "zh",
		'з': "z", 'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o",
		'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts",
		'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya",
		'і': "i", 'ї': "yi", 'є': "ye", 'ґ': "g",
	} {
		m[r] = s
	}
	return m
}()

// Revision is an entry's content as one save left it. Its number is the
// entry version that save produced.
type Revision struct {
	Entry     EntryID
	Workspace WorkspaceID
	Version   int
	ActorKind string // "user" or "api_key", as Principal.Actor
	ActorID   string
	At        time.Time
	Content   EntryContent
}

// NewRevision records e's current content as saved by p.
func NewRevision(e Entry, p Principal) Revision {
	kind, id := p.Actor()
	return Revision{Entry: e.id, Workspace: e.workspace, Version: e.version, ActorKind: kind, ActorID: id, At: e.updatedAt, Content: e.Content()}
}
