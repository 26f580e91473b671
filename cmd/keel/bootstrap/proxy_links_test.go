package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestTrustProxiesKeepsForwardedHostFromProxiesOnly: X-Forwarded-Host and
// X-Forwarded-Proto, which name the public address in links when
// KEEL_PUBLIC_URL is unset, reach the API only from a trusted proxy; a
// client that sends them itself has them removed, and the server's own
// request is left as it was.
func TestTrustProxiesKeepsForwardedHostFromProxiesOnly(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, peer  string
		host, proto string
	}{
		{"FromProxy", "10.0.0.2:5000", "cms.example.com", "https"},
		{"FromClient", "203.0.113.5:5000", "", ""},
		{"FromClientNamingAProxy", "203.0.113.5:5000", "", ""},
		{"UnparsablePeer", "@", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var host, proto string
			h := trustProxies(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				host, proto = r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto")
			}))
			r := httptest.NewRequest("GET", "/v1/sites/acme/feed.xml", nil)
			r.RemoteAddr = tc.peer
			r.Header.Set("X-Forwarded-Host", "cms.example.com")
			r.Header.Set("X-Forwarded-Proto", "https")
			if tc.name == "FromClientNamingAProxy" {
				r.Header.Set("X-Forwarded-For", "10.0.0.9")
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if host != tc.host || proto != tc.proto {
				t.Errorf("handler saw X-Forwarded-Host %q, -Proto %q; want %q, %q", host, proto, tc.host, tc.proto)
			}
			if r.Header.Get("X-Forwarded-Host") != "cms.example.com" {
				t.Error("the server's request lost its header")
			}
		})
	}
}
