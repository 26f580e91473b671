package httpapi

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"

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
// runs Keel's scripts and stylesheets and nothing else, inline ones
// included, and may only fetch from Keel (the document, and the calls
// "Try it out" makes). Swagger UI needs no exception: it styles elements
// through the DOM, which the policy does not restrict, and its stylesheet
// draws icons as data: images. test/docspage fails on any violation.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// staticCacheControl is the Cache-Control of the document and of the
// page: they change only with the binary, which no client can foresee,
// so caches keep them but ask before each use, and the strong ETag makes
// that question a 304 without a body. An upgrade is seen at once.
var staticCacheControl = []string{"public, no-cache"}

// staticFile is one unchanging response, with its headers prepared once.
type staticFile struct {
	body        []byte
	etag        string // quoted, as sent
	etagHeader  []string
	contentType []string
}

func newStaticFile(body []byte, contentType string) staticFile {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return staticFile{body: body, etag: etag, etagHeader: []string{etag}, contentType: []string{contentType}}
}

// write sends f, or 304 when the client's copy is current.
func (f staticFile) write(c *gin.Context) {
	hd := c.Writer.Header()
	hd["Etag"] = f.etagHeader
	hd["Cache-Control"] = staticCacheControl
	hd["X-Content-Type-Options"] = noSniffHeader
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatches(inm, f.etag) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	hd["Content-Type"] = f.contentType
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(f.body); err != nil {
		_ = c.Error(err)
		c.Abort()
	}
}

// The header values these routes share, prepared once.
var (
	noSniffHeader    = []string{"nosniff"}
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
	h := openAPIRoutes{
		// application/json rather than the registered
		// application/vnd.oai.openapi+json: every HTTP client, browser
		// viewer and generator knows it, and the document says what it
		// is in its first member, "openapi".
		json:   newStaticFile(doc, "application/json"),
		yaml:   newStaticFile(api.YAML(), "application/yaml"), // RFC 9512
		page:   newStaticFile(page, "text/html; charset=utf-8"),
		assets: map[string]staticFile{},
	}
	for name, file := range docsAssets {
		body, err := docsFiles.ReadFile(file)
		if err != nil {
			return openAPIRoutes{}, err
		}
		h.assets[name] = newStaticFile(body, docsContentTypes[path.Ext(name)])
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
	h, err := newOpenAPIRoutes()
	if err != nil {
		panic(fmt.Sprintf("httpapi: the embedded OpenAPI document or reference page: %v", err))
	}
	return h
}
