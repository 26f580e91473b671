package content_test

import (
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

func TestPreviewRendersForWritersOnlyAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	r, err := f.svc.PreviewBody(t.Context(), f.owner, "site", "draft text")
	if err != nil || r.HTML != "<p>DRAFT TEXT</p>" {
		t.Fatalf("preview = %q, %v", r.HTML, err)
	}
	calls := f.render.calls
	_, err = f.svc.PreviewBody(t.Context(), f.viewer, "site", "draft text")
	wantErr(t, "viewer previews", err, domain.ErrForbidden)
	_, err = f.svc.PreviewBody(t.Context(), f.owner, "site", strings.Repeat("a", domain.MaxBodyBytes+1))
	if domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("oversized body: %v, want invalid", err)
	}
	if f.render.calls != calls {
		t.Errorf("refused previews rendered %d times", f.render.calls-calls)
	}
	if evs := f.events(t); len(evs) != 0 {
		t.Errorf("a preview queued events %q", evs)
	}
}

func TestGetRevisionReadsOneSave(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "Original")
	if _, err := f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), nil, domain.EntryPatch{Title: ptr("Changed")}); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.GetRevision(t.Context(), f.viewer, "site", e.ID(), 1)
	if err != nil || r.Version != 1 || r.Content.Title != "Original" {
		t.Fatalf("revision 1 = %+v, %v", r, err)
	}
	_, err = f.svc.GetRevision(t.Context(), f.viewer, "site", e.ID(), 9)
	wantErr(t, "unknown revision", err, domain.ErrNotFound)
	_, err = f.svc.GetRevision(t.Context(), f.viewer, "site", "ent_nonsense", 1)
	wantErr(t, "unknown entry", err, domain.ErrNotFound)
}
