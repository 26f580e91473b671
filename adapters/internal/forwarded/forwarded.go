// Package forwarded reads what a reverse proxy says of the client's view
// of a request: the X-Forwarded-Host and X-Forwarded-Proto headers. The
// adapters use it only when the deployment trusts its proxies; the
// composition root removes both headers from every other peer's requests.
package forwarded

import (
	"net/http"
	"regexp"
	"strings"
)

// Origin returns the host and the scheme that the proxy nearest to Keel
// wrote in X-Forwarded-Host and X-Forwarded-Proto (the last value of
// each), each "" when absent or not what a proxy writes: a host name or an
// IP address with a port or not, and http or https.
func Origin(r *http.Request) (host, scheme string) {
	if h := last(r.Header.Values("X-Forwarded-Host")); hostPattern.MatchString(h) {
		host = h
	}
	switch p := strings.ToLower(last(r.Header.Values("X-Forwarded-Proto"))); p {
	case "http", "https":
		scheme = p
	}
	return host, scheme
}

// hostPattern is a host name or an IP address, with a port or not, and
// nothing that could break out of a URL.
var hostPattern = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$`)

// last is the last entry of a header's values: the one the proxy nearest
// to Keel wrote.
func last(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
