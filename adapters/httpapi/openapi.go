package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/api"
)

// docsFiles is the API reference page: Keel's own page, script and
// stylesheet, and the Swagger UI bundle that scripts/vendor-docs.sh
// fetched from the npm registry. They are in the binary so that the page
// needs nothing but the Keel that serves it: no CDN, no third party.
//
//go:embed docs/index.html docs/docs.js docs/docs.css docs/swagger-ui/swagger-ui-bundle.js docs/swagger-ui/swagger-ui.css
var docsFiles embed.FS

// docsAssets maps each name under /v1/docs/assets/ to its embedded file.
var docsAssets = map[string]string{
	"docs.js":              "docs/docs.js",
	"docs.css":             "docs/docs.css",
	"swagger-ui-bundle.js": "docs/swagger-ui/swagger-ui-bundle.js",
	"swagger-ui.css":       "docs/swagger-ui/swagger-ui.css",
}

// docsPolicy is the reference page's Content-Security-Policy: the page
// runs only the scripts and stylesheets Keel serves, never inline ones,
// and may only fetch from Keel (the document, and the calls "Try it out"
// makes). Swagger UI needs no exception: it styles elements
// through the DOM, which the policy does not restrict, and its stylesheet
// draws icons as data: images. test/docspage fails on any violation.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// staticCacheControl is the Cache-Control of the document and of the
// page: they change only with the binary, which no client can foresee,
// so caches keep them but ask before each use, and the strong ETag makes
// that question a 304 without a body. An upgrade is seen at once.
var staticCacheControl = []string{"public, no-cache"}

// staticFile is one unchanging response, with its headers prepared once,
// as is and, for the page's assets, gzipped too: Swagger UI's script
// shrinks from 1.7 MB to about a third. The document is left as is, so
// that the tests' contract check (api/openapitest) reads what a client
// decodes; partners' tools fetch it once per release, not per page view.
type staticFile struct {
	plain, gzipped representation // gzipped.body is nil when it would not save
	contentType    []string
}

// representation is one encoding of a staticFile, with its own strong
// ETag, since a strong ETag names exact bytes.
type representation struct {
	body       []byte
	etag       string // quoted, as sent
	etagHeader []string
	encoding   []string // Content-Encoding; nil for none
}

// newStaticFile prepares body; compress adds the gzipped representation
// when it is smaller.
func newStaticFile(body []byte, contentType string, compress bool) (staticFile, error) {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	f := staticFile{plain: newRepresentation(body, tag, nil), contentType: []string{contentType}}
	if !compress {
		return f, nil
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return staticFile{}, err
	}
	if _, err := zw.Write(body); err != nil {
		return staticFile{}, err
	}
	if err := zw.Close(); err != nil {
		return staticFile{}, err
	}
	if b.Len() < len(body) {
		f.gzipped = newRepresentation(b.Bytes(), tag+"-gzip", gzipHeader)
	}
	return f, nil
}

func newRepresentation(body []byte, tag string, encoding []string) representation {
	etag := `"` + tag + `"`
	return representation{body: body, etag: etag, etagHeader: []string{etag}, encoding: encoding}
}

// write sends f, gzipped when the client accepts it, or 304 when the
// client's copy of that representation is current.
func (f staticFile) write(c *gin.Context) {
	hd := c.Writer.Header()
	r := f.plain
	if f.gzipped.body != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			r = f.gzipped
		}
	}
	hd["Etag"] = r.etagHeader
	hd["Cache-Control"] = staticCacheControl
	hd["X-Content-Type-Options"] = noSniffHeader
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatches(inm, r.etag) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	hd["Content-Type"] = f.contentType
	if r.encoding != nil {
		hd["Content-Encoding"] = r.encoding
	}
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(r.body); err != nil {
		_ = c.Error(err)
		c.Abort()
	}
}

// acceptsGzip reports whether an Accept-Encoding value accepts gzip: named
// without q=0. A "*" is not taken as gzip, so that only a client that
// says gzip gets it.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q=")
		return !ok || strings.Trim(q, "0.") != ""
	}
	return false
}

