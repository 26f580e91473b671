package domain

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Locale is a language tag (BCP 47) in its canonical case: "en",
// "fr-CA", "zh-Hant-TW", "es-419". The zero value is no locale: an entry
// without one is in the site's every language.
type Locale string

// Bounds of locales, which keep a workspace's settings and every fallback
// chain small.
const (
	MaxLocaleLen       = 35 // RFC 5646's minimum a tag must fit in
	MaxSiteLocales     = 50 // locales with a fallback chain of their own
	MaxLocaleFallbacks = 5  // locales in one locale's fallback chain
)

// localePattern is BCP 47's language, script, region and variants
// (RFC 5646, section 2.1), without extensions and private use, which a
// site's languages do not need.
var localePattern = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-(?:[a-zA-Z]{2}|[0-9]{3}))?(-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*$`)

var errInvalidLocale = FieldError{"locale", "invalid_locale", "Use a BCP 47 language tag such as en, fr-CA or zh-Hant-TW, of at most 35 characters."}

// ParseLocale checks a language tag and returns it in canonical case
// (language lower, script title, region upper: "FR-ca" → "fr-CA"). ""
// is no locale. field names the input in the error.
func ParseLocale(field, s string) (Locale, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > MaxLocaleLen || !localePattern.MatchString(s) {
		fe := errInvalidLocale
		fe.Field = field
		return "", Invalid(fe)
	}
	parts := strings.Split(s, "-")
	parts[0] = strings.ToLower(parts[0])
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		switch {
		case len(p) == 4 && i == 1 && isLetters(p):
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		case len(p) == 2 && isLetters(p):
			parts[i] = strings.ToUpper(p)
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return Locale(strings.Join(parts, "-")), nil
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func (l Locale) String() string { return string(l) }

// Parent is the tag less its last subtag ("fr-CA" → "fr"), or "" for a
// bare language.
func (l Locale) Parent() Locale {
	i := strings.LastIndexByte(string(l), '-')
	if i < 0 {
		return ""
	}
	return l[:i]
}

// SiteLocales is how a workspace's public API chooses among an entry's
// translations: the locale asked for first, then its fallback chain, then
// the default locale.
type SiteLocales struct {
	workspace WorkspaceID
	def       Locale
	fallbacks map[Locale][]Locale
	updatedAt time.Time
}

// NewSiteLocales validates a workspace's locale settings: a default
// locale ("" for none) and, per locale, the locales to try after it, in
// order. A locale without a chain of its own falls back to its parents
// ("fr-CA" → "fr").
func NewSiteLocales(ws WorkspaceID, def string, fallbacks map[string][]string, now time.Time) (SiteLocales, error) {
	var errs []FieldError
	d, err := ParseLocale("default_locale", def)
	if err != nil {
		errs = append(errs, err.(*Error).Fields...)
	}
	if len(fallbacks) > MaxSiteLocales {
		errs = append(errs, FieldError{"fallbacks", "too_many", "Give fallback chains for at most 50 locales."})
	}
	fb := make(map[Locale][]Locale, len(fallbacks))
	for from, chain := range fallbacks {
		l, err := ParseLocale("fallbacks", from)
		if err != nil || l == "" {
			errs = append(errs, FieldError{"fallbacks", "invalid_locale", "Each key is a BCP 47 language tag such as fr-CA."})
			continue
		}
		if len(chain) > MaxLocaleFallbacks {
			errs = append(errs, FieldError{"fallbacks." + string(l), "too_many", "Give at most 5 fallbacks per locale."})
			continue
		}
		out := make([]Locale, 0, len(chain))
		for _, c := range chain {
			to, err := ParseLocale("fallbacks."+string(l), c)
			if err != nil || to == "" {
				errs = append(errs, FieldError{"fallbacks." + string(l), "invalid_locale", "Each fallback is a BCP 47 language tag such as fr."})
				break
			}
			if to != l && !slices.Contains(out, to) {
				out = append(out, to)
			}
		}
		fb[l] = out
	}
	if len(errs) > 0 {
		return SiteLocales{}, Invalid(errs...)
	}
	return SiteLocales{workspace: ws, def: d, fallbacks: fb, updatedAt: Timestamp(now)}, nil
}

// DefaultSiteLocales are the settings of a workspace that set none: no
// default locale and implicit chains.
func DefaultSiteLocales(ws WorkspaceID) SiteLocales {
	return SiteLocales{workspace: ws, fallbacks: map[Locale][]Locale{}}
}

// RehydrateSiteLocales rebuilds stored settings without validating them
// again.
func RehydrateSiteLocales(ws WorkspaceID, def Locale, fallbacks map[Locale][]Locale, updatedAt time.Time) SiteLocales {
	if fallbacks == nil {
		fallbacks = map[Locale][]Locale{}
	}
	return SiteLocales{workspace: ws, def: def, fallbacks: fallbacks, updatedAt: updatedAt.UTC()}
}

func (s SiteLocales) Workspace() WorkspaceID { return s.workspace }
func (s SiteLocales) Default() Locale        { return s.def }
func (s SiteLocales) UpdatedAt() time.Time   { return s.updatedAt }

// Fallbacks returns a copy of the configured chains.
func (s SiteLocales) Fallbacks() map[Locale][]Locale {
	out := make(map[Locale][]Locale, len(s.fallbacks))
	for k, v := range s.fallbacks {
		out[k] = slices.Clone(v)
	}
	return out
}

// Chain is the order in which the public API looks for an entry's
// translation when asked for l: l, then its configured fallbacks, or its
// parents when it has none configured, then the default locale, each
// once. A configured fallback's own chain is not followed, so a chain
// never loops and stays short.
func (s SiteLocales) Chain(l Locale) []Locale {
	out := []Locale{l}
	add := func(x Locale) {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	if fb, ok := s.fallbacks[l]; ok {
		for _, x := range fb {
			add(x)
		}
	} else {
		for p := l.Parent(); p != ""; p = p.Parent() {
			add(p)
		}
	}
	add(s.def)
	return out
}

// Knows reports whether l is a locale the settings name, as the default
// or in a chain: the public API keeps answers for those only, so that
// requests for made-up locales cannot fill its cache.
func (s SiteLocales) Knows(l Locale) bool {
	if l == s.def {
		return true
	}
	for k, v := range s.fallbacks {
		if k == l || slices.Contains(v, l) {
			return true
		}
	}
	return false
}

// ErrTranslationLocaleTaken refuses a second translation in one locale.
var ErrTranslationLocaleTaken = E(KindConflict, "translation_locale_taken", "Another entry of this translation group has this locale.")

// Locale is the entry's language, "" for none.
func (e Entry) Locale() Locale { return e.locale }

// TranslationGroup is the ID that the entries translating each other
// share: the entry's own ID when it translates nothing.
func (e Entry) TranslationGroup() EntryID {
	if e.group == "" {
		return e.id
	}
	return e.group
}

// StoredTranslationGroup is TranslationGroup as stored: "" for the
// entry's own.
func (e Entry) StoredTranslationGroup() EntryID { return e.group }

// SetTranslation gives the entry a locale and makes it a translation of
// of, whose group it joins, or of nothing when of is nil. The caller
// checks that of is an entry of the same workspace and kind and that its
// group has no other entry in l (ErrTranslationLocaleTaken). An entry in
// a translation group needs a locale.
func (e *Entry) SetTranslation(l Locale, of *Entry, now time.Time) error {
	changed, err := e.setTranslation(l, of)
	if changed {
		e.touch(now)
	}
	return err
}

// TranslateNew is SetTranslation for an entry being created, before it is
// first stored: its first version has the locale and the translation, so
// none is added.
func (e *Entry) TranslateNew(l Locale, of *Entry) error {
	_, err := e.setTranslation(l, of)
	return err
}

// setTranslation checks and sets the locale and group, reporting whether
// either changed.
func (e *Entry) setTranslation(l Locale, of *Entry) (bool, error) {
	group := EntryID("")
	if of != nil {
		if of.kind != e.kind || of.workspace != e.workspace {
			return false, Invalid(FieldError{"translation_of", "invalid_translation", "Translate an entry of the same kind."})
		}
		if l == "" || of.locale == "" {
			return false, Invalid(FieldError{"locale", "required", "An entry and the one it translates both need a locale."})
		}
		if group = of.TranslationGroup(); group == e.id {
			group = ""
		}
	}
	if l == e.locale && group == e.group {
		return false, nil
	}
	e.locale, e.group = l, group
	return true, nil
}
