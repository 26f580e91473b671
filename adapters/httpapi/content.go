package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// contentRoutes serves the management API of posts and pages: writing,
// revising, publishing and their revisions. Every response about one entry
// carries its version as a strong ETag; writes take it back in If-Match.
type contentRoutes struct {
	content *content.Service
}

func (h contentRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/entries", h.create)
	v1.GET("/workspaces/:ws/entries", h.list)
	v1.GET("/workspaces/:ws/entries/:id", h.get)
	v1.PATCH("/workspaces/:ws/entries/:id", h.update)
	v1.DELETE("/workspaces/:ws/entries/:id", h.delete)
	v1.POST("/workspaces/:ws/entries/:id/publish", h.publish)
	v1.POST("/workspaces/:ws/entries/:id/unpublish", h.unpublish)
	v1.GET("/workspaces/:ws/entries/:id/revisions", h.revisions)
	v1.POST("/workspaces/:ws/entries/:id/revisions/:rev/restore", h.restore)
}

// --- DTOs.

type seoDTO struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

type createEntryRequest struct {
	Kind          string   `json:"kind"`
	Title         string   `json:"title"`
	Body          string   `json:"body"`
	Slug          string   `json:"slug"`
	Excerpt       string   `json:"excerpt"`
	Tags          []string `json:"tags"`
	CoverImageURL string   `json:"cover_image_url"`
	SEO           seoDTO   `json:"seo"`
	// NavOrder places a page in the site's navigation.
	NavOrder int `json:"nav_order"`
	// CoverMediaID names the cover in the media library (cover.go).
	CoverMediaID coverField `json:"cover_media_id"`
	// Locale and TranslationOf set the translation at once, as PUT
	// …/translation would after creating (locales.go).
	Locale        string `json:"locale"`
	TranslationOf string `json:"translation_of"`
}

// entryPatchRequest changes the fields present in the body; absent fields
// keep their value.
type entryPatchRequest struct {
	Title         *string   `json:"title"`
	Body          *string   `json:"body"`
	Slug          *string   `json:"slug"`
	Excerpt       *string   `json:"excerpt"`
	Tags          *[]string `json:"tags"`
	CoverImageURL *string   `json:"cover_image_url"`
	SEO           *seoDTO   `json:"seo"`
	// NavOrder places a page in the site's navigation.
	NavOrder *int `json:"nav_order"`
	// CoverMediaID sets the cover; null or "" removes it (cover.go).
	CoverMediaID coverField `json:"cover_media_id"`
}

type publishRequest struct {
	PublishAt *time.Time `json:"publish_at"`
}

type unpublishRequest struct {
	Status string `json:"status"` // draft (default) or archived
}

type entryResponse struct {
	ID            string        `json:"id"`
	Kind          string        `json:"kind"`
	Slug          string        `json:"slug"`
	Title         string        `json:"title"`
	Status        string        `json:"status"`
	Version       int           `json:"version"`
	Body          string        `json:"body"`
	BodyHTML      string        `json:"body_html"`
	Excerpt       string        `json:"excerpt"`
	Tags          []string      `json:"tags"`
	Author        string        `json:"author"`
	CoverImageURL string        `json:"cover_image_url"`
	SEO           seoDTO        `json:"seo"`
	PublishAt     *domain.Stamp `json:"publish_at"`
	PublishedAt   *domain.Stamp `json:"published_at"`
	CreatedAt     domain.Stamp  `json:"created_at"`
	UpdatedAt     domain.Stamp  `json:"updated_at"`
	// Locale is "" for none; TranslationGroup is the entry's own ID when
	// it translates nothing (locales.go).
	Locale           string `json:"locale"`
	TranslationGroup string `json:"translation_group"`
	// NavOrder places a page in the site's navigation.
	NavOrder int `json:"nav_order"`
	// CoverMediaID is the cover's media ID, null for none.
	CoverMediaID *string `json:"cover_media_id"`
}

