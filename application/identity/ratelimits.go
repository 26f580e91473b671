package identity

import (
	"context"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// WorkspaceRateLimits returns the own quotas of the workspace ref names
// (its ID or slug), for the HTTP adapter's rate limiter, which caches
// them. It authorizes nothing: the limits are applied to every caller,
// and never shown by this call. An unknown workspace is
// domain.ErrNotFound.
func (s *Service) WorkspaceRateLimits(ctx context.Context, ref string) (domain.RateLimits, error) {
	var w domain.Workspace
	err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		switch {
		case domain.ValidID(domain.PrefixWorkspace, ref):
			w, err = st.Workspaces().Get(ctx, domain.WorkspaceID(ref))
		case validSlug(ref):
			w, err = st.Workspaces().GetBySlug(ctx, ref)
		default:
			err = domain.ErrNotFound
		}
		return err
	})
	return w.RateLimits(), err
}

// validSlug reports whether s could be a workspace's slug.
func validSlug(s string) bool {
	_, err := domain.ParseSlug(s)
	return err == nil
}
