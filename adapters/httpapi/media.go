package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// mediaUploadRoute takes files larger than the API's body limit: the
// media service bounds them itself while it streams them (limitBody).
const mediaUploadRoute = "/v1/workspaces/:ws/media"

// maxMediaUploadBody bounds an upload's body at the HTTP layer, above
// any file limit an operator would set; the service refuses a file over
// its own limit with media_too_large as soon as it reads that far.
const maxMediaUploadBody = 5 << 30

// mediaRoutes serves the media library and the public media URLs.
type mediaRoutes struct {
	media *media.Service
	blobs ports.BlobStore
	base  string // the API's absolute URL, as siteRoutes'
}

func newMediaRoutes(svc *media.Service, blobs ports.BlobStore, publicURL string) mediaRoutes {
	if publicURL == "" {
		publicURL = DefaultPublicURL
	}
	return mediaRoutes{media: svc, blobs: blobs, base: strings.TrimSuffix(publicURL, "/")}
}

func (h mediaRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/media", h.upload)
	v1.GET("/workspaces/:ws/media", h.list)
	v1.GET("/workspaces/:ws/media/:id", h.get)
	v1.PATCH("/workspaces/:ws/media/:id", h.update)
	v1.DELETE("/workspaces/:ws/media/:id", h.delete)
	v1.GET("/sites/:site/media/:id/:name", h.serve)
	v1.HEAD("/sites/:site/media/:id/:name", h.serve)
}

type focalPointDTO struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

type mediaVariantDTO struct {
	Width int    `json:"width"`
	URL   string `json:"url"`
	Made  bool   `json:"made"`
}

type mediaResponse struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	Alt         string            `json:"alt"`
	Caption     string            `json:"caption"`
	FocalPoint  *focalPointDTO    `json:"focal_point"`
	URL         string            `json:"url"`
	Variants    []mediaVariantDTO `json:"variants"`
	CreatedBy   actorDTO          `json:"created_by"`
	CreatedAt   domain.Stamp      `json:"created_at"`
	UpdatedAt   domain.Stamp      `json:"updated_at"`
}

// mediaURL is the public URL of a media file, or of its variant of width
// w when w > 0.
func mediaURL(base, site string, m domain.Media, w int) string {
	u := base + "/v1/sites/" + url.PathEscape(site) + "/media/" + m.ID().String() + "/" + url.PathEscape(m.Name())
	if w > 0 {
		u += "?w=" + strconv.Itoa(w)
	}
	return u
}

func (h mediaRoutes) toResponse(site string, m domain.Media) mediaResponse {
	kind, id := m.Actor()
	r := mediaResponse{
		ID: m.ID().String(), Name: m.Name(), ContentType: m.ContentType(), Size: m.Size(), Width: m.Width(), Height: m.Height(),
		Alt: m.Alt(), Caption: m.Caption(), URL: mediaURL(h.base, site, m, 0), Variants: []mediaVariantDTO{},
		CreatedBy: actorDTO{kind, id}, CreatedAt: domain.Stamp{Time: m.CreatedAt()}, UpdatedAt: domain.Stamp{Time: m.UpdatedAt()},
	}
	if f := m.Focal(); f != nil {
		r.FocalPoint = &focalPointDTO{f.X, f.Y}
	}
	for _, w := range mediaVariantWidths(m) {
		r.Variants = append(r.Variants, mediaVariantDTO{Width: w, URL: mediaURL(h.base, site, m, w), Made: m.HasVariant(w)})
	}
	return r
}

// mediaVariantWidths are the widths a srcset of m lists: the variant
// widths below the original's, since a wider variant would only repeat
// the original at its own width; none for a type without variants.
func mediaVariantWidths(m domain.Media) []int {
	if !domain.HasVariants(m.ContentType()) {
		return nil
	}
	var out []int
	for _, w := range domain.VariantWidths {
		if w < m.Width() {
			out = append(out, w)
		}
	}
	return out
}

// upload takes one file: a multipart/form-data body with one file part,
// or the raw bytes with the name in ?name=. Whatever Content-Type the
// client gives the file, the service sniffs the type from its bytes.
func (h mediaRoutes) upload(c *gin.Context) {
	if c.Request.ContentLength > h.media.MaxFileSize()+64<<10 {
		c.Header("Connection", "close")
		fail(c, domain.ErrMediaTooLarge)
		return
	}
	// Without keep_metadata the upload follows the workspace's
	// media_keep_metadata site setting; with it, it decides for this one.
	var keep *bool
	if v := c.Query("keep_metadata"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(c, domain.Invalid(domain.FieldError{Field: "keep_metadata", Code: "invalid_value", Message: "Use true or false."}))
			return
		}
		keep = &b
	}
	ctx := c.Request.Context()
	var (
		m   domain.Media
		err error
	)
	if isMultipart(c) {
		m, err = h.uploadMultipart(ctx, c, keep)
	} else {
		name := c.Query("name")
		if name == "" {
			name = "file"
		}
		m, err = h.media.Upload(ctx, principal(c), c.Param("ws"), media.Upload{Name: name, Body: c.Request.Body, KeepMetadata: keep})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = errBodyTooLarge
		}
		fail(c, err)
		return
	}
	site, err := h.media.Site(ctx, principal(c), c.Param("ws"), domain.PermMediaWrite)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+m.ID().String())
	c.JSON(http.StatusCreated, h.toResponse(site, m))
}

