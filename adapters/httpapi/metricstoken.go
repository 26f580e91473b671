package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

var errMetricsToken = domain.ErrUnauthenticated.WithMessage("Use the header Authorization: Bearer <the metrics token>.")

// requireToken lets a request through only when its bearer credential is
// token; an empty token lets every request through. Both sides are
// hashed before they are compared in constant time, so that neither the
// token's bytes nor its length can be learnt from how long a refusal
// takes.
func requireToken(token string) gin.HandlerFunc {
	if token == "" {
		return func(*gin.Context) {}
	}
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			_ = c.Error(errMetricsToken)
			c.Abort()
		}
	}
}
