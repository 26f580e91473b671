package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// siteStore implements ports.SiteStore.
type siteStore struct{ *stores }

func (s *stores) Sites() ports.SiteStore { return siteStore{s} }

func (s siteStore) Get(ctx context.Context, ws domain.WorkspaceID) (domain.SiteSettings, error) {
	var (
		siteURL, post, page string
		keepMetadata        bool
		updatedAt           time.Time
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT site_url, post_permalink, page_permalink, media_keep_metadata, updated_at FROM site_settings WHERE workspace_id = ?`), ws.String()).
		Scan(&siteURL, &post, &page, &keepMetadata, &updatedAt)
	if isNoRows(err) {
		return domain.DefaultSiteSettings(ws), nil
	}
	if err != nil {
		return domain.SiteSettings{}, fmt.Errorf("get site settings of %s: %w", ws, err)
	}
	return domain.RehydrateSiteSettings(ws, siteURL, post, page, keepMetadata, updatedAt.UTC()), nil
}

// Put inserts the row or replaces it in one statement. The insert selects
// from workspaces, so that an unknown workspace changes no row and is
// reported as absent rather than as a foreign key's driver error.
func (s siteStore) Put(ctx context.Context, st domain.SiteSettings) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO site_settings (workspace_id, site_url, post_permalink, page_permalink, media_keep_metadata, updated_at)
		SELECT id, ?, ?, ?, ?, ? FROM workspaces WHERE id = ?
		ON CONFLICT (workspace_id) DO UPDATE SET site_url = excluded.site_url, post_permalink = excluded.post_permalink,
			page_permalink = excluded.page_permalink, media_keep_metadata = excluded.media_keep_metadata, updated_at = excluded.updated_at`),
		st.SiteURL(), st.PostPermalink(), st.PagePermalink(), st.MediaKeepMetadata(), st.UpdatedAt().UTC(), st.Workspace().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("put site settings of %s: %w", st.Workspace(), err)
	}
	return nil
}
