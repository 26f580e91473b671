package webhookhttp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ErrRefused is what a delivery returns, wrapped in a *RefusedError, when the
// address a webhook URL resolved to is not a public one: nothing was sent.
var ErrRefused = errors.New("refused address")

// RefusedError names the address the dialer's Control hook refused and the
// range it belongs to, for the delivery log: "refused: 10.0.0.1 is a
// private address".
type RefusedError struct {
	Addr  netip.Addr // unmapped: ::ffff:10.0.0.1 is reported as 10.0.0.1
	Range string     // "private", "loopback", "link-local", ...
}

func (e *RefusedError) Error() string {
	if !e.Addr.IsValid() {
		return "refused: " + e.Range
	}
	return fmt.Sprintf("refused: %s is a %s address", e.Addr, e.Range)
}

// Is makes errors.Is(err, ErrRefused) true for every refusal.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// special lists the ranges that are not public unicast addresses, with the
// name the refusal gives. The first match names the range, so narrower
// ranges come before the ranges that contain them. Sources: the IANA IPv4
// and IPv6 Special-Purpose Address Registries.
var special = []struct {
	prefix netip.Prefix
	name   string
}{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network"
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"}, // cloud metadata lives here
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved (6to4 relay)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	// IPv6. IPv4-mapped addresses (::ffff:0:0/96) never get here: they are
	// unmapped and checked as IPv4 first.
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "reserved (IPv4-translated)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private (local NAT64)"},
	{netip.MustParsePrefix("100::/64"), "reserved (discard)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	// Teredo and 6to4 embed an IPv4 address that the tunnel would reach;
	// both are obsolete, so refusing them costs no real receiver.
	{netip.MustParsePrefix("2001::/32"), "reserved (Teredo)"},
	{netip.MustParsePrefix("2001::/23"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("2002::/16"), "reserved (6to4)"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "reserved (site-local)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last 32 bits, which is checked as if it were dialled.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// refusedRange names the range of addr when it is not a public unicast
// address, or returns "" when it is.
func refusedRange(addr netip.Addr) string {
	addr = addr.WithZone("").Unmap() // Prefix.Contains is false for any zoned address.
	if nat64.Contains(addr) {
		b := addr.As16()
		if r := refusedRange(netip.AddrFrom4([4]byte(b[12:]))); r != "" {
			return r + " (through NAT64)"
		}
		return ""
	}
	for _, s := range special {
		if s.prefix.Contains(addr) {
			return s.name
		}
	}
	// What the list misses, the standard library's classification catches.
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return "non-public"
	}
	return ""
}

// guard is the dialer's Control hook: it runs for every connection, after
// DNS resolution and the socket's creation but before connect, so a refused
// address is never contacted, and a name that resolves to a public address
// for the URL check and a private one for the connection (DNS rebinding)
// gains nothing.
type guard struct{ allow []netip.Prefix }

func (g guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer always passes a numeric address; anything else is
		// refused rather than guessed at.
		return &RefusedError{Range: fmt.Sprintf("unparsable address %.64q", address)}
	}
	addr := ap.Addr().WithZone("").Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	if r := refusedRange(addr); r != "" {
		return &RefusedError{Addr: addr, Range: r}
	}
	return nil
}

// maxAllowNetworks bounds the allow list that ParseAllowNetworks accepts: it
// names a few development networks, and every connection scans it.
const maxAllowNetworks = 32

// ParseAllowNetworks reads a comma-separated list of CIDR networks (the
// value of KEEL_WEBHOOK_ALLOW_NETWORKS, e.g. "127.0.0.0/8,::1/128") that
// deliveries may reach although they are not public; "" allows none. An
// IPv4 network also allows its IPv4-mapped IPv6 form, since addresses are
// unmapped before they are checked.
func ParseAllowNetworks(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > maxAllowNetworks*50 {
		return nil, fmt.Errorf("webhook allow networks: longer than %d characters", maxAllowNetworks*50)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxAllowNetworks {
		return nil, fmt.Errorf("webhook allow networks: %d networks, at most %d", len(parts), maxAllowNetworks)
	}
	nets := make([]netip.Prefix, 0, len(parts))
	for _, part := range parts {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("webhook allow networks: %q is not a CIDR network (e.g. 127.0.0.0/8): %w", part, err)
		}
		if p.Addr().Is4In6() {
			// ::ffff:127.0.0.1/104 would never match: addresses are unmapped.
			return nil, fmt.Errorf("webhook allow networks: write %q in its IPv4 form", part)
		}
		nets = append(nets, p.Masked())
	}
	return nets, nil
}

// ParseAllowHTTP reads KEEL_WEBHOOK_ALLOW_HTTP: "" is false, otherwise what
// strconv.ParseBool accepts.
func ParseAllowHTTP(s string) (bool, error) {
	if s = strings.TrimSpace(s); s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("webhook allow http: %q is not true or false", s)
	}
	return b, nil
}