var errNoFilePart = domain.Invalid(domain.FieldError{Field: "file", Code: "required", Message: "Send one file part."})

func (h mediaRoutes) uploadMultipart(ctx context.Context, c *gin.Context, keep *bool) (domain.Media, error) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return domain.Media{}, errMalformedForm
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return domain.Media{}, errNoFilePart
		}
		if err != nil {
			return domain.Media{}, errMalformedForm
		}
		if part.FileName() == "" {
			// Text parts are not used; bound what is read of them.
			_, _ = io.CopyN(io.Discard, part, 64<<10)
			continue
		}
		return h.media.Upload(ctx, principal(c), c.Param("ws"), media.Upload{Name: part.FileName(), Body: part, KeepMetadata: keep})
	}
}

func (h mediaRoutes) list(c *gin.Context) {
	f := ports.MediaFilter{Type: c.Query("type"), Search: c.Query("q")}
	if len(f.Type) > 100 || len(f.Search) > 200 {
		fail(c, domain.Invalid(domain.FieldError{Field: "q", Code: "too_long", Message: "Use at most 200 bytes."}))
		return
	}
	var site string
	serveList(c, func(p ports.Page) ([]domain.Media, string, error) {
		out, err := h.media.List(c.Request.Context(), principal(c), c.Param("ws"), f, p)
		site = out.Site
		return out.Media, out.Next, err
	}, func(m domain.Media) mediaResponse { return h.toResponse(site, m) })
}

func (h mediaRoutes) get(c *gin.Context) {
	ctx := c.Request.Context()
	m, err := h.media.Get(ctx, principal(c), c.Param("ws"), domain.MediaID(c.Param("id")))
	if err != nil {
		fail(c, err)
		return
	}
	site, err := h.media.Site(ctx, principal(c), c.Param("ws"), domain.PermMediaRead)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, h.toResponse(site, m))
}

// update changes alt, caption and focal_point: absent fields stay as
// they are, and a focal_point of null removes it, which a struct cannot
// tell from an absent one, so the body is read as a map.
func (h mediaRoutes) update(c *gin.Context) {
	var raw map[string]any
	if err := decodeJSON(c, &raw); err != nil {
		fail(c, err)
		return
	}
	ch := domain.MediaChange{}
	for k, v := range raw {
		switch k {
		case "alt", "caption":
			s, ok := v.(string)
			if !ok {
				fail(c, domain.Invalid(domain.FieldError{Field: k, Code: "invalid_type", Message: "Use a string."}))
				return
			}
			if k == "alt" {
				ch.Alt = &s
			} else {
				ch.Caption = &s
			}
		case "focal_point":
			if v == nil {
				ch.ClearFocal = true
				continue
			}
			o, ok := v.(map[string]any)
			x, okx := o["x"].(float64)
			y, oky := o["y"].(float64)
			if !ok || !okx || !oky || len(o) != 2 {
				fail(c, domain.Invalid(domain.FieldError{Field: "focal_point", Code: "invalid_type", Message: "Use {\"x\": 0.5, \"y\": 0.5} or null."}))
				return
			}
			ch.Focal = &domain.FocalPoint{X: x, Y: y}
		default:
			fail(c, domain.Invalid(domain.FieldError{Field: k, Code: "unknown_field", Message: "Unknown field."}))
			return
		}
	}
	ctx := c.Request.Context()
	m, err := h.media.Update(ctx, principal(c), c.Param("ws"), domain.MediaID(c.Param("id")), ch)
	if err != nil {
		fail(c, err)
		return
	}
	site, err := h.media.Site(ctx, principal(c), c.Param("ws"), domain.PermMediaWrite)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, h.toResponse(site, m))
}

func (h mediaRoutes) delete(c *gin.Context) {
	force := false
	if v := c.Query("force"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(c, domain.Invalid(domain.FieldError{Field: "force", Code: "invalid_value", Message: "Use true or false."}))
			return
		}
		force = b
	}
	if err := h.media.Delete(c.Request.Context(), principal(c), c.Param("ws"), domain.MediaID(c.Param("id")), force); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// serve delivers a media file, or its variant ?w=, to anyone: the
