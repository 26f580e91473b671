package httpapi

import (
	"context"
	"encoding/json"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

// coverField is an entry's cover_media_id in a request: set tells a
// member that is present, null included, from an absent one, which a
// *string cannot, so that a PATCH with null removes the cover.
type coverField struct {
	set bool
	id  string
}

func (f *coverField) UnmarshalJSON(b []byte) error {
	f.set = true
	if string(b) == "null" {
		f.id = ""
		return nil
	}
	return json.Unmarshal(b, &f.id)
}

// coverID is a management response's cover_media_id: null for none.
func coverID(id domain.MediaID) *string {
	if id == "" {
		return nil
	}
	s := id.String()
	return &s
}

// publicCoverDTO is an entry's cover in the public API: what a site needs
// to render an <img> with srcset without another request.
type publicCoverDTO struct {
	ID          string                  `json:"id"`
	URL         string                  `json:"url"`
	Alt         string                  `json:"alt"`
	Caption     string                  `json:"caption"`
	Width       int                     `json:"width"`
	Height      int                     `json:"height"`
	ContentType string                  `json:"content_type"`
	FocalPoint  *focalPointDTO          `json:"focal_point"`
	Variants    []publicCoverVariantDTO `json:"variants"`
}

// publicCoverVariantDTO is one width of a cover's srcset. Unlike the
// library's variants it does not say whether the variant was made yet:
// public responses are cached until content changes, and a variant is
// made on its first request anyway.
type publicCoverVariantDTO struct {
	Width int    `json:"width"`
	URL   string `json:"url"`
}

// toPublicCover describes m as a cover, its URLs on base and the site's
// slug, with the same variants the media API lists (mediaVariantWidths).
func toPublicCover(base, site string, m domain.Media) *publicCoverDTO {
	c := &publicCoverDTO{
		ID: m.ID().String(), URL: mediaURL(base, site, m, 0), Alt: m.Alt(), Caption: m.Caption(),
		Width: m.Width(), Height: m.Height(), ContentType: m.ContentType(), Variants: []publicCoverVariantDTO{},
	}
	if f := m.Focal(); f != nil {
		c.FocalPoint = &focalPointDTO{f.X, f.Y}
	}
	for _, w := range mediaVariantWidths(m) {
		c.Variants = append(c.Variants, publicCoverVariantDTO{Width: w, URL: mediaURL(base, site, m, w)})
	}
	return c
}

// covers reads the covers of es and returns each entry's public cover:
// nil for an entry without one, and for one whose file was deleted since
// (a forced deletion clears the entries' covers in the same transaction,
// so that is only a race with this read). URLs are built on the same base
// as the entries' links.
func (h siteRoutes) covers(ctx context.Context, c *gin.Context, site domain.Workspace, es []domain.Entry) (func(domain.Entry) *publicCoverDTO, error) {
	media, err := h.content.Covers(ctx, site.ID(), es)
	if err != nil {
		return nil, err
	}
	base, _ := h.linkBase(c.Request)
	return func(e domain.Entry) *publicCoverDTO {
		m, ok := media[e.CoverMedia()]
		if !ok || e.CoverMedia() == "" {
			return nil
		}
		return toPublicCover(base, site.Slug(), m)
	}, nil
}
