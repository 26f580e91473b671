// Package webhookhttp sends webhook deliveries over HTTP without letting a
// user-typed URL reach Keel's own network (server-side request forgery).
//
// By default only https:// URLs are sent, and only to public addresses: the
// address is checked in the dialer's Control hook, after DNS resolution and
// before connect, for every connection, so DNS rebinding and names that
// resolve to private addresses gain nothing. Loopback, private, link-local
// (cloud metadata), CGNAT, multicast, unspecified, broadcast, documentation,
// benchmarking and reserved ranges are refused, IPv4-mapped IPv6 forms too;
// such a delivery fails with a *RefusedError (errors.Is ErrRefused) and
// nothing is sent. Refusals, of the address or of the URL (ErrScheme), are
// domain.KindForbidden, which the dispatcher treats as final: retrying
// cannot make Keel call that address. Options.AllowNetworks and Options.AllowHTTP relax this for
// development and tests only.
//
// Redirects are never followed: a receiver answering 3xx has failed the
// delivery (ErrRedirect), whatever the Location, so a redirect cannot lead
// to an address or scheme that the URL itself could not name, and the
// signature, which covers no URL, is never sent to a second host.
package webhookhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

const (
	// DefaultTimeout bounds one delivery, from dialling to the end of
	// reading the response: the "a 2xx within 10 s".
	DefaultTimeout = 10 * time.Second
	// MaxLoggedBody is how much of a response body Result keeps for the
	// delivery log.
	MaxLoggedBody = 1 << 10
	// maxDrain is how much more of a response body is read and discarded
	// so that the connection can serve the next delivery; past it the
	// connection is closed instead, so a receiver streaming without end
	// costs at most this.
	maxDrain = 64 << 10
	// maxURL bounds the URL a delivery accepts; the API bounds it too.
	maxURL = 2048
	// maxResponseHeader bounds the response headers a receiver may send.
	maxResponseHeader = 64 << 10
	// maxLocation bounds the Location quoted in ErrRedirect's message.
	maxLocation = 256
)

var (
	// ErrScheme is returned for a URL that is not https:// (or http://
	// when AllowHTTP is set), or has no host: nothing is resolved or sent.
	ErrScheme = errors.New("webhook URL must be https:// with a host")
	// ErrRedirect is returned with the 3xx Result when a receiver
	// redirects: redirects are not followed, and the delivery failed.
	ErrRedirect = errors.New("redirect not followed")

	// errRefusedURL and errRefusedAddress wrap ErrScheme and ErrRefused
	// (which errors.Is still finds through them) so that domain.KindOf
	// sees a refusal as KindForbidden: final, since no retry changes what
	// Keel may call.
	errRefusedURL     = domain.E(domain.KindForbidden, "webhook_url_refused", "Keel does not deliver webhooks to this URL")
	errRefusedAddress = domain.E(domain.KindForbidden, "webhook_address_refused", "Keel does not deliver webhooks to this address")
)

// Options configure a Client. The zero value is production's: https only,
// public addresses only, 10 s per delivery, the system's resolver and
// certificate roots, the global OpenTelemetry propagator.
type Options struct {
	// AllowNetworks may be reached although they are not public
	// (KEEL_WEBHOOK_ALLOW_NETWORKS, read by ParseAllowNetworks).
	AllowNetworks []netip.Prefix
	// AllowHTTP lets http:// URLs through (KEEL_WEBHOOK_ALLOW_HTTP).
	AllowHTTP bool
	// Timeout bounds one delivery; 0 means DefaultTimeout.
	Timeout time.Duration
	// Resolver resolves the URLs' host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// TLS configures certificate verification, for a private CA; nil means
	// the system's roots.
	TLS *tls.Config
	// Propagator writes the trace context (traceparent) into each request;
	// nil means otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator

	// wrapControl lets this package's tests put a second check behind the
	// real Control hook, which makes any connection outside loopback
	// impossible whatever the hook decides.
	wrapControl func(control func(network, address string, c syscall.RawConn) error) func(network, address string, c syscall.RawConn) error
}

// Client delivers webhooks. It is safe for concurrent use and keeps
// connections to receivers alive between deliveries.
type Client struct {
	hc         *http.Client
	allowHTTP  bool
	timeout    time.Duration
	propagator propagation.TextMapPropagator
}

// New returns a Client configured by o.
func New(o Options) *Client {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	control := guard{allow: o.AllowNetworks}.control
	if o.wrapControl != nil {
		control = o.wrapControl(control)
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: o.Resolver, Control: control}
	tr := &http.Transport{
		// Never a proxy from the environment: the proxy would connect to
		// the receiver for us, and the Control hook would check only the
		// proxy's address.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        o.TLS,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
	}
	propagator := o.Propagator
	if propagator == nil {
		propagator = otel.GetTextMapPropagator()
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		allowHTTP:  o.AllowHTTP,
		timeout:    timeout,
		propagator: propagator,
	}
}

var _ ports.WebhookSender = (*Client)(nil)

// Result is what a receiver answered: ports.WebhookResult, whose Body
// holds at most MaxLoggedBody bytes of the response, for the delivery log,
// and whose Latency runs from sending to the end of reading the response.
type Result = ports.WebhookResult

// Post sends one signed delivery of body (JSON) to rawURL with the Standard
// Webhooks headers h, and the trace context of ctx as traceparent. A
// non-nil error means the delivery failed before a usable answer: the URL
// was refused (ErrScheme), the address was refused (ErrRefused: nothing was
// sent), both of domain.KindForbidden; the receiver redirected (ErrRedirect,
// with the 3xx Result), or the network or the timeout failed it. Otherwise Result.Status is the
// receiver's, and whether it counts as success is the caller's policy.
func (c *Client) Post(ctx context.Context, rawURL string, h domain.WebhookHeaders, body []byte) (Result, error) {
	u, err := c.checkURL(rawURL)
	if err != nil {
		return Result{}, errRefusedURL.WithCause(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// A bytes.Reader gives the request a GetBody, so HTTP/2 can resend it
	// on a refused stream.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Keel-Webhooks/1")
	req.Header.Set(domain.WebhookIDHeader, h.ID)
	req.Header.Set(domain.WebhookTimestampHeader, h.Timestamp)
	req.Header.Set(domain.WebhookSignatureHeader, h.Signature)
	c.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			err = errRefusedAddress.WithCause(err)
		}
		return Result{Latency: time.Since(start)}, err
	}
	res := Result{Status: resp.StatusCode}
	res.Body, err = readLogged(resp.Body)
	res.Latency = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("read webhook response: %w", err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return res, fmt.Errorf("%w: %d to %.*q", ErrRedirect, resp.StatusCode, maxLocation, resp.Header.Get("Location"))
	}
	return res, nil
}

// checkURL accepts https:// URLs with a host, and http:// ones when allowed.
func (c *Client) checkURL(raw string) (*url.URL, error) {
	if len(raw) > maxURL {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrScheme, maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScheme, err)
	}
	if u.Hostname() == "" || (u.Scheme != "https" && !(u.Scheme == "http" && c.allowHTTP)) {
		return nil, fmt.Errorf("%w: %.*q", ErrScheme, maxLocation, u.Redacted())
	}
	return u, nil
}

// readLogged returns the first MaxLoggedBody bytes of body, discards up to
// maxDrain more so that the connection can be reused, and closes it.
func readLogged(body io.ReadCloser) ([]byte, error) {
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, MaxLoggedBody))
	if err != nil {
		return b, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	return b, nil
}
