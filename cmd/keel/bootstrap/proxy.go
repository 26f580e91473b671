package bootstrap

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"
)

var sTrustedProxies = setting{"trusted-proxies", "KEEL_TRUSTED_PROXIES", "", "comma-separated addresses or CIDR networks of the reverse proxies in front of Keel, whose X-Forwarded-For names the client (default: none; the connection's address is the client)"}

// maxTrustedProxies bounds the setting; a deployment lists its proxies'
// networks, not addresses one by one.
const maxTrustedProxies = 64

// maxForwardedHops bounds how far back X-Forwarded-For is read: a chain of
// proxies is a few hops, and a client can make the header long.
const maxForwardedHops = 16

// loadTrustedProxies reads the networks whose requests may name their
// client. A bare address is a network of that one address.
func loadTrustedProxies(fs *pflag.FlagSet, getenv func(string) string) ([]netip.Prefix, error) {
	raw := value(fs, getenv, sTrustedProxies)
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var nets []netip.Prefix
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, sTrustedProxies.errorf("want addresses or CIDR networks such as 10.0.0.0/8,fd00::/8, got %q", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		// Requests' addresses are compared unmapped, so ::ffff:10.0.0.0/104
		// is 10.0.0.0/8.
		addr, bits := p.Addr().WithZone(""), p.Bits()
		if addr.Is4In6() {
			if bits < 96 {
				return nil, sTrustedProxies.errorf("%q spans more than IPv4-mapped addresses", s)
			}
			addr, bits = addr.Unmap(), bits-96
		}
		nets = append(nets, netip.PrefixFrom(addr, bits).Masked())
	}
	if len(nets) > maxTrustedProxies {
		return nil, sTrustedProxies.errorf("at most %d networks, got %d", maxTrustedProxies, len(nets))
	}
	return nets, nil
}

// trustProxies makes a request that a trusted proxy forwarded come from
// the client the proxy names in X-Forwarded-For, for both the API and the
// console: rate limits, login throttling, the audit log and submissions'
// IP hashes then see clients instead of one proxy. It reads the header from
// the right, past the trusted proxies, so a client cannot choose its
// address by sending the header itself; from anyone else the header is
// ignored. With no trusted proxies it returns next unchanged.
//
// X-Forwarded-Host and X-Forwarded-Proto, which name the API's public
// address when KEEL_PUBLIC_URL is unset (httpapi.Config.ForwardedLinks),
// are removed from the requests of every peer that is not a trusted
// proxy, so that no client can choose the links a cache then serves to
// others.
func trustProxies(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peer, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !isTrusted(peer.Addr(), trusted) {
			if r.Header.Get("X-Forwarded-Host") != "" || r.Header.Get("X-Forwarded-Proto") != "" {
				r = r.WithContext(r.Context()) // a copy, with its own header
				r.Header = r.Header.Clone()
				r.Header.Del("X-Forwarded-Host")
				r.Header.Del("X-Forwarded-Proto")
			}
			next.ServeHTTP(w, r)
			return
		}
		if client, ok := forwardedClient(r, trusted); ok {
			_, port, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				port = "0"
			}
			r = r.WithContext(r.Context()) // a copy: the server keeps its own
			r.RemoteAddr = net.JoinHostPort(client.String(), port)
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient returns the client a trusted proxy named, or false when
// the peer is not trusted or the header names no valid address.
func forwardedClient(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(peer.Addr(), trusted) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	var client netip.Addr
	for i, n := len(hops)-1, 0; i >= 0 && n < maxForwardedHops; i, n = i-1, n+1 {
		a, ok := parseHop(hops[i])
		if !ok {
			// A hop no proxy would write: keep the last good one.
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client, client.IsValid()
}

// parseHop reads one X-Forwarded-For entry: an address, bracketed or
// with a port as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.WithZone("").Unmap() // prefixes contain no address with a zone
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
