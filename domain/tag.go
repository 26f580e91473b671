package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTagDescriptionLen bounds a tag's description, which the public API
// shows on the tag's page.
const MaxTagDescriptionLen = 500

// TagSlug is the key of a tag: its name in lower case, with spaces and
// slashes made hyphens, so that "News", "news" and " NEWS" are one tag
// and the slug can stand in a URL path. It keeps every other character
// ("C++" is "c++"): a rule that dropped them would merge tags that differ
// only there, and one SQL statement can apply this rule to stored tags
// exactly as Go does (migration 00029).
func TagSlug(name string) string {
	return strings.NewReplacer(" ", "-", "/", "-").Replace(strings.ToLower(strings.TrimSpace(name)))
}

// Tag is a workspace's tag: the name shown (as first typed, or as an
// editor last set it), its slug and an optional description.
type Tag struct {
	Workspace   WorkspaceID
	Slug        string
	Name        string
	Description string
}

// TagCount is a tag and how many published posts carry it.
type TagCount struct {
	Tag   Tag
	Posts int
}

// NewTag returns the tag of name in ws; its slug is TagSlug(name).
func NewTag(ws WorkspaceID, name, description string) (Tag, error) {
	name, ok := checkTagName(name)
	if !ok {
		return Tag{}, Invalid(FieldError{"name", "invalid_tag", "Use 1 to 50 printable characters, without commas."})
	}
	t := Tag{Workspace: ws, Slug: TagSlug(name), Name: name}
	return t, t.Describe(description)
}

// ErrTagRenameChangesSlug refuses a new name with another slug: posts,
// links and filters find a tag by its slug.
var ErrTagRenameChangesSlug = Invalid(FieldError{"name", "changes_slug", "A new name may change only case, spaces and slashes: the tag's slug must stay the same."})

// Rename sets the name shown, which must keep the tag's slug ("news" may
// become "News", not "Updates"). It is all or nothing.
func (t *Tag) Rename(name string) error {
	name, ok := checkTagName(name)
	if !ok {
		return Invalid(FieldError{"name", "invalid_tag", "Use 1 to 50 printable characters, without commas."})
	}
	if TagSlug(name) != t.Slug {
		return ErrTagRenameChangesSlug
	}
	t.Name = name
	return nil
}

// Describe sets the description, trimmed; "" removes it.
func (t *Tag) Describe(description string) error {
	d := strings.TrimSpace(description)
	if utf8.RuneCountInString(d) > MaxTagDescriptionLen || !utf8.ValidString(d) || hasControlExceptNewline(d) {
		return Invalid(FieldError{"description", "too_long", "Use at most 500 printable characters."})
	}
	t.Description = d
	return nil
}

// checkTagName trims a tag name and reports whether it is one: 1 to
// MaxTagLen printable characters, no comma (tags travel comma-separated).
func checkTagName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	ok := name != "" && utf8.ValidString(name) && utf8.RuneCountInString(name) <= MaxTagLen && !hasControl(name) && !strings.Contains(name, ",")
	return name, ok
}

func hasControlExceptNewline(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && unicode.IsControl(r) }) >= 0
}
