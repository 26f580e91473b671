package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
)

// siteSettingsRoutes serve a workspace's site settings: where its
// website is and the permalink patterns its public links follow.
type siteSettingsRoutes struct {
	content *content.Service
}

func (h siteSettingsRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/workspaces/:ws/site", h.get)
	v1.PATCH("/workspaces/:ws/site", h.update)
}

type siteSettingsResponse struct {
	SiteURL       *string `json:"site_url"`
	PostPermalink string  `json:"post_permalink"`
	PagePermalink string  `json:"page_permalink"`
	// MediaKeepMetadata says whether media uploads keep their metadata.
	MediaKeepMetadata bool          `json:"media_keep_metadata"`
	UpdatedAt         *domain.Stamp `json:"updated_at"`
}

func toSiteSettingsResponse(s domain.SiteSettings) siteSettingsResponse {
	r := siteSettingsResponse{PostPermalink: s.PostPermalink(), PagePermalink: s.PagePermalink(), MediaKeepMetadata: s.MediaKeepMetadata()}
	if s.SiteURL() != "" {
		u := s.SiteURL()
		r.SiteURL = &u
	}
	if !s.UpdatedAt().IsZero() {
		r.UpdatedAt = &domain.Stamp{Time: s.UpdatedAt()}
	}
	return r
}

// siteSettingsRequest is a partial update: absent members stay, and a
// site_url of "" removes the site URL.
type siteSettingsRequest struct {
	SiteURL       *string `json:"site_url"`
	PostPermalink *string `json:"post_permalink"`
	PagePermalink *string `json:"page_permalink"`
	// MediaKeepMetadata, when true, keeps the metadata of later uploads.
	MediaKeepMetadata *bool `json:"media_keep_metadata"`
}

func (h siteSettingsRoutes) get(c *gin.Context) {
	s, err := h.content.SiteSettings(c.Request.Context(), principal(c), c.Param("ws"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toSiteSettingsResponse(s))
}

func (h siteSettingsRoutes) update(c *gin.Context) {
	var req siteSettingsRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := content.UpdateSiteInput{Ref: c.Param("ws"), SiteURL: req.SiteURL, PostPermalink: req.PostPermalink, PagePermalink: req.PagePermalink,
		MediaKeepMetadata: req.MediaKeepMetadata}
	s, err := h.content.UpdateSiteSettings(c.Request.Context(), principal(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toSiteSettingsResponse(s))
}
