package content

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchSite = domain.ErrNotFound.WithMessage("No such site.")

// The public reads need no principal: they show published entries only,
// which the stores guarantee, and run outside write transactions so that
// a busy editor never slows a reader.

// Site finds the workspace whose public face has the slug.
func (s *Service) Site(ctx context.Context, slug string) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "content.Site")
	defer end(&err)
	if _, perr := domain.ParseSlug(slug); perr != nil {
		return domain.Workspace{}, errNoSuchSite
	}
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err = st.Workspaces().GetBySlug(ctx, slug)
		if domain.KindOf(err) == domain.KindNotFound {
			return errNoSuchSite
		}
		return err
	})
	return w, err
}

// PublishedEntry returns the published entry of ws with kind and slug;
// any other status is domain.ErrNotFound.
func (s *Service) PublishedEntry(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slug string) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.PublishedEntry")
	defer end(&err)
	var e domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		e, err = st.Entries().Published(ctx, ws, kind, slug)
		if domain.KindOf(err) == domain.KindNotFound {
			return errNoSuchEntry
		}
		if err != nil {
			return err
		}
		chain, err := localeChain(ctx, st, ws)
		if err != nil {
			return err
		}
		e, err = translated(ctx, st, e, chain)
		return err
	})
	return e, err
}

// PublishedEntries lists published entries of ws and kind, newest first,
// or best match first when f has a query.
func (s *Service) PublishedEntries(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, f ports.PublicFilter, page ports.Page) (_ []domain.Entry, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.PublishedEntries")
	defer end(&err)
	var es []domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		if f.Locales, err = localeChain(ctx, st, ws); err != nil {
			return err
		}
		es, next, err = st.Entries().ListPublished(ctx, ws, kind, f, page)
		return err
	})
	return es, next, err
}

// MaxSitemapURLs is the most URLs one sitemap file may list (the sitemaps
// protocol's limit).
const MaxSitemapURLs = 50_000

// EachPublished calls fn for every published post, then every published
// page, of ws, up to MaxSitemapURLs in all, reading a page of entries at a
// time so a large site is never held in memory at once.
func (s *Service) EachPublished(ctx context.Context, ws domain.WorkspaceID, fn func(domain.Entry) error) (err error) {
	ctx, end := usecase.Start(ctx, "content.EachPublished")
	defer end(&err)
	n := 0
	for _, kind := range []domain.EntryKind{domain.KindPost, domain.KindPage} {
		page := ports.Page{Limit: ports.MaxPageLimit}
		for {
			var es []domain.Entry
			err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
				es, page.After, err = st.Entries().ListPublished(ctx, ws, kind, ports.PublicFilter{}, page)
				return err
			})
			if err != nil {
				return fmt.Errorf("list published %ss: %w", kind, err)
			}
			for _, e := range es {
				if n == MaxSitemapURLs {
					return nil
				}
				if err := fn(e); err != nil {
					return err
				}
				n++
			}
			if page.After == "" {
				break
			}
		}
	}
	return nil
}

// PublicVersion returns the counter that moves whenever public content
// changes anywhere; caches compare it with the value they were filled at.
func (s *Service) PublicVersion(ctx context.Context) (v int64, err error) {
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		v, err = st.Instance().Counter(ctx, ports.PublicContentCounter)
		return err
	})
	return v, err
}
