package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	fwd "github.com/keelhq/keel/adapters/internal/forwarded"
	"github.com/keelhq/keel/domain"
)

// siteLinks builds the absolute links of one public response: to the
// website when the workspace has a site URL, else to the public API. The
// feed, the sitemap and the entries' url field all take their links from
// it, so that they agree; a later per-locale feed or sitemap alternate
// is one more method here.
type siteLinks struct {
	api  string // the API's absolute base URL, without a trailing slash
	slug string // the site's slug in the API's paths
	site domain.SiteSettings
}

// apiEntry is an entry's URL in the public API.
func (l siteLinks) apiEntry(e domain.Entry) string {
	return l.api + "/v1/sites/" + l.slug + "/" + e.Kind().String() + "s/" + e.Slug()
}

// entry is where a published entry is read: its permalink on the website
// when there is one (website true), else its URL in the public API.
func (l siteLinks) entry(e domain.Entry) (href string, website bool) {
	if u, ok := l.site.EntryURL(e); ok {
		return u, true
	}
	return l.apiEntry(e), false
}

// entryURL is entry without saying which kind of link it is.
func (l siteLinks) entryURL(e domain.Entry) string {
	href, _ := l.entry(e)
	return href
}

// home is the website's URL, "" without one.
func (l siteLinks) home() string { return l.site.SiteURL() }

// feed is the Atom feed's own URL, which is always the API's.
func (l siteLinks) feed() string { return l.api + "/v1/sites/" + l.slug + "/feed.xml" }

// links reads the site settings of site and picks the API's base URL for
// the request c (see linkBase).
func (h siteRoutes) links(ctx context.Context, c *gin.Context, site domain.Workspace) (siteLinks, error) {
	settings, err := h.content.PublicSiteSettings(ctx, site.ID())
	if err != nil {
		return siteLinks{}, err
	}
	base, _ := h.linkBase(c.Request)
	return siteLinks{api: base, slug: site.Slug(), site: settings}, nil
}

// linkBase is the API's absolute base URL for links in the answer to r:
// the configured one, unless the deployment configured none and trusts
// proxies (forwardedLinks), in which case a request's X-Forwarded-Host
// and X-Forwarded-Proto name it. Those headers reach here only from the
// trusted proxies: the composition root removes them from every other
// peer's requests, so a client cannot choose the links others are served.
// forwarded is true when the headers chose the base, which then belongs
// in the cache key. The request's own Host is never used.
func (h siteRoutes) linkBase(r *http.Request) (base string, forwarded bool) {
	if !h.forwardedLinks {
		return h.base, false
	}
	host, proto := fwd.Origin(r)
	if host == "" && proto == "" {
		return h.base, false
	}
	scheme, rest, _ := strings.Cut(h.base, "://")
	if proto != "" {
		scheme = proto
	}
	if host != "" {
		// The configured base may carry a path; a forwarded host replaces
		// the host and keeps it.
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = host + rest[i:]
		} else {
			rest = host
		}
	}
	return scheme + "://" + rest, true
}
