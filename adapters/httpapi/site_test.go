package httpapi

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/ports"
)

// publish creates and publishes an entry through the management API.
func (f *formsFixture) publish(t *testing.T, kind, title string) {
	t.Helper()
	e := f.createEntry(t, map[string]any{"kind": kind, "title": title, "body": "text", "tags": []string{"news"}})
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", nil); w.Code != http.StatusOK {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
}

// TestPublicLinksComeFromConfiguration asks for the feed and the sitemap
// with a forged Host and forwarded headers, first so that the forged
// answer would be the one cached: every link is on the configured URL.
func TestPublicLinksComeFromConfiguration(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com/keel/"})
	f.publish(t, "post", "Hello")
	f.publish(t, "page", "About")
	const base = "https://api.example.com/keel/v1/sites/acme/"
	forged := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "gopher", "Forwarded", "host=evil.example;proto=https"}
	for _, path := range []string{"/v1/sites/acme/feed.xml", "/v1/sites/acme/sitemap.xml"} {
		for _, host := range []string{"evil.example", "example.com"} {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
			req.Host = host
			for i := 0; i+1 < len(forged); i += 2 {
				req.Header.Set(forged[i], forged[i+1])
			}
			w := f.serve(req)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
			var links []string
			if strings.HasSuffix(path, "feed.xml") {
				var feed atomFeed
				if err := xml.Unmarshal(w.Body.Bytes(), &feed); err != nil {
					t.Fatal(err)
				}
				for _, l := range feed.Links {
					links = append(links, l.Href)
				}
				for _, e := range feed.Entries {
					links = append(links, e.Link.Href)
				}
			} else {
				var sm sitemapSet
				if err := xml.Unmarshal(w.Body.Bytes(), &sm); err != nil {
					t.Fatal(err)
				}
				for _, u := range sm.URLs {
					links = append(links, u.Loc)
				}
			}
			if len(links) < 2 {
				t.Fatalf("%s: links %q", path, links)
			}
			for _, l := range links {
				if !strings.HasPrefix(l, base) {
					t.Errorf("%s with Host %s: link %q, want one under %s", path, host, l, base)
				}
			}
			if strings.Contains(w.Body.String(), "evil") || strings.Contains(w.Body.String(), "gopher") {
				t.Errorf("%s with Host %s: the request's headers reached the body:\n%s", path, host, w.Body)
			}
		}
	}
}

