package httpapi

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func (f *formsFixture) createEntry(t *testing.T, body map[string]any) entryResponse {
	t.Helper()
	w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries", body)
	return decodeBody[entryResponse](t, w, http.StatusCreated)
}

// withHeaders calls the management API as the owner with extra headers.
func (f *formsFixture) withHeaders(t *testing.T, method, path string, body string, kv ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return f.serve(req)
}

// public calls the public API anonymously.
func (f *formsFixture) public(t *testing.T, path string, kv ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return f.serve(req)
}

func TestEntryLifecycleOverHTTP(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{
		"kind": "post", "title": "Crème brûlée", "tags": []string{"Food"},
		"body": "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) **bold**",
	})
	if e.Slug != "creme-brulee" || e.Status != "draft" || e.Version != 1 || len(e.Tags) != 1 || e.Tags[0] != "Food" { // tags keep the case typed
		t.Errorf("created %+v", e)
	}
	for _, bad := range []string{"<script", "onerror", `href="javascript:`} {
		if strings.Contains(e.BodyHTML, bad) {
			t.Errorf("body_html keeps %q: %s", bad, e.BodyHTML)
		}
	}
	if !strings.Contains(e.BodyHTML, "<strong>bold</strong>") {
		t.Errorf("body_html lost the Markdown: %s", e.BodyHTML)
	}
	path := "/v1/workspaces/acme/entries/" + e.ID

	w := f.api(t, http.MethodGet, path, nil)
	if w.Code != http.StatusOK || w.Header().Get("ETag") != `"v1"` {
		t.Fatalf("GET: %d ETag %q", w.Code, w.Header().Get("ETag"))
	}
	if w := f.withHeaders(t, http.MethodGet, path, "", "If-None-Match", `"v1"`); w.Code != http.StatusNotModified {
		t.Errorf("GET If-None-Match current: %d", w.Code)
	}

	w = f.withHeaders(t, http.MethodPatch, path, `{"title":"Crème caramel"}`, "If-Match", `"v1"`)
	upd := decodeBody[entryResponse](t, w, http.StatusOK)
	if upd.Version != 2 || upd.Title != "Crème caramel" || upd.Slug != "creme-brulee" || w.Header().Get("ETag") != `"v2"` {
		t.Errorf("PATCH: %+v ETag %q", upd, w.Header().Get("ETag"))
	}
	w = f.withHeaders(t, http.MethodPatch, path, `{"title":"Lost"}`, "If-Match", `"v1"`)
	decodeProblemCode(t, w, http.StatusPreconditionFailed, "version_conflict")
	w = f.withHeaders(t, http.MethodPatch, path, `{"title":"Lost"}`, "If-Match", `v1`)
	decodeProblemCode(t, w, http.StatusUnprocessableEntity, "invalid_if_match")
	w = f.invalid().withHeaders(t, http.MethodPatch, path, `{"titel":"typo"}`)
	decodeProblemCode(t, w, http.StatusUnprocessableEntity, "unknown_field")
	w = f.withHeaders(t, http.MethodPatch, path, `{"slug":"Bad Slug"}`)
	decodeProblemCode(t, w, http.StatusUnprocessableEntity, "validation_failed")

	other := f.createEntry(t, map[string]any{"kind": "post", "title": "Other"})
	w = f.withHeaders(t, http.MethodPatch, "/v1/workspaces/acme/entries/"+other.ID, `{"slug":"creme-brulee"}`)
	decodeProblemCode(t, w, http.StatusConflict, "slug_taken")

	// Revisions: 1 (create) and 2 (title); restoring 1 makes 3.
	w = f.api(t, http.MethodGet, path+"/revisions", nil)
	revs := decodeBody[listResponse[revisionResponse]](t, w, http.StatusOK)
	if len(revs.Data) != 2 || revs.Data[0].Version != 2 || revs.Data[1].Title != "Crème brûlée" || revs.Data[0].Actor.Kind != "user" {
		t.Fatalf("revisions: %+v", revs.Data)
	}
	w = f.withHeaders(t, http.MethodPost, path+"/revisions/1/restore", "", "If-Match", `"v2"`)
	restored := decodeBody[entryResponse](t, w, http.StatusOK)
	if restored.Version != 3 || restored.Title != "Crème brûlée" {
		t.Errorf("restore: %+v", restored)
	}
	decodeProblemCode(t, f.api(t, http.MethodPost, path+"/revisions/99/restore", nil), http.StatusNotFound, "not_found")
	decodeProblemCode(t, f.api(t, http.MethodPost, path+"/revisions/x/restore", nil), http.StatusNotFound, "not_found")

	// The state machine over HTTP.
	decodeProblemCode(t, f.api(t, http.MethodPost, path+"/unpublish", nil), http.StatusConflict, "not_published")
	at := f.clock.Now().Add(time.Hour).Format(time.RFC3339)
	w = f.withHeaders(t, http.MethodPost, path+"/publish", `{"publish_at":"`+at+`"}`)
	if s := decodeBody[entryResponse](t, w, http.StatusOK); s.Status != "scheduled" || s.PublishAt == nil {
		t.Errorf("schedule: %+v", s)
	}
	w = f.api(t, http.MethodPost, path+"/publish", nil)
	if s := decodeBody[entryResponse](t, w, http.StatusOK); s.Status != "published" || s.PublishedAt == nil {
		t.Errorf("publish: %+v", s)
	}
	decodeProblemCode(t, f.api(t, http.MethodPost, path+"/publish", nil), http.StatusConflict, "already_published")
	w = f.withHeaders(t, http.MethodPost, path+"/unpublish", `{"status":"archived"}`)
	if s := decodeBody[entryResponse](t, w, http.StatusOK); s.Status != "archived" {
		t.Errorf("archive: %+v", s)
	}

	// Listing with filters.
	w = f.api(t, http.MethodGet, "/v1/workspaces/acme/entries?status=archived", nil)
	if l := decodeBody[listResponse[entryResponse]](t, w, http.StatusOK); len(l.Data) != 1 || l.Data[0].ID != e.ID {
		t.Errorf("?status=archived: %+v", l.Data)
	}
	decodeProblemCode(t, f.invalid().api(t, http.MethodGet, "/v1/workspaces/acme/entries?kind=essay&status=gone", nil), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblemCode(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post"}), http.StatusUnprocessableEntity, "validation_failed")

	if w := f.withHeaders(t, http.MethodDelete, path, "", "If-Match", `"v1"`); w.Code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a stale If-Match: %d", w.Code)
	}
	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent {
		t.Errorf("DELETE: %d", w.Code)
	}
	decodeProblemCode(t, f.api(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
}

func decodeProblemCode(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	p := decodeBody[struct {
		Code string `json:"code"`
	}](t, w, status)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q", ct)
	}
	if p.Code != code {
		t.Errorf("code = %q, want %q", p.Code, code)
	}
}

func TestPublicAPICachesAndRevalidates(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Hello world", "body": "Some *text*.", "tags": []string{"News"}})
	draft := f.createEntry(t, map[string]any{"kind": "post", "title": "Secret draft", "body": "hello secret"})
	page := f.createEntry(t, map[string]any{"kind": "page", "title": "About", "body": "About us."})

	decodeProblemCode(t, f.public(t, "/v1/sites/acme/posts/hello-world"), http.StatusNotFound, "not_found")
	decodeProblemCode(t, f.public(t, "/v1/sites/nosuchsite/posts"), http.StatusNotFound, "not_found")
	for _, id := range []string{e.ID, page.ID} {
		if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+id+"/publish", nil); w.Code != http.StatusOK {
			t.Fatalf("publish: %d %s", w.Code, w.Body)
		}
	}

	w := f.public(t, "/v1/sites/acme/posts/hello-world", "Origin", "https://elsewhere.example")
	got := decodeBody[publicEntryResponse](t, w, http.StatusOK)
	if got.Title != "Hello world" || !strings.Contains(got.BodyHTML, "<em>text</em>") || got.PublishedAt == nil {
		t.Errorf("public post: %+v", got)
	}
	etag, lm := w.Header().Get("ETag"), w.Header().Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") || lm == "" {
		t.Errorf("validators: ETag %q Last-Modified %q", etag, lm)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=60, stale-while-revalidate=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS: %q", w.Header().Get("Access-Control-Allow-Origin"))
	}
	w = f.public(t, "/v1/sites/acme/posts/hello-world", "If-None-Match", etag)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
		t.Errorf("If-None-Match: %d, %d bytes, ETag %q", w.Code, w.Body.Len(), w.Header().Get("ETag"))
	}
	if w := f.public(t, "/v1/sites/acme/posts/hello-world", "If-None-Match", `"other", W/`+etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match list with a weak match: %d", w.Code)
	}
	if w := f.public(t, "/v1/sites/acme/posts/hello-world", "If-Modified-Since", lm); w.Code != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", w.Code)
	}
	if w := f.public(t, "/v1/sites/acme/pages/about"); w.Code != http.StatusOK {
		t.Errorf("public page: %d", w.Code)
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/pages/hello-world"), http.StatusNotFound, "not_found")

	w = f.public(t, "/v1/sites/acme/posts")
	list := decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK)
	if len(list.Data) != 1 || list.Data[0].Slug != "hello-world" || list.Data[0].BodyHTML != "" {
		t.Errorf("public list: %+v", list.Data)
	}
	if w := f.public(t, "/v1/sites/acme/posts?tag=news"); len(decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK).Data) != 1 {
		t.Error("tag filter lost the post")
	}
	if w := f.public(t, "/v1/sites/acme/posts?tag=other"); len(decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK).Data) != 0 {
		t.Error("tag filter kept the post")
	}
	w = f.public(t, "/v1/sites/acme/posts?q=hello")
	if l := decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK); len(l.Data) != 1 || l.Data[0].Slug != "hello-world" {
		t.Errorf("search finds %+v; the draft must never show", l.Data)
	}
	if w := f.public(t, "/v1/sites/acme/posts?q=secret"); len(decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK).Data) != 0 {
		t.Error("search found a draft")
	}
	decodeProblemCode(t, f.invalid().public(t, "/v1/sites/acme/posts?limit=0"), http.StatusUnprocessableEntity, "validation_failed")

	// Feed and sitemap are well-formed and hold published entries only.
	w = f.public(t, "/v1/sites/acme/feed.xml")
	var feed atomFeed
	if err := xml.Unmarshal(w.Body.Bytes(), &feed); err != nil || w.Code != http.StatusOK {
		t.Fatalf("feed: %d %v\n%s", w.Code, err, w.Body)
	}
	if len(feed.Entries) != 1 || feed.Entries[0].Title != "Hello world" || !strings.Contains(feed.Entries[0].Content.Body, "<em>text</em>") {
		t.Errorf("feed entries: %+v", feed.Entries)
	}
	w = f.public(t, "/v1/sites/acme/sitemap.xml")
	var sm sitemapSet
	if err := xml.Unmarshal(w.Body.Bytes(), &sm); err != nil || len(sm.URLs) != 2 {
		t.Fatalf("sitemap: %v %+v", err, sm.URLs)
	}
	if !strings.HasSuffix(sm.URLs[0].Loc, "/v1/sites/acme/posts/hello-world") || !strings.HasSuffix(sm.URLs[1].Loc, "/v1/sites/acme/pages/about") {
		t.Errorf("sitemap URLs: %+v", sm.URLs)
	}
	if bytes.Contains(w.Body.Bytes(), []byte("secret")) {
		t.Error("the sitemap leaks a draft")
	}

	// An edit of published content empties the cache: the next read has
	// the new title and a new ETag, and the old ETag no longer matches.
	if f.cache.Len() == 0 {
		t.Fatal("nothing was cached")
	}
	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/entries/"+e.ID, map[string]any{"title": "Hello again"}); w.Code != http.StatusOK {
		t.Fatalf("patch: %d", w.Code)
	}
	w = f.public(t, "/v1/sites/acme/posts/hello-world", "If-None-Match", etag)
	if got := decodeBody[publicEntryResponse](t, w, http.StatusOK); got.Title != "Hello again" || w.Header().Get("ETag") == etag {
		t.Errorf("after edit: %q, ETag %q (was %q)", got.Title, w.Header().Get("ETag"), etag)
	}
	// Editing a draft does not touch the public cache.
	n := f.cache.Len()
	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/entries/"+draft.ID, map[string]any{"title": "Still secret"}); w.Code != http.StatusOK {
		t.Fatalf("patch draft: %d", w.Code)
	}
	if f.cache.Len() != n {
		t.Errorf("editing a draft emptied the cache (%d → %d)", n, f.cache.Len())
	}
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/unpublish", nil); w.Code != http.StatusOK {
		t.Fatalf("unpublish: %d", w.Code)
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/posts/hello-world"), http.StatusNotFound, "not_found")
	if l := decodeBody[listResponse[publicEntryResponse]](t, f.public(t, "/v1/sites/acme/posts"), http.StatusOK); len(l.Data) != 0 {
		t.Errorf("unpublished post still listed: %+v", l.Data)
	}

	// Preflight for conditional requests from scripts.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodOptions, "/v1/sites/acme/posts", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "if-none-match")
	if w := f.serve(req); w.Code != http.StatusNoContent || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "If-None-Match") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
}

