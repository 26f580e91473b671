package domain

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLocale(t *testing.T) {
	for in, want := range map[string]Locale{
		"en": "en", "FR-ca": "fr-CA", "zh-hant-tw": "zh-Hant-TW", "es-419": "es-419", "de-CH-1996": "de-CH-1996", "": "",
	} {
		got, err := ParseLocale("locale", in)
		if err != nil || got != want {
			t.Errorf("ParseLocale(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"e", "english", "fr_CA", "fr-", "-fr", "fr--CA", "fr-C", "x-private", "en-" + strings.Repeat("abcdefgh-", 4) + "x", "fr CA", "fr-ÇA"} {
		if _, err := ParseLocale("locale", in); KindOf(err) != KindInvalid {
			t.Errorf("ParseLocale(%q) = %v, want invalid", in, err)
		}
	}
}

func TestSiteLocalesChain(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, err := NewSiteLocales("ws_x", "en", map[string][]string{"fr-CA": {"fr", "FR", "fr-CA"}, "pt-BR": {"pt-PT"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[Locale][]Locale{
		"fr-CA":      {"fr-CA", "fr", "en"}, // configured, deduplicated, itself dropped
		"pt-BR":      {"pt-BR", "pt-PT", "en"},
		"de-CH-1996": {"de-CH-1996", "de-CH", "de", "en"}, // implicit parents
		"en-GB":      {"en-GB", "en"},
	} {
		if got := s.Chain(in); !slices.Equal(got, want) {
			t.Errorf("Chain(%s) = %v, want %v", in, got, want)
		}
	}
	if !s.Knows("fr") || !s.Knows("en") || !s.Knows("pt-PT") || s.Knows("ja") {
		t.Error("Knows does not match the settings")
	}
	many := map[string][]string{}
	for i := range MaxSiteLocales + 1 {
		many["x"+string(rune('a'+i%26))+string(rune('a'+i/26))] = nil
	}
	for _, c := range []struct {
		def string
		fb  map[string][]string
	}{
		{"english", nil}, {"en", map[string][]string{"fr_CA": {"fr"}}}, {"en", map[string][]string{"fr-CA": {"f"}}},
		{"en", map[string][]string{"fr-CA": {"fr", "de", "it", "es", "pt", "nl"}}}, {"en", many},
	} {
		if _, err := NewSiteLocales("ws_x", c.def, c.fb, now); KindOf(err) != KindInvalid {
			t.Errorf("NewSiteLocales(%q, %v) = %v, want invalid", c.def, c.fb, err)
		}
	}
}

func TestSetTranslation(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mk := func(kind EntryKind, title string) Entry {
		e, err := NewEntry("ws_x", "usr_x", kind, EntryContent{Title: title}, Rendered{}, now)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, page := mk(KindPost, "A"), mk(KindPost, "B"), mk(KindPage, "P")
	if err := b.SetTranslation("fr", &a, now); KindOf(err) != KindInvalid {
		t.Errorf("translating an entry without a locale = %v, want invalid", err)
	}
	if err := a.SetTranslation("en", nil, now); err != nil || a.Version() != 2 || a.TranslationGroup() != a.ID() {
		t.Fatalf("SetTranslation(en) = %v, version %d, group %s", err, a.Version(), a.TranslationGroup())
	}
	if err := b.SetTranslation("fr", &a, now); err != nil || b.TranslationGroup() != a.ID() || b.Locale() != "fr" {
		t.Errorf("b joins a: %v, group %s", err, b.TranslationGroup())
	}
	if err := page.SetTranslation("de", &a, now); KindOf(err) != KindInvalid {
		t.Errorf("a page translating a post = %v, want invalid", err)
	}
	v := b.Version()
	if err := b.SetTranslation("fr", &a, now); err != nil || b.Version() != v {
		t.Errorf("setting the same translation again changed the version: %v, %d → %d", err, v, b.Version())
	}
	if err := a.SetTranslation("en", &b, now); err != nil || a.TranslationGroup() != a.ID() || a.StoredTranslationGroup() != "" {
		t.Errorf("a translating its own group's member: %v, group %q", err, a.StoredTranslationGroup())
	}
}
