package httpapi

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The feed and the sitemap are checked with tools not written here:
// Python's feedparser reads the feed as feed readers do, and xmllint
// validates the sitemap against the sitemaps.org schema. scripts/test.sh
// installs both on Debian (python3-feedparser, libxml2-utils).

// feedparserScript prints what feedparser understood of the feed in the
// file named by its argument, as JSON.
const feedparserScript = `
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
def links(x):
    return [{"rel": l.get("rel", ""), "type": l.get("type", ""), "href": l.get("href", "")} for l in x.get("links", [])]
def author(x):
    a = x.get("author_detail") or {}
    return {"name": a.get("name", ""), "href": a.get("href", "")}
print(json.dumps({
    "bozo": bool(d.bozo), "bozo_exception": str(d.get("bozo_exception", "")), "version": d.version,
    "feed": {"title": d.feed.get("title", ""), "links": links(d.feed), "author": author(d.feed), "updated": d.feed.get("updated", "")},
    "entries": [{"id": e.get("id", ""), "title": e.get("title", ""), "links": links(e), "author": author(e),
                 "published": e.get("published", ""), "updated": e.get("updated", "")} for e in d.entries],
}))
`

type parsedLink struct{ Rel, Type, Href string }

type parsedAuthor struct{ Name, Href string }

type parsedFeed struct {
	Bozo          bool   `json:"bozo"`
	BozoException string `json:"bozo_exception"`
	Version       string `json:"version"`
	Feed          struct {
		Title   string       `json:"title"`
		Links   []parsedLink `json:"links"`
		Author  parsedAuthor `json:"author"`
		Updated string       `json:"updated"`
	} `json:"feed"`
	Entries []struct {
		ID        string       `json:"id"`
		Title     string       `json:"title"`
		Links     []parsedLink `json:"links"`
		Author    parsedAuthor `json:"author"`
		Published string       `json:"published"`
		Updated   string       `json:"updated"`
	} `json:"entries"`
}

// systemPython is Debian's Python, which has Debian's feedparser: a
// python3 earlier on PATH (a pyenv shim, a virtualenv) may not.
func systemPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// parseFeed has feedparser read an Atom document; it fails the test when
// feedparser finds the document malformed (bozo) or not Atom 1.0.
func parseFeed(t *testing.T, body []byte) parsedFeed {
	t.Helper()
	file := filepath.Join(t.TempDir(), "feed.xml")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), systemPython(), "-c", feedparserScript, file).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("feedparser: %v %s (scripts/test.sh installs python3-feedparser)", err, stderr)
	}
	var f parsedFeed
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("feedparser's output %s: %v", out, err)
	}
	if f.Bozo || f.Version != "atom10" {
		t.Fatalf("feedparser: bozo %v (%s), version %q, want a well-formed Atom 1.0 feed:\n%s", f.Bozo, f.BozoException, f.Version, body)
	}
	return f
}

// validateSitemap checks a sitemap against the sitemaps.org schema.
func validateSitemap(t *testing.T, body []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sitemap.xml")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "xmllint", "--noout", "--nonet", "--schema", "testdata/sitemaps/sitemap.xsd", file).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint --schema sitemap.xsd: %v\n%s\n(scripts/test.sh installs libxml2-utils)\n%s", err, out, body)
	}
}

func linkOf(links []parsedLink, rel string) (parsedLink, bool) {
	for _, l := range links {
		if l.Rel == rel {
			return l, true
		}
	}
	return parsedLink{}, false
}

func sitemapLocs(t *testing.T, body []byte) []string {
	t.Helper()
	var sm sitemapSet
	if err := xml.Unmarshal(body, &sm); err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, u := range sm.URLs {
		locs = append(locs, u.Loc)
	}
	return locs
}

