package console

import (
	"net/http"

	"github.com/keelhq/keel/adapters/internal/forwarded"
)

// forwardedOrigin is the scheme and host a trusted proxy names in
// X-Forwarded-Proto and X-Forwarded-Host, each falling back to scheme and
// host when absent or not what a proxy writes.
func forwardedOrigin(r *http.Request, scheme, host string) (string, string) {
	h, p := forwarded.Origin(r)
	if h != "" {
		host = h
	}
	if p != "" {
		scheme = p
	}
	return scheme, host
}
