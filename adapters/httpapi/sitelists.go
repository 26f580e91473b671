package httpapi

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// The public API's lists beyond posts: pages in navigation order, an
// author's page with their posts, and tags with their post counts; and
// what every public list of entries takes: ?include=body_html, so that a
// static site builds from lists alone, and ?updated_since=, so that it
// rebuilds only what changed. They are cached as the posts list is.

// publicAuthorDTO is an author as the public API shows one: never the
// user's ID or e-mail.
type publicAuthorDTO struct {
	Name       string `json:"name"`
	Slug       string `json:"slug"`
	Bio        string `json:"bio,omitempty"`
	AvatarURL  string `json:"avatar_url,omitempty"`
	WebsiteURL string `json:"website_url,omitempty"`
	URL        string `json:"url"`
}

func toPublicAuthor(a domain.Author, links listLinks, withBio bool) *publicAuthorDTO {
	d := &publicAuthorDTO{Name: a.Name(), Slug: a.Slug(), AvatarURL: a.AvatarURL(), WebsiteURL: a.WebsiteURL(), URL: links.authorURL(a)}
	if withBio {
		d.Bio = a.Bio()
	}
	return d
}

// listLinks are the absolute links of the lists' responses: the
// API's base for the request and the site's slug, and where an entry
// is read.
type listLinks struct {
	api, slug string
	entryURL  func(domain.Entry) string
}

// listLinks are the links of site's responses to c, on the base that
// siteLinks chooses.
func (h siteRoutes) listLinks(ctx context.Context, c *gin.Context, site domain.Workspace) (listLinks, error) {
	l, err := h.links(ctx, c, site)
	return listLinks{api: l.api, slug: l.slug, entryURL: l.entryURL}, err
}

// authorURL is an author's page in the public API.
func (l listLinks) authorURL(a domain.Author) string {
	return l.api + "/v1/sites/" + l.slug + "/authors/" + url.PathEscape(a.Slug())
}

// entryAuthor is the public profile of e's author, nil when the author
// has none.
func (h siteRoutes) entryAuthor(ctx context.Context, c *gin.Context, site domain.Workspace, e domain.Entry) (*publicAuthorDTO, error) {
	authors, err := h.content.AuthorsOf(ctx, site.ID(), []domain.Entry{e})
	if err != nil {
		return nil, err
	}
	a, ok := authors[e.Author()]
	if !ok {
		return nil, nil
	}
	links, err := h.listLinks(ctx, c, site)
	if err != nil {
		return nil, err
	}
	return toPublicAuthor(a, links, false), nil
}

// publicEntries converts a page of published entries with their authors
// and links, the bodies only when withBody.
func (h siteRoutes) publicEntries(ctx context.Context, c *gin.Context, site domain.Workspace, es []domain.Entry, withBody bool) ([]publicEntryResponse, error) {
	links, err := h.listLinks(ctx, c, site)
	if err != nil {
		return nil, err
	}
	authors, err := h.content.AuthorsOf(ctx, site.ID(), es)
	if err != nil {
		return nil, err
	}
	cover, err := h.covers(ctx, c, site, es)
	if err != nil {
		return nil, err
	}
	out := make([]publicEntryResponse, 0, len(es))
	for _, e := range es {
		r := toPublicEntry(e, withBody)
		r.URL = links.entryURL(e)
		r.Cover = cover(e)
		if a, ok := authors[e.Author()]; ok {
			r.Author = toPublicAuthor(a, links, false)
		}
		out = append(out, r)
	}
	return out, nil
}

// publicList is a page of entries as a list response, with the next
// page's cursor.
func publicList(items []publicEntryResponse, next string) listResponse[publicEntryResponse] {
	return toList(items, next, func(r publicEntryResponse) publicEntryResponse { return r })
}

// maxUpdatedSinceLen bounds ?updated_since= before it is parsed.
const maxUpdatedSinceLen = 40

// publicListFilter reads ?include= and ?updated_since= into f, reporting
// every bad parameter at once. include takes body_html (the only field a
// list leaves out); updated_since, an RFC 3339 time.
func publicListFilter(c *gin.Context, f *ports.PublicFilter) error {
	var errs []domain.FieldError
	if s := c.Query("include"); s != "" {
		for part := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(part) != "body_html" {
				errs = append(errs, domain.FieldError{Field: "include", Code: "unknown_value", Message: "Use body_html."})
				break
			}
			f.WithBodies = true
		}
	}
	if s := c.Query("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || len(s) > maxUpdatedSinceLen {
			errs = append(errs, domain.FieldError{Field: "updated_since", Code: "invalid_time", Message: "Use an RFC 3339 time, such as 2026-01-31T12:00:00Z."})
		} else {
			t = domain.Timestamp(t)
			f.UpdatedSince = &t
		}
	}
	if len(errs) > 0 {
		return domain.Invalid(errs...)
	}
	return nil
}

// listKeyParts are the parts of a list's cache key that publicListFilter
// reads, canonical: one entry per distinct answer, whatever the spelling.
func listKeyParts(f ports.PublicFilter) (include, since string) {
	if f.WithBodies {
		include = "body_html"
	}
	if f.UpdatedSince != nil {
		since = f.UpdatedSince.UTC().Format(time.RFC3339Nano)
	}
	return include, since
}

// listQuery is the query of a list's next page, built from the canonical
// filter like postsLink, since the response is cached for everyone.
func listQuery(f ports.PublicFilter, cursor, limit string) url.Values {
	q := url.Values{"cursor": {cursor}, "limit": {limit}}
	include, since := listKeyParts(f)
	if include != "" {
		q.Set("include", include)
	}
	if since != "" {
		q.Set("updated_since", since)
	}
	return q
}

