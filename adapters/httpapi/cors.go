package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

// corsDecided marks a request whose handler already set the CORS headers
// its answer calls for, allowed or not, so that errorCORS does not look
// the form or site up a second time.
const corsDecided = "keel.corsDecided"

// corsRules says how each public route sets CORS headers on its errors.
// A rule is given the form ID or site slug when the route has none to
// offer, for an unknown path under a public prefix.
type corsRules struct {
	routes map[string]func(c *gin.Context, param string) // by gin's full path
	sites  func(c *gin.Context, slug string)             // /v1/sites/{site}/...
	forms  func(c *gin.Context, form string)             // /v1/forms/{form}/...
}

// errorCORS gives the errors of the public routes the CORS headers their
// successes would have for the same origin, so that a script reads the
// problem (404, 413, 422, 429...) instead of failing with "Failed to
// fetch". It runs inside problems, before the problem is written: the
// body limit, panics and handlers all end up here. Unknown paths under a
// public prefix, such as a mistyped /v1/sites/{site}/tags, get the
// headers of their site or form. A request without Origin is not a
// cross-origin browser call and costs no lookup.
func errorCORS(rules *corsRules) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() || c.GetHeader("Origin") == "" || c.GetBool(corsDecided) ||
			c.Writer.Header().Get("Access-Control-Allow-Origin") != "" {
			return
		}
		if route := c.FullPath(); route != "" {
			if apply := rules.routes[route]; apply != nil {
				apply(c, "")
			}
			return
		}
		for _, p := range []struct {
			prefix string
			apply  func(*gin.Context, string)
		}{{"/v1/sites/", rules.sites}, {"/v1/forms/", rules.forms}} {
			rest, ok := strings.CutPrefix(c.Request.URL.Path, p.prefix)
			if !ok || p.apply == nil {
				continue
			}
			if name, _, ok := strings.Cut(rest, "/"); ok && name != "" {
				p.apply(c, name)
			}
			return
		}
	}
}

// allowAnyOriginOnNotFound answers a public request whose form or site
// does not exist: there is no policy to respect, and a 404 tells any
// origin nothing, so every script may read it.
func allowAnyOriginOnNotFound(c *gin.Context, err error) {
	if domain.KindOf(err) != domain.KindNotFound {
		return
	}
	hd := c.Writer.Header()
	hd["Access-Control-Allow-Origin"] = anyOriginHeader
	hd.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id, "+rateLimitHeaders)
}
