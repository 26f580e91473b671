package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
)

// submitRoutes serves the public submission endpoint: no credentials,
// called by plain HTML forms (answered with redirects or small HTML pages),
// by scripts on the form's allowed origins (CORS) and by API clients.
type submitRoutes struct{ forms *forms.Service }

func (h submitRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/forms/:form/submissions", h.submit)
	v1.OPTIONS("/forms/:form/submissions", h.preflight)
}

// maxSubmissionFields bounds the distinct field names one submission may
// carry: twice a form's own limit, so the honeypot, a timestamp field and
// a few unknown names still get a precise unknown_field answer.
const maxSubmissionFields = 200

// corsMaxAge is how long a browser may cache a preflight answer: short
// enough that removing an origin takes effect within the hour.
const corsMaxAge = 3600

// Errors of the public endpoint's decoding.
var (
	errInvalidUTF8   = domain.E(domain.KindInvalid, "invalid_utf8", "The request body is not valid UTF-8.")
	errMalformedForm = domain.E(domain.KindInvalid, "malformed_form", "The request body is not a valid form encoding.")
	errTooManyFields = domain.E(domain.KindInvalid, "too_many_fields", "The submission has more than 200 fields.")
	errNotJSONObject = errMalformedJSON.WithMessage("The request body must be one JSON object.")
	errSubmitMedia   = errUnsupportedMedia.WithMessage("Send application/json, application/x-www-form-urlencoded or multipart/form-data.")
	errFileUpload    = errUnsupportedMedia.WithMessage("This Keel stores no files; send text fields only.")
)

// encoding is how a submission's body is encoded.
type encoding int

const (
	encJSON encoding = iota
	encURLEncoded
	encMultipart
)

func encodingOf(c *gin.Context) (encoding, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return 0, errSubmitMedia
	}
	switch mt {
	case "application/json":
		return encJSON, nil
	case "application/x-www-form-urlencoded":
		return encURLEncoded, nil
	case "multipart/form-data":
		return encMultipart, nil
	}
	return 0, errSubmitMedia
}

// submit stores a visitor's submission. A form-encoded post from a client
// that accepts HTML (a browser) is answered with a 303 to the form's
// redirect or with a small HTML page; everything else with JSON or a
// problem. A filled honeypot is answered exactly as a real submission.
func (h submitRoutes) submit(c *gin.Context) {
	c.Header("Vary", "Origin")
	enc, err := encodingOf(c)
	browser := err == nil && enc != encJSON && acceptsHTML(c.GetHeader("Accept"))
	// A client over its quota is refused before its body is read; the
	// limiter left the refusal here so that a browser gets its page. So
	// did limitBody for a body declared too large.
	if limited := rateLimited(c); limited != nil {
		err = limited
	}
	if c.GetBool(bodyTooLargeKey) {
		err = errBodyTooLarge
	}
	var raw domain.RawSubmission
	// File parts stream to the blob store as they arrive, through uploads
	// started at the first one; Submit deletes them unless the submission
	// commits, and so does a decoding error here.
	var uploads *forms.Uploads
	files := func(field, name string, r io.Reader) error {
		if uploads == nil {
			u, err := h.forms.StartUploads(c.Request.Context(), domain.FormID(c.Param("form")))
			if errors.Is(err, forms.ErrUploadsUnavailable) {
				return errFileUpload
			}
			if err != nil {
				return err
			}
			uploads = u
		}
		return uploads.Put(c.Request.Context(), field, name, r)
	}
	if err == nil {
		raw, err = decodeSubmission(c, enc, files)
		if err != nil {
			uploads.Discard(c.Request.Context())
		}
	}
	var out forms.Submitted
	if err == nil {
		out, err = h.forms.Submit(c.Request.Context(), forms.SubmitInput{
			Form: domain.FormID(c.Param("form")), Raw: raw, ClientIP: c.ClientIP(),
			UserAgent: c.Request.UserAgent(), Referrer: c.Request.Referer(), Origin: c.GetHeader("Origin"),
			Uploads: uploads,
		})
	}
	if err != nil {
		h.refuse(c, browser, out.Form, err)
		return
	}
	allowOrigin(c, out.Form)
	switch {
	case !browser:
		// The submission's URL in the management API, where only its
		// workspace's members can read it; a spam submission has one too,
		// so that a bot cannot tell it was caught.
		c.Header("Location", "/v1/workspaces/"+string(out.Form.Workspace())+"/submissions/"+string(out.Submission.ID()))
		c.JSON(http.StatusCreated, submittedResponse{ID: string(out.Submission.ID()), CreatedAt: domain.Stamp{Time: out.Submission.CreatedAt()}})
	case out.Form.Redirects().Success != "":
		c.Redirect(http.StatusSeeOther, out.Form.Redirects().Success)
	default:
		lang := visitorLanguage(c.GetHeader("Accept-Language"))
		setVisitorLanguage(c.Writer.Header(), lang)
		renderPage(c, http.StatusOK, visitorThanks(lang, out.Form))
	}
}

