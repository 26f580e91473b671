// Package httpapi is Keel's HTTP adapter: gin routes under /v1, the probes
// and metrics endpoints, and the middleware every request passes through
// (request IDs, tracing, access log, problem+json errors, panic recovery and
// the body size limit). Handlers decode, call one use case and encode.
package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

func init() {
	// Debug mode prints every route at start-up and warns on stdout; the
	// access log is the only output Keel's HTTP layer should produce.
	gin.SetMode(gin.ReleaseMode)
}

// Config holds what the HTTP adapter needs. Zero values are not valid for
// Logger and System; the providers default to OpenTelemetry's globals.
type Config struct {
	Logger    *slog.Logger
	System    *system.Service
	Identity  *identity.Service  // nil leaves the identity routes out
	Messaging *messaging.Service // nil leaves the outbox, feed and webhook routes out
	Forms     *forms.Service     // nil leaves the forms and submission routes out
	Content   *content.Service   // nil leaves the entries and public site routes out
	Media     *media.Service     // nil leaves the media library and public media routes out
	Blobs     ports.BlobStore    // holds Media's files, which the public media route serves
	// PublicCache keeps rendered public responses; nil makes a private
	// one. The composition root owns it to empty it when another node
	// changes public content.
	PublicCache *PublicCache
	// PublicMaxAge and PublicStale set the public API's Cache-Control
	// max-age and stale-while-revalidate; zero picks the defaults.
	PublicMaxAge, PublicStale time.Duration
	// ForwardedLinks lets X-Forwarded-Host and X-Forwarded-Proto choose
	// the base of public links in place of PublicURL. Set it only when
	// the operator configured no public URL and the headers can come
	// from trusted proxies alone (the composition root strips them from
	// other peers).
	ForwardedLinks bool
	// PublicURL is the API's own absolute base URL, such as
	// https://api.example.com, on which feeds and sitemaps build their
	// links; empty is DefaultPublicURL. Links never follow the request's
	// Host, which the client chooses and a shared cache would pass on.
	PublicURL      string
	MaxBodyBytes   int64        // requests with larger bodies get 413
	Build          Build        // which Keel this is, for GET /v1/instance
	Metrics        http.Handler // serves GET /metrics; nil leaves it out
	MetricsToken   string       // when set, GET /metrics answers only this bearer token, others 401
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// RateLimits sets the quotas on /v1 requests; a nil Quotas limits
	// nothing.
	RateLimits RateLimits

	// Idempotency makes POSTs with an Idempotency-Key safe to retry; a
	// nil Store leaves the header unread.
	Idempotency IdempotencyConfig
}

// DefaultMaxBodyBytes is the body limit when none is configured: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Server is Keel's HTTP API as an http.Handler.
type Server struct {
	engine *gin.Engine
	idem   *idempotent // nil without an idempotency store
}

