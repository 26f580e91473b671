package content

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SiteLocales returns a workspace's locale settings to those who may read
// its content.
func (s *Service) SiteLocales(ctx context.Context, p domain.Principal, ref string) (_ domain.SiteLocales, err error) {
	ctx, end := usecase.Start(ctx, "content.SiteLocales")
	defer end(&err)
	var l domain.SiteLocales
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermContentRead)
		if err != nil {
			return err
		}
		l, err = st.SiteLocales().Get(ctx, w.ID())
		return err
	})
	return l, err
}

// SetSiteLocales replaces a workspace's default locale and fallback
// chains (admins and owners: they change what every visitor reads). The
// public API's cached responses are forgotten when it commits.
func (s *Service) SetSiteLocales(ctx context.Context, p domain.Principal, ref, def string, fallbacks map[string][]string) (_ domain.SiteLocales, err error) {
	ctx, end := usecase.Start(ctx, "content.SetSiteLocales")
	defer end(&err)
	if _, err := domain.NewSiteLocales("", def, fallbacks, s.now()); err != nil {
		return domain.SiteLocales{}, err
	}
	var l domain.SiteLocales
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermWorkspaceWrite)
		if err != nil {
			return err
		}
		if l, err = domain.NewSiteLocales(w.ID(), def, fallbacks, s.now()); err != nil {
			return err
		}
		if err := st.SiteLocales().Put(ctx, l); err != nil {
			return fmt.Errorf("put locales: %w", err)
		}
		if err := publicChange(ctx, st); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, w.ID(), "site.locales_updated", "workspace", string(w.ID()),
			map[string]string{"default_locale": l.Default().String()}, s.now())
	})
	if err != nil {
		return domain.SiteLocales{}, err
	}
	s.changed()
	return l, nil
}

// TranslationInput sets an entry's locale and the entry it translates
// ("" for none: the entry leaves its group).
type TranslationInput struct {
	Locale        string
	TranslationOf domain.EntryID
}

var errNoSuchTranslated = domain.Invalid(domain.FieldError{Field: "translation_of", Code: "unknown_entry", Message: "No entry of this workspace has this ID."})

// SetTranslation sets an entry's locale and translation group (editors and
// up). A group holds one entry per locale: another in the same locale is
// domain.ErrTranslationLocaleTaken. ifMatch is as UpdateEntry's.
func (s *Service) SetTranslation(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int, in TranslationInput) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.SetTranslation")
	defer end(&err)
	l, err := domain.ParseLocale("locale", in.Locale)
	if err != nil {
		return domain.Entry{}, err
	}
	var e domain.Entry
	published := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		if e, err = s.entryToWrite(ctx, st, p, wsRef, id, ifMatch); err != nil {
			return err
		}
		var of *domain.Entry
		if in.TranslationOf != "" {
			o, err := getEntry(ctx, st, e.Workspace(), in.TranslationOf)
			if domain.KindOf(err) == domain.KindNotFound {
				return errNoSuchTranslated
			}
			if err != nil {
				return err
			}
			of = &o
		}
		prev := e.Version()
		if err := e.SetTranslation(l, of, s.now()); err != nil {
			return err
		}
		if e.Version() == prev {
			return nil
		}
		if err := checkLocaleFree(ctx, st, e); err != nil {
			return err
		}
		if err := st.Entries().Update(ctx, e, prev); err != nil {
			return err
		}
		if published = e.IsPublished(); published {
			if err := publicChange(ctx, st); err != nil {
				return err
			}
		}
		if err := st.Events().Add(ctx, domain.EntryUpdatedEvent(e, s.now())); err != nil {
			return fmt.Errorf("queue event: %w", err)
		}
		return s.auditTranslation(ctx, st, p, e)
	})
	if err == nil && published {
		s.changed()
	}
	return e, err
}

// checkLocaleFree returns domain.ErrTranslationLocaleTaken when another
// entry of e's translation group has e's locale: a group holds one entry
// per locale.
func checkLocaleFree(ctx context.Context, st ports.Stores, e domain.Entry) error {
	if e.Locale() == "" {
		return nil
	}
	group, err := st.Entries().Translations(ctx, e.Workspace(), e.TranslationGroup())
	if err != nil {
		return err
	}
	for _, m := range group {
		if m.ID() != e.ID() && m.Locale() == e.Locale() && m.TranslationGroup() == e.TranslationGroup() {
			return domain.ErrTranslationLocaleTaken
		}
	}
	return nil
}

