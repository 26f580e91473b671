package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// authorTagRoutes serves the management API of author profiles and tags.
type authorTagRoutes struct {
	content *content.Service
}

func (h authorTagRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/workspaces/:ws/authors", h.listAuthors)
	v1.PATCH("/workspaces/:ws/authors/:user", h.updateAuthor)
	v1.GET("/workspaces/:ws/tags", h.listTags)
	v1.PATCH("/workspaces/:ws/tags/:slug", h.updateTag)
}

// --- DTOs.

type authorResponse struct {
	User       string       `json:"user_id"`
	Name       string       `json:"name"`
	Slug       string       `json:"slug"`
	Bio        string       `json:"bio"`
	AvatarURL  string       `json:"avatar_url"`
	WebsiteURL string       `json:"website_url"`
	CreatedAt  domain.Stamp `json:"created_at"`
	UpdatedAt  domain.Stamp `json:"updated_at"`
}

func toAuthorResponse(a domain.Author) authorResponse {
	return authorResponse{
		User: string(a.User()), Name: a.Name(), Slug: a.Slug(), Bio: a.Bio(), AvatarURL: a.AvatarURL(), WebsiteURL: a.WebsiteURL(),
		CreatedAt: domain.Stamp{Time: a.CreatedAt()}, UpdatedAt: domain.Stamp{Time: a.UpdatedAt()},
	}
}

// authorPatchRequest changes the fields present in the body.
type authorPatchRequest struct {
	Name       *string `json:"name"`
	Slug       *string `json:"slug"`
	Bio        *string `json:"bio"`
	AvatarURL  *string `json:"avatar_url"`
	WebsiteURL *string `json:"website_url"`
}

type tagResponse struct {
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
	PostCount   int    `json:"post_count"`
}

func toTagResponse(c domain.TagCount) tagResponse {
	return tagResponse{Name: c.Tag.Name, Slug: c.Tag.Slug, Description: c.Tag.Description, PostCount: c.Posts}
}

type tagPatchRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// --- Handlers.

func (h authorTagRoutes) listAuthors(c *gin.Context) {
	serveList(c, func(p ports.Page) ([]domain.Author, string, error) {
		return h.content.ListAuthors(c.Request.Context(), principal(c), c.Param("ws"), p)
	}, toAuthorResponse)
}

func (h authorTagRoutes) updateAuthor(c *gin.Context) {
	var req authorPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, err := h.content.UpdateAuthor(c.Request.Context(), principal(c), c.Param("ws"), domain.UserID(c.Param("user")), content.AuthorEdit{
		Name: req.Name, Slug: req.Slug, Bio: req.Bio, AvatarURL: req.AvatarURL, WebsiteURL: req.WebsiteURL,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toAuthorResponse(a))
}

func (h authorTagRoutes) listTags(c *gin.Context) {
	serveList(c, func(p ports.Page) ([]domain.TagCount, string, error) {
		return h.content.ListTags(c.Request.Context(), principal(c), c.Param("ws"), p)
	}, toTagResponse)
}

func (h authorTagRoutes) updateTag(c *gin.Context) {
	var req tagPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	tc, err := h.content.UpdateTag(c.Request.Context(), principal(c), c.Param("ws"), c.Param("slug"), content.TagEdit{Name: req.Name, Description: req.Description})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toTagResponse(tc))
}