// New builds the router with its middleware and routes.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	e := gin.New()
	// An API answers the path it was asked for; redirects to a "fixed"
	// path hide client bugs and turn a POST into a GET in old clients.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	// Client IPs come from the connection unless a deployment configures
	// trusted proxies; trusting X-Forwarded-For from anyone lets clients
	// choose the address rate limits key on.
	_ = e.SetTrustedProxies(nil)

	var otelOpts []otelgin.Option
	if cfg.TracerProvider != nil {
		otelOpts = append(otelOpts, otelgin.WithTracerProvider(cfg.TracerProvider))
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	// otelgin's own request metrics are off: requestMetrics records the
	// same duration histogram for a fraction of the cost.
	otelOpts = append(otelOpts, otelgin.WithMeterProvider(metricnoop.NewMeterProvider()))
	if cfg.Propagator != nil {
		otelOpts = append(otelOpts, otelgin.WithPropagators(cfg.Propagator))
	}
	// Order matters: the server span exists before the request ID (which
	// defaults to its trace ID) and the access log read it; problems renders what recovery and the
	// handlers report; the body limit refuses before any handler runs.
	// errorCORS adds its headers to what problems is about to render; its
	// rules are filled in as the public routes register below.
	cors := &corsRules{routes: map[string]func(*gin.Context, string){}}
	e.Use(
		otelgin.Middleware("keel", otelOpts...),
		requestID(),
		requestMetrics(cfg.MeterProvider),
		accessLog(cfg.Logger),
		problems(cfg.Logger),
		errorCORS(cors),
		recovery(),
		limitBody(cfg.MaxBodyBytes),
	)
	e.NoRoute(func(c *gin.Context) { _ = c.Error(errRouteNotFound) })
	e.NoMethod(methodNotAllowed)

	probes{system: cfg.System}.register(e)
	if cfg.Metrics != nil {
		e.GET("/metrics", requireToken(cfg.MetricsToken), gin.WrapH(cfg.Metrics))
	}
	// checkQuery runs before authentication: which parameters a route
	// reads is public, and a typo is worth reporting before a 401 or 403.
	// A deprecated operation says so first, on its refusals too.
	v1 := e.Group("/v1", noStore, announceDeprecation, checkQuery)
	if cfg.Identity != nil {
		v1.Use(authenticate(cfg.Identity))
	}
	// Quotas are per credential, so they follow authentication; they come
	// before Idempotency-Key, so that a replay spends a request too.
	if cfg.RateLimits.Quotas != nil {
		v1.Use(rateLimit(newLimiter(cfg.RateLimits, cfg.Identity)))
	}
	// Idempotency-Key is read after authentication, since keys are
	// scoped per credential, and before every POST handler below.
	var idem *idempotent
	if cfg.Idempotency.Store != nil {
		idem = idempotency(cfg.Idempotency, cfg.Logger, cors)
		v1.Use(idem.handle)
	}
	if cfg.Identity != nil {
		identityRoutes{ids: cfg.Identity}.register(v1)
	}
	if cfg.Messaging != nil {
		messageRoutes{msgs: cfg.Messaging}.register(v1)
		eventRoutes{msgs: cfg.Messaging}.register(v1)
		webhookRoutes{msgs: cfg.Messaging}.register(v1)
	}
	if cfg.Forms != nil {
		// The public submission routes sit behind authenticate too: no
		// Authorization header (a browser's form post) is an anonymous
		// caller, whom Submit accepts.
		fr := formRoutes{forms: cfg.Forms, log: cfg.Logger, base: linkBase(cfg.PublicURL)}
		fr.register(v1)
		fr.registerFiles(v1)
		submit := submitRoutes{forms: cfg.Forms}
		submit.register(v1)
		cors.forms = submit.errorCORS
		cors.routes["/v1/forms/:form/submissions"] = submit.errorCORS
	}
	if cfg.Content != nil {
		contentRoutes{content: cfg.Content}.register(v1)
		authorTagRoutes{content: cfg.Content}.register(v1)
		siteSettingsRoutes{content: cfg.Content}.register(v1)
		if cfg.PublicMaxAge <= 0 {
			cfg.PublicMaxAge = DefaultPublicMaxAge
		}
		if cfg.PublicStale <= 0 {
			cfg.PublicStale = DefaultPublicStale
		}
		site := newSiteRoutes(cfg.Content, cfg.PublicCache, cfg.PublicMaxAge, cfg.PublicStale, cfg.PublicURL)
		site.forwardedLinks = cfg.ForwardedLinks
		site.register(v1)
		previewLinkRoutes{content: cfg.Content, base: site.base}.register(v1)
		localeRoutes{content: cfg.Content}.register(v1)
		cors.sites = site.errorCORS
		for _, path := range sitePaths {
			cors.routes["/v1"+path] = site.errorCORS
		}
	}
	if cfg.Media != nil {
		newMediaRoutes(cfg.Media, cfg.Blobs, cfg.PublicURL).register(v1)
	}
	instanceRoutes{system: cfg.System, build: cfg.Build}.register(v1)
	backupRoutes{system: cfg.System}.register(v1)
	mustOpenAPIRoutes().register(v1)
	cors.routes["/v1/openapi.json"] = allowAnyOrigin
	cors.routes["/v1/openapi.yaml"] = allowAnyOrigin
	return &Server{engine: e, idem: idem}
}

// methodNotAllowed answers a path that exists with other methods. gin
// lists them in Allow in the order its method trees were made, which
// depends on which routes registered first; sorting makes Allow stable.
func methodNotAllowed(c *gin.Context) {
	hd := c.Writer.Header()
	allow := strings.Split(hd.Get("Allow"), ", ")
	slices.Sort(allow)
	hd.Set("Allow", strings.Join(allow, ", "))
	_ = c.Error(errMethodNotAllowed)
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Route is one method and path the API serves.
type Route struct {
	Method, Path string
}

// Routes lists every route, so tests can check that each one is covered
// (the authorization matrix fails when a route has no row).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.engine.Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}
