package e2e

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestForwardedHostFromTrustedProxiesOnly runs keel serve without
// KEEL_PUBLIC_URL behind a proxy, twice: once with this test's loopback
// address among KEEL_TRUSTED_PROXIES, whose X-Forwarded-Host and -Proto
// then name the API in the feed's links, and once without, where the
// same headers, now a client's spoofing, change no link.
func TestForwardedHostFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	forwarded := map[string]string{"X-Forwarded-Host": "cms.example.com", "X-Forwarded-Proto": "https"}
	for _, tc := range []struct {
		name, trusted string
		wantBase      func(base string) string
	}{
		{"TrustedProxy", "127.0.0.1/32,::1/128", func(string) string { return "https://cms.example.com" }},
		{"UntrustedPeer", "10.0.0.0/8", func(base string) string { return base }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, _, stop := startInProcess(t, map[string]string{
				"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_TRUSTED_PROXIES": tc.trusted,
			})
			t.Cleanup(func() { _ = stop() })
			waitReady(t, base)
			n := &clusterNode{name: tc.name, base: base}
			var setup struct {
				Token string `json:"token"`
			}
			n.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
			n.mustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Blog", "slug": "blog"}, 201, nil)
			var post entryDTO
			n.mustCall(t, "POST", "/v1/workspaces/blog/entries", setup.Token, map[string]any{"kind": "post", "title": "Hello"}, 201, &post)
			n.mustCall(t, "POST", "/v1/workspaces/blog/entries/"+post.ID+"/publish", setup.Token, nil, 200, nil)

			// Twice: the second answer comes from the cache, which must
			// not hand one proxy host's links to another request.
			for range 2 {
				want := tc.wantBase(base)
				resp, body := n.fetch(t, "GET", "/v1/sites/blog/feed.xml", "", forwarded, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("feed: %d %s", resp.StatusCode, body)
				}
				self, entry := feedLinks(t, body)
				if self != want+"/v1/sites/blog/feed.xml" || entry != want+"/v1/sites/blog/posts/hello" {
					t.Fatalf("with forwarded headers: self %q, entry %q; want them on %s", self, entry, want)
				}
				resp, body = n.fetch(t, "GET", "/v1/sites/blog/feed.xml", "", nil, nil)
				if self, _ := feedLinks(t, body); resp.StatusCode != 200 || self != base+"/v1/sites/blog/feed.xml" {
					t.Fatalf("without forwarded headers: %d, self %q; want it on %s", resp.StatusCode, self, base)
				}
			}
		})
	}
}

// feedLinks reads an Atom feed's self link and its first entry's link.
func feedLinks(t *testing.T, body []byte) (self, entry string) {
	t.Helper()
	type link struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	}
	var f struct {
		Links   []link `xml:"link"`
		Entries []struct {
			Link link `xml:"link"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("feed %s: %v", body, err)
	}
	for _, l := range f.Links {
		if l.Rel == "self" {
			self = l.Href
		}
	}
	if len(f.Entries) > 0 {
		entry = f.Entries[0].Link.Href
	}
	if strings.TrimSpace(self) == "" {
		t.Fatalf("feed without a self link: %s", body)
	}
	return self, entry
}
