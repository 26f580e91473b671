package content_test

import (
	"context"
	"testing"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestSiteSettingsAreAdminsToChangeAuditedAndInvalidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	got, err := f.svc.SiteSettings(ctx, f.viewer, "site")
	if err != nil || got.SiteURL() != "" || got.PostPermalink() != domain.DefaultPostPermalink || got.PagePermalink() != domain.DefaultPagePermalink {
		t.Fatalf("SiteSettings before any change = %+v, %v, want the defaults", got, err)
	}
	in := content.UpdateSiteInput{Ref: "site", SiteURL: ptr("https://www.example.com/"), PostPermalink: ptr("/{year}/{slug}")}
	_, err = f.svc.UpdateSiteSettings(ctx, f.viewer, in)
	wantErr(t, "a viewer's UpdateSiteSettings", err, domain.ErrForbidden)
	_, err = f.svc.UpdateSiteSettings(ctx, f.owner, content.UpdateSiteInput{Ref: "site", PagePermalink: ptr("/{locale}/{slug}")})
	if domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("UpdateSiteSettings with an unknown placeholder: err = %v, want invalid", err)
	}
	before, changed := f.publicVersion(t), f.changed
	site, err := f.svc.UpdateSiteSettings(ctx, f.owner, in)
	if err != nil {
		t.Fatal(err)
	}
	if site.SiteURL() != "https://www.example.com" || site.PostPermalink() != "/{year}/{slug}" || site.PagePermalink() != domain.DefaultPagePermalink {
		t.Fatalf("UpdateSiteSettings = %+v", site)
	}
	if f.publicVersion(t) == before || f.changed != changed+1 {
		t.Fatal("UpdateSiteSettings did not invalidate the public API's cache")
	}
	public, err := f.svc.PublicSiteSettings(ctx, f.ws.ID())
	if err != nil || public.SiteURL() != site.SiteURL() || public.PostPermalink() != site.PostPermalink() {
		t.Fatalf("PublicSiteSettings = %+v, %v, want %+v", public, err, site)
	}
	var audit []domain.AuditEvent
	err = f.db.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		audit, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].Action != "site.updated" || audit[0].Details["site_url"] != "https://www.example.com" || audit[0].Details["post_permalink"] != "/{year}/{slug}" {
		t.Fatalf("newest audit event = %+v, want site.updated with the new settings", audit)
	}
}
