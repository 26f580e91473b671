package httpapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// siteRoutes serves the public delivery API: published posts and pages,
// the Atom feed and the sitemap, to anyone, with HTTP caching. Responses
// are rendered once and kept in a PublicCache until public content
// changes; browsers and CDNs revalidate with the strong ETag.
type siteRoutes struct {
	content *content.Service
	cache   *PublicCache
	// base is the API's absolute URL from configuration, which feeds and
	// sitemaps build their links on; never the request's Host, which
	// the client chooses.
	base string
	// forwardedLinks lets a trusted proxy's X-Forwarded-Host and -Proto
	// choose base (linkBase).
	forwardedLinks bool
	// cacheControl is the header every successful public response has,
	// as a header value that every response shares (see cachedResponse).
	cacheControl []string
}

// Public caching defaults: browsers and CDNs reuse a response for a
// minute and may serve it stale for five more while they revalidate.
const (
	DefaultPublicMaxAge = time.Minute
	DefaultPublicStale  = 5 * time.Minute
)

// DefaultPublicURL is the base of absolute links when none is configured.
const DefaultPublicURL = "http://localhost"

func newSiteRoutes(svc *content.Service, cache *PublicCache, maxAge, stale time.Duration, publicURL string) siteRoutes {
	if cache == nil {
		cache = NewPublicCache(64 << 20)
	}
	if publicURL == "" {
		publicURL = DefaultPublicURL
	}
	cc := "public, max-age=" + strconv.Itoa(int(maxAge.Seconds())) + ", stale-while-revalidate=" + strconv.Itoa(int(stale.Seconds()))
	return siteRoutes{content: svc, cache: cache, base: strings.TrimSuffix(publicURL, "/"), cacheControl: []string{cc}}
}

func (h siteRoutes) register(v1 *gin.RouterGroup) {
	// HEAD answers as GET without the body (net/http drops it): link
	// checkers and CDNs use it to revalidate.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		v1.Handle(method, "/sites/:site/posts", h.listPosts)
		v1.Handle(method, "/sites/:site/posts/:slug", h.entry(domain.KindPost))
		v1.Handle(method, "/sites/:site/pages/:slug", h.entry(domain.KindPage))
		v1.Handle(method, "/sites/:site/pages", h.listPages)
		v1.Handle(method, "/sites/:site/authors/:slug", h.author)
		v1.Handle(method, "/sites/:site/tags", h.listTags)
		v1.Handle(method, "/sites/:site/tags/:slug", h.tag)
		v1.Handle(method, "/sites/:site/feed.xml", h.feed)
		v1.Handle(method, "/sites/:site/sitemap.xml", h.sitemap)
		v1.Handle(method, "/sites/:site/preview", h.preview)
	}
	// Preflight is registered path by path, not as one catch-all: a
	// catch-all matched every path under a site, so an unknown one such
	// as /sites/docs/tags answered 405 with "Allow: OPTIONS" instead of 404.
	for _, path := range sitePaths {
		v1.OPTIONS(path, h.preflight)
	}
}

// sitePaths are the public delivery API's routes under /v1.
var sitePaths = []string{"/sites/:site/posts", "/sites/:site/posts/:slug", "/sites/:site/pages/:slug", "/sites/:site/feed.xml", "/sites/:site/sitemap.xml",
	"/sites/:site/pages", "/sites/:site/authors/:slug", "/sites/:site/tags", "/sites/:site/tags/:slug", "/sites/:site/preview"}

// errorCORS sets the CORS headers of an error on a site route (or, with
// a slug, on an unknown path under /v1/sites/{site}/) that the handler
// did not set.
func (h siteRoutes) errorCORS(c *gin.Context, slug string) {
	if slug == "" {
		slug = c.Param("site")
	}
	site, err := h.content.Site(c.Request.Context(), slug)
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		return
	}
	allowSiteOrigin(c, site)
}

// --- DTOs.