type submittedResponse struct {
	ID        string       `json:"id"`
	CreatedAt domain.Stamp `json:"created_at"`
}

// refuse answers a submission that failed. The form's allowed origins and
// error redirect are needed to answer well. Submit returns the form with
// its error when it found it; a body refused before Submit ran has none,
// so refuse looks the form up, except for an unknown form, which has
// none, and for a rate-limited script or API client, whose refusal must
// stay cheap; a rate-limited browser is sent to the form's error page
// like any other refusal, at the cost of reading the form.
//
// A browser goes to the form's error redirect with error=<code> and
// fields=<name>:<code>,... (see redirectFields), and, for a 429,
// retry_after=<seconds>; without one it gets Keel's page in its language.
func (h submitRoutes) refuse(c *gin.Context, browser bool, f domain.Form, err error) {
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind == domain.KindInternal {
		fail(c, err) // logged and masked by problems
		return
	}
	found := f.ID() != ""
	// A body refused before Submit ran (415, 400, 413) came back without
	// its form; read it only when the answer needs it.
	if !found && (browser || c.GetHeader("Origin") != "" && !errors.Is(err, domain.ErrRateLimited)) && !errors.Is(err, domain.ErrNotFound) {
		var ferr error
		f, ferr = h.forms.PublicForm(c.Request.Context(), domain.FormID(c.Param("form")))
		found = ferr == nil
	}
	if found {
		allowOrigin(c, f)
		c.Set(corsDecided, true)
	} else if errors.Is(err, domain.ErrNotFound) {
		allowAnyOriginOnNotFound(c, err)
		c.Set(corsDecided, true)
	}
	if !browser {
		fail(c, err)
		return
	}
	status := statusOf(de)
	if status == http.StatusTooManyRequests {
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(de.RetryAfter)))
	}
	if found {
		if u := f.ErrorRedirect(de.Code, redirectFields(de.Fields)); u != "" {
			if status == http.StatusTooManyRequests {
				u = withQuery(u, "retry_after", strconv.Itoa(retryAfterSeconds(de.RetryAfter)))
			}
			c.Redirect(http.StatusSeeOther, u)
			return
		}
	}
	lang := visitorLanguage(c.GetHeader("Accept-Language"))
	setVisitorLanguage(c.Writer.Header(), lang)
	limit, _ := c.Get(bodyLimitKey)
	maxBody, _ := limit.(int64)
	renderPage(c, status, visitorError(lang, status, de, f, maxBody))
}

// withQuery returns the URL u with name=value added to its query.
func withQuery(u, name, value string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set(name, value)
	p.RawQuery = q.Encode()
	return p.String()
}

// acceptsHTML reports whether the Accept header asks for HTML, as every
// browser's does for a navigation; "*/*" alone (curl, scripts) does not.
func acceptsHTML(accept string) bool {
	for _, r := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err != nil || mt != "text/html" && mt != "application/xhtml+xml" {
			continue
		}
		if q, err := strconv.ParseFloat(params["q"], 64); params["q"] == "" || err == nil && q > 0 {
			return true
		}
	}
	return false
}

// allowOrigin grants the calling origin, if the form allows it, the right
// to read the answer. Other origins get no CORS headers at all.
func allowOrigin(c *gin.Context, f domain.Form) {
	origin := c.GetHeader("Origin")
	if !f.AllowsOrigin(origin) {
		return
	}
	c.Header("Access-Control-Allow-Origin", origin)
	c.Header("Access-Control-Expose-Headers", "Retry-After, X-Request-Id, "+rateLimitHeaders)
}