// The header values these routes share, prepared once.
var (
	noSniffHeader    = []string{"nosniff"}
	gzipHeader       = []string{"gzip"}
	docsPolicyHeader = []string{docsPolicy}
	noReferrerHeader = []string{"no-referrer"}
	exposeETagHeader = []string{"ETag, X-Request-Id"}
	docsContentTypes = map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
)

// openAPIRoutes serves the API's contract, api/openapi.yaml, as JSON and
// YAML, and the reference page that renders it. Every response is built
// once, when the server is.
type openAPIRoutes struct {
	json, yaml, page staticFile
	assets           map[string]staticFile
}

// openAPIOnce prepares the responses once per process: they depend only
// on what the binary embeds, and compressing them takes a moment.
var openAPIOnce = sync.OnceValues(newOpenAPIRoutes)

// newOpenAPIRoutes prepares the responses. It fails only when the
// embedded document or page is broken, which api's and this package's
// tests catch before a binary ships.
func newOpenAPIRoutes() (openAPIRoutes, error) {
	doc, err := api.JSON()
	if err != nil {
		return openAPIRoutes{}, err
	}
	page, err := docsFiles.ReadFile("docs/index.html")
	if err != nil {
		return openAPIRoutes{}, err
	}
	h := openAPIRoutes{assets: map[string]staticFile{}}
	// application/json rather than the registered
	// application/vnd.oai.openapi+json: every HTTP client, browser viewer
	// and generator knows it, and the document says what it is in its
	// first member, "openapi".
	if h.json, err = newStaticFile(doc, "application/json", false); err != nil {
		return openAPIRoutes{}, err
	}
	if h.yaml, err = newStaticFile(api.YAML(), "application/yaml", false); err != nil { // RFC 9512
		return openAPIRoutes{}, err
	}
	if h.page, err = newStaticFile(page, "text/html; charset=utf-8", false); err != nil {
		return openAPIRoutes{}, err
	}
	for name, file := range docsAssets {
		body, err := docsFiles.ReadFile(file)
		if err != nil {
			return openAPIRoutes{}, err
		}
		if h.assets[name], err = newStaticFile(body, docsContentTypes[path.Ext(name)], true); err != nil {
			return openAPIRoutes{}, err
		}
	}
	return h, nil
}

func (h openAPIRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/openapi.json", h.document(h.json))
	v1.GET("/openapi.yaml", h.document(h.yaml))
	v1.GET("/docs", h.docs)
	v1.GET("/docs/assets/:file", h.asset)
}

// document serves the contract to anyone: partners' tools fetch it from
// browsers on their own origins, and it holds nothing secret.
func (h openAPIRoutes) document(f staticFile) gin.HandlerFunc {
	return func(c *gin.Context) {
		allowAnyOrigin(c, "")
		f.write(c)
	}
}

// allowAnyOrigin lets a script on any origin read the answer, an error
// included (errorCORS calls it for those).
func allowAnyOrigin(c *gin.Context, _ string) {
	hd := c.Writer.Header()
	hd["Access-Control-Allow-Origin"] = anyOriginHeader
	hd["Access-Control-Expose-Headers"] = exposeETagHeader
}

// docs serves the reference page under a policy that lets it run only
// Keel's scripts and never be framed.
func (h openAPIRoutes) docs(c *gin.Context) {
	hd := c.Writer.Header()
	hd["Content-Security-Policy"] = docsPolicyHeader
	hd["Referrer-Policy"] = noReferrerHeader
	h.page.write(c)
}

// asset serves the page's scripts and stylesheets; any other name is 404.
func (h openAPIRoutes) asset(c *gin.Context) {
	f, ok := h.assets[c.Param("file")]
	if !ok {
		_ = c.Error(errRouteNotFound)
		return
	}
	f.write(c)
}

// mustOpenAPIRoutes is newOpenAPIRoutes for New, which has no error to
// return: a binary whose embedded document does not parse cannot serve
// its contract and should not start.
func mustOpenAPIRoutes() openAPIRoutes {
	h, err := openAPIOnce()
	if err != nil {
		panic(fmt.Sprintf("httpapi: the embedded OpenAPI document or reference page: %v", err))
	}
	return h
}
