package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// decodeJSON reads the request body as one JSON document into dst, a
// pointer to a request DTO. It refuses other media types (415), bodies over
// the limit (413, also when the body is chunked and its length unknown
// until read), and bodies that are not one JSON value (400 malformed_json,
// with the byte offset of the fault in the detail). A body that is valid
// JSON but does not fit the DTO is a 422 that names every field at fault:
// unknown_field for a member the DTO lacks (a typo must not be silently
// ignored) and invalid_type for a value of the wrong JSON type.
func decodeJSON(c *gin.Context, dst any) error {
	return readJSON(c, dst, false)
}

// optionalJSON decodes a body that may be absent: publish and unpublish
// have sensible defaults, so a bare POST is a complete request. An empty
// body counts as absent whatever its declared media type, since clients
// often send Content-Type: application/json on every request.
func optionalJSON(c *gin.Context, dst any) error {
	if c.Request.ContentLength == 0 && c.ContentType() == "" {
		return nil
	}
	return readJSON(c, dst, true)
}

func readJSON(c *gin.Context, dst any, optional bool) error {
	// A required body's media type is checked before reading it, so that a
	// wrong one costs no read; an optional body may be empty whatever its type.
	if !optional && !isJSON(c) {
		return errUnsupportedMedia
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return bodyError(err)
	}
	if optional && len(body) == 0 {
		return nil
	}
	if !isJSON(c) {
		return errUnsupportedMedia
	}
	return decodeBytes(body, dst)
}

// bodyError classifies a failure to read a body: over the limit (413) or
// cut short by the client (400).
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge.WithCause(err)
	}
	return errMalformedJSON.WithMessage("The request body could not be read.").WithCause(err)
}

func isJSON(c *gin.Context) bool {
	mt, _, err := mime.ParseMediaType(c.ContentType())
	return err == nil && mt == "application/json"
}

// decodeBytes is decodeJSON after the body is read. The happy path is one
// strict json.Decoder pass; only when that fails does the validator walk the
// body against dst's type to report every field at fault, not only the
// first one the decoder met.
func decodeBytes(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(body, dst, err)
	}
	rest := body[dec.InputOffset():]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		at := len(body) - len(trimmed)
		return errMalformedJSON.WithMessage("The request body must hold exactly one JSON value; more follows at byte %d.", at)
	}
	return nil
}

func decodeError(body []byte, dst any, err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return syntaxError(syntax)
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(body)) == 0:
		return errMalformedJSON.WithMessage("The request body is empty; this endpoint needs a JSON value.")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errMalformedJSON.WithMessage("The request body is not valid JSON: it ends inside a value at byte %d.", len(body)).WithCause(err)
	}
	t := reflect.TypeOf(dst)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if want := expectedType(t); want != "" && !jsonKindFits(body, t) {
		// A document of the wrong shape has no field to blame.
		return errMalformedJSON.WithMessage("The request body must be %s, not %s.", want, jsonKindOf(body))
	}
	v := validator{}
	v.walk(body, t, "", 0)
	if len(v.errs) == 0 {
		// The decoder found a fault the walk cannot name, such as a value a
		// custom decoder refused; the body is still not what we accept.
		return errUnexplained.WithCause(err)
	}
	return fieldsError(v.errs)
}

func syntaxError(e *json.SyntaxError) error {
	// Offset counts the bytes read, the faulty one included; the detail
	// gives the faulty byte's offset from 0, as an editor's cursor would.
	return errMalformedJSON.WithMessage("The request body is not valid JSON: %s at byte %d.", e.Error(), e.Offset-1).WithCause(e)
}

var errUnexplained = errMalformedJSON.WithMessage("The request body does not match this endpoint's schema.")

// Bounds of the walk: the body is already bounded by KEEL_MAX_BODY_BYTES,
// but a body of thousands of typos should not make a problem as large.
const (
	maxFieldErrors = 50
	maxWalkDepth   = 32
)

// fieldsError summarises field errors in one 422. Its code is the fields'
// code when they share one (unknown_field, invalid_type), so that a client
// can tell a typo from a wrong type without reading the list.
func fieldsError(errs []domain.FieldError) error {
	code := errs[0].Code
	for _, e := range errs[1:] {
		if e.Code != code {
			code = ""
		}
	}
	names := make([]string, 0, len(errs))
	for _, e := range errs {
		names = append(names, e.Field)
	}
	list := strings.Join(names, ", ")
	switch code {
	case "unknown_field":
		return domain.E(domain.KindInvalid, code, "The request body has fields this endpoint does not accept: "+list+".").WithFields(errs...)
	case "invalid_type":
		return domain.E(domain.KindInvalid, code, "The request body has fields of the wrong type: "+list+".").WithFields(errs...)
	}
	return domain.Invalid(errs...)
}

