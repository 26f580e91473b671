package domain

import (
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MediaID identifies a file of a workspace's media library.
type MediaID string

func (id MediaID) String() string { return string(id) }

// PrefixMedia starts every media ID.
const PrefixMedia = "med"

// NewMediaID returns a media ID taken at now. Unlike NewID, every bit
// after the 48-bit timestamp is random (74 bits, the version and variant
// bits aside), with no counter: the ID is the only secret of a public
// media URL, so it must not be guessable from a neighbour's.
func NewMediaID(now time.Time) MediaID {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms.
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return MediaID(PrefixMedia + "_" + encodeID(u))
}

// The content types the media library stores: sniffed from the bytes,
// never taken from the client.
const (
	MediaJPEG = "image/jpeg"
	MediaPNG  = "image/png"
	MediaGIF  = "image/gif"
	MediaWebP = "image/webp"
	MediaAVIF = "image/avif"
	MediaPDF  = "application/pdf"
)

// MediaTypes lists the stored content types.
var MediaTypes = []string{MediaJPEG, MediaPNG, MediaGIF, MediaWebP, MediaAVIF, MediaPDF}

// IsImageType reports whether a stored content type is an image.
func IsImageType(ct string) bool { return strings.HasPrefix(ct, "image/") }

// VariantWidths are the only widths an image variant is made at, so that
// nobody can fill the store by asking for every width.
var VariantWidths = []int{320, 640, 960, 1280, 1920}

// Bounds of what a media file's fields may hold.
const (
	MaxMediaNameBytes    = 200
	MaxMediaAltBytes     = 1000
	MaxMediaCaptionBytes = 2000
	// MaxMediaPixels is the decompression-bomb guard: an image whose
	// header declares more pixels is refused before it is decoded.
	MaxMediaPixels = 50_000_000
)

// Errors of the media library.
var (
	ErrMediaType     = E(KindInvalid, "media_type_unsupported", "This kind of file is not accepted: upload a JPEG, PNG, GIF, WebP or AVIF image, or a PDF.")
	ErrMediaSVG      = E(KindInvalid, "svg_not_supported", "SVG files are refused: they can carry scripts. Upload a PNG or WebP instead.")
	ErrMediaTooLarge = E(KindInvalid, "media_too_large", "The file is larger than this server accepts.")
	ErrMediaQuota    = E(KindInvalid, "media_quota_exceeded", "The workspace's media library is full; delete files first.")
	ErrMediaPixels   = E(KindInvalid, "image_too_many_pixels", "The image has more than 50 megapixels.")
	ErrMediaCorrupt  = E(KindInvalid, "media_corrupt", "The image cannot be read.")
	ErrMediaEmpty    = E(KindInvalid, "media_empty", "The file is empty.")
	ErrMediaInUse    = E(KindConflict, "media_in_use", "A published entry uses this file; pass force=true to delete it anyway.")
	ErrInvalidWidth  = E(KindInvalid, "invalid_width", "Variants are made only at widths 320, 640, 960, 1280 and 1920.")
	ErrNoVariants    = E(KindInvalid, "no_variants", "Only JPEG, PNG, GIF and WebP images have width variants.")
	// ErrCoverNotFound and ErrCoverNotImage refuse an entry's cover that
	// is not an image of the entry's own workspace.
	ErrCoverNotFound     = Invalid(FieldError{"cover_media_id", "not_found", "No file of this workspace's media library has this ID."})
	ErrCoverNotImage     = Invalid(FieldError{"cover_media_id", "not_an_image", "A cover must be an image: JPEG, PNG, GIF, WebP or AVIF."})
	errMediaAltTooLong   = Invalid(FieldError{"alt", "too_long", "Use at most 1000 bytes."})
	errMediaCaptionLong  = Invalid(FieldError{"caption", "too_long", "Use at most 2000 bytes."})
	errMediaFocalOutside = Invalid(FieldError{"focal_point", "out_of_range", "x and y are fractions of the width and height, from 0 to 1."})
	errMediaTextInvalid  = Invalid(FieldError{"alt", "invalid_utf8", "Use valid UTF-8 text."})
)

// CheckVariantWidth returns nil for a width of VariantWidths and
// ErrInvalidWidth for any other.
func CheckVariantWidth(w int) error {
	if slices.Contains(VariantWidths, w) {
		return nil
	}
	return ErrInvalidWidth
}

// HasVariants reports whether images of the content type get width
// variants. AVIF has no pure Go decoder, so it is served as uploaded.
func HasVariants(ct string) bool {
	return ct == MediaJPEG || ct == MediaPNG || ct == MediaGIF || ct == MediaWebP
}

// VariantType is the content type of ct's variants: PNG stays PNG (it may
// be transparent), GIF becomes PNG (its first frame) and the rest JPEG,
// since Go has no WebP encoder.
func VariantType(ct string) string {
	if ct == MediaPNG || ct == MediaGIF {
		return MediaPNG
	}
	return MediaJPEG
}

// SanitizeMediaName turns a client's file name into one safe in a URL
// path and a Content-Disposition header: the base name only, letters,
// digits, ".", "_" and "-" kept (other runs become one "-"), at most
// MaxMediaNameBytes, never empty or starting with ".".
func SanitizeMediaName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	dash := false
	for _, r := range name {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= MaxMediaNameBytes {
			break
		}
	}
	out := strings.ReplaceAll(strings.Trim(b.String(), "-."), "-.", ".")
	if len(out) > MaxMediaNameBytes {
		out = out[:MaxMediaNameBytes]
	}
	if out == "" {
		return "file"
	}
	return out
}

