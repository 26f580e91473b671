package console

import (
	"net/http"
	"regexp"
	"strings"
)

// forwardedOrigin is the scheme and host a trusted proxy names in
// X-Forwarded-Proto and X-Forwarded-Host (the last value of each, which
// the proxy nearest to Keel wrote), each falling back to scheme and host
// when absent or not what a proxy writes.
func forwardedOrigin(r *http.Request, scheme, host string) (string, string) {
	if h := lastForwarded(r.Header.Values("X-Forwarded-Host")); forwardedHostPattern.MatchString(h) {
		host = h
	}
	switch p := strings.ToLower(lastForwarded(r.Header.Values("X-Forwarded-Proto"))); p {
	case "http", "https":
		scheme = p
	}
	return scheme, host
}

// forwardedHostPattern is a host name or an IP address, with a port or
// not, and nothing that could break out of a URL.
var forwardedHostPattern = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$`)

func lastForwarded(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
