package domain

import (
	"net/url"
	"strings"
	"time"
)

// SiteSettings describe the website a workspace publishes to: the
// absolute URL its pages are served on and the permalink pattern of its
// posts and of its pages. The feed, the sitemap and the public API's url
// field link to the website with them; without a site URL they link to
// the public API itself.
type SiteSettings struct {
	workspace     WorkspaceID
	siteURL       string
	postPermalink string
	pagePermalink string
	// mediaKeepMetadata keeps the EXIF, XMP and IPTC metadata of JPEG
	// uploads, which are stripped by default since they can hold where a
	// photo was taken.
	mediaKeepMetadata bool
	updatedAt         time.Time
}

// The permalink patterns a workspace has until its admins choose others.
const (
	DefaultPostPermalink = "/blog/{slug}"
	DefaultPagePermalink = "/{slug}"
)

// Bounds of the site settings: a site URL and a permalink pattern are
// short strings that every feed and sitemap repeats once per entry.
const (
	MaxSiteURLLen   = 500
	MaxPermalinkLen = 200
)

// PermalinkPlaceholders are the placeholders a permalink pattern may use.
// Dates are the entry's publication date in UTC, zero-padded; {id} is
// its Keel ID. A pattern needs {slug} or {id}, so that no two entries
// share a URL. A placeholder for locales is left to the entries that
// will have one.
var PermalinkPlaceholders = []string{"{slug}", "{id}", "{year}", "{month}", "{day}"}

// DefaultSiteSettings are the settings of a workspace that never chose
// any: no site URL, the default permalink patterns.
func DefaultSiteSettings(ws WorkspaceID) SiteSettings {
	return SiteSettings{workspace: ws, postPermalink: DefaultPostPermalink, pagePermalink: DefaultPagePermalink}
}

// RehydrateSiteSettings rebuilds stored settings.
func RehydrateSiteSettings(ws WorkspaceID, siteURL, postPermalink, pagePermalink string, mediaKeepMetadata bool, updatedAt time.Time) SiteSettings {
	return SiteSettings{workspace: ws, siteURL: siteURL, postPermalink: postPermalink, pagePermalink: pagePermalink,
		mediaKeepMetadata: mediaKeepMetadata, updatedAt: updatedAt}
}

// SiteChange lists the site settings to change; nil leaves one as it is.
// An empty SiteURL removes the site URL.
type SiteChange struct {
	SiteURL, PostPermalink, PagePermalink *string
	MediaKeepMetadata                     *bool
}

// Update validates and applies c at now; on error nothing changes.
func (s *SiteSettings) Update(c SiteChange, now time.Time) error {
	next := *s
	var fields []FieldError
	if c.SiteURL != nil {
		u, fe := parseSiteURL(*c.SiteURL)
		if fe != nil {
			fields = append(fields, *fe)
		}
		next.siteURL = u
	}
	for _, p := range []struct {
		field string
		in    *string
		dst   *string
	}{{"post_permalink", c.PostPermalink, &next.postPermalink}, {"page_permalink", c.PagePermalink, &next.pagePermalink}} {
		if p.in == nil {
			continue
		}
		if fe := checkPermalink(p.field, *p.in); fe != nil {
			fields = append(fields, *fe)
		}
		*p.dst = *p.in
	}
	if c.MediaKeepMetadata != nil {
		next.mediaKeepMetadata = *c.MediaKeepMetadata
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	next.updatedAt = Timestamp(now)
	*s = next
	return nil
}

// parseSiteURL accepts "" (no site URL) or an absolute http or https URL
// without user, query or fragment, and drops a trailing slash so that a
// permalink's own slash joins it.
func parseSiteURL(raw string) (string, *FieldError) {
	if raw == "" {
		return "", nil
	}
	bad := &FieldError{"site_url", "invalid_url", "Use an absolute http or https URL such as https://www.example.com, without query or fragment."}
	if len(raw) > MaxSiteURLLen {
		return "", &FieldError{"site_url", "too_long", "Use at most 500 characters."}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "#?\\ \t\r\n") {
		return "", bad
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// checkPermalink accepts a path that starts with a slash, holds only
// unreserved characters, slashes and known placeholders, and names {slug}
// or {id}. Placeholders expand to characters a path holds as they are, so
// a permalink never needs escaping.
func checkPermalink(field, p string) *FieldError {
	switch {
	case len(p) > MaxPermalinkLen:
		return &FieldError{field, "too_long", "Use at most 200 characters."}
	case !strings.HasPrefix(p, "/"), strings.Contains(p, "//"), strings.Contains(p, "/../"), strings.HasSuffix(p, "/.."),
		strings.Contains(p, "/./"), strings.HasSuffix(p, "/."):
		return &FieldError{field, "invalid_permalink", "Start with / and use no empty, . or .. segment, such as /blog/{slug}."}
	}
	rest, unique := p, false
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			i = len(rest)
		}
		for _, r := range rest[:i] {
			if !permalinkLiteral(r) {
				return &FieldError{field, "invalid_permalink", "Use letters, digits, - . _ ~ / and the placeholders {slug}, {id}, {year}, {month} and {day}."}
			}
		}
		rest = rest[i:]
		if rest == "" {
			break
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 || !knownPlaceholder(rest[:end+1]) {
			return &FieldError{field, "unknown_placeholder", "Use the placeholders {slug}, {id}, {year}, {month} and {day}."}
		}
		if ph := rest[:end+1]; ph == "{slug}" || ph == "{id}" {
			unique = true
		}
		rest = rest[end+1:]
	}
	if !unique {
		return &FieldError{field, "permalink_not_unique", "Include {slug} or {id}, so that every entry has its own URL."}
	}
	return nil
}

func permalinkLiteral(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r)
}

func knownPlaceholder(s string) bool {
	for _, p := range PermalinkPlaceholders {
		if s == p {
			return true
		}
	}
	return false
}

func (s SiteSettings) Workspace() WorkspaceID { return s.workspace }

// SiteURL is the website's absolute URL without a trailing slash, or ""
// when the workspace set none.
func (s SiteSettings) SiteURL() string       { return s.siteURL }
func (s SiteSettings) PostPermalink() string { return s.postPermalink }
func (s SiteSettings) PagePermalink() string { return s.pagePermalink }

// MediaKeepMetadata reports whether the workspace's JPEG uploads keep
// their EXIF, XMP and IPTC metadata; false, the default, strips them.
func (s SiteSettings) MediaKeepMetadata() bool { return s.mediaKeepMetadata }

// UpdatedAt is when the settings last changed; zero for defaults.
func (s SiteSettings) UpdatedAt() time.Time { return s.updatedAt }

// EntryURL is the website URL of a published entry: the site URL and
// the kind's permalink pattern with e's values. ok is false when there is
// no site URL or e was never published, and links then point elsewhere.
func (s SiteSettings) EntryURL(e Entry) (_ string, ok bool) {
	if s.siteURL == "" || e.PublishedAt() == nil {
		return "", false
	}
	pattern := s.postPermalink
	if e.Kind() == KindPage {
		pattern = s.pagePermalink
	}
	return s.siteURL + ExpandPermalink(pattern, e.Slug(), string(e.ID()), *e.PublishedAt()), true
}

// ExpandPermalink fills a valid pattern's placeholders.
func ExpandPermalink(pattern, slug, id string, published time.Time) string {
	published = published.UTC()
	return strings.NewReplacer(
		"{slug}", slug, "{id}", id,
		"{year}", published.Format("2006"), "{month}", published.Format("01"), "{day}", published.Format("02"),
	).Replace(pattern)
}
