package content

import (
	"context"
	"fmt"
	"strconv"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SiteSettings returns the site settings of a workspace to those who may
// read its content: they are what its public links are built with.
func (s *Service) SiteSettings(ctx context.Context, p domain.Principal, ref string) (_ domain.SiteSettings, err error) {
	ctx, end := usecase.Start(ctx, "content.SiteSettings")
	defer end(&err)
	var site domain.SiteSettings
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermContentRead)
		if err != nil {
			return err
		}
		site, err = st.Sites().Get(ctx, w.ID())
		return err
	})
	return site, err
}

// UpdateSiteInput changes a workspace's site settings; nil fields stay as
// they are, and a SiteURL of "" removes the site URL.
type UpdateSiteInput struct {
	Ref                                   string
	SiteURL, PostPermalink, PagePermalink *string
	MediaKeepMetadata                     *bool
}

// UpdateSiteSettings changes where a workspace's public links point
// (admins, owners: it moves every link of the feed and the sitemap). The
// change is validated before the transaction, and the public API's cached
// responses are forgotten when it commits.
func (s *Service) UpdateSiteSettings(ctx context.Context, p domain.Principal, in UpdateSiteInput) (_ domain.SiteSettings, err error) {
	ctx, end := usecase.Start(ctx, "content.UpdateSiteSettings")
	defer end(&err)
	change := domain.SiteChange{SiteURL: in.SiteURL, PostPermalink: in.PostPermalink, PagePermalink: in.PagePermalink, MediaKeepMetadata: in.MediaKeepMetadata}
	scratch := domain.DefaultSiteSettings("")
	if err := scratch.Update(change, s.now()); err != nil {
		return domain.SiteSettings{}, err
	}
	var site domain.SiteSettings
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Ref, domain.PermWorkspaceWrite)
		if err != nil {
			return err
		}
		if site, err = st.Sites().Get(ctx, w.ID()); err != nil {
			return err
		}
		if err := site.Update(change, s.now()); err != nil {
			return err
		}
		if err := st.Sites().Put(ctx, site); err != nil {
			return fmt.Errorf("put site settings: %w", err)
		}
		if err := publicChange(ctx, st); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, w.ID(), "site.updated", "workspace", string(w.ID()), map[string]string{
			"site_url": site.SiteURL(), "post_permalink": site.PostPermalink(), "page_permalink": site.PagePermalink(),
			"media_keep_metadata": strconv.FormatBool(site.MediaKeepMetadata()),
		}, s.now())
	})
	if err != nil {
		return domain.SiteSettings{}, err
	}
	s.changed()
	return site, nil
}

// PublicSiteSettings returns the site settings of ws to the public reads,
// which need no principal: a site's URL and permalinks are in every link
// it publishes anyway.
func (s *Service) PublicSiteSettings(ctx context.Context, ws domain.WorkspaceID) (_ domain.SiteSettings, err error) {
	ctx, end := usecase.Start(ctx, "content.PublicSiteSettings")
	defer end(&err)
	var site domain.SiteSettings
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		site, err = st.Sites().Get(ctx, ws)
		return err
	})
	return site, err
}