// FocalPoint is where an image's subject is, as fractions of its width
// and height from its top left corner, for crops that keep it.
type FocalPoint struct{ X, Y float64 }

// MediaKey returns the blob key of a media file's original, or of its
// variant of width w when w > 0. Both are made of IDs Keel made.
func MediaKey(ws WorkspaceID, id MediaID, w int) string {
	base := "media/" + strings.ToLower(ws.String()) + "/" + id.String() + "/"
	if w > 0 {
		return base + "w" + strconv.Itoa(w)
	}
	return base + "original"
}

// Media is a file of a workspace's media library.
type Media struct {
	id          MediaID
	workspace   WorkspaceID
	name        string
	contentType string
	size        int64
	width       int
	height      int
	alt         string
	caption     string
	focal       *FocalPoint
	blobKey     string
	sha256      string
	variants    []int
	actorKind   string
	actorID     string
	createdAt   time.Time
	updatedAt   time.Time
}

// MediaUpload describes an uploaded file after its bytes were stored and
// checked: its type sniffed, its size counted, its pixels measured.
type MediaUpload struct {
	ID            MediaID
	Name          string // as the client sent it; sanitized here
	ContentType   string // sniffed
	Size          int64
	Width, Height int
	SHA256        string // hex
}

// NewMedia makes the record of an upload by p at now.
func NewMedia(ws WorkspaceID, p Principal, u MediaUpload, now time.Time) (Media, error) {
	if !slices.Contains(MediaTypes, u.ContentType) {
		return Media{}, ErrMediaType
	}
	if u.Size <= 0 {
		return Media{}, ErrMediaEmpty
	}
	now = Timestamp(now)
	kind, id := p.Actor()
	return Media{
		id: u.ID, workspace: ws, name: SanitizeMediaName(u.Name), contentType: u.ContentType, size: u.Size,
		width: u.Width, height: u.Height, blobKey: MediaKey(ws, u.ID, 0), sha256: u.SHA256,
		actorKind: kind, actorID: id, createdAt: now, updatedAt: now,
	}, nil
}

// MediaRecord is a media file as stored, for RehydrateMedia.
type MediaRecord struct {
	ID                   MediaID
	Workspace            WorkspaceID
	Name, ContentType    string
	Size                 int64
	Width, Height        int
	Alt, Caption         string
	Focal                *FocalPoint
	BlobKey, SHA256      string
	Variants             []int
	ActorKind, ActorID   string
	CreatedAt, UpdatedAt time.Time
}

// RehydrateMedia rebuilds a stored media file, its times in UTC.
func RehydrateMedia(r MediaRecord) Media {
	v := slices.Clone(r.Variants)
	slices.Sort(v)
	return Media{r.ID, r.Workspace, r.Name, r.ContentType, r.Size, r.Width, r.Height, r.Alt, r.Caption, r.Focal,
		r.BlobKey, r.SHA256, v, r.ActorKind, r.ActorID, r.CreatedAt.UTC(), r.UpdatedAt.UTC()}
}

