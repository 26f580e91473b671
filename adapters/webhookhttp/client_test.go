package webhookhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/keelhq/keel/domain"
)

// No test here may send a packet outside loopback. The URLs name test
// hosts that fakeDNS resolves to private addresses in memory, and every
// client is built by newTestClient, whose Control hook runs the real guard
// and then refuses, failing the test, any address outside 127.0.0.0/8 and
// ::1 that the guard let through: a broken guard fails the test instead of
// connecting.

// fakeDNS answers the Go resolver's queries from a map, in memory: the
// resolver's Dial returns a dnsConn, which never touches the network.
type fakeDNS struct {
	hosts map[string][]netip.Addr // "metadata.test." → its A and AAAA records

	mu    sync.Mutex
	asked []string // the names queried, in order
}

func newFakeDNS(hosts map[string]string) *fakeDNS {
	f := &fakeDNS{hosts: map[string][]netip.Addr{}}
	for name, addrs := range hosts {
		for a := range strings.SplitSeq(addrs, ",") {
			f.hosts[name+"."] = append(f.hosts[name+"."], netip.MustParseAddr(a))
		}
	}
	return f
}

func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return &dnsConn{dns: f}, nil
		},
	}
}

func (f *fakeDNS) wasAsked(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.asked, func(q string) bool { return strings.HasPrefix(q, name+".") })
}

// answer builds the response to one query: the records of its type, or
// NXDOMAIN for a name the map lacks.
func (f *fakeDNS) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	f.mu.Lock()
	f.asked = append(f.asked, q.Name.String())
	f.mu.Unlock()
	addrs, known := f.hosts[q.Name.String()]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	res := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			_ = b.AResource(res, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			_ = b.AAAAResource(res, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	out, _ := b.Finish()
	return out
}

// dnsConn is one resolver connection. The nil net.PacketConn it embeds
// only makes the resolver frame messages as UDP datagrams; every method
// the resolver calls is defined here.
type dnsConn struct {
	net.PacketConn
	dns  *fakeDNS
	resp []byte
}

func (c *dnsConn) Write(b []byte) (int, error) { c.resp = c.dns.answer(b); return len(b), nil }
func (c *dnsConn) Read(b []byte) (int, error) {
	if c.resp == nil {
		return 0, io.EOF
	}
	n := copy(b, c.resp)
	c.resp = nil
	return n, nil
}
func (c *dnsConn) Close() error                     { return nil }
func (c *dnsConn) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353} }
func (c *dnsConn) RemoteAddr() net.Addr             { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (c *dnsConn) SetDeadline(time.Time) error      { return nil }
func (c *dnsConn) SetReadDeadline(time.Time) error  { return nil }
func (c *dnsConn) SetWriteDeadline(time.Time) error { return nil }

// testHosts are the names the tests dial: private addresses of each kind,
// and receiver.test, the loopback receiver.
var testHosts = map[string]string{
	"metadata.test":   "169.254.169.254",
	"intranet.test":   "10.0.0.1",
	"v6.test":         "fc00::1",
	"mapped.test":     "::ffff:10.0.0.1",
	"cgnat.test":      "100.64.0.1",
	"linklocal6.test": "fe80::1",
	"multicast.test":  "224.0.0.1",
	"localhost.test":  "127.0.0.1",
	"both.test":       "10.0.0.1,fd00::1",
	"receiver.test":   "127.0.0.1",
}

// dials records every address that reached the Control hook.
type dials struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dials) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