type publicEntryResponse struct {
	ID            string        `json:"id"`
	Kind          string        `json:"kind"`
	Slug          string        `json:"slug"`
	Title         string        `json:"title"`
	Excerpt       string        `json:"excerpt"`
	BodyHTML      string        `json:"body_html,omitempty"`
	Tags          []string      `json:"tags"`
	CoverImageURL string        `json:"cover_image_url,omitempty"`
	SEO           seoDTO        `json:"seo"`
	PublishedAt   *domain.Stamp `json:"published_at"`
	UpdatedAt     domain.Stamp  `json:"updated_at"`
	// Locale is the entry's language, absent when it has none.
	Locale string `json:"locale,omitempty"`
	// Translations are a single entry's published translations, itself
	// included, absent when it has none (locales.go).
	Translations []translationDTO `json:"translations,omitempty"`
	// URL is where the entry is read (siteLinks.entry).
	URL string `json:"url,omitempty"`
	// Author is the author's public profile, null for an entry whose
	// author has none (sitelists.go).
	Author *publicAuthorDTO `json:"author"`
	// TagSlugs are the slugs of Tags, in order, for links to tag pages.
	TagSlugs []string `json:"tag_slugs"`
	// NavOrder is a page's place in the site's navigation.
	NavOrder *int `json:"nav_order,omitempty"`
	// Cover is the entry's cover from the media library, null for none
	// or once the file was deleted (cover.go).
	Cover *publicCoverDTO `json:"cover"`
}

func toPublicEntry(e domain.Entry, withBody bool) publicEntryResponse {
	seo := e.SEO()
	r := publicEntryResponse{
		ID: e.ID().String(), Kind: e.Kind().String(), Slug: e.Slug(), Title: e.Title(), Excerpt: e.Excerpt(),
		Tags: nonNil(e.Tags()), CoverImageURL: e.CoverImageURL(), SEO: seoDTO{seo.Title, seo.Description},
		PublishedAt: domain.StampOf(e.PublishedAt()), UpdatedAt: domain.Stamp{Time: e.UpdatedAt()},
	}
	if withBody {
		r.BodyHTML = e.Rendered().HTML
	}
	r.TagSlugs = e.TagSlugs()
	if e.Kind() == domain.KindPage {
		n := e.NavOrder()
		r.NavOrder = &n
	}
	r.Locale = e.Locale().String()
	return r
}

// --- The cached response path.

// serve answers from the cache when it can; otherwise it resolves the
// site, lets build render the response and keeps it under key. A nil key
// keeps nothing: searches are not kept, as their long tail would evict the
// pages every visitor reads, and neither is a response build marks
// transient.
func (h siteRoutes) serve(c *gin.Context, key []byte, build func(ctx context.Context, site domain.Workspace) (*cachedResponse, error)) {
	key, locale, ok := h.withLocale(c, key)
	if !ok {
		return
	}
	if base, forwarded := h.linkBase(c.Request); forwarded && key != nil {
		// The links differ per forwarded host, which only trusted
		// proxies can name: each has its own entry.
		key = append(append(key, 0), base...)
	}
	if key != nil {
		if r, ok := h.cache.lookup(key); ok {
			h.write(c, r)
			return
		}
	}
	gen := h.cache.generation()
	ctx := c.Request.Context()
	site, err := h.content.Site(ctx, c.Param("site"))
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		c.Set(corsDecided, true)
		fail(c, err)
		return
	}
	r, err := build(ctx, site)
	if err != nil {
		// A missing post is read by the same origins as a present one.
		allowSiteOrigin(c, site)
		c.Set(corsDecided, true)
		fail(c, err)
		return
	}
	r.setSite(site)
	if locale != "" {
		h.localized(ctx, site, locale, r)
	}
	if key != nil && !r.transient {
		h.cache.put(string(key), r, gen)
	}
	h.write(c, r)
}

// cacheKey is the key of a public response: the route's name, then each
// part that selects the response, each ended by a byte no part can hold.
// Nothing else of the request is in it (not the Host, whose links come
// from configuration, nor unknown query parameters, which change nothing),
// so that junk in a request cannot make a cache entry of its own and push
// out the pages visitors read. buf is the caller's, on its stack, so a
// cache hit builds no key string.
func cacheKey(buf []byte, route string, parts ...string) []byte {
	key := append(buf[:0], route...)
	for _, p := range parts {
		key = append(append(key, 0), p...)
	}
	return key
}