// translateNew gives e, an entry being created in st's transaction, the
// locale l and makes it a translation of the entry of (none when ""),
// with SetTranslation's checks. It reports whether it set anything.
func translateNew(ctx context.Context, st ports.Stores, e *domain.Entry, l domain.Locale, of domain.EntryID) (bool, error) {
	if l == "" && of == "" {
		return false, nil
	}
	var translated *domain.Entry
	if of != "" {
		o, err := getEntry(ctx, st, e.Workspace(), of)
		if domain.KindOf(err) == domain.KindNotFound {
			return false, errNoSuchTranslated
		}
		if err != nil {
			return false, err
		}
		translated = &o
	}
	if err := e.TranslateNew(l, translated); err != nil {
		return false, err
	}
	return true, checkLocaleFree(ctx, st, *e)
}

// auditTranslation records an entry's locale and group as set.
func (s *Service) auditTranslation(ctx context.Context, st ports.Stores, p domain.Principal, e domain.Entry) error {
	return usecase.Audit(ctx, st, p, e.Workspace(), "entry.translation_set", e.Kind().String(), string(e.ID()),
		map[string]string{"locale": e.Locale().String(), "translation_group": string(e.TranslationGroup())}, s.now())
}

// PublicLocales returns the locale settings of ws to the public reads.
func (s *Service) PublicLocales(ctx context.Context, ws domain.WorkspaceID) (_ domain.SiteLocales, err error) {
	ctx, end := usecase.Start(ctx, "content.PublicLocales")
	defer end(&err)
	var l domain.SiteLocales
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		l, err = st.SiteLocales().Get(ctx, ws)
		return err
	})
	return l, err
}

// PublishedTranslations returns the published entries of e's translation
// group, e included, by locale: the alternates a page lists.
func (s *Service) PublishedTranslations(ctx context.Context, e domain.Entry) (_ []domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.PublishedTranslations")
	defer end(&err)
	var out []domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		group, err := st.Entries().Translations(ctx, e.Workspace(), e.TranslationGroup())
		for _, m := range group {
			if m.IsPublished() && m.TranslationGroup() == e.TranslationGroup() {
				out = append(out, m)
			}
		}
		return err
	})
	return out, err
}

// BestTranslation picks, of translations, the entry whose locale comes
// first in chain, or else e: a visitor asking for a locale the entry
// has no translation in still reads the entry.
func BestTranslation(e domain.Entry, translations []domain.Entry, chain []domain.Locale) domain.Entry {
	for _, l := range chain {
		for _, t := range translations {
			if t.Locale() == l {
				return t
			}
		}
	}
	return e
}

type localeKey struct{}

// WithLocale asks the public reads made with the returned context for
// locale l: PublishedEntries keeps, of each translation group, the entry
// that comes first in the site's fallback chain for l, and PublishedEntry
// answers the entry's translation that does. The delivery API sets it
// from ?locale= once, for every route that takes it.
func WithLocale(ctx context.Context, l domain.Locale) context.Context {
	return context.WithValue(ctx, localeKey{}, l)
}

// RequestedLocale is the locale WithLocale put in ctx, "" for none.
func RequestedLocale(ctx context.Context) domain.Locale { return localeOf(ctx) }

func localeOf(ctx context.Context) domain.Locale {
	l, _ := ctx.Value(localeKey{}).(domain.Locale)
	return l
}

// localeChain is the fallback chain of the locale ctx asks for, none when
// it asks for none.
func localeChain(ctx context.Context, st ports.Stores, ws domain.WorkspaceID) ([]domain.Locale, error) {
	l := localeOf(ctx)
	if l == "" {
		return nil, nil
	}
	settings, err := st.SiteLocales().Get(ctx, ws)
	if err != nil {
		return nil, err
	}
	return settings.Chain(l), nil
}

// translated is e, or its published translation that comes first in
// chain.
func translated(ctx context.Context, st ports.Stores, e domain.Entry, chain []domain.Locale) (domain.Entry, error) {
	if len(chain) == 0 || e.Locale() == chain[0] {
		return e, nil
	}
	group, err := st.Entries().Translations(ctx, e.Workspace(), e.TranslationGroup())
	if err != nil {
		return domain.Entry{}, err
	}
	var published []domain.Entry
	for _, m := range group {
		if m.IsPublished() && m.TranslationGroup() == e.TranslationGroup() {
			published = append(published, m)
		}
	}
	return BestTranslation(e, published, chain), nil
}