// TestFeedAndSitemapFollowTheSiteSettings reads the feed, the sitemap and
// the entries' url before and after the workspace gets a site URL: first
// they point at the API, built on the configured public URL; then at the
// website, along the permalink patterns. Each version of the feed is read
// by feedparser and each sitemap validated against the schema.
func TestFeedAndSitemapFollowTheSiteSettings(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com"})
	f.publish(t, "post", "Hello")
	f.publish(t, "page", "About")
	published := f.clock.Now().UTC().Format(time.RFC3339)
	const api = "https://api.example.com/v1/sites/acme/"

	feed := parseFeed(t, f.get(t, "/v1/sites/acme/feed.xml").Body.Bytes())
	if feed.Feed.Author.Name != "Acme" || feed.Feed.Author.Href != "" {
		t.Errorf("feed author without a site URL = %+v, want the site's name alone", feed.Feed.Author)
	}
	if self, ok := linkOf(feed.Feed.Links, "self"); !ok || self.Href != api+"feed.xml" {
		t.Errorf("feed self link = %+v, want %s", self, api+"feed.xml")
	}
	if _, ok := linkOf(feed.Feed.Links, "alternate"); ok {
		t.Errorf("feed links %+v: an alternate link without a site URL", feed.Feed.Links)
	}
	if len(feed.Entries) != 1 {
		t.Fatalf("feed entries = %+v, want the one post", feed.Entries)
	}
	e := feed.Entries[0]
	if l, ok := linkOf(e.Links, "alternate"); !ok || l.Href != api+"posts/hello" || l.Type != "application/json" {
		t.Errorf("entry link without a site URL = %+v, want the API's", e.Links)
	}
	if e.Published != published || e.Updated != published || e.Title != "Hello" || !strings.HasPrefix(e.ID, "urn:keel:entry:") {
		t.Errorf("entry = %+v, want Hello published and updated at %s", e, published)
	}
	// The owner wrote the post, and got a public author profile named
	// after their account by doing so.
	if e.Author.Name != "Owner" {
		t.Errorf("entry author = %+v, want the author's profile name", e.Author)
	}
	sitemap := f.get(t, "/v1/sites/acme/sitemap.xml").Body.Bytes()
	validateSitemap(t, sitemap)
	if got := strings.Join(sitemapLocs(t, sitemap), " "); got != api+"posts/hello "+api+"pages/about" {
		t.Errorf("sitemap without a site URL: %s", got)
	}
	post := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/hello"), http.StatusOK)
	if post.URL != api+"posts/hello" {
		t.Errorf("url without a site URL = %q", post.URL)
	}

	w := f.api(t, http.MethodPatch, "/v1/workspaces/acme/site", map[string]any{
		"site_url": "https://www.example.com/", "post_permalink": "/blog/{year}/{month}/{slug}", "page_permalink": "/{slug}.html",
	})
	settings := decodeBody[siteSettingsResponse](t, w, http.StatusOK)
	if settings.SiteURL == nil || *settings.SiteURL != "https://www.example.com" || settings.UpdatedAt == nil {
		t.Fatalf("PATCH site = %s", w.Body)
	}

	feed = parseFeed(t, f.get(t, "/v1/sites/acme/feed.xml").Body.Bytes())
	if feed.Feed.Author.Name != "Acme" || feed.Feed.Author.Href != "https://www.example.com" {
		t.Errorf("feed author = %+v, want the site's name and URL", feed.Feed.Author)
	}
	if l, ok := linkOf(feed.Feed.Links, "alternate"); !ok || l.Href != "https://www.example.com" || l.Type != "text/html" {
		t.Errorf("feed links = %+v, want an alternate to the website", feed.Feed.Links)
	}
	if self, ok := linkOf(feed.Feed.Links, "self"); !ok || self.Href != api+"feed.xml" {
		t.Errorf("feed self link = %+v, want it to stay the API's", self)
	}
	if l, ok := linkOf(feed.Entries[0].Links, "alternate"); !ok || l.Href != "https://www.example.com/blog/2026/03/hello" || l.Type != "text/html" {
		t.Errorf("entry link = %+v, want its permalink on the website", feed.Entries[0].Links)
	}
	sitemap = f.get(t, "/v1/sites/acme/sitemap.xml").Body.Bytes()
	validateSitemap(t, sitemap)
	if got := strings.Join(sitemapLocs(t, sitemap), " "); got != "https://www.example.com/blog/2026/03/hello https://www.example.com/about.html" {
		t.Errorf("sitemap: %s", got)
	}
	post = decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/hello"), http.StatusOK)
	page := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/pages/about"), http.StatusOK)
	list := decodeBody[listResponse[publicEntryResponse]](t, f.get(t, "/v1/sites/acme/posts"), http.StatusOK)
	if post.URL != "https://www.example.com/blog/2026/03/hello" || page.URL != "https://www.example.com/about.html" ||
		len(list.Data) != 1 || list.Data[0].URL != post.URL {
		t.Errorf("url: post %q, page %q, list %+v", post.URL, page.URL, list.Data)
	}

	// Without the site URL again, links go back to the API.
	decodeBody[siteSettingsResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/site", map[string]any{"site_url": ""}), http.StatusOK)
	if got := strings.Join(sitemapLocs(t, f.get(t, "/v1/sites/acme/sitemap.xml").Body.Bytes()), " "); got != api+"posts/hello "+api+"pages/about" {
		t.Errorf("sitemap after the site URL was removed: %s", got)
	}
}

// TestSiteSettingsAreValidated: the permalink placeholders are a closed
// set, and a refused change changes nothing.
func TestSiteSettingsAreValidated(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	before := f.api(t, http.MethodGet, "/v1/workspaces/acme/site", nil)
	got := decodeBody[siteSettingsResponse](t, before, http.StatusOK)
	if got.SiteURL != nil || got.PostPermalink != "/blog/{slug}" || got.PagePermalink != "/{slug}" || got.UpdatedAt != nil {
		t.Fatalf("defaults = %s", before.Body)
	}
	for body, field := range map[string]string{
		`{"site_url":"javascript:alert(1)"}`:      "site_url",
		`{"site_url":"https://x.example/?a=1"}`:   "site_url",
		`{"post_permalink":"/{author}/{slug}"}`:   "post_permalink",
		`{"page_permalink":"/about"}`:             "page_permalink",
		`{"page_permalink":"/a/../{slug}"}`:       "page_permalink",
		`{"post_permalink":"/<script>/{slug}"}`:   "post_permalink",
		`{"post_permalink":"https://x/{slug}"}`:   "post_permalink",
		`{"site_url":"https://www.example.com "}`: "site_url",
	} {
		w := f.withHeaders(t, http.MethodPatch, "/v1/workspaces/acme/site", body)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"field":"`+field+`"`) {
			t.Errorf("PATCH %s: %d %s, want 422 naming %s", body, w.Code, w.Body, field)
		}
	}
	if after := f.api(t, http.MethodGet, "/v1/workspaces/acme/site", nil); after.Body.String() != before.Body.String() {
		t.Errorf("after refused changes: %s, want %s", after.Body, before.Body)
	}
}

// TestForwardedHostNamesLinksOnlyWhenAllowed: with ForwardedLinks (no
// configured public URL, trusted proxies in front), a proxy's
// X-Forwarded-Host and -Proto name the API in links, and each forwarded
// host has its own cache entry; without it, the same headers change
// nothing. The composition root's trustProxies removes the headers from
// untrusted peers (cmd/keel/bootstrap).
func TestForwardedHostNamesLinksOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	selfLink := func(f *formsFixture, kv ...string) string {
		t.Helper()
		feed := parseFeed(t, f.get(t, "/v1/sites/acme/feed.xml", kv...).Body.Bytes())
		l, _ := linkOf(feed.Feed.Links, "self")
		return l.Href
	}
	f := newFormsFixture(t, fixtureOptions{publicURL: "http://localhost:8080", forwardedLinks: true})
	f.publish(t, "post", "Hello")
	if got := selfLink(f, "X-Forwarded-Host", "cms.example.com", "X-Forwarded-Proto", "https"); got != "https://cms.example.com/v1/sites/acme/feed.xml" {
		t.Errorf("self link through the proxy = %q", got)
	}
	if got := selfLink(f, "X-Forwarded-Host", "other.example.com:8443"); got != "http://other.example.com:8443/v1/sites/acme/feed.xml" {
		t.Errorf("self link through the proxy for another host = %q", got)
	}
	if got := selfLink(f); got != "http://localhost:8080/v1/sites/acme/feed.xml" {
		t.Errorf("self link without forwarded headers = %q", got)
	}
	if got := selfLink(f, "X-Forwarded-Host", `evil.example/"><x`, "X-Forwarded-Proto", "javascript"); got != "http://localhost:8080/v1/sites/acme/feed.xml" {
		t.Errorf("self link with headers no proxy writes = %q", got)
	}

	g := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com"})
	g.publish(t, "post", "Hello")
	if got := selfLink(g, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http"); got != "https://api.example.com/v1/sites/acme/feed.xml" {
		t.Errorf("self link with a configured public URL and forged headers = %q", got)
	}
}