// write sends r, or 304 Not Modified when the client's copy is current:
// If-None-Match decides when present, If-Modified-Since otherwise. It
// puts r's prepared header values in the header map under their canonical
// names, which is what Header.Set would do at the cost of an allocation
// each, and writes the body as c.Data would, less its allocations.
func (h siteRoutes) write(c *gin.Context, r *cachedResponse) {
	hd := c.Writer.Header()
	hd["Etag"] = r.etagHeader
	hd["Cache-Control"] = h.cacheControl
	allowCachedOrigin(c, r.site, r.anyOrigin)
	if r.lastModifiedHeader != nil {
		hd["Last-Modified"] = r.lastModifiedHeader
	}
	if notModified(c.Request, r) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	if len(hd["Content-Type"]) == 0 {
		hd["Content-Type"] = r.contentTypeHeader
	}
	if r.contentLengthHeader != nil {
		hd["Content-Length"] = r.contentLengthHeader
	}
	if r.linkHeader != nil {
		hd["Link"] = r.linkHeader
	}
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(r.body); err != nil {
		_ = c.Error(err)
		c.Abort()
	}
}

func notModified(req *http.Request, r *cachedResponse) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		return etagMatches(inm, r.etag)
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" && !r.lastModified.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !r.lastModified.After(t)
	}
	return false
}

// allowSiteOrigin sets the CORS headers the site's public origins call for:
// "*" for any origin (the default), else the request's origin when it is
// listed, and nothing for others, whose scripts then cannot read the
// response. Vary tells caches that the answer depends on Origin.
func allowSiteOrigin(c *gin.Context, site domain.Workspace) bool {
	return allowCachedOrigin(c, site, allowsAnyOrigin(site))
}

// allowsAnyOrigin reports whether site lets scripts on every origin read
// its public API, which allowSiteOrigin answers with "*".
func allowsAnyOrigin(site domain.Workspace) bool {
	origins := site.PublicOrigins()
	return len(origins) == 1 && origins[0] == domain.AnyOrigin
}

// The CORS header values of the usual case, shared like cachedResponse's.
var (
	anyOriginHeader     = []string{"*"}
	exposeHeadersHeader = []string{"ETag, Last-Modified, X-Request-Id, Retry-After, " + rateLimitHeaders}
)

// allowCachedOrigin is allowSiteOrigin with the site's allowsAnyOrigin worked
// out already, as a cached response has it.
func allowCachedOrigin(c *gin.Context, site domain.Workspace, anyOrigin bool) bool {
	hd := c.Writer.Header()
	if anyOrigin {
		hd["Access-Control-Allow-Origin"] = anyOriginHeader
	} else {
		hd.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if origin == "" || !site.AllowsPublicOrigin(origin) {
			return false
		}
		hd.Set("Access-Control-Allow-Origin", origin)
	}
	hd["Access-Control-Expose-Headers"] = exposeHeadersHeader
	return true
}

// preflight lets scripts on the site's public origins send conditional
// GETs (If-None-Match is not a CORS-safelisted header, so browsers ask
// first).
func (h siteRoutes) preflight(c *gin.Context) {
	site, err := h.content.Site(c.Request.Context(), c.Param("site"))
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		c.Set(corsDecided, true)
		fail(c, err)
		return
	}
	hd := c.Writer.Header()
	if !allowSiteOrigin(c, site) {
		c.Status(http.StatusNoContent)
		return
	}
	hd.Set("Access-Control-Allow-Methods", "GET, HEAD")
	hd.Set("Access-Control-Allow-Headers", "If-None-Match, If-Modified-Since, Idempotency-Key")
	hd.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	c.Status(http.StatusNoContent)
}

func jsonResponse(v any, lastModified time.Time) (*cachedResponse, error) {
	var b bytes.Buffer
	if err := encodeJSON(&b, v); err != nil {
		return nil, err
	}
	return newCachedResponse(b.Bytes(), "application/json; charset=utf-8", lastModified), nil
}

// --- Handlers.

