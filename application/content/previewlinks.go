package content

import (
	"context"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchPreviewLink = domain.ErrNotFound.WithMessage("No such preview link.")

// NewPreviewLink is a link just made: its token, shown this once, and the
// slug of the site whose public API serves it.
type NewPreviewLink struct {
	Link  domain.PreviewLink
	Token string
	Site  string
}

// CreatePreviewLink makes a link that shows the entry's current state,
// draft or not, to whoever holds its token, for ttl (editors and up;
// domain.DefaultPreviewTTL when zero). The token is returned once and
// only its hash is kept.
func (s *Service) CreatePreviewLink(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ttl time.Duration) (_ NewPreviewLink, err error) {
	ctx, end := usecase.Start(ctx, "content.CreatePreviewLink")
	defer end(&err)
	var out NewPreviewLink
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
		if err != nil {
			return err
		}
		e, err := getEntry(ctx, st, w.ID(), id)
		if err != nil {
			return err
		}
		now := s.now()
		l, token, err := domain.NewPreviewLink(e, p, ttl, now)
		if err != nil {
			return err
		}
		out = NewPreviewLink{Link: l, Token: token, Site: w.Slug()}
		n, err := st.PreviewLinks().CountActive(ctx, e.Workspace(), e.ID(), now)
		if err != nil {
			return err
		}
		if n >= domain.MaxActivePreviewLinks {
			return domain.ErrTooManyPreviewLinks
		}
		if err := st.PreviewLinks().Add(ctx, l); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, e.Workspace(), "preview_link.created", "preview_link", l.ID().String(),
			map[string]string{"entry_id": e.ID().String(), "expires_at": l.ExpiresAt().Format(domain.StampLayout)}, now)
	})
	if err != nil {
		return NewPreviewLink{}, err
	}
	return out, nil
}

// ListedPreviewLink is a preview link and whether it is active now.
type ListedPreviewLink struct {
	Link   domain.PreviewLink
	Active bool
}

// ListPreviewLinks lists an entry's preview links, newest first, revoked
// and expired ones too, without their tokens (viewers and up).
func (s *Service) ListPreviewLinks(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, page ports.Page) (_ []ListedPreviewLink, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.ListPreviewLinks")
	defer end(&err)
	var ls []domain.PreviewLink
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		if _, err := getEntry(ctx, st, w.ID(), id); err != nil {
			return err
		}
		ls, next, err = st.PreviewLinks().List(ctx, w.ID(), id, page)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	out := make([]ListedPreviewLink, len(ls))
	for i, l := range ls {
		out[i] = ListedPreviewLink{l, l.Active(now)}
	}
	return out, next, nil
}

// RevokePreviewLink ends a preview link at once (editors and up). Revoking
// a revoked link changes nothing and succeeds, so a retried request does.
func (s *Service) RevokePreviewLink(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, link domain.PreviewLinkID) (err error) {
	ctx, end := usecase.Start(ctx, "content.RevokePreviewLink")
	defer end(&err)
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		e, err := s.entryToWrite(ctx, st, p, wsRef, id, nil)
		if err != nil {
			return err
		}
		if !domain.ValidID(domain.PrefixPreviewLink, link.String()) {
			return errNoSuchPreviewLink
		}
		l, err := st.PreviewLinks().Get(ctx, e.Workspace(), link)
		if domain.KindOf(err) == domain.KindNotFound || (err == nil && l.Entry() != e.ID()) {
			return errNoSuchPreviewLink
		}
		if err != nil {
			return err
		}
		now := s.now()
		if l.RevokedAt() != nil {
			return nil
		}
		l.Revoke(now)
		if err := st.PreviewLinks().Update(ctx, l); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, e.Workspace(), "preview_link.revoked", "preview_link", l.ID().String(),
			map[string]string{"entry_id": e.ID().String()}, now)
	})
}

// PreviewEntry returns the entry a preview token shows, in its current
// state, when the token is site's and its link is active. Any other token
// is domain.ErrPreviewLinkUnusable, whatever the reason, so that a token
// reveals nothing of the link it was.
func (s *Service) PreviewEntry(ctx context.Context, site domain.WorkspaceID, token string) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.PreviewEntry")
	defer end(&err)
	if !domain.IsPreviewToken(token) {
		return domain.Entry{}, domain.ErrPreviewLinkUnusable
	}
	var e domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		l, err := st.PreviewLinks().ByTokenHash(ctx, domain.HashSecret(token))
		if domain.KindOf(err) == domain.KindNotFound || (err == nil && (l.Workspace() != site || !l.Active(s.now()))) {
			return domain.ErrPreviewLinkUnusable
		}
		if err != nil {
			return err
		}
		e, err = st.Entries().Get(ctx, site, l.Entry())
		if domain.KindOf(err) == domain.KindNotFound {
			return domain.ErrPreviewLinkUnusable
		}
		return err
	})
	return e, err
}
