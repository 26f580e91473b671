package content_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// createIn creates a post titled title in locale l translating of, as an
// editor's POST …/entries with locale and translation_of does.
func (f *fixture) createIn(t *testing.T, kind, title, l string, of domain.EntryID) (domain.Entry, error) {
	t.Helper()
	return f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{
		Kind: kind, Content: domain.EntryContent{Title: title, Body: title},
		Translation: content.TranslationInput{Locale: l, TranslationOf: of},
	})
}

// TestCreateWithLocale: an entry created with a locale and the entry it
// translates joins that entry's group in its first version, with the
// checks of PUT …/translation: one entry per locale in a group (409, and
// nothing created), a valid locale, an entry of the same kind that
// exists, a locale on both; the translation is audited.
func TestCreateWithLocale(t *testing.T) {
	f := newFixture(t)
	hello, err := f.createIn(t, "post", "Hello", "en", "")
	if err != nil {
		t.Fatal(err)
	}
	if hello.Locale() != "en" || hello.TranslationGroup() != hello.ID() || hello.Version() != 1 {
		t.Errorf("hello: locale %q, group %s, version %d; want en, its own, 1", hello.Locale(), hello.TranslationGroup(), hello.Version())
	}
	bonjour, err := f.createIn(t, "post", "Bonjour", "FR", hello.ID())
	if err != nil {
		t.Fatal(err)
	}
	if bonjour.Locale() != "fr" || bonjour.TranslationGroup() != hello.ID() || bonjour.Version() != 1 {
		t.Errorf("bonjour: locale %q, group %s, version %d; want fr, %s, 1", bonjour.Locale(), bonjour.TranslationGroup(), bonjour.Version(), hello.ID())
	}
	stored, err := f.svc.GetEntry(t.Context(), f.owner, "site", bonjour.ID())
	if err != nil || stored.Locale() != "fr" || stored.TranslationGroup() != hello.ID() {
		t.Errorf("stored bonjour: %v, locale %q, group %s", err, stored.Locale(), stored.TranslationGroup())
	}
	// Joining through any member of the group.
	if hallo, err := f.createIn(t, "post", "Hallo", "de", bonjour.ID()); err != nil || hallo.TranslationGroup() != hello.ID() {
		t.Errorf("hallo through bonjour: %v, group %s", err, hallo.TranslationGroup())
	}
	page, err := f.createIn(t, "page", "Page", "it", "")
	if err != nil {
		t.Fatal(err)
	}

	before := f.count(t)
	_, err = f.createIn(t, "post", "Salut", "fr", hello.ID())
	wantErr(t, "a second French translation", err, domain.ErrTranslationLocaleTaken)
	for _, c := range []struct {
		name, kind, locale string
		of                 domain.EntryID
		field, code        string
	}{
		{"MalformedLocale", "post", "français", "", "locale", "invalid_locale"},
		{"UnknownEntry", "post", "fr", "ent_nosuchentry", "translation_of", "unknown_entry"},
		{"OtherKind", "post", "fr", page.ID(), "translation_of", "invalid_translation"},
		{"NoLocale", "post", "", hello.ID(), "locale", "required"},
	} {
		_, err := f.createIn(t, c.kind, c.name, c.locale, c.of)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != c.field || de.Fields[0].Code != c.code {
			t.Errorf("%s: err = %v, want a %s %s", c.name, err, c.field, c.code)
		}
	}
	if n := f.count(t); n != before {
		t.Errorf("refused creations stored %d entries", n-before)
	}

	var translated []string
	for _, a := range f.auditActions(t) {
		if a.Action == "entry.translation_set" {
			translated = append(translated, a.TargetID+" "+a.Details["locale"]+" "+a.Details["translation_group"])
		}
	}
	if len(translated) != 4 || !slices.Contains(translated, string(bonjour.ID())+" fr "+string(hello.ID())) {
		t.Errorf("audited translations %q, want the four created with a locale", translated)
	}
	// An entry created without either has no translation, nor its audit.
	plain := f.post(t, "Plain")
	if plain.Locale() != "" || plain.TranslationGroup() != plain.ID() {
		t.Errorf("plain: locale %q, group %s", plain.Locale(), plain.TranslationGroup())
	}
}

func (f *fixture) count(t *testing.T) int {
	t.Helper()
	n := 0
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Entries().List(ctx, f.ws.ID(), ports.EntryFilter{}, ports.Page{Limit: ports.MaxPageLimit})
		n = len(es)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
