package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// decodeJSON reads the request body as one JSON document into dst. It
// refuses other media types (415), bodies over the limit (413, also when
// the body is chunked and its length unknown until read), unknown fields
// and trailing data (400): a typo in a field name must not be silently
// ignored.
func decodeJSON(c *gin.Context, dst any) error {
	mt, _, err := mime.ParseMediaType(c.ContentType())
	if err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return errMalformedJSON.WithMessage("The request body must hold exactly one JSON value.")
	}
	return nil
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge.WithCause(err)
	}
	return errMalformedJSON.WithCause(err)
}