func (h siteRoutes) entry(kind domain.EntryKind) gin.HandlerFunc {
	route := "entry:" + kind.String()
	return func(c *gin.Context) {
		var buf [256]byte
		h.serve(c, cacheKey(buf[:], route, c.Param("site"), c.Param("slug")), func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
			e, err := h.content.PublishedEntry(ctx, site.ID(), kind, c.Param("slug"))
			if err != nil {
				return nil, err
			}
			links, err := h.links(ctx, c, site)
			if err != nil {
				return nil, err
			}
			r := toPublicEntry(e, true)
			r.URL = links.entryURL(e)
			cover, err := h.covers(ctx, c, site, []domain.Entry{e})
			if err != nil {
				return nil, err
			}
			r.Cover = cover(e)
			if r.Author, err = h.entryAuthor(ctx, c, site, e); err != nil {
				return nil, err
			}
			if r.Translations, err = h.translations(ctx, e); err != nil {
				return nil, err
			}
			return jsonResponse(r, e.UpdatedAt())
		})
	}
}

// listPosts keys its cache entry on the canonical page (tag as the
// filter uses it, cursor, limit as a number). It keeps no empty page that
// a filter or a cursor asked for, and no page after a cursor that no kept
// page handed out: junk tags and forged cursors would otherwise each take
// an entry.
func (h siteRoutes) listPosts(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	page, err := pageOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	f := ports.PublicFilter{Tag: domain.TagSlug(c.Query("tag")), Query: q}
	if err := publicListFilter(c, &f); err != nil {
		fail(c, err)
		return
	}
	include, since := listKeyParts(f)
	if len(f.Query) > maxQueryLen || len(f.Tag) > 4*domain.MaxTagLen {
		fail(c, domain.Invalid(domain.FieldError{Field: "q", Code: "too_long", Message: "Use at most 200 characters."}))
		return
	}
	var key []byte
	limit := strconv.Itoa(page.Size())
	if q == "" {
		var buf [512]byte
		key = cacheKey(buf[:], "posts", c.Param("site"), f.Tag, include, since, page.After, limit)
		if page.After != "" && !h.cache.issued(key) {
			key = nil
		}
	}
	h.serve(c, key, func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
		es, next, err := h.content.PublishedEntries(ctx, site.ID(), domain.KindPost, f, page)
		if err != nil {
			return nil, err
		}
		items, err := h.publicEntries(ctx, c, site, es, f.WithBodies)
		if err != nil {
			return nil, err
		}
		r, err := jsonResponse(publicList(items, next), time.Time{})
		if err != nil {
			return nil, err
		}
		if len(es) == 0 && (f.Tag != "" || page.After != "" || f.UpdatedSince != nil) {
			r.transient = true
		}
		if next != "" {
			r.nextKey = string(cacheKey(nil, "posts", c.Param("site"), f.Tag, include, since, next, limit))
			r.linkHeader = []string{postsLink(c.Param("site"), f, next, limit)}
		}
		return r, nil
	})
}

// --- Atom feed and sitemap.

// feedSize is how many of the newest posts the feed carries.
const feedSize = 20

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomText struct {
	Type string `xml:"type,attr,omitempty"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string    `xml:"id"`
	Title     string    `xml:"title"`
	Link      atomLink  `xml:"link"`
	Published string    `xml:"published"`
	Updated   string    `xml:"updated"`
	Category  []atomCat `xml:"category"`
	Summary   atomText  `xml:"summary"`
	Content   atomText  `xml:"content"`

	// Authors is the entry's author's public profile, when there is one;
	// the feed's own author stands for the others.
	Authors []atomPerson `xml:"author"`
}

type atomCat struct {
	Term string `xml:"term,attr"`
}

type atomFeed struct {
	XMLName xml.Name     `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string       `xml:"id"`
	Title   string       `xml:"title"`
	Updated string       `xml:"updated"`
	Authors []atomPerson `xml:"author"`
	Links   []atomLink   `xml:"link"`
	Entries []atomEntry  `xml:"entry"`
}

// atomPerson is an Atom author (RFC 4287, 3.2). The feed's is the site:
// every feed needs an author, at feed level or in each entry.
type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

