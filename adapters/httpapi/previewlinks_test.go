package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPreviewLinks follows a preview link through its life: it shows a
// draft and its later revisions to anyone with the token, is kept by no
// cache, answers 404 once expired (on the fixture's clock) or revoked, and
// only on its own site; its token is never listed nor logged.
func TestPreviewLinks(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com/"})
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Secret draft", "body": "Not *yet*."})
	links := "/v1/workspaces/acme/entries/" + e.ID + "/preview-links"
	type created struct {
		previewLinkResponse
		Token string `json:"token"`
		URL   string `json:"url"`
	}
	l := decodeBody[created](t, f.api(t, http.MethodPost, links, map[string]any{"expires_in": 3600}), http.StatusCreated)
	const prefix = "https://api.example.com/v1/sites/acme/preview?token="
	if !strings.HasPrefix(l.Token, "kpv_") || l.URL != prefix+l.Token || !l.Active || l.EntryID != e.ID {
		t.Fatalf("created link = %+v", l)
	}
	if got, want := l.ExpiresAt.Sub(l.CreatedAt.Time), time.Hour; got != want {
		t.Errorf("expires_at - created_at = %v, want %v", got, want)
	}
	preview := func(site, token string) *http.Response {
		t.Helper()
		w := f.public(t, "/v1/sites/"+site+"/preview?token="+token)
		if cc := w.Header().Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("preview on %s answered %d with Cache-Control %q, want private, no-store", site, w.Code, cc)
		}
		return w.Result()
	}
	read := func(token string) publicEntryResponse {
		t.Helper()
		w := f.public(t, "/v1/sites/acme/preview?token="+token)
		if w.Header().Get("X-Robots-Tag") != "noindex" || w.Header().Get("Cache-Control") != "private, no-store" {
			t.Errorf("preview headers = %v, want noindex and private, no-store", w.Header())
		}
		return decodeBody[publicEntryResponse](t, w, http.StatusOK)
	}
	if got := read(l.Token); got.Title != "Secret draft" || !strings.Contains(got.BodyHTML, "<em>yet</em>") || got.PublishedAt != nil {
		t.Errorf("preview of the draft = %+v", got)
	} else if got.Author == nil || got.Author.Slug == "" {
		// The writer got a profile with the draft, and the preview shows
		// the post as it will be published: with its author.
		t.Errorf("preview of the draft has author %+v, want the writer's profile", got.Author)
	}
	if n := f.cache.Len(); n != 0 {
		t.Errorf("the public cache holds %d responses after a preview, want none", n)
	}
	// The public API itself still has nothing at the draft's slug.
	if w := f.public(t, "/v1/sites/acme/posts/"+e.Slug); w.Code != http.StatusNotFound {
		t.Errorf("public post of a draft = %d, want 404", w.Code)
	}
	// A later revision is what the same link shows next.
	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/entries/"+e.ID, map[string]any{"title": "Reworded draft"}); w.Code != http.StatusOK {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	if got := read(l.Token); got.Title != "Reworded draft" {
		t.Errorf("preview after a revision shows %q, want the new title", got.Title)
	}

	// Another workspace's site refuses the token, as does a forged one.
	if w := f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Beta", "slug": "beta"}); w.Code != http.StatusCreated {
		t.Fatalf("create workspace beta: %d %s", w.Code, w.Body)
	}
	for _, c := range []struct{ site, token string }{{"beta", l.Token}, {"acme", l.Token[:len(l.Token)-1] + "x"}, {"acme", "junk"}, {"acme", ""}} {
		if r := preview(c.site, c.token); r.StatusCode != http.StatusNotFound {
			t.Errorf("preview on %s with token %q = %d, want 404", c.site, c.token, r.StatusCode)
		}
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/beta/preview?token="+l.Token), http.StatusNotFound, "preview_link_not_found")

	// Revoked: 404 at once, and revoking again changes nothing.
	r := decodeBody[created](t, f.api(t, http.MethodPost, links, map[string]any{}), http.StatusCreated)
	if got := r.ExpiresAt.Sub(r.CreatedAt.Time); got != 7*24*time.Hour {
		t.Errorf("default lifetime = %v, want 7 days", got)
	}
	read(r.Token)
	for range 2 {
		if w := f.api(t, http.MethodDelete, links+"/"+r.ID, nil); w.Code != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", w.Code, w.Body)
		}
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/preview?token="+r.Token), http.StatusNotFound, "preview_link_not_found")
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/entries/"+e.ID+"/preview-links/pvl_nosuchlink", nil); w.Code != http.StatusNotFound {
		t.Errorf("revoke of an unknown link = %d, want 404", w.Code)
	}

	// Expired: the first link lasts an hour on the fixture's clock.
	f.clock.Add(time.Hour - time.Second)
	read(l.Token)
	f.clock.Add(time.Second)
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/preview?token="+l.Token), http.StatusNotFound, "preview_link_not_found")

	list := f.api(t, http.MethodGet, links, nil)
	got := decodeBody[listResponse[previewLinkResponse]](t, list, http.StatusOK)
	if len(got.Data) != 2 || got.Data[0].ID != r.ID || got.Data[1].ID != l.ID || got.Data[0].Active || got.Data[1].Active || got.Data[0].RevokedAt == nil || got.Data[1].RevokedAt != nil {
		t.Errorf("list = %+v, want the revoked link then the expired one, neither active", got.Data)
	}
	for _, token := range []string{l.Token, r.Token} {
		if strings.Contains(list.Body.String(), token) {
			t.Errorf("the list shows a token: %s", list.Body)
		}
		if strings.Contains(f.logs.String(), token) {
			t.Errorf("the log holds a token")
		}
	}
	audit := f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String()
	if strings.Count(audit, `"preview_link.created"`) != 2 || strings.Count(audit, `"preview_link.revoked"`) != 1 {
		t.Errorf("audit log = %s, want two preview_link.created and one preview_link.revoked", audit)
	}
}

func TestPreviewLinkLifetimeIsBounded(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Draft"})
	links := "/v1/workspaces/acme/entries/" + e.ID + "/preview-links"
	for _, secs := range []int64{0, 59, 30*24*3600 + 1, -1, 1 << 62} {
		w := f.invalid().api(t, http.MethodPost, links, map[string]any{"expires_in": secs})
		decodeProblemCode(t, w, http.StatusUnprocessableEntity, "validation_failed")
	}
	for _, secs := range []int64{60, 30 * 24 * 3600} {
		if w := f.api(t, http.MethodPost, links, map[string]any{"expires_in": secs}); w.Code != http.StatusCreated {
			t.Errorf("expires_in %d: %d %s", secs, w.Code, w.Body)
		}
	}
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/ent_nosuchentry/preview-links", map[string]any{}); w.Code != http.StatusNotFound {
		t.Errorf("preview link of an unknown entry = %d, want 404", w.Code)
	}
}