// unguessable ID is its only key. A file never changes under its URL, so
// caches keep it for a year; the ETag is strong (the digest of the
// original and the width) and http.ServeContent answers If-None-Match
// and Range. The name in the path is only for people and is not
// checked: the sanitized stored name is what Content-Disposition says.
func (h mediaRoutes) serve(c *gin.Context) {
	width := 0
	if v, ok := c.GetQuery("w"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || domain.CheckVariantWidth(n) != nil {
			fail(c, domain.ErrInvalidWidth)
			return
		}
		width = n
	}
	ctx := c.Request.Context()
	f, err := h.media.Public(ctx, c.Param("site"), domain.MediaID(c.Param("id")), width)
	if err != nil {
		fail(c, err)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", f.ContentType)
	hd.Set("ETag", f.ETag)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	disposition := "inline"
	if f.ContentType == domain.MediaPDF {
		// A PDF opens in the browser's viewer, which runs no script of
		// the API's origin; a CSP sandbox keeps it so.
		hd.Set("Content-Security-Policy", "sandbox")
	}
	hd.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	rs := &blobReadSeeker{ctx: ctx, blobs: h.blobs, key: f.Key, size: f.Size}
	defer rs.Close()
	// Open the blob before any header goes out, so that a file deleted
	// since it was looked up is a clean 404; a request for a range
	// reopens it at the range's start.
	if c.Request.Method == http.MethodGet {
		if err := rs.open(-1); err != nil {
			for _, k := range []string{"ETag", "Cache-Control", "Content-Disposition", "Content-Security-Policy"} {
				hd.Del(k)
			}
			fail(c, err)
			return
		}
	}
	bw := &blobBodyWriter{ResponseWriter: c.Writer}
	// The access log reads the size from c.Writer once the handler returns.
	c.Writer = bw
	http.ServeContent(bw, c.Request, "", f.ModTime, rs)
}

// blobBodyWriter is the writer http.ServeContent sends a blob to. io.CopyN,
// which ServeContent copies the body with, calls its ReadFrom, which hands
// the blob's own reader to net/http's response writer: blobfs's reader
// gives it the open file, which it sends with sendfile(2). A served image
// then costs no copy through this process, no 32 KB copy buffer and one
// write to the socket for its body where a copy through gin's writer made
// two or three for a 50 KB variant, which was most of what a cached
// variant cost beyond the socket's own work. gin's writer, which counts the
// bytes for the access log, is bypassed, so blobBodyWriter counts them.
type blobBodyWriter struct {
	gin.ResponseWriter
	sent int
}

func (w *blobBodyWriter) Size() int { return w.ResponseWriter.Size() + w.sent }

func (w *blobBodyWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	var b *blobReadSeeker
	if ok {
		b, ok = lr.R.(*blobReadSeeker)
	}
	u, unwraps := w.ResponseWriter.(interface{ Unwrap() http.ResponseWriter })
	if !ok || !unwraps {
		// A multipart range's pipe, or a writer of a middleware that
		// buffers: gin's writer counts what goes through it.
		return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	rc, err := b.reader(lr.N)
	if err != nil {
		return 0, err
	}
	w.WriteHeaderNow() // gin records that the header went out
	n, err := io.Copy(u.Unwrap(), rc)
	lr.N -= n
	b.advance(n)
	w.sent += int(n)
	return n, err
}

// blobReadSeeker reads a blob from its current offset with one ranged
// Get: a Seek only moves the offset, and the next Read reopens the blob
// there unless the open reader is already at it. http.ServeContent seeks
// to the end and back to learn the size, then to the start of the range
// it serves, which it reads once, so a Range request reads only the bytes
// it asked for.
type blobReadSeeker struct {
	ctx   context.Context
	blobs ports.BlobStore
	key   string
	size  int64
	off   int64 // where Read reads next
	rc    io.ReadCloser
	rcOff int64 // where rc reads next
	rcEnd int64 // where rc stops
}

// open opens the blob at the current offset for length bytes, or to its
// end when length is -1.
func (b *blobReadSeeker) open(length int64) error {
	if b.rc != nil {
		_ = b.rc.Close()
		b.rc = nil
	}
	rc, _, err := b.blobs.Get(b.ctx, b.key, b.off, length)
	if err != nil {
		return err
	}
	b.rc, b.rcOff, b.rcEnd = rc, b.off, b.size
	if length >= 0 {
		b.rcEnd = min(b.size, b.off+length)
	}
	return nil
}

// reader returns the blob's reader at the current offset holding exactly
// n bytes (fewer when the blob ends first), reusing the open one when it
// does: then its own WriteTo, if it has one, can send the bytes. The
// caller reports what it read with advance.
func (b *blobReadSeeker) reader(n int64) (io.Reader, error) {
	if b.rc == nil || b.rcOff != b.off || b.rcEnd != min(b.size, b.off+n) {
		if err := b.open(n); err != nil {
			return nil, err
		}
	}
	return b.rc, nil
}

func (b *blobReadSeeker) advance(n int64) {
	b.off += n
	b.rcOff = b.off
}

func (b *blobReadSeeker) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.rcOff != b.off || b.rcEnd < b.size {
		if err := b.open(-1); err != nil {
			return 0, err
		}
	}
	n, err := b.rc.Read(p)
	b.off += int64(n)
	b.rcOff = b.off
	return n, err
}

func (b *blobReadSeeker) Seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = b.off + offset
	case io.SeekEnd:
		to = b.size + offset
	}
	if to < 0 {
		return 0, errors.New("seek before the start")
	}
	b.off = to
	return to, nil
}

func (b *blobReadSeeker) Close() error {
	if b.rc != nil {
		return b.rc.Close()
	}
	return nil
}