// newTestClient returns a client resolving through dns, with the safety
// net described at the top of this file, and the log of its dials.
func newTestClient(t *testing.T, dns *fakeDNS, o Options) (*Client, *dials) {
	t.Helper()
	d := &dials{}
	o.Resolver = dns.resolver()
	o.wrapControl = func(real func(string, string, syscall.RawConn) error) func(string, string, syscall.RawConn) error {
		return func(network, address string, c syscall.RawConn) error {
			d.mu.Lock()
			d.addrs = append(d.addrs, address)
			d.mu.Unlock()
			if err := real(network, address, c); err != nil {
				return err
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				t.Errorf("the guard let %s through: a test must never connect outside loopback", address)
				return errors.New("test safety net: connection outside loopback blocked")
			}
			return nil
		}
	}
	return New(o), d
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func signed(body string) domain.WebhookHeaders {
	return domain.SignWebhook("evt_test", time.Now(), []byte(body), domain.NewWebhookSecret())
}

// TestRefusedBeforeConnect resolves each test host to its private
// address and checks that the Control hook refused every address it
// resolved to: the delivery fails with the refusal, naming the address,
// and no connection is made (the hook runs before connect, and the safety
// net would have failed the test had the guard let one through).
func TestRefusedBeforeConnect(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url   string
		dials []string // the addresses the hook must have seen, each refused
		rng   string   // the first refusal's range
	}{
		"cloud metadata":         {"https://metadata.test/latest/meta-data/", []string{"169.254.169.254:443"}, "link-local"},
		"RFC 1918":               {"https://intranet.test/hook", []string{"10.0.0.1:443"}, "private"},
		"unique local IPv6":      {"https://v6.test:8443/hook", []string{"[fc00::1]:8443"}, "private"},
		"IPv4-mapped record":     {"https://mapped.test/hook", []string{"10.0.0.1:443"}, "private"},
		"CGNAT":                  {"https://cgnat.test/hook", []string{"100.64.0.1:443"}, "shared (CGNAT)"},
		"link-local IPv6":        {"https://linklocal6.test/hook", []string{"[fe80::1]:443"}, "link-local"},
		"multicast":              {"https://multicast.test/hook", []string{"224.0.0.1:443"}, "multicast"},
		"loopback not allowed":   {"https://localhost.test/hook", []string{"127.0.0.1:443"}, "loopback"},
		"every address of both":  {"https://both.test/hook", []string{"10.0.0.1:443", "[fd00::1]:443"}, "private"},
		"IPv4 literal":           {"https://169.254.169.254/latest/", []string{"169.254.169.254:443"}, "link-local"},
		"IPv4-mapped literal":    {"https://[::ffff:169.254.169.254]/latest/", []string{"169.254.169.254:443"}, "link-local"},
		"IPv6 loopback literal":  {"https://[::1]:9/hook", []string{"[::1]:9"}, "loopback"},
		"unspecified literal v4": {"https://0.0.0.0:9/hook", []string{"0.0.0.0:9"}, "unspecified"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, d := newTestClient(t, newFakeDNS(testHosts), Options{})
			res, err := c.Post(t.Context(), tc.url, signed("{}"), []byte("{}"))
			var re *RefusedError
			if !errors.Is(err, ErrRefused) || !errors.As(err, &re) {
				t.Fatalf("Post(%s) = %+v, %v; want a refusal", tc.url, res, err)
			}
			if re.Range != tc.rng {
				t.Errorf("refused as %q, want %q (%v)", re.Range, tc.rng, err)
			}
			if res.Status != 0 {
				t.Errorf("Result.Status = %d, want none: nothing was sent", res.Status)
			}
			got := d.list()
			// The mapped record may reach the hook in either form.
			for i, a := range got {
				if ap, err := netip.ParseAddrPort(a); err == nil && ap.Addr().Is4In6() {
					got[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.dials) {
				t.Errorf("the Control hook saw %v, want %v", got, tc.dials)
			}
		})
	}
}

// receiver is a loopback test server that records what it received.
type receiver struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

func (r *receiver) record(req *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	r.bodies = append(r.bodies, string(b))
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// TestDeliversToAllowedLoopbackOverHTTPS sends a signed delivery to a TLS
// receiver on loopback, allowed by AllowNetworks: the receiver gets the
// body, the Standard Webhooks headers (which verify) and the traceparent,
// and the result keeps the first KiB of its answer.
func TestDeliversToAllowedLoopbackOverHTTPS(t *testing.T) {
	t.Parallel()
	rec := &receiver{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, strings.Repeat("a", MaxLoggedBody)+strings.Repeat("b", 100_000))
	}))
	t.Cleanup(srv.Close)
	c, d := newTestClient(t, newFakeDNS(testHosts), Options{
		AllowNetworks: loopbackOnly,
		TLS:           srv.Client().Transport.(*http.Transport).TLSClientConfig,
		Propagator:    propagation.TraceContext{},
	})
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)
	secret := domain.NewWebhookSecret()
	body := `{"type":"webhook.test","data":{"name":"Zoë"}}`
	h := domain.SignWebhook("evt_1", time.Now(), []byte(body), secret)

	res, err := c.Post(ctx, srv.URL+"/hook", h, []byte(body))
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if res.Status != http.StatusAccepted || string(res.Body) != strings.Repeat("a", MaxLoggedBody) {
		t.Fatalf("Result = %d, %d bytes; want 202 and the first %d bytes", res.Status, len(res.Body), MaxLoggedBody)
	}
	if res.Latency <= 0 {
		t.Errorf("Result.Latency = %v, want it measured", res.Latency)
	}
	if rec.count() != 1 {
		t.Fatalf("the receiver got %d requests, want 1", rec.count())
	}
	got := rec.requests[0]
	if got.Method != http.MethodPost || rec.bodies[0] != body || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("received %s %q (%s), want POST of the body as JSON", got.Method, rec.bodies[0], got.Header.Get("Content-Type"))
	}
	gotH := domain.WebhookHeaders{ID: got.Header.Get("webhook-id"), Timestamp: got.Header.Get("webhook-timestamp"), Signature: got.Header.Get("webhook-signature")}
	if gotH != h {
		t.Errorf("received headers %+v, want %+v", gotH, h)
	}
	if err := domain.VerifyWebhook(gotH, []byte(rec.bodies[0]), time.Now(), time.Minute, secret); err != nil {
		t.Errorf("the received delivery does not verify: %v", err)
	}
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; got.Header.Get("traceparent") != want {
		t.Errorf("traceparent = %q, want %q", got.Header.Get("traceparent"), want)
	}
	if dl := d.list(); len(dl) != 1 || !strings.HasPrefix(dl[0], "127.0.0.1:") {
		t.Errorf("dials = %v, want the one loopback connection", dl)
	}
}