type revisionResponse struct {
	Version       int          `json:"version"`
	Actor         actorDTO     `json:"actor"`
	At            domain.Stamp `json:"at"`
	Title         string       `json:"title"`
	Slug          string       `json:"slug"`
	Body          string       `json:"body"`
	Excerpt       string       `json:"excerpt"`
	Tags          []string     `json:"tags"`
	CoverImageURL string       `json:"cover_image_url"`
	SEO           seoDTO       `json:"seo"`
	// CoverMediaID is the cover's media ID at that save, null for none.
	CoverMediaID *string `json:"cover_media_id"`
}

type actorDTO struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

func toEntryResponse(e domain.Entry) entryResponse {
	seo := e.SEO()
	return entryResponse{
		ID: e.ID().String(), Kind: e.Kind().String(), Slug: e.Slug(), Title: e.Title(),
		Status: e.Status().String(), Version: e.Version(), Body: e.Body(), BodyHTML: e.Rendered().HTML,
		Excerpt: e.Excerpt(), Tags: nonNil(e.Tags()), Author: string(e.Author()), CoverImageURL: e.CoverImageURL(),
		SEO: seoDTO{seo.Title, seo.Description}, PublishAt: domain.StampOf(e.PublishAt()), PublishedAt: domain.StampOf(e.PublishedAt()),
		CreatedAt: domain.Stamp{Time: e.CreatedAt()}, UpdatedAt: domain.Stamp{Time: e.UpdatedAt()}, NavOrder: e.NavOrder(),
		Locale: e.Locale().String(), TranslationGroup: string(e.TranslationGroup()),
		CoverMediaID: coverID(e.CoverMedia()),
	}
}

func toRevisionResponse(r domain.Revision) revisionResponse {
	c := r.Content
	return revisionResponse{
		Version: r.Version, Actor: actorDTO{r.ActorKind, r.ActorID}, At: domain.Stamp{Time: r.At},
		Title: c.Title, Slug: c.Slug, Body: c.Body, Excerpt: c.Excerpt, Tags: nonNil(c.Tags),
		CoverImageURL: c.CoverImageURL, SEO: seoDTO{c.SEO.Title, c.SEO.Description}, CoverMediaID: coverID(c.CoverMedia),
	}
}

func (r entryPatchRequest) toPatch() domain.EntryPatch {
	p := domain.EntryPatch{Title: r.Title, Body: r.Body, Slug: r.Slug, Excerpt: r.Excerpt, Tags: r.Tags, CoverImageURL: r.CoverImageURL, NavOrder: r.NavOrder}
	if r.CoverMediaID.set {
		id := domain.MediaID(r.CoverMediaID.id)
		p.CoverMedia = &id
	}
	if r.SEO != nil {
		p.SEO = &domain.SEO{Title: r.SEO.Title, Description: r.SEO.Description}
	}
	return p
}

// --- Versions as ETags.

// versionETag is the strong entity tag of an entry version.
func versionETag(v int) string { return `"v` + strconv.Itoa(v) + `"` }

var errBadIfMatch = domain.E(domain.KindInvalid, "invalid_if_match", `If-Match must be one entity tag this API returned, such as "v3".`)

// ifMatch reads the version a write is conditional on: nil without an
// If-Match header, which makes the write unconditional ("*" too).
func ifMatch(c *gin.Context) (*int, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	h = strings.TrimPrefix(h, "W/")
	if !strings.HasPrefix(h, `"v`) || !strings.HasSuffix(h, `"`) || len(h) < 4 {
		return nil, errBadIfMatch
	}
	v, err := strconv.Atoi(h[2 : len(h)-1])
	if err != nil || v < 1 {
		return nil, errBadIfMatch
	}
	return &v, nil
}

func writeEntry(c *gin.Context, status int, e domain.Entry) {
	c.Header("ETag", versionETag(e.Version()))
	c.Header("Cache-Control", "no-store")
	c.JSON(status, toEntryResponse(e))
}

// --- Handlers.