func TestPublicCacheDropsFillsOlderThanAnInvalidation(t *testing.T) {
	c := NewPublicCache(1 << 20)
	gen := c.generation()
	c.Invalidate() // a publish lands while a read is rendering
	c.put("k", newCachedResponse([]byte("old"), "text/plain", time.Time{}), gen)
	if _, ok := c.get("k"); ok {
		t.Error("a response read before the invalidation was kept")
	}
	c.put("k", newCachedResponse([]byte("new"), "text/plain", time.Time{}), c.generation())
	if r, ok := c.get("k"); !ok || string(r.body) != "new" {
		t.Error("a current response was not kept")
	}
}

func TestPublicCacheStaysWithinItsBytes(t *testing.T) {
	c := NewPublicCache(8 << 10)
	body := bytes.Repeat([]byte("x"), 500)
	for i := range 100 {
		c.put(strings.Repeat("k", i+1), newCachedResponse(body, "text/plain", time.Time{}), c.generation())
		if c.bytes > 8<<10 {
			t.Fatalf("after %d puts the cache holds %d bytes", i+1, c.bytes)
		}
	}
	if c.Len() == 0 {
		t.Error("the cache holds nothing")
	}
	c.put("huge", newCachedResponse(bytes.Repeat([]byte("x"), 2<<10), "text/plain", time.Time{}), c.generation())
	if _, ok := c.get("huge"); ok {
		t.Error("a response over an eighth of the cache was kept")
	}
}

