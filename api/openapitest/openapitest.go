// Package openapitest checks HTTP exchanges against Keel's OpenAPI document
// in tests: Handler wraps a server, Transport wraps a client, and both
// report every request and response the document does not describe with
// t.Errorf. It is for _test.go files and test/ packages only; test/arch
// checks that the keel binary never links it (or kin-openapi), so the
// contract costs production nothing.
//
// A request is checked for its route, parameters (an undeclared query
// parameter too, since the API refuses those), content type, body and the
// presence of the credentials its security asks for (the server itself
// decides whether they are good). A response is checked for a status the
// operation documents, its headers, its content type and its body,
// problem+json included. A test that sends a deliberately invalid request
// marks it with MarkInvalid (or the X-Keel-Test-Invalid header, or
// WithInvalid on its context): only the response is then checked, against
// the operation the path and method name, when there is one.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/keelhq/keel/api"
)

// InvalidHeader marks a request as deliberately invalid when its value is
// "1". Handler and Transport remove it before the server sees the request.
const InvalidHeader = "X-Keel-Test-Invalid"

// MarkInvalid marks r as deliberately invalid: its response is still
// checked, the request is not.
func MarkInvalid(r *http.Request) { r.Header.Set(InvalidHeader, "1") }

type invalidKey struct{}

// WithInvalid returns a context that marks the requests made with it as
// deliberately invalid, for clients (a generated one) that take a context
// more easily than a header.
func WithInvalid(ctx context.Context) context.Context {
	return context.WithValue(ctx, invalidKey{}, true)
}

func isInvalid(r *http.Request) bool {
	v, _ := r.Context().Value(invalidKey{}).(bool)
	return v || r.Header.Get(InvalidHeader) == "1"
}

// bodyPrefix is how much of a body a report quotes.
const bodyPrefix = 300

func init() {
	// kin-openapi decodes only the media types it knows; Keel's feeds,
	// sitemaps, pages and exports are text whose schema, if any, is a
	// string.
	for _, ct := range []string{
		"text/html", "application/xml", "text/xml", "application/atom+xml",
		"application/rss+xml", "application/xhtml+xml", "application/x-ndjson",
	} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	// The media library's files are bytes whose schema is a binary string.
	for _, ct := range []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "application/pdf", "image/svg+xml", "text/plain; charset=utf-8"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// Validator checks exchanges against one OpenAPI document.
type Validator struct {
	router routers.Router
}

// New loads and validates an OpenAPI document (YAML or JSON). Its servers
// keep only their paths: a test server listens on a loopback port, not on
// the host the document names.
func New(doc []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := d.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	var servers openapi3.Servers
	for _, s := range d.Servers {
		u, err := url.Parse(s.URL)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", s.URL, err)
		}
		c := *s
		c.URL = u.Path
		servers = append(servers, &c)
	}
	d.Servers = servers
	router, err := gorillamux.NewRouter(d)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	return &Validator{router: router}, nil
}

var (
	keelOnce sync.Once
	keel     *Validator
	keelErr  error
)

// Keel returns the validator for Keel's own document (package api), loaded
// once per test binary; a document that does not load fails t.
func Keel(t testing.TB) *Validator {
	t.Helper()
	keelOnce.Do(func() { keel, keelErr = New(api.YAML()) })
	if keelErr != nil {
		t.Fatalf("openapitest: %v", keelErr)
	}
	return keel
}

// Handler wraps h so that every exchange is checked against Keel's
// document.
func Handler(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	return Keel(t).Handler(t, h)
}

// Transport wraps rt (nil is http.DefaultTransport) so that every exchange
// is checked against Keel's document.
func Transport(t testing.TB, rt http.RoundTripper) http.RoundTripper {
	t.Helper()
	return Keel(t).Transport(t, rt)
}

// Handler wraps h so that every exchange is checked against v's document.
// The response reaches the client as h writes it, flushes included; it is
// checked once h returns.
func (v *Validator) Handler(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, err := v.request(r)
		if err != nil {
			t.Errorf("openapitest: read request %s %s: %v", r.Method, r.URL.Path, err)
			h.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, ex.forward)
		header := rec.header
		if header == nil { // h wrote nothing: net/http sends 200.
			header = w.Header().Clone()
		}
		ex.report(t, v.response(ex, rec.statusOr200(), header, rec.body.Bytes()))
	})
}