func (h contentRoutes) create(c *gin.Context) {
	var req createEntryRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, err := h.content.CreateEntry(c.Request.Context(), principal(c), c.Param("ws"), content.CreateInput{
		Kind: req.Kind,
		Content: domain.EntryContent{
			Title: req.Title, Slug: req.Slug, Body: req.Body, Excerpt: req.Excerpt, Tags: req.Tags,
			CoverImageURL: req.CoverImageURL, SEO: domain.SEO{Title: req.SEO.Title, Description: req.SEO.Description}, NavOrder: req.NavOrder,
			CoverMedia: domain.MediaID(req.CoverMediaID.id),
		},
		Translation: content.TranslationInput{Locale: req.Locale, TranslationOf: domain.EntryID(req.TranslationOf)},
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+e.ID().String())
	writeEntry(c, http.StatusCreated, e)
}

// entryFilterOf reads ?kind=&status=&tag=&q=, reporting every bad
// parameter at once.
func entryFilterOf(c *gin.Context) (ports.EntryFilter, error) {
	var f ports.EntryFilter
	var errs []domain.FieldError
	if s := c.Query("kind"); s != "" {
		if k, err := domain.ParseEntryKind(s); err != nil {
			errs = append(errs, domain.FieldError{Field: "kind", Code: "unknown_value", Message: "Use post or page."})
		} else {
			f.Kind = &k
		}
	}
	if s := c.Query("status"); s != "" {
		if st, err := domain.ParseEntryStatus(s); err != nil {
			errs = append(errs, domain.FieldError{Field: "status", Code: "unknown_value", Message: "Use draft, scheduled, published or archived."})
		} else {
			f.Status = &st
		}
	}
	f.Tag = domain.TagSlug(c.Query("tag"))
	f.Query = c.Query("q")
	if len(f.Query) > maxQueryLen || len(f.Tag) > 4*domain.MaxTagLen {
		errs = append(errs, domain.FieldError{Field: "q", Code: "too_long", Message: "Use at most 200 characters."})
	}
	if len(errs) > 0 {
		return f, domain.Invalid(errs...)
	}
	return f, nil
}

func (h contentRoutes) list(c *gin.Context) {
	f, err := entryFilterOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	serveList(c, func(p ports.Page) ([]domain.Entry, string, error) {
		return h.content.ListEntries(c.Request.Context(), principal(c), c.Param("ws"), f, p)
	}, toEntryResponse)
}

func (h contentRoutes) get(c *gin.Context) {
	e, err := h.content.GetEntry(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")))
	if err != nil {
		fail(c, err)
		return
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatches(inm, versionETag(e.Version())) {
		c.Header("ETag", versionETag(e.Version()))
		c.Status(http.StatusNotModified)
		return
	}
	writeEntry(c, http.StatusOK, e)
}

func (h contentRoutes) update(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req entryPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, err := h.content.UpdateEntry(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), v, req.toPatch())
	if err != nil {
		fail(c, err)
		return
	}
	writeEntry(c, http.StatusOK, e)
}

func (h contentRoutes) delete(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	if err := h.content.DeleteEntry(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), v); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h contentRoutes) publish(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req publishRequest
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, err := h.content.PublishEntry(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), req.PublishAt, v)
	if err != nil {
		fail(c, err)
		return
	}
	writeEntry(c, http.StatusOK, e)
}

func (h contentRoutes) unpublish(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	req := unpublishRequest{Status: domain.EntryDraft.String()}
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	to, err := domain.ParseEntryStatus(req.Status)
	if err != nil {
		fail(c, err)
		return
	}
	e, err := h.content.UnpublishEntry(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), to, v)
	if err != nil {
		fail(c, err)
		return
	}
	writeEntry(c, http.StatusOK, e)
}

func (h contentRoutes) revisions(c *gin.Context) {
	serveList(c, func(p ports.Page) ([]domain.Revision, string, error) {
		return h.content.ListRevisions(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), p)
	}, toRevisionResponse)
}

var errNoSuchRevision = domain.ErrNotFound.WithMessage("No such revision.")

func (h contentRoutes) restore(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	rev, err := strconv.Atoi(c.Param("rev"))
	if err != nil || rev < 1 {
		fail(c, errNoSuchRevision)
		return
	}
	e, err := h.content.RestoreRevision(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), rev, v)
	if err != nil {
		fail(c, err)
		return
	}
	writeEntry(c, http.StatusOK, e)
}