// atomEntryLink is an entry's rel="alternate" link: the page on the
// website when the site has a URL, else the entry in the public API.
func atomEntryLink(links siteLinks, e domain.Entry) atomLink {
	href, website := links.entry(e)
	if website {
		return atomLink{Rel: "alternate", Type: "text/html", Href: href}
	}
	return atomLink{Rel: "alternate", Type: "application/json", Href: href}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func xmlResponse(v any, contentType string) (*cachedResponse, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return newCachedResponse(b.Bytes(), contentType, time.Time{}), nil
}

func (h siteRoutes) feed(c *gin.Context) {
	var buf [256]byte
	h.serve(c, cacheKey(buf[:], "feed", c.Param("site")), func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
		es, _, err := h.content.PublishedEntries(ctx, site.ID(), domain.KindPost, ports.PublicFilter{}, ports.Page{Limit: feedSize})
		if err != nil {
			return nil, err
		}
		authors, err := h.content.AuthorsOf(ctx, site.ID(), es)
		if err != nil {
			return nil, err
		}
		links, err := h.links(ctx, c, site)
		if err != nil {
			return nil, err
		}
		f := atomFeed{
			ID: "urn:keel:site:" + site.ID().String(), Title: site.Name(),
			Authors: []atomPerson{{Name: site.Name(), URI: links.home()}},
			Links:   []atomLink{{Rel: "self", Type: "application/atom+xml", Href: links.feed()}},
		}
		if home := links.home(); home != "" {
			f.Links = append(f.Links, atomLink{Rel: "alternate", Type: "text/html", Href: home})
		}
		localizeFeed(ctx, &f)
		updated := site.CreatedAt()
		for _, e := range es {
			if e.UpdatedAt().After(updated) {
				updated = e.UpdatedAt()
			}
			ae := atomEntry{
				ID: "urn:keel:entry:" + e.ID().String(), Title: e.Title(),
				Link:      atomEntryLink(links, e),
				Published: rfc3339(*e.PublishedAt()), Updated: rfc3339(e.UpdatedAt()),
				Summary: atomText{Type: "text", Body: e.Excerpt()},
				Content: atomText{Type: "html", Body: e.Rendered().HTML},
			}
			if a, ok := authors[e.Author()]; ok {
				ae.Authors = []atomPerson{{Name: a.Name(), URI: a.WebsiteURL()}}
			}
			for _, t := range e.Tags() {
				ae.Category = append(ae.Category, atomCat{Term: t})
			}
			f.Entries = append(f.Entries, ae)
		}
		f.Updated = rfc3339(updated)
		return xmlResponse(f, "application/atom+xml; charset=utf-8")
	})
}

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod"`
	// Alternates are the page's translations, itself included
	// (sitemapAlternates).
	Alternates []hreflangLink `xml:"http://www.w3.org/1999/xhtml link"`
}

type sitemapSet struct {
	XMLName xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []sitemapURL `xml:"url"`
}

func (h siteRoutes) sitemap(c *gin.Context) {
	var buf [256]byte
	h.serve(c, cacheKey(buf[:], "sitemap", c.Param("site")), func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
		links, err := h.links(ctx, c, site)
		if err != nil {
			return nil, err
		}
		var set sitemapSet
		alternates := sitemapAlternates{}
		err = h.content.EachPublished(ctx, site.ID(), func(e domain.Entry) error {
			set.URLs = append(set.URLs, sitemapURL{Loc: links.entryURL(e), LastMod: rfc3339(e.UpdatedAt())})
			alternates.add(e, len(set.URLs)-1)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := h.addAlternates(ctx, site, &set, alternates); err != nil {
			return nil, err
		}
		return xmlResponse(set, "application/xml; charset=utf-8")
	})
}

// postsLink is the Link header to the page of posts after cursor. It is
// built from the canonical page, not from the request's query, because the
// response is cached and served to everyone who asks for that page: one
// visitor's other parameters must not reach another.
func postsLink(site string, f ports.PublicFilter, cursor, limit string) string {
	q := listQuery(f, cursor, limit)
	if f.Tag != "" {
		q.Set("tag", f.Tag)
	}
	if f.Query != "" {
		q.Set("q", f.Query)
	}
	return "</v1/sites/" + url.PathEscape(site) + "/posts?" + q.Encode() + `>; rel="next"`
}
