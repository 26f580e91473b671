package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func sites(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	getSite := func(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID) domain.SiteSettings {
		t.Helper()
		var s domain.SiteSettings
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			s, err = st.Sites().Get(ctx, ws)
			return err
		})
		return s
	}
	t.Run("NeverSetIsDefaults", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		if got, want := getSite(t, uow, ws.ID()), domain.DefaultSiteSettings(ws.ID()); !sameSite(got, want) {
			t.Fatalf("Get = %+v, want the defaults %+v", got, want)
		}
	})
	t.Run("PutReplacesAndKeepsWorkspacesApart", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		other := addWorkspace(t, uow, "other")
		s := domain.DefaultSiteSettings(ws.ID())
		url, post, keep := "https://www.example.com", "/{year}/{month}/{slug}", true
		if err := s.Update(domain.SiteChange{SiteURL: &url, PostPermalink: &post, MediaKeepMetadata: &keep}, t0); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sites().Put(ctx, s) })
		if got := getSite(t, uow, ws.ID()); !sameSite(got, s) || !got.MediaKeepMetadata() {
			t.Fatalf("Get after Put = %+v, want %+v", got, s)
		}
		page, empty := "/p/{id}", ""
		if err := s.Update(domain.SiteChange{SiteURL: &empty, PagePermalink: &page}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sites().Put(ctx, s) })
		got := getSite(t, uow, ws.ID())
		if !sameSite(got, s) || got.SiteURL() != "" || got.PostPermalink() != post || got.PagePermalink() != page || !got.UpdatedAt().Equal(domain.Timestamp(t0.Add(time.Hour))) {
			t.Fatalf("Get after a second Put = %+v, want %+v", got, s)
		}
		if got, want := getSite(t, uow, other.ID()), domain.DefaultSiteSettings(other.ID()); !sameSite(got, want) {
			t.Fatalf("other workspace = %+v, want the defaults", got)
		}
	})
	t.Run("PutForUnknownWorkspaceIsNotFound", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		s := domain.DefaultSiteSettings(domain.WorkspaceID(domain.NewID(domain.PrefixWorkspace, t0)))
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Sites().Put(ctx, s) })
		wantErr(t, "Put for an unknown workspace", err, domain.ErrNotFound)
	})
	t.Run("DeletedWithWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		s := domain.DefaultSiteSettings(ws.ID())
		url := "https://www.example.com"
		if err := s.Update(domain.SiteChange{SiteURL: &url}, t0); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sites().Put(ctx, s) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Delete(ctx, ws.ID()) })
		if got, want := getSite(t, uow, ws.ID()), domain.DefaultSiteSettings(ws.ID()); !sameSite(got, want) {
			t.Fatalf("Get after the workspace's deletion = %+v, want the defaults", got)
		}
	})
}

// sameSite compares settings as stored, times by instant.
func sameSite(a, b domain.SiteSettings) bool {
	return a.Workspace() == b.Workspace() && a.SiteURL() == b.SiteURL() && a.PostPermalink() == b.PostPermalink() &&
		a.PagePermalink() == b.PagePermalink() && a.MediaKeepMetadata() == b.MediaKeepMetadata() && a.UpdatedAt().Equal(b.UpdatedAt())
}