// Transport wraps rt (nil is http.DefaultTransport) so that every exchange
// is checked against v's document. The response body is read in full
// before the caller sees it.
func (v *Validator) Transport(t testing.TB, rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		ex, err := v.request(r)
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
		resp, err := rt.RoundTrip(ex.forward)
		if err != nil {
			ex.report(t, ex.errs) // the request's own mismatches, at least
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read response body: %w", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		ex.report(t, v.response(ex, resp.StatusCode, resp.Header, body))
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// exchange is one request on its way through a validator.
type exchange struct {
	method, path string
	body         []byte
	forward      *http.Request // what the server gets: the marker removed
	input        *openapi3filter.RequestValidationInput
	errs         []error
}

// request reads and closes r's body, finds its operation and, unless r is
// marked invalid, checks it. The exchange's forward request is what goes
// on: a copy of r with the body and without the marker.
func (v *Validator) request(r *http.Request) (*exchange, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		// A RoundTripper closes the body it is given, and neither it nor a
		// handler's wrapper changes the caller's request: fwd carries the
		// bytes on.
		_ = r.Body.Close()
	}
	invalid := isInvalid(r)
	fwd := r.Clone(r.Context())
	fwd.Header.Del(InvalidHeader)
	if r.Body != nil && r.Body != http.NoBody {
		fwd.Body = io.NopCloser(bytes.NewReader(body))
		fwd.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	ex := &exchange{method: r.Method, path: r.URL.RequestURI(), body: body, forward: fwd}

	// The validator reads its own copy, so that decoding the body for the
	// schema never consumes what the server or the caller reads.
	check := fwd.Clone(r.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := v.router.FindRoute(check)
	if err != nil {
		if !invalid {
			ex.errs = append(ex.errs, fmt.Errorf("no operation: %w", err))
		}
		return ex, nil
	}
	ex.input = &openapi3filter.RequestValidationInput{
		Request:    check,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:                        true,
			RejectWhenRequestBodyNotSpecified: true,
			AuthenticationFunc:                credentialsPresent,
			// The server fills in defaults itself; the check must not
			// change the request it validates.
			SkipSettingDefaults: true,
		},
	}
	ex.input.Options.WithCustomSchemaErrorFunc(schemaMessage)
	if invalid {
		return ex, nil
	}
	if err := openapi3filter.ValidateRequest(r.Context(), ex.input); err != nil {
		ex.errs = append(ex.errs, fmt.Errorf("request: %w", err))
	}
	if extra := undeclaredQuery(route.Operation, route.PathItem, check.URL.Query()); len(extra) > 0 {
		ex.errs = append(ex.errs, fmt.Errorf("request: query parameters %s are not declared", strings.Join(extra, ", ")))
	}
	return ex, nil
}

// undeclaredQuery lists the query parameters in q that neither op nor its
// path item declares, sorted. An operation that takes any query (the
// public form endpoint, whose pages add tracking parameters) says so with
// a free-form query parameter: an object, exploded.
func undeclaredQuery(op *openapi3.Operation, item *openapi3.PathItem, q url.Values) []string {
	declared := map[string]bool{}
	for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range ps {
			if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
				continue
			}
			if s := p.Value.Schema; s != nil && s.Value != nil && s.Value.Type.Is(openapi3.TypeObject) {
				return nil
			}
			declared[p.Value.Name] = true
		}
	}
	var extra []string
	for name := range q {
		if !declared[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return extra
}

// credentialsPresent is the validator's authentication: the server decides
// whether a credential is good, so the document only promises which header
// carries it.
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, r := in.SecurityScheme, in.RequestValidationInput.Request
	switch s.Type {
	case "http":
		scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, s.Scheme) {
			return in.NewError(fmt.Errorf("no Authorization: %s header", s.Scheme))
		}
	case "apiKey":
		var present bool
		switch s.In {
		case "header":
			present = r.Header.Get(s.Name) != ""
		case "query":
			present = r.URL.Query().Has(s.Name)
		case "cookie":
			_, err := r.Cookie(s.Name)
			present = err == nil
		}
		if !present {
			return in.NewError(fmt.Errorf("no %s %s", s.In, s.Name))
		}
	}
	return nil
}