// cachedList serves a list whose cache entry is keyed by route and parts,
// the page's cursor and limit last. As listPosts does, it keeps no page
// after a cursor that no kept page handed out, and no empty page that a
// filter or a cursor asked for.
func (h siteRoutes) cachedList(c *gin.Context, route, path string, page ports.Page, f ports.PublicFilter, parts []string,
	build func(ctx context.Context, site domain.Workspace) (any, string, int, error)) {
	limit := strconv.Itoa(page.Size())
	keyOf := func(after string) []byte {
		return cacheKey(nil, route, append(append([]string{c.Param("site")}, parts...), after, limit)...)
	}
	key := keyOf(page.After)
	if page.After != "" && !h.cache.issued(key) {
		key = nil
	}
	h.serve(c, key, func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
		body, next, n, err := build(ctx, site)
		if err != nil {
			return nil, err
		}
		r, err := jsonResponse(body, time.Time{})
		if err != nil {
			return nil, err
		}
		if n == 0 && (page.After != "" || f.UpdatedSince != nil) {
			r.transient = true
		}
		if next != "" {
			r.nextKey = string(keyOf(next))
			r.linkHeader = []string{"</v1/sites/" + url.PathEscape(c.Param("site")) + path + "?" + listQuery(f, next, limit).Encode() + `>; rel="next"`}
		}
		return r, nil
	})
}

func (h siteRoutes) listPages(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	var f ports.PublicFilter
	if err := publicListFilter(c, &f); err != nil {
		fail(c, err)
		return
	}
	include, since := listKeyParts(f)
	h.cachedList(c, "pages", "/pages", page, f, []string{include, since}, func(ctx context.Context, site domain.Workspace) (any, string, int, error) {
		es, next, err := h.content.PublishedEntries(ctx, site.ID(), domain.KindPage, f, page)
		if err != nil {
			return nil, "", 0, err
		}
		items, err := h.publicEntries(ctx, c, site, es, f.WithBodies)
		return publicList(items, next), next, len(es), err
	})
}

// authorPageResponse is an author with a page of their published posts.
type authorPageResponse struct {
	publicAuthorDTO
	Posts listResponse[publicEntryResponse] `json:"posts"`
}

func (h siteRoutes) author(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	var f ports.PublicFilter
	if err := publicListFilter(c, &f); err != nil {
		fail(c, err)
		return
	}
	slug := c.Param("slug")
	if len(slug) > domain.MaxAuthorSlugLen {
		fail(c, domain.ErrNotFound.WithMessage("No such author."))
		return
	}
	include, since := listKeyParts(f)
	h.cachedList(c, "author", "/authors/"+url.PathEscape(slug), page, f, []string{slug, include, since}, func(ctx context.Context, site domain.Workspace) (any, string, int, error) {
		a, err := h.content.PublicAuthor(ctx, site.ID(), slug)
		if err != nil {
			return nil, "", 0, err
		}
		f.Author = a.User()
		es, next, err := h.content.PublishedEntries(ctx, site.ID(), domain.KindPost, f, page)
		if err != nil {
			return nil, "", 0, err
		}
		items, err := h.publicEntries(ctx, c, site, es, f.WithBodies)
		if err != nil {
			return nil, "", 0, err
		}
		links, err := h.listLinks(ctx, c, site)
		if err != nil {
			return nil, "", 0, err
		}
		return authorPageResponse{*toPublicAuthor(a, links, true), publicList(items, next)}, next, 1, nil
	})
}

// publicTagResponse is a tag as the public API shows it. Its posts are
// not in it: posts_url is the list of posts filtered by the tag, which
// pages, caches and takes include and updated_since like every list.
type publicTagResponse struct {
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
	PostCount   int    `json:"post_count"`
	URL         string `json:"url"`
	PostsURL    string `json:"posts_url"`
}

func toPublicTag(c domain.TagCount, links listLinks) publicTagResponse {
	base := links.api + "/v1/sites/" + links.slug
	return publicTagResponse{
		Name: c.Tag.Name, Slug: c.Tag.Slug, Description: c.Tag.Description, PostCount: c.Posts,
		URL: base + "/tags/" + url.PathEscape(c.Tag.Slug), PostsURL: base + "/posts?" + url.Values{"tag": {c.Tag.Slug}}.Encode(),
	}
}

func (h siteRoutes) listTags(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	h.cachedList(c, "tags", "/tags", page, ports.PublicFilter{}, nil, func(ctx context.Context, site domain.Workspace) (any, string, int, error) {
		ts, next, err := h.content.PublicTags(ctx, site.ID(), page)
		if err != nil {
			return nil, "", 0, err
		}
		links, err := h.listLinks(ctx, c, site)
		if err != nil {
			return nil, "", 0, err
		}
		return toList(ts, next, func(t domain.TagCount) publicTagResponse { return toPublicTag(t, links) }), next, len(ts), nil
	})
}

func (h siteRoutes) tag(c *gin.Context) {
	slug := domain.TagSlug(c.Param("slug"))
	if len(slug) > 4*domain.MaxTagLen {
		fail(c, domain.ErrNotFound.WithMessage("No such tag."))
		return
	}
	var buf [256]byte
	h.serve(c, cacheKey(buf[:], "tag", c.Param("site"), slug), func(ctx context.Context, site domain.Workspace) (*cachedResponse, error) {
		t, err := h.content.PublicTag(ctx, site.ID(), slug)
		if err != nil {
			return nil, err
		}
		links, err := h.listLinks(ctx, c, site)
		if err != nil {
			return nil, err
		}
		return jsonResponse(toPublicTag(t, links), time.Time{})
	})
}