// TestPlainHTTP: http:// URLs are refused unless AllowHTTP is set, before
// any name is resolved or connection made; with it, a host name resolving
// to an allowed loopback address receives the delivery.
func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	rec := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.record(r) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	hookURL := "http://receiver.test:" + u.Port() + "/hook"

	dns := newFakeDNS(testHosts)
	c, d := newTestClient(t, dns, Options{AllowNetworks: loopbackOnly})
	for _, bad := range []string{hookURL, "ftp://receiver.test/", "https:///no-host", "//receiver.test/", "https://" + strings.Repeat("a", maxURL)} {
		if _, err := c.Post(t.Context(), bad, signed("{}"), []byte("{}")); !errors.Is(err, ErrScheme) {
			t.Errorf("Post(%.40s) = %v, want ErrScheme", bad, err)
		}
	}
	if dns.wasAsked("receiver.test") || len(d.list()) != 0 || rec.count() != 0 {
		t.Fatalf("a refused URL was resolved (%v), dialled (%v) or received (%d)", dns.wasAsked("receiver.test"), d.list(), rec.count())
	}

	c, _ = newTestClient(t, dns, Options{AllowNetworks: loopbackOnly, AllowHTTP: true})
	res, err := c.Post(t.Context(), hookURL, signed("{}"), []byte("{}"))
	if err != nil || res.Status != http.StatusOK || rec.count() != 1 {
		t.Fatalf("Post(%s) with AllowHTTP = %+v, %v; the receiver got %d; want 200 and one delivery", hookURL, res, err, rec.count())
	}
	// Allowing loopback allows nothing else.
	if _, err := c.Post(t.Context(), "http://intranet.test/hook", signed("{}"), []byte("{}")); !errors.Is(err, ErrRefused) {
		t.Errorf("Post(intranet.test) with loopback allowed = %v, want a refusal", err)
	}
}

// TestRedirectIsNotFollowed: a receiver's 3xx fails the delivery with
// ErrRedirect and its status, and the target is neither resolved nor
// dialled, whether it is private or not.
func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, target := range []string{"http://metadata.test/latest/meta-data/", "https://intranet.test/hook", "https://receiver.test/other"} {
			rec := &receiver{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.record(r)
				http.Redirect(w, r, target, status)
			}))
			dns := newFakeDNS(testHosts)
			c, d := newTestClient(t, dns, Options{AllowNetworks: loopbackOnly, AllowHTTP: true})
			res, err := c.Post(t.Context(), srv.URL+"/hook", signed("{}"), []byte("{}"))
			srv.Close()
			if !errors.Is(err, ErrRedirect) || res.Status != status || !strings.Contains(err.Error(), target) {
				t.Errorf("%d to %s: Post = %+v, %v; want ErrRedirect naming the target, and the status", status, target, res, err)
			}
			host, _ := url.Parse(target)
			if dns.wasAsked(host.Hostname()) || len(d.list()) != 1 || rec.count() != 1 {
				t.Errorf("%d to %s: the target was resolved (%v), or dials were %v and requests %d, want 1 each", status, target, dns.wasAsked(host.Hostname()), d.list(), rec.count())
			}
		}
	}
}

// TestTimeout: a receiver that never answers fails the delivery when the
// timeout ends, as a deadline error.
func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is
		// read; release frees the handler at the end in any case.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: cleanups run last in, first out
	c, _ := newTestClient(t, newFakeDNS(testHosts), Options{AllowNetworks: loopbackOnly, AllowHTTP: true, Timeout: 50 * time.Millisecond})
	_, err := c.Post(t.Context(), srv.URL, signed("{}"), []byte("{}"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Post to a silent receiver = %v, want a deadline error", err)
	}
}

// TestEnvironmentProxyIsIgnored: a proxy would connect to the receiver on
// Keel's behalf, out of the Control hook's sight, so HTTPS_PROXY is not
// used: the delivery is still refused by the hook.
func TestEnvironmentProxyIsIgnored(t *testing.T) {
	// t.Setenv forbids t.Parallel, which is the point: no other test runs
	// while the variable is set.
	proxy := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxy.record(r) }))
	t.Cleanup(srv.Close)
	t.Setenv("HTTPS_PROXY", srv.URL)
	t.Setenv("HTTP_PROXY", srv.URL)
	c, _ := newTestClient(t, newFakeDNS(testHosts), Options{AllowHTTP: true})
	if _, err := c.Post(t.Context(), "https://intranet.test/hook", signed("{}"), []byte("{}")); !errors.Is(err, ErrRefused) {
		t.Errorf("Post with HTTPS_PROXY set = %v, want a refusal", err)
	}
	if proxy.count() != 0 {
		t.Errorf("the proxy got %d requests, want none", proxy.count())
	}
}