// response checks one response against the exchange's operation; without
// an operation (a marked request to an undocumented path) there is nothing
// to check it against.
func (v *Validator) response(ex *exchange, status int, header http.Header, body []byte) []error {
	if ex.input == nil {
		return ex.errs
	}
	errs := ex.errs
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: ex.input,
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	in.Options.WithCustomSchemaErrorFunc(schemaMessage)
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ex.forward.Context(), in); err != nil {
		errs = append(errs, fmt.Errorf("response: %w", err))
	}
	// kin-openapi accepts any body where the document describes none;
	// an undocumented body is as much a broken promise as a wrong one.
	if ex.method != http.MethodHead && len(body) > 0 {
		if resp := documented(ex.input.Route.Operation, status); resp != nil && len(resp.Content) == 0 {
			errs = append(errs, fmt.Errorf("response: status %d has a %q body the document does not describe", status, header.Get("Content-Type")))
		}
	}
	if err := problemCode(ex.input.Route.Operation, status, header, body); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// problemCode checks that a problem's code is one the document lists for
// its operation and status (x-problem-codes): clients branch on codes, so
// a code the document puts under another status, or omits, is as broken a
// promise as a wrong schema, and only the exchanges the tests make can
// show it.
func problemCode(op *openapi3.Operation, status int, header http.Header, body []byte) error {
	if !strings.HasPrefix(header.Get("Content-Type"), "application/problem+json") || len(body) == 0 {
		return nil
	}
	resp := documented(op, status)
	if resp == nil {
		return nil
	}
	listed, ok := resp.Extensions["x-problem-codes"].([]any)
	if !ok {
		return fmt.Errorf("response: status %d is a problem but the document lists no x-problem-codes for it", status)
	}
	var problem struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &problem); err != nil {
		return nil // The schema check has reported the body already.
	}
	for _, c := range listed {
		if c == problem.Code {
			return nil
		}
	}
	return fmt.Errorf("response: status %d has code %q, which the document does not list for it (x-problem-codes %v)", status, problem.Code, listed)
}

// schemaMessage names where a value breaks its schema and why, without
// kin-openapi's dump of the whole schema and value: the report quotes the
// body already.
func schemaMessage(err *openapi3.SchemaError) string {
	reason := err.Reason
	if err.Origin != nil {
		reason = err.Origin.Error()
	}
	if p := err.JSONPointer(); len(p) > 0 {
		return fmt.Sprintf("at /%s: %s", strings.Join(p, "/"), reason)
	}
	return reason
}

func documented(op *openapi3.Operation, status int) *openapi3.Response {
	if op.Responses == nil {
		return nil
	}
	ref := op.Responses.Status(status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil {
		return nil
	}
	return ref.Value
}

// report fails t once per mismatch, naming the exchange and quoting the
// start of the bodies involved.
func (ex *exchange) report(t testing.TB, errs []error) {
	t.Helper()
	for _, err := range errs {
		msg := fmt.Sprintf("openapitest: %s %s: %v", ex.method, ex.path, err)
		var re *openapi3filter.ResponseError
		if errors.As(err, &re) {
			msg += fmt.Sprintf("\n  status %d, response body: %s", re.Input.Status, quote(responseBody(re.Input)))
		}
		if len(ex.body) > 0 {
			msg += "\n  request body: " + quote(ex.body)
		}
		t.Errorf("%s", msg)
	}
}

// responseBody returns the body kin-openapi kept in its input.
func responseBody(in *openapi3filter.ResponseValidationInput) []byte {
	if in.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(in.Body)
	in.SetBodyBytes(b)
	return b
}

// quote returns the start of b as a Go string literal.
func quote(b []byte) string {
	if len(b) > bodyPrefix {
		cut := bodyPrefix
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", b[:cut])
	}
	return fmt.Sprintf("%q", b)
}

// recorder passes a response through to the client and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header // as at WriteHeader
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
		r.header = r.ResponseWriter.Header().Clone()
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// Flush passes flushes on: exports stream their rows.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