// jsonWrapper is a DTO type that decodes its JSON through an inner type,
// like optional[T]; the walk validates the inner type in its place.
type jsonWrapper interface{ jsonInnerType() reflect.Type }

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	wrapperType     = reflect.TypeFor[jsonWrapper]()
	timeType        = reflect.TypeFor[time.Time]()
)

// validator walks a JSON document that the decoder has already parsed (so
// it is syntactically valid) against a DTO type, following encoding/json's
// rules, and collects what does not fit with the field's path
// (fields[2].max_length). null fits everything, as in encoding/json.
type validator struct{ errs []domain.FieldError }

func (v *validator) full() bool { return len(v.errs) >= maxFieldErrors }

func (v *validator) add(path, code, msg string) {
	if !v.full() {
		v.errs = append(v.errs, domain.FieldError{Field: path, Code: code, Message: msg})
	}
}

func (v *validator) walk(raw []byte, t reflect.Type, path string, depth int) {
	raw = bytes.TrimSpace(raw)
	if v.full() || depth > maxWalkDepth || string(raw) == "null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(wrapperType) {
		t = reflect.New(t).Interface().(jsonWrapper).jsonInnerType()
		v.walk(raw, t, path, depth+1)
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			v.add(path, "invalid_type", "Expected "+expectedType(t)+".")
		}
		return
	}
	if !jsonKindFits(raw, t) {
		v.add(path, "invalid_type", fmt.Sprintf("Expected %s, not %s.", expectedType(t), jsonKindOf(raw)))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := jsonFields(t)
		eachMember(raw, func(key string, val []byte) bool {
			f, ok := fields[key]
			if !ok {
				for name, ft := range fields {
					if strings.EqualFold(name, key) { // encoding/json's fallback
						f, ok = ft, true
						break
					}
				}
			}
			if !ok {
				v.add(joinPath(path, key), "unknown_field", "This field is not part of the request.")
			} else {
				v.walk(val, f, joinPath(path, key), depth+1)
			}
			return !v.full()
		})
	case reflect.Map:
		eachMember(raw, func(key string, val []byte) bool {
			v.walk(val, t.Elem(), joinPath(path, key), depth+1)
			return !v.full()
		})
	case reflect.Slice, reflect.Array:
		i := 0
		eachElement(raw, func(val []byte) bool {
			v.walk(val, t.Elem(), path+"["+strconv.Itoa(i)+"]", depth+1)
			i++
			return !v.full()
		})
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); err != nil {
			v.add(path, "invalid_type", "Expected an integer in range, not "+string(raw)+".")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(string(raw), 10, t.Bits()); err != nil {
			v.add(path, "invalid_type", "Expected a non-negative integer in range, not "+string(raw)+".")
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(string(raw), t.Bits()); err != nil {
			v.add(path, "invalid_type", "Expected a number in range, not "+string(raw)+".")
		}
	}
}

// maxKeyEcho bounds a member name as the problem echoes it: the names are
// the client's, and a long one should not make the answer as long again.
const maxKeyEcho = 100

func joinPath(path, key string) string {
	if len(key) > maxKeyEcho {
		cut := maxKeyEcho
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "…"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps a struct's JSON member names to their types as
// encoding/json names them: the tag's name, else the Go name; fields of
// untagged embedded structs are promoted.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, et := range jsonFields(ft) {
					if _, ok := out[n]; !ok {
						out[n] = et
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

// eachMember calls fn with each member of a valid JSON object, in order,
// while fn returns true.
func eachMember(raw []byte, fn func(key string, val []byte) bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return
		}
		if !fn(key, val) {
			return
		}
	}
}

// eachElement calls fn with each element of a valid JSON array, in order,
// while fn returns true.
func eachElement(raw []byte, fn func(val []byte) bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // [
		return
	}
	for dec.More() {
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return
		}
		if !fn(val) {
			return
		}
	}
}

// jsonKindOf names the JSON type of a valid value by its first byte.
func jsonKindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonKindFits reports whether a valid JSON value has the JSON type that
// encoding/json decodes into t. Types with their own decoder decide alone.
func jsonKindFits(raw []byte, t reflect.Type) bool {
	got := jsonKindOf(raw)
	if got == "null" || reflect.PointerTo(t).Implements(unmarshalerType) {
		return true
	}
	want := expectedType(t)
	return want == "" || want == got || (want == "an integer" && got == "a number")
}

// expectedType names the JSON type that encoding/json decodes into t, or
// "" when any type will do.
func expectedType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return "an RFC 3339 timestamp such as 2026-01-02T15:04:05Z"
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return ""
}
