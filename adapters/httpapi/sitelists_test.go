package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type publicListBody struct {
	Data       []publicEntryResponse `json:"data"`
	NextCursor *string               `json:"next_cursor"`
}

func (f *formsFixture) publicList(t *testing.T, path string) publicListBody {
	t.Helper()
	return decodeBody[publicListBody](t, f.public(t, path), http.StatusOK)
}

func titlesOf(l publicListBody) []string {
	var out []string
	for _, e := range l.Data {
		out = append(out, e.Title)
	}
	return out
}

// TestPublicAuthorsTagsAndPages walks a site's authors, tags and pages
// through the management and public APIs, each change seen at once by the
// cached public reads.
func TestPublicAuthorsTagsAndPages(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com"})
	post := f.createEntry(t, map[string]any{"kind": "post", "title": "Hello", "body": "*hi*", "tags": []string{"News", "Web Design"}})
	f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+post.ID+"/publish", nil)
	f.createEntry(t, map[string]any{"kind": "post", "title": "Draft", "tags": []string{"Secret"}})
	for _, p := range []struct {
		title string
		nav   int
	}{{"About", 2}, {"Contact", 1}} {
		e := f.createEntry(t, map[string]any{"kind": "page", "title": p.title, "nav_order": p.nav})
		f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", nil)
	}

	// Posts carry their author's public profile, which the member got on
	// writing their first entry, and never the user's ID or e-mail.
	w := f.public(t, "/v1/sites/acme/posts")
	if strings.Contains(w.Body.String(), "usr_") || strings.Contains(w.Body.String(), "owner@example.com") {
		t.Errorf("the public list shows the user: %s", w.Body)
	}
	posts := decodeBody[publicListBody](t, w, http.StatusOK)
	if len(posts.Data) != 1 || posts.Data[0].Author == nil || posts.Data[0].Author.Name != "Owner" ||
		posts.Data[0].Author.URL != "https://api.example.com/v1/sites/acme/authors/owner" {
		t.Fatalf("posts = %+v", posts.Data)
	}
	if p := posts.Data[0]; !slices.Equal(p.Tags, []string{"News", "Web Design"}) || !slices.Equal(p.TagSlugs, []string{"news", "web-design"}) || p.BodyHTML != "" {
		t.Errorf("post tags %q slugs %q body %q", p.Tags, p.TagSlugs, p.BodyHTML)
	}

	// The member edits the profile; a bad URL is refused whole.
	path := "/v1/workspaces/acme/authors/" + post.Author
	if w := f.api(t, http.MethodPatch, path, map[string]any{"bio": "Writes.", "website_url": "javascript:alert(1)"}); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad website: %d %s", w.Code, w.Body)
	}
	a := decodeBody[authorResponse](t, f.api(t, http.MethodPatch, path, map[string]any{
		"name": "Jane Doe", "slug": "jane", "bio": "Writes.", "website_url": "https://jane.example",
	}), http.StatusOK)
	if a.Slug != "jane" || a.Bio != "Writes." {
		t.Fatalf("edited %+v", a)
	}
	if got := f.publicList(t, "/v1/sites/acme/posts").Data[0].Author; got == nil || got.Slug != "jane" || got.WebsiteURL != "https://jane.example" {
		t.Fatalf("after the edit the post's author is %+v", got)
	}
	page := decodeBody[authorPageResponse](t, f.public(t, "/v1/sites/acme/authors/jane"), http.StatusOK)
	if page.Name != "Jane Doe" || page.Bio != "Writes." || !slices.Equal(titlesOf(publicListBody{Data: page.Posts.Data}), []string{"Hello"}) {
		t.Errorf("author page %+v", page)
	}
	if w := f.public(t, "/v1/sites/acme/authors/owner"); w.Code != http.StatusNotFound {
		t.Errorf("old author slug: %d", w.Code)
	}

	// Tags: only those published posts carry, with counts; any case finds one.
	tags := decodeBody[struct{ Data []publicTagResponse }](t, f.public(t, "/v1/sites/acme/tags"), http.StatusOK)
	var names []string
	for _, tg := range tags.Data {
		names = append(names, tg.Slug+"="+tg.Name)
		if tg.PostCount != 1 {
			t.Errorf("tag %s: %d posts", tg.Slug, tg.PostCount)
		}
	}
	if !slices.Equal(names, []string{"news=News", "web-design=Web Design"}) {
		t.Errorf("tags = %q", names)
	}
	tag := decodeBody[publicTagResponse](t, f.public(t, "/v1/sites/acme/tags/NEWS"), http.StatusOK)
	if tag.Name != "News" || tag.PostsURL != "https://api.example.com/v1/sites/acme/posts?tag=news" {
		t.Errorf("tag %+v", tag)
	}
	if w := f.public(t, "/v1/sites/acme/tags/secret"); w.Code != http.StatusNotFound {
		t.Errorf("a tag only drafts carry: %d %s", w.Code, w.Body)
	}
	if got := titlesOf(f.publicList(t, "/v1/sites/acme/posts?tag=NEWS")); !slices.Equal(got, []string{"Hello"}) {
		t.Errorf("?tag=NEWS = %q", got)
	}
	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/tags/news", map[string]any{"name": "Updates"}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("a rename that moves the slug: %d %s", w.Code, w.Body)
	}
	renamed := decodeBody[tagResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/tags/news", map[string]any{"name": "NEWS", "description": "What happened."}), http.StatusOK)
	if renamed.Name != "NEWS" || renamed.PostCount != 1 {
		t.Errorf("renamed %+v", renamed)
	}
	if got := f.publicList(t, "/v1/sites/acme/posts").Data[0].Tags; !slices.Equal(got, []string{"NEWS", "Web Design"}) {
		t.Errorf("after the rename the post's tags are %q", got)
	}

	// Pages: in navigation order, which the management API sets.
	pages := f.publicList(t, "/v1/sites/acme/pages")
	if got := titlesOf(pages); !slices.Equal(got, []string{"Contact", "About"}) || pages.Data[0].NavOrder == nil || *pages.Data[0].NavOrder != 1 {
		t.Fatalf("pages = %q", got)
	}
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/entries/"+pages.Data[1].ID, map[string]any{"nav_order": 0})
	if got := titlesOf(f.publicList(t, "/v1/sites/acme/pages")); !slices.Equal(got, []string{"About", "Contact"}) {
		t.Errorf("pages after the reorder = %q", got)
	}

	// include=body_html and updated_since.
	with := f.publicList(t, "/v1/sites/acme/pages?include=body_html&limit=1")
	if len(with.Data) != 1 || with.Data[0].BodyHTML == "" && with.Data[0].Title != "About" || with.NextCursor == nil {
		t.Errorf("pages with bodies: %+v", with)
	}
	if got := f.publicList(t, "/v1/sites/acme/posts?include=body_html").Data[0].BodyHTML; got != "<p><em>hi</em></p>\n" {
		t.Errorf("post with body_html: %q", got)
	}
	later := f.clock.now.Add(time.Hour).Format(time.RFC3339)
	if got := f.publicList(t, "/v1/sites/acme/posts?updated_since="+later); len(got.Data) != 0 {
		t.Errorf("updated since an hour ahead: %q", titlesOf(got))
	}
	earlier := f.clock.now.Add(-time.Hour).Format(time.RFC3339)
	if got := titlesOf(f.publicList(t, "/v1/sites/acme/posts?updated_since="+earlier)); !slices.Equal(got, []string{"Hello"}) {
		t.Errorf("updated since an hour ago: %q", got)
	}
	for _, q := range []string{"include=body", "updated_since=yesterday"} {
		if w := f.invalid().public(t, "/v1/sites/acme/posts?"+q); w.Code != http.StatusUnprocessableEntity { // refused by the document too
			t.Errorf("?%s: %d %s", q, w.Code, w.Body)
		}
	}
}

// TestPublicListWithBodiesIsCached: a list with bodies is served from the
// cache on the second read (the benchmark's case), and a publication
// empties it.
func TestPublicListWithBodiesIsCached(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	f.publish(t, "post", "One")
	first := f.public(t, "/v1/sites/acme/posts?include=body_html&limit=20")
	again := f.public(t, "/v1/sites/acme/posts?limit=20&include=body_html")
	if first.Code != http.StatusOK || again.Header().Get("ETag") != first.Header().Get("ETag") || f.cache.Len() == 0 {
		t.Fatalf("first %d %s, again %s, cache %d", first.Code, first.Header().Get("ETag"), again.Header().Get("ETag"), f.cache.Len())
	}
	f.publish(t, "post", "Two")
	if got := titlesOf(f.publicList(t, "/v1/sites/acme/posts?include=body_html&limit=20")); !slices.Equal(got, []string{"Two", "One"}) {
		t.Errorf("after a publication: %q", got)
	}
}
