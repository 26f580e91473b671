package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

const principalKey = "keel.principal"

// noStoreHeader is Cache-Control's value, prepared once: the header is set
// on every API response.
var noStoreHeader = []string{"no-store"}

// noStore keeps every /v1 response out of every cache, browsers' and
// shared ones: the API answers with login tokens (setup, login), secrets
// (API key creation) and private data (anything a credential reads), and
// a cached copy would outlive logout and revocation or reach another user
// of a shared cache. The public delivery API, whose responses are public
// by design, replaces it with its own Cache-Control.
func noStore(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = noStoreHeader
	c.Next()
}

// authenticate resolves the caller of every /v1 request from its
// Authorization header. No header means an anonymous caller, whom the use
// cases refuse where they must; a header that does not authenticate is
// refused here with 401, so a client with a broken token learns it even on
// an endpoint that would have served it anonymously.
func authenticate(ids *identity.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		client := domain.Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
		h := c.GetHeader("Authorization")
		if h == "" {
			c.Set(principalKey, domain.AnonymousPrincipal.WithClient(client))
			c.Next()
			return
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			_ = c.Error(errBadAuthorization)
			c.Abort()
			return
		}
		p, err := ids.Authenticate(c.Request.Context(), strings.TrimSpace(token), client)
		if err != nil {
			_ = c.Error(err)
			c.Abort()
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

var errBadAuthorization = domain.ErrUnauthenticated.WithMessage("Use the header Authorization: Bearer <session token or API key>.")

// principal returns the caller authenticate stored.
func principal(c *gin.Context) domain.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(domain.Principal)
	return pr
}
