package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// previewLinkRoutes manages an entry's preview links; siteRoutes.preview
// serves what they show.
type previewLinkRoutes struct {
	content *content.Service
	// base is the API's absolute URL from configuration, as siteRoutes'.
	base string
}

func (h previewLinkRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/entries/:id/preview-links", h.create)
	v1.GET("/workspaces/:ws/entries/:id/preview-links", h.list)
	v1.DELETE("/workspaces/:ws/entries/:id/preview-links/:link", h.revoke)
}

// createPreviewLinkRequest's expires_in is in seconds; absent is
// domain.DefaultPreviewTTL.
type createPreviewLinkRequest struct {
	ExpiresIn *int64 `json:"expires_in"`
}

type previewLinkResponse struct {
	ID        string        `json:"id"`
	EntryID   string        `json:"entry_id"`
	CreatedBy actorDTO      `json:"created_by"`
	CreatedAt domain.Stamp  `json:"created_at"`
	ExpiresAt domain.Stamp  `json:"expires_at"`
	RevokedAt *domain.Stamp `json:"revoked_at"`
	Active    bool          `json:"active"`
}

// createdPreviewLinkResponse carries the token and its URL, which no
// other answer repeats.
type createdPreviewLinkResponse struct {
	previewLinkResponse
	Token string `json:"token"`
	URL   string `json:"url"`
}

func toPreviewLinkResponse(l domain.PreviewLink, active bool) previewLinkResponse {
	kind, id := l.Actor()
	return previewLinkResponse{
		ID: l.ID().String(), EntryID: l.Entry().String(), CreatedBy: actorDTO{kind, id},
		CreatedAt: domain.Stamp{Time: l.CreatedAt()}, ExpiresAt: domain.Stamp{Time: l.ExpiresAt()},
		RevokedAt: domain.StampOf(l.RevokedAt()), Active: active,
	}
}

// previewTTL turns expires_in into a duration, keeping a value out of
// range out of range rather than letting it overflow or mean the default.
func previewTTL(seconds *int64) time.Duration {
	switch {
	case seconds == nil:
		return 0
	case *seconds < 1:
		return -1
	case *seconds > int64(domain.MaxPreviewTTL/time.Second):
		return domain.MaxPreviewTTL + time.Second
	}
	return time.Duration(*seconds) * time.Second
}

// previewURL is where a preview link's holder reads the entry. The token
// is in the query, not the path: the access log and traces record paths,
// and the token must never reach them.
func previewURL(base, site, token string) string {
	return base + "/v1/sites/" + url.PathEscape(site) + "/preview?" + url.Values{"token": {token}}.Encode()
}

func (h previewLinkRoutes) create(c *gin.Context) {
	var req createPreviewLinkRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	out, err := h.content.CreatePreviewLink(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), previewTTL(req.ExpiresIn))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+out.Link.ID().String())
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, createdPreviewLinkResponse{
		previewLinkResponse: toPreviewLinkResponse(out.Link, true),
		Token:               out.Token,
		URL:                 previewURL(h.base, out.Site, out.Token),
	})
}

func (h previewLinkRoutes) list(c *gin.Context) {
	serveList(c, func(p ports.Page) ([]content.ListedPreviewLink, string, error) {
		return h.content.ListPreviewLinks(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), p)
	}, func(l content.ListedPreviewLink) previewLinkResponse { return toPreviewLinkResponse(l.Link, l.Active) })
}

func (h previewLinkRoutes) revoke(c *gin.Context) {
	err := h.content.RevokePreviewLink(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), domain.PreviewLinkID(c.Param("link")))
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// preview serves the entry a preview token shows, in its current state,
// to whoever holds the token. Nothing keeps the answer: not the public
// cache, not browsers or CDNs (private, no-store), and search engines do
// not index it; the page's links do not send its URL, token and all, as
// a Referer.
func (h siteRoutes) preview(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Robots-Tag", "noindex")
	hd.Set("Referrer-Policy", "no-referrer")
	ctx := c.Request.Context()
	site, err := h.content.Site(ctx, c.Param("site"))
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		c.Set(corsDecided, true)
		fail(c, err)
		return
	}
	allowSiteOrigin(c, site)
	c.Set(corsDecided, true)
	e, err := h.content.PreviewEntry(ctx, site.ID(), c.Query("token"))
	if err != nil {
		fail(c, err)
		return
	}
	r := toPublicEntry(e, true)
	cover, err := h.covers(ctx, c, site, []domain.Entry{e})
	if err != nil {
		fail(c, err)
		return
	}
	r.Cover = cover(e)
	if r.Author, err = h.entryAuthor(ctx, c, site, e); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}
