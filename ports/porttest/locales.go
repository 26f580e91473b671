package porttest

import (
	"context"
	"slices"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func locales(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	// translated writes a published (or draft) post in locale l that
	// translates of (nil for none).
	translated := func(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, title string, l domain.Locale, of *domain.Entry, publish bool) domain.Entry {
		t.Helper()
		e := mustEntry(t, ws, domain.KindPost, domain.EntryContent{Title: title})
		if err := e.SetTranslation(l, of, t0); err != nil {
			t.Fatal(err)
		}
		if publish {
			setStatus(t, &e, domain.EntryPublished)
		}
		return addEntry(t, uow, e)
	}
	titles := func(es []domain.Entry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Title()
		}
		slices.Sort(out)
		return out
	}

	t.Run("TranslationsAndFallbackChains", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		other := addWorkspace(t, uow, "other")
		a := translated(t, uow, ws.ID(), "A en", "en", nil, true)
		b := translated(t, uow, ws.ID(), "B fr", "fr", &a, true)
		translated(t, uow, ws.ID(), "C de", "de", &b, true) // b's group is a's
		d := translated(t, uow, ws.ID(), "D en", "en", nil, true)
		translated(t, uow, ws.ID(), "F fr-CA", "fr-CA", &d, false)
		translated(t, uow, ws.ID(), "E none", "", nil, true)
		translated(t, uow, other.ID(), "X fr", "fr", nil, true)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			group, err := st.Entries().Translations(ctx, ws.ID(), a.ID())
			if err != nil {
				return err
			}
			if got, want := titles(group), []string{"A en", "B fr", "C de"}; !slices.Equal(got, want) {
				t.Errorf("Translations(a) = %v, want %v", got, want)
			}
			for _, e := range group {
				if e.TranslationGroup() != a.ID() {
					t.Errorf("%s: group %s, want %s", e.Title(), e.TranslationGroup(), a.ID())
				}
			}
			if group, err = st.Entries().Translations(ctx, other.ID(), a.ID()); err != nil || len(group) != 0 {
				t.Errorf("Translations of another workspace = %v, %v; want none", titles(group), err)
			}
			for _, c := range []struct {
				chain []domain.Locale
				want  []string
			}{
				{[]domain.Locale{"fr-CA", "fr", "en"}, []string{"B fr", "D en", "E none"}}, // F is a draft
				{[]domain.Locale{"en"}, []string{"A en", "D en", "E none"}},
				{[]domain.Locale{"de", "en"}, []string{"C de", "D en", "E none"}},
				{[]domain.Locale{"ja"}, []string{"E none"}},
				{nil, []string{"A en", "B fr", "C de", "D en", "E none"}},
			} {
				es, _, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{Locales: c.chain}, ports.Page{})
				if err != nil {
					return err
				}
				if got := titles(es); !slices.Equal(got, c.want) {
					t.Errorf("ListPublished with chain %v = %v, want %v", c.chain, got, c.want)
				}
				es, _, err = st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{Locales: c.chain, Query: "en"}, ports.Page{})
				if err != nil {
					return err
				}
				var want []string
				for _, w := range c.want {
					if w == "A en" || w == "D en" {
						want = append(want, w)
					}
				}
				if got := titles(es); !slices.Equal(got, want) {
					t.Errorf("search for en with chain %v = %v, want %v", c.chain, got, want)
				}
			}
			return nil
		})
	})

	t.Run("PagesInNavigationOrderPerLocale", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		page := func(title string, nav int, l domain.Locale, of *domain.Entry) domain.Entry {
			t.Helper()
			e := mustEntry(t, ws.ID(), domain.KindPage, domain.EntryContent{Title: title, NavOrder: nav})
			if err := e.SetTranslation(l, of, t0); err != nil {
				t.Fatal(err)
			}
			setStatus(t, &e, domain.EntryPublished)
			return addEntry(t, uow, e)
		}
		home := page("Home en", 0, "en", nil)
		page("Accueil fr", 0, "fr", &home)
		page("About en", 1, "en", nil)
		page("Imprint", 2, "", nil)
		page("Contact fr", 3, "fr", nil)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, c := range []struct {
				chain []domain.Locale
				want  []string // in navigation order, two a page
			}{
				{[]domain.Locale{"fr", "en"}, []string{"Accueil fr", "About en", "Imprint", "Contact fr"}},
				{[]domain.Locale{"en"}, []string{"Home en", "About en", "Imprint"}},
				{nil, []string{"Accueil fr", "Home en", "About en", "Imprint", "Contact fr"}},
			} {
				var got []string
				p := ports.Page{Limit: 2}
				for {
					es, next, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPage, ports.PublicFilter{Locales: c.chain}, p)
					if err != nil {
						return err
					}
					for _, e := range es {
						got = append(got, e.Title())
					}
					if next == "" {
						break
					}
					p.After = next
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("pages with chain %v = %v, want %v", c.chain, got, c.want)
				}
			}
			return nil
		})
	})

	t.Run("SiteLocalesPutAndGet", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.SiteLocales().Get(ctx, ws.ID())
			if err != nil {
				return err
			}
			if got.Default() != "" || len(got.Fallbacks()) != 0 {
				t.Errorf("settings never stored = %+v, want the defaults", got)
			}
			for _, def := range []string{"en", "de"} {
				l, err := domain.NewSiteLocales(ws.ID(), def, map[string][]string{"fr-CA": {"fr", "en"}}, t0)
				if err != nil {
					return err
				}
				if err := st.SiteLocales().Put(ctx, l); err != nil {
					return err
				}
			}
			got, err = st.SiteLocales().Get(ctx, ws.ID())
			if err != nil {
				return err
			}
			if got.Default() != "de" || !slices.Equal(got.Chain("fr-CA"), []domain.Locale{"fr-CA", "fr", "en", "de"}) || !got.UpdatedAt().Equal(domain.Timestamp(t0)) {
				t.Errorf("stored settings = default %q, chain %v, updated %v", got.Default(), got.Chain("fr-CA"), got.UpdatedAt())
			}
			l, _ := domain.NewSiteLocales("ws_nosuchworkspace", "en", nil, t0)
			wantErr(t, "Put for an unknown workspace", st.SiteLocales().Put(ctx, l), domain.ErrNotFound)
			return nil
		})
	})
}