func (m Media) ID() MediaID            { return m.id }
func (m Media) Workspace() WorkspaceID { return m.workspace }
func (m Media) Name() string           { return m.name }
func (m Media) ContentType() string    { return m.contentType }
func (m Media) Size() int64            { return m.size }
func (m Media) Width() int             { return m.width }
func (m Media) Height() int            { return m.height }
func (m Media) Alt() string            { return m.alt }
func (m Media) Caption() string        { return m.caption }
func (m Media) Focal() *FocalPoint     { return m.focal }
func (m Media) BlobKey() string        { return m.blobKey }
func (m Media) SHA256() string         { return m.sha256 }
func (m Media) Variants() []int        { return slices.Clone(m.variants) }
func (m Media) Actor() (kind, id string) {
	return m.actorKind, m.actorID
}
func (m Media) CreatedAt() time.Time { return m.createdAt }
func (m Media) UpdatedAt() time.Time { return m.updatedAt }

// HasVariant reports whether the variant of width w was made.
func (m Media) HasVariant(w int) bool { return slices.Contains(m.variants, w) }

// AddVariant records that the variant of width w was made.
func (m *Media) AddVariant(w int) {
	if !m.HasVariant(w) {
		m.variants = append(m.variants, w)
		slices.Sort(m.variants)
	}
}

// MediaChange is a PATCH of a media file: nil fields stay as they are;
// ClearFocal removes the focal point.
type MediaChange struct {
	Alt, Caption *string
	Focal        *FocalPoint
	ClearFocal   bool
}

// Apply changes the file's details at now and reports whether anything
// changed.
func (m *Media) Apply(c MediaChange, now time.Time) (bool, error) {
	before := *m
	if c.Alt != nil {
		if !utf8.ValidString(*c.Alt) {
			return false, errMediaTextInvalid
		}
		if len(*c.Alt) > MaxMediaAltBytes {
			return false, errMediaAltTooLong
		}
		m.alt = strings.TrimSpace(*c.Alt)
	}
	if c.Caption != nil {
		if !utf8.ValidString(*c.Caption) {
			return false, errMediaTextInvalid.WithFields(FieldError{"caption", "invalid_utf8", "Use valid UTF-8 text."})
		}
		if len(*c.Caption) > MaxMediaCaptionBytes {
			return false, errMediaCaptionLong
		}
		m.caption = strings.TrimSpace(*c.Caption)
	}
	switch {
	case c.ClearFocal:
		m.focal = nil
	case c.Focal != nil:
		f := *c.Focal
		if !(f.X >= 0 && f.X <= 1 && f.Y >= 0 && f.Y <= 1) {
			return false, errMediaFocalOutside
		}
		m.focal = &f
	}
	changed := m.alt != before.alt || m.caption != before.caption || !sameFocal(m.focal, before.focal)
	if changed {
		m.updatedAt = Timestamp(now)
	}
	return changed, nil
}

func sameFocal(a, b *FocalPoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// SniffMedia returns the content type of a file from its first bytes (512
// are enough; fewer when the file is shorter), whatever the client said:
// one of MediaTypes, ErrMediaSVG for SVG (which can carry scripts), or
// ErrMediaType for anything else. A file is what its first bytes say:
// a polyglot that starts as a PNG is stored and served as a PNG, with
// nosniff, so a browser never runs it as anything else.
func SniffMedia(head []byte) (string, error) {
	has := func(off int, sig string) bool {
		return len(head) >= off+len(sig) && string(head[off:off+len(sig)]) == sig
	}
	switch {
	case len(head) == 0:
		return "", ErrMediaEmpty
	case has(0, "\xFF\xD8\xFF"):
		return MediaJPEG, nil
	case has(0, "\x89PNG\r\n\x1a\n"):
		return MediaPNG, nil
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return MediaGIF, nil
	case has(0, "RIFF") && has(8, "WEBPVP8"):
		return MediaWebP, nil
	case has(4, "ftypavif"), has(4, "ftypavis"):
		return MediaAVIF, nil
	case has(0, "%PDF-"):
		return MediaPDF, nil
	}
	if looksLikeSVG(head) {
		return "", ErrMediaSVG
	}
	return "", ErrMediaType
}

// looksLikeSVG reports whether an XML or HTML-ish text names an svg
// element near its start, so that SVG gets its own refusal.
func looksLikeSVG(head []byte) bool {
	s := strings.ToLower(string(head))
	s = strings.TrimLeft(s, "\xef\xbb\xbf \t\r\n")
	return strings.HasPrefix(s, "<") && strings.Contains(s, "<svg")
}
