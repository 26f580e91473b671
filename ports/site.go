package ports

import (
	"context"

	"github.com/keelhq/keel/domain"
)

// SiteStore keeps each workspace's site settings.
type SiteStore interface {
	// Get returns the settings of ws, or domain.DefaultSiteSettings(ws)
	// when none were ever stored. It does not check that ws exists.
	Get(ctx context.Context, ws domain.WorkspaceID) (domain.SiteSettings, error)

	// Put stores s in place of the workspace's settings. A workspace that
	// does not exist is domain.ErrNotFound.
	Put(ctx context.Context, s domain.SiteSettings) error
}