// preflight answers a browser's CORS preflight for a script on one of the
// form's allowed origins; any other origin gets a bare 204, which the
// browser treats as a refusal.
func (h submitRoutes) preflight(c *gin.Context) {
	c.Header("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	f, err := h.forms.PublicForm(c.Request.Context(), domain.FormID(c.Param("form")))
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		c.Set(corsDecided, true)
		fail(c, err)
		return
	}
	if origin := c.GetHeader("Origin"); f.AllowsOrigin(origin) {
		c.Header("Access-Control-Allow-Origin", origin)
		c.Header("Access-Control-Allow-Methods", "POST")
		c.Header("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key")
		c.Header("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	}
	c.Status(http.StatusNoContent)
}

// errorCORS sets the CORS headers of an error on the submission route
// (or, with a form ID, under /v1/forms/{form}/) that the handler did not
// set: a body refused by the limit before the handler ran, a rate-limited
// client, whose refusal reads no form until a browser asks, a panic.
func (h submitRoutes) errorCORS(c *gin.Context, form string) {
	if form == "" {
		form = c.Param("form")
	}
	c.Writer.Header().Add("Vary", "Origin")
	f, err := h.forms.PublicForm(c.Request.Context(), domain.FormID(form))
	if err != nil {
		allowAnyOriginOnNotFound(c, err)
		return
	}
	allowOrigin(c, f)
}

// --- Decoding. Each decoder builds the raw submission in the order the
// fields first arrive and refuses invalid UTF-8 (400), bodies over the
// limit (413) and more than maxSubmissionFields names (422). Domain checks
// the values themselves.

// fileSink stores one file part of field, named name by the browser.
type fileSink func(field, name string, r io.Reader) error

func decodeSubmission(c *gin.Context, enc encoding, files fileSink) (domain.RawSubmission, error) {
	switch enc {
	case encURLEncoded:
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			return domain.RawSubmission{}, formBodyError(err)
		}
		return decodeURLEncoded(body)
	case encMultipart:
		limit, _ := c.Get(bodyLimitKey)
		textLimit, _ := limit.(int64)
		if textLimit <= 0 {
			textLimit = DefaultMaxBodyBytes
		}
		return decodeMultipart(c.Request, files, textLimit)
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return domain.RawSubmission{}, bodyError(err)
	}
	return decodeJSONSubmission(body)
}

func formBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge.WithCause(err)
	}
	return errMalformedForm.WithCause(err)
}

type rawBuilder struct{ raw domain.RawSubmission }

func newRawBuilder() *rawBuilder {
	return &rawBuilder{domain.RawSubmission{Fields: map[string][]string{}}}
}

// add appends values to name; a name with no values still counts as sent,
// so that domain can refuse it if the form does not define it.
func (b *rawBuilder) add(name string, values ...string) error {
	if _, seen := b.raw.Fields[name]; !seen {
		if len(b.raw.Order) == maxSubmissionFields {
			return errTooManyFields
		}
		b.raw.Order = append(b.raw.Order, name)
		b.raw.Fields[name] = []string{}
	}
	b.raw.Fields[name] = append(b.raw.Fields[name], values...)
	return nil
}

// decodeURLEncoded parses the body as url.ParseQuery does (semicolons are
// refused), keeping the order of the names, which url.Values loses.
func decodeURLEncoded(body []byte) (domain.RawSubmission, error) {
	b := newRawBuilder()
	for rest := string(body); rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return domain.RawSubmission{}, errMalformedForm.WithMessage("The form body has a semicolon; send & between fields.")
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return domain.RawSubmission{}, errMalformedForm.WithCause(err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return domain.RawSubmission{}, errMalformedForm.WithCause(err)
		}
		if !utf8.ValidString(name) || !utf8.ValidString(value) {
			return domain.RawSubmission{}, errInvalidUTF8
		}
		if err := b.add(name, value); err != nil {
			return domain.RawSubmission{}, err
		}
	}
	b.raw.FormEncoded = true
	return b.raw, nil
}

