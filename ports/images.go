package ports

import (
	"context"
	"io"
)

// ImageProcessor reads and scales the images of the media library. It
// decodes only what its caller already measured with Dimensions and found
// within domain.MaxMediaPixels.
type ImageProcessor interface {
	// Dimensions reads only the header of an image of content type ct
	// and returns its width and height: 0, 0 for a type it cannot measure
	// (PDF), domain.ErrMediaCorrupt for a header it cannot read.
	Dimensions(ct string, r io.Reader) (width, height int, err error)

	// StripMetadata copies an image of content type ct from r to w
	// without its metadata (EXIF with GPS positions, XMP, IPTC, comments),
	// losslessly: the image data is copied as it is. Types it does not
	// strip are copied unchanged.
	StripMetadata(ct string, w io.Writer, r io.Reader) error

	// Resize decodes an image of content type ct from r, scales it to
	// width (never up: a narrower image keeps its width) and writes it to
	// w in domain.VariantType(ct). It stops with ctx's error when ctx ends.
	Resize(ctx context.Context, ct string, r io.Reader, width int, w io.Writer) error
}
