package webhookhttp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestGuardRefuses calls the Control hook itself with the addresses a
// dialer would pass it; no socket is involved, so public addresses may
// appear here as plain values.
func TestGuardRefuses(t *testing.T) {
	t.Parallel()
	refused := map[string]string{
		"0.0.0.0:443":                   "unspecified",
		"0.1.2.3:443":                   "unspecified",
		"10.0.0.1:443":                  "private",
		"10.255.255.255:443":            "private",
		"100.64.0.1:443":                "shared (CGNAT)",
		"100.127.255.254:443":           "shared (CGNAT)",
		"127.0.0.1:443":                 "loopback",
		"127.8.9.10:80":                 "loopback",
		"169.254.169.254:80":            "link-local",
		"172.16.0.1:443":                "private",
		"172.31.255.255:443":            "private",
		"192.0.0.8:443":                 "reserved (IETF protocol assignments)",
		"192.0.2.1:443":                 "documentation",
		"192.168.1.1:443":               "private",
		"198.18.0.1:443":                "benchmarking",
		"198.51.100.7:443":              "documentation",
		"203.0.113.9:443":               "documentation",
		"224.0.0.1:443":                 "multicast",
		"239.255.255.250:1900":          "multicast",
		"240.0.0.1:443":                 "reserved",
		"255.255.255.255:443":           "broadcast",
		"[::]:443":                      "unspecified",
		"[::1]:443":                     "loopback",
		"[::ffff:127.0.0.1]:443":        "loopback",
		"[::ffff:10.0.0.1]:443":         "private",
		"[::ffff:169.254.169.254]:80":   "link-local",
		"[::ffff:100.64.0.1]:443":       "shared (CGNAT)",
		"[::ffff:0.0.0.0]:443":          "unspecified",
		"[::ffff:224.0.0.1]:443":        "multicast",
		"[::ffff:255.255.255.255]:443":  "broadcast",
		"[::ffff:a00:1]:443":            "private", // ::ffff:10.0.0.1 in hexadecimal
		"[::10.0.0.1]:443":              "reserved (IPv4-compatible)",
		"[::ffff:0:a00:1]:443":          "reserved (IPv4-translated)",
		"[64:ff9b::a9fe:a9fe]:80":       "link-local (through NAT64)", // 169.254.169.254
		"[64:ff9b::7f00:1]:80":          "loopback (through NAT64)",
		"[64:ff9b:1::1]:443":            "private (local NAT64)",
		"[100::1]:443":                  "reserved (discard)",
		"[2001::1]:443":                 "reserved (Teredo)",
		"[2001:db8::1]:443":             "documentation",
		"[2002:a00:1::1]:443":           "reserved (6to4)",
		"[fc00::1]:443":                 "private",
		"[fd12:3456:789a::1]:443":       "private",
		"[fe80::1]:443":                 "link-local",
		"[fe80::1%eth0]:443":            "link-local",
		"[febf:ffff::1]:443":            "link-local",
		"[fec0::1]:443":                 "reserved (site-local)",
		"[ff02::1]:443":                 "multicast",
		"[ff05::1:3]:443":               "multicast",
		"[ff0e::1]:443":                 "multicast",
		"[::ffff:192.168.0.1%eth0]:443": "private",
	}
	g := guard{}
	for address, want := range refused {
		err := g.control("tcp", address, nil)
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
			t.Errorf("control(%s) = %v, want a refusal (%s)", address, err, want)
			continue
		}
		if re.Range != want {
			t.Errorf("control(%s) refused it as %q, want %q", address, re.Range, want)
		}
		if !strings.Contains(err.Error(), re.Addr.String()) || !strings.HasPrefix(err.Error(), "refused: ") {
			t.Errorf("control(%s) error %q does not say what it refused", address, err)
		}
		if re.Addr.Is4In6() {
			t.Errorf("control(%s) reports %s: want the unmapped form", address, re.Addr)
		}
	}
	for _, address := range []string{
		"93.184.215.14:443", "1.1.1.1:443", "8.8.8.8:443",
		"[::ffff:8.8.8.8]:443", "[2606:4700:4700::1111]:443",
		"[64:ff9b::808:808]:443", // NAT64 to a public address
		"100.63.255.255:443", "100.128.0.0:443", "172.32.0.1:443", "11.0.0.1:443",
	} {
		if err := g.control("tcp", address, nil); err != nil {
			t.Errorf("control(%s) = %v, want nil: it is public", address, err)
		}
	}
	for _, bad := range []string{"", "metadata.test:80", "10.0.0.1", "[::1]"} {
		if err := g.control("tcp", bad, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("control(%q) = %v, want a refusal", bad, err)
		}
	}
}

func TestGuardAllowNetworks(t *testing.T) {
	t.Parallel()
	allow, err := ParseAllowNetworks("127.0.0.0/8, ::1/128,10.1.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	g := guard{allow: allow}
	for _, address := range []string{"127.0.0.1:80", "127.1.2.3:80", "[::1]:80", "[::ffff:127.0.0.1]:80", "10.1.2.3:443", "[::ffff:10.1.2.3]:443"} {
		if err := g.control("tcp", address, nil); err != nil {
			t.Errorf("control(%s) = %v, want it allowed", address, err)
		}
	}
	for _, address := range []string{"10.1.3.1:443", "169.254.169.254:80", "[fc00::1]:443", "[::ffff:10.0.0.1]:443"} {
		if err := g.control("tcp", address, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("control(%s) = %v, want a refusal: it is not in the allowed networks", address, err)
		}
	}
}

func TestParseAllowNetworks(t *testing.T) {
	t.Parallel()
	got, err := ParseAllowNetworks(" 127.0.0.1/8 ,::1/128")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseAllowNetworks = %v, want %v", got, want)
	}
	if got, err := ParseAllowNetworks("  "); err != nil || got != nil {
		t.Fatalf("ParseAllowNetworks(blank) = %v, %v; want none", got, err)
	}
	for _, bad := range []string{
		"127.0.0.1", "localhost/8", "127.0.0.0/33", "127.0.0.0/8,", "::ffff:127.0.0.1/104",
		strings.Repeat("10.0.0.0/8,", maxAllowNetworks) + "10.0.0.0/8",
		strings.Repeat("1", 10_000),
	} {
		if _, err := ParseAllowNetworks(bad); err == nil {
			t.Errorf("ParseAllowNetworks(%.40q) accepted it", bad)
		}
	}
}

func TestParseAllowHTTP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, " TRUE ": true} {
		if got, err := ParseAllowHTTP(in); err != nil || got != want {
			t.Errorf("ParseAllowHTTP(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAllowHTTP("yes"); err == nil {
		t.Error(`ParseAllowHTTP("yes") accepted it`)
	}
}