// decodeMultipart reads the parts one by one rather than through
// ParseMultipartForm: nothing is spooled to temporary files, each file
// part streams to files as it arrives (refused when files is nil), and the
// order of the names is kept. The text parts hold at most textLimit bytes
// in all, the usual body limit; the files are bounded by their fields.
func decodeMultipart(r *http.Request, files fileSink, textLimit int64) (domain.RawSubmission, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return domain.RawSubmission{}, errMalformedForm.WithCause(err)
	}
	b := newRawBuilder()
	text := int64(0)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			b.raw.FormEncoded = true
			return b.raw, nil
		}
		if err != nil {
			return domain.RawSubmission{}, formBodyError(err)
		}
		if isFilePart(part) {
			if files == nil {
				return domain.RawSubmission{}, errFileUpload
			}
			name := part.FormName()
			if name == "" {
				continue
			}
			if !utf8.ValidString(name) {
				return domain.RawSubmission{}, errInvalidUTF8
			}
			if err := b.add(name); err != nil {
				return domain.RawSubmission{}, err
			}
			if err := files(name, part.FileName(), part); err != nil {
				var de *domain.Error
				if errors.As(err, &de) {
					return domain.RawSubmission{}, err
				}
				return domain.RawSubmission{}, formBodyError(err)
			}
			continue
		}
		name := part.FormName()
		value, err := io.ReadAll(io.LimitReader(part, textLimit-text+1))
		if err != nil {
			return domain.RawSubmission{}, formBodyError(err)
		}
		if text += int64(len(value)); text > textLimit {
			return domain.RawSubmission{}, errBodyTooLarge
		}
		if name == "" { // not a form-data part: ParseMultipartForm skips these too
			continue
		}
		if !utf8.ValidString(name) || !utf8.Valid(value) {
			return domain.RawSubmission{}, errInvalidUTF8
		}
		if err := b.add(name, string(value)); err != nil {
			return domain.RawSubmission{}, err
		}
	}
}

// isFilePart reports a part from a file input: it has a filename parameter,
// even an empty one (an input left empty, which browsers still send).
func isFilePart(p *multipart.Part) bool {
	if p.FileName() != "" {
		return true
	}
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return false
	}
	_, ok := params["filename"]
	return ok
}

const errJSONValueType = "Send a string, number, boolean or an array of those."

// decodeJSONSubmission reads one JSON object whose values are strings,
// numbers, booleans or arrays of those (multiselect). Numbers keep their
// text; true is "true" and false is no value at all, as an unticked
// checkbox sends nothing. Key order is kept by reading the token stream.
// encoding/json would replace invalid UTF-8 silently, so the body is
// checked first.
func decodeJSONSubmission(body []byte) (domain.RawSubmission, error) {
	if !utf8.Valid(body) {
		return domain.RawSubmission{}, errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return domain.RawSubmission{}, errMalformedJSON.WithCause(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return domain.RawSubmission{}, errNotJSONObject
	}
	b := newRawBuilder()
	var bad []domain.FieldError
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return domain.RawSubmission{}, errMalformedJSON.WithCause(err)
		}
		name, ok := tok.(string)
		if !ok {
			return domain.RawSubmission{}, errMalformedJSON
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return domain.RawSubmission{}, errMalformedJSON.WithCause(err)
		}
		values, ok := jsonValues(v)
		if !ok {
			bad = append(bad, domain.FieldError{Field: name, Code: "invalid_type", Message: errJSONValueType})
			values = nil
		}
		if err := b.add(name, values...); err != nil {
			return domain.RawSubmission{}, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return domain.RawSubmission{}, errMalformedJSON.WithCause(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.RawSubmission{}, errNotJSONObject
	}
	if len(bad) > 0 {
		return domain.RawSubmission{}, domain.Invalid(bad...)
	}
	return b.raw, nil
}

// jsonValues converts one member's value; ok is false for null, objects
// and nested arrays.
func jsonValues(v json.RawMessage) (_ []string, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, false
		}
		var out []string
		for _, it := range items {
			s, ok := jsonScalar(bytes.TrimSpace(it))
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	}
	return jsonScalar(v)
}

func jsonScalar(v json.RawMessage) ([]string, bool) {
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false
		}
		return []string{s}, true
	case 't':
		return []string{"true"}, true
	case 'f':
		return nil, true
	case 'n', '{', '[':
		return nil, false
	}
	return []string{string(v)}, true // a number, as written
}

// --- Pages for browsers. No external resources, nothing but escaped text.

type page struct {
	Lang, Title, Message string
	Items                []pageItem
	Hint                 string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:36rem;margin:10vh auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
h1{font-size:1.5rem;margin:0 0 1rem}
ul{padding-left:1.25rem}
li{margin:.25rem 0}
.hint{color:#59636e;font-size:.9rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Items}}
<ul>
{{- range .Items}}
<li><strong>{{.Label}}</strong>{{with .Message}}: {{.}}{{end}}</li>
{{- end}}
</ul>
{{- end}}
{{- with .Hint}}
<p class="hint">{{.}}</p>
{{- end}}
</main>
</body>
</html>
`))

// renderPage writes a page with headers that keep it self-contained: no
// scripts, no external loads, no framing, no caching.
func renderPage(c *gin.Context, status int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		fail(c, err)
		return
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// isMultipart reports a multipart/form-data request body.
func isMultipart(c *gin.Context) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}