func TestPublicOriginsPerWorkspace(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{"kind": "page", "title": "About"})
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", nil); w.Code != http.StatusOK {
		t.Fatalf("publish: %d", w.Code)
	}
	w := f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"public_origins": []string{"https://WWW.acme.test", "http://localhost:3000"}})
	ws := decodeBody[workspaceResponse](t, w, http.StatusOK)
	if strings.Join(ws.PublicOrigins, " ") != "https://www.acme.test http://localhost:3000" {
		t.Fatalf("public_origins = %q", ws.PublicOrigins)
	}
	for origin, want := range map[string]string{"https://www.acme.test": "https://www.acme.test", "http://localhost:3000": "http://localhost:3000", "https://evil.test": "", "": ""} {
		for range 2 { // the second answer comes from the cache
			w := f.public(t, "/v1/sites/acme/pages/about", "Origin", origin)
			if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != want || !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("Origin %q: %d, Allow-Origin %q, Vary %q", origin, w.Code, w.Header().Get("Access-Control-Allow-Origin"), w.Header().Values("Vary"))
			}
		}
	}
	for _, bad := range [][]string{{"*", "https://a.test"}, {"https://a.test/path"}, {"ftp://a.test"}, {"a.test"}} {
		w := f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"public_origins": bad})
		decodeProblemCode(t, w, http.StatusUnprocessableEntity, "validation_failed")
	}
}

func TestPublicHEADHasTheHeadersAndNoBody(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Hello", "body": "text"})
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", nil); w.Code != http.StatusOK {
		t.Fatalf("publish: %d", w.Code)
	}
	get := f.public(t, "/v1/sites/acme/posts/hello")
	srv := httptest.NewServer(f.checked)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, srv.URL+"/v1/sites/acme/posts/hello", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || n != 0 || resp.Header.Get("ETag") != get.Header().Get("ETag") || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("HEAD: %d, %d body bytes, ETag %q (GET's %q)", resp.StatusCode, n, resp.Header.Get("ETag"), get.Header().Get("ETag"))
	}
}
