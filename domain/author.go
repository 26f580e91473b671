package domain

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on an author profile.
const (
	MaxAuthorNameLen = 100
	MaxAuthorSlugLen = 60
	MaxAuthorBioLen  = 2000
)

// Author is a workspace member's public profile: what the public API
// shows about whoever wrote a post. It never holds the user's e-mail:
// the profile is public, the account is not.
type Author struct {
	workspace WorkspaceID
	user      UserID
	name      string
	slug      string
	bio       string
	avatarURL string
	website   string
	createdAt time.Time
	updatedAt time.Time
}

// AuthorProfile is what a member (or an admin) writes about the member.
type AuthorProfile struct {
	Name, Slug, Bio, AvatarURL, WebsiteURL string
}

// AuthorProfilePatch changes the fields that are not nil.
type AuthorProfilePatch struct {
	Name, Slug, Bio, AvatarURL, WebsiteURL *string
}

// Apply returns p with the patch's fields.
func (pt AuthorProfilePatch) Apply(p AuthorProfile) AuthorProfile {
	for _, f := range []struct{ dst, src *string }{
		{&p.Name, pt.Name}, {&p.Slug, pt.Slug}, {&p.Bio, pt.Bio}, {&p.AvatarURL, pt.AvatarURL}, {&p.WebsiteURL, pt.WebsiteURL},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return p
}

// ErrAuthorSlugTaken is another member of the workspace using the slug.
var ErrAuthorSlugTaken = E(KindConflict, "author_slug_taken", "Another author of this workspace uses this slug.")

// NewAuthor validates p and returns the profile of user in ws. An empty
// slug is derived from the name.
func NewAuthor(ws WorkspaceID, user UserID, p AuthorProfile, now time.Time) (Author, error) {
	if p.Slug == "" {
		p.Slug = Slugify(p.Name)
	}
	p, err := checkAuthorProfile(p)
	if err != nil {
		return Author{}, err
	}
	now = Timestamp(now)
	return Author{workspace: ws, user: user, name: p.Name, slug: p.Slug, bio: p.Bio, avatarURL: p.AvatarURL, website: p.WebsiteURL,
		createdAt: now, updatedAt: now}, nil
}

// DefaultAuthor is the profile a member gets when they first write an
// entry: their account name (or "Author" when it has none) and a slug
// derived from it; n > 1 numbers the slug ("jane-doe-2") for a caller
// whose first choice was taken.
func DefaultAuthor(ws WorkspaceID, u User, n int, now time.Time) Author {
	name := strings.TrimSpace(u.Name())
	if name == "" || utf8.RuneCountInString(name) > MaxAuthorNameLen || hasControl(name) {
		name = "Author"
	}
	slug := Slugify(name)
	if slug == "untitled" {
		slug = "author"
	}
	if len(slug) > MaxAuthorSlugLen-8 {
		slug = strings.Trim(slug[:MaxAuthorSlugLen-8], "-")
	}
	if n > 1 {
		slug += "-" + strconv.Itoa(n)
	}
	now = Timestamp(now)
	return Author{workspace: ws, user: u.ID(), name: name, slug: slug, createdAt: now, updatedAt: now}
}

// UserSlug is an author slug no other member has: the user ID without
// its prefix, in lower case (migration 00029 gives it to the profiles it
// creates). It is the last resort of a default profile's slug.
func UserSlug(u UserID) string {
	_, rest, _ := strings.Cut(string(u), "_")
	return strings.ToLower(rest)
}

// AuthorRecord is a profile as stored, for RehydrateAuthor.
type AuthorRecord struct {
	Workspace            WorkspaceID
	User                 UserID
	Profile              AuthorProfile
	CreatedAt, UpdatedAt time.Time
}

// RehydrateAuthor rebuilds a stored profile without validating it again.
func RehydrateAuthor(r AuthorRecord) Author {
	p := r.Profile
	return Author{workspace: r.Workspace, user: r.User, name: p.Name, slug: p.Slug, bio: p.Bio, avatarURL: p.AvatarURL,
		website: p.WebsiteURL, createdAt: r.CreatedAt.UTC(), updatedAt: r.UpdatedAt.UTC()}
}

func (a Author) Workspace() WorkspaceID { return a.workspace }
func (a Author) User() UserID           { return a.user }
func (a Author) Name() string           { return a.name }
func (a Author) Slug() string           { return a.slug }
func (a Author) Bio() string            { return a.bio }
func (a Author) AvatarURL() string      { return a.avatarURL }
func (a Author) WebsiteURL() string     { return a.website }
func (a Author) CreatedAt() time.Time   { return a.createdAt }
func (a Author) UpdatedAt() time.Time   { return a.updatedAt }
func (a Author) Profile() AuthorProfile {
	return AuthorProfile{Name: a.name, Slug: a.slug, Bio: a.bio, AvatarURL: a.avatarURL, WebsiteURL: a.website}
}

// Edit replaces the profile with p; all or nothing.
func (a *Author) Edit(p AuthorProfile, now time.Time) error {
	p, err := checkAuthorProfile(p)
	if err != nil {
		return err
	}
	a.name, a.slug, a.bio, a.avatarURL, a.website = p.Name, p.Slug, p.Bio, p.AvatarURL, p.WebsiteURL
	a.updatedAt = Timestamp(now)
	return nil
}

func checkAuthorProfile(p AuthorProfile) (AuthorProfile, error) {
	var errs []FieldError
	add := func(field, code, msg string) { errs = append(errs, FieldError{field, code, msg}) }
	p.Name = strings.TrimSpace(p.Name)
	switch n := utf8.RuneCountInString(p.Name); {
	case n == 0:
		add("name", "required", "Give the author a display name.")
	case n > MaxAuthorNameLen || !utf8.ValidString(p.Name) || hasControl(p.Name):
		add("name", "invalid_name", "Use at most 100 printable characters.")
	}
	p.Slug = strings.TrimSpace(p.Slug)
	if len(p.Slug) > MaxAuthorSlugLen || !entrySlugPattern.MatchString(p.Slug) {
		add("slug", "invalid_slug", "Use 1 to 60 lower-case letters and digits, words joined by single hyphens.")
	}
	p.Bio = strings.TrimSpace(p.Bio)
	if utf8.RuneCountInString(p.Bio) > MaxAuthorBioLen || !utf8.ValidString(p.Bio) || hasControlExceptNewline(p.Bio) {
		add("bio", "too_long", "Use at most 2,000 printable characters.")
	}
	p.AvatarURL, p.WebsiteURL = strings.TrimSpace(p.AvatarURL), strings.TrimSpace(p.WebsiteURL)
	if p.AvatarURL != "" && !webURL(p.AvatarURL) {
		add("avatar_url", "invalid_url", "Use an absolute http or https URL.")
	}
	if p.WebsiteURL != "" && !webURL(p.WebsiteURL) {
		add("website_url", "invalid_url", "Use an absolute http or https URL.")
	}
	if len(errs) > 0 {
		return AuthorProfile{}, Invalid(errs...)
	}
	return p, nil
}