// TestPublicCacheKeyIgnoresJunk sends 10,000 requests whose query strings,
// Host headers and empty filters differ: the cache keeps one entry per
// page that exists, and the page first cached is never displaced.
func TestPublicCacheKeyIgnoresJunk(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	f.publish(t, "post", "Hello")
	pages := []string{"/v1/sites/acme/posts", "/v1/sites/acme/posts/hello", "/v1/sites/acme/feed.xml"}
	for _, p := range pages {
		if w := f.public(t, p); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	if n := f.cache.Len(); n != len(pages) {
		t.Fatalf("after %d pages the cache holds %d entries", len(pages), n)
	}
	var buf [64]byte
	listKey := string(cacheKey(buf[:], "posts", "acme", "", "", "", "", "50"))
	first, ok := f.cache.get(listKey)
	if !ok {
		t.Fatal("the list is not cached under its canonical key")
	}
	for i := range 10_000 {
		n := strconv.Itoa(i)
		// Unknown parameters are refused (query.go) and so never reach
		// the cache; known ones in other spellings and forged Hosts are
		// served from the canonical entry.
		path, want := "", http.StatusBadRequest
		switch i % 5 {
		case 0:
			path = "/v1/sites/acme/posts?utm_source=" + n
		case 1:
			path, want = "/v1/sites/acme/posts?limit=0050&cursor=&tag=", http.StatusOK
		case 2:
			path, want = "/v1/sites/acme/posts?tag=nosuch"+n, http.StatusOK
		case 3:
			path = "/v1/sites/acme/posts/hello?v=" + n
		default:
			path = "/v1/sites/acme/feed.xml?" + n
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		req.Host = "h" + n + ".example"
		g := f
		if want != http.StatusOK {
			g = f.invalid() // an unknown parameter, refused on purpose
		}
		if w := g.serve(req); w.Code != want {
			t.Fatalf("%s: %d %s, want %d", path, w.Code, w.Body, want)
		}
	}
	if n := f.cache.Len(); n != len(pages) {
		t.Errorf("after 10,000 junk requests the cache holds %d entries, want %d", n, len(pages))
	}
	if r, ok := f.cache.get(listKey); !ok || r != first {
		t.Error("the list's cache entry was displaced or rebuilt by junk requests")
	}
}

// TestWorkspaceChangesEmptyThePublicCacheAtOnce changes what the public API
// of a workspace answers (its origins, its slug, its existence) and reads
// it right after each change returns, from the same node: no answer comes
// from before the change.
func TestWorkspaceChangesEmptyThePublicCacheAtOnce(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	f.publish(t, "page", "About")
	const origin = "https://www.acme.test"
	if w := f.public(t, "/v1/sites/acme/pages/about", "Origin", origin); w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("before: %d, Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}

	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"public_origins": []string{"https://other.test"}}); w.Code != http.StatusOK {
		t.Fatalf("patch origins: %d %s", w.Code, w.Body)
	}
	if w := f.public(t, "/v1/sites/acme/pages/about", "Origin", origin); w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("after public_origins changed: %d, Allow-Origin %q, want none", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}

	if w := f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"slug": "acme-corp"}); w.Code != http.StatusOK {
		t.Fatalf("patch slug: %d %s", w.Code, w.Body)
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme/pages/about"), http.StatusNotFound, "not_found")
	if w := f.public(t, "/v1/sites/acme-corp/pages/about"); w.Code != http.StatusOK {
		t.Fatalf("new slug: %d %s", w.Code, w.Body)
	}

	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme-corp", nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	decodeProblemCode(t, f.public(t, "/v1/sites/acme-corp/pages/about"), http.StatusNotFound, "not_found")
}

// TestPublicCacheKeepsPagesOfIssuedCursorsOnly follows a list's real
// cursor, which is kept, and sends 10,000 requests that reuse that cursor
// with other limits: the store answers them (the cursor is well formed),
// but none is kept.
func TestPublicCacheKeepsPagesOfIssuedCursorsOnly(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	for _, title := range []string{"One", "Two", "Three"} {
		f.publish(t, "post", title)
		f.clock.Add(time.Second)
	}
	first := decodeBody[listResponse[publicEntryResponse]](t, f.public(t, "/v1/sites/acme/posts?limit=1"), http.StatusOK)
	if len(first.Data) != 1 || first.NextCursor == nil {
		t.Fatalf("first page: %+v", first)
	}
	cursor := url.QueryEscape(*first.NextCursor)
	second := decodeBody[listResponse[publicEntryResponse]](t, f.public(t, "/v1/sites/acme/posts?limit=1&cursor="+cursor), http.StatusOK)
	if len(second.Data) != 1 || second.Data[0].ID == first.Data[0].ID {
		t.Fatalf("second page: %+v", second)
	}
	if n := f.cache.Len(); n != 2 {
		t.Fatalf("after two pages of a real chain the cache holds %d entries, want 2", n)
	}
	// Every limit the API accepts besides the chain's own makes a page of
	// its own after the reused cursor, each under a key of its own: a
	// cache that kept any of them would hold more than two entries.
	for limit := 2; limit <= ports.MaxPageLimit; limit++ {
		path := "/v1/sites/acme/posts?cursor=" + cursor + "&limit=" + strconv.Itoa(limit)
		if w := f.public(t, path); w.Code != http.StatusOK || len(decodeBody[listResponse[publicEntryResponse]](t, w, http.StatusOK).Data) == 0 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	if n := f.cache.Len(); n != 2 {
		t.Errorf("after %d pages after a reused cursor the cache holds %d entries, want 2", ports.MaxPageLimit-1, n)
	}
}
