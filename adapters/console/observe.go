package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// observer makes each console request observable as the API's are: one
// server span named by the route, which the use cases' and SQL
// statements' spans join; the same request-duration histogram, by method,
// route and status; and an access log line carrying the trace id. It
// also turns a handler's panic into a logged 500, where net/http would
// drop the connection.
type observer struct {
	log    *slog.Logger
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	hist   metric.Float64Histogram
	sets   sync.Map // routeKey → metric.MeasurementOption, made once each
}

type routeKey struct {
	method, route string
	status        int
}

func newObserver(cfg Config) *observer {
	tp, mp, prop := cfg.TracerProvider, cfg.MeterProvider, cfg.Propagator
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	hist, err := mp.Meter("github.com/keelhq/keel/adapters/console").Float64Histogram(
		"http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10),
	)
	if err != nil {
		// Only a malformed instrument definition fails, which is a bug.
		panic(err)
	}
	return &observer{log: cfg.Logger, tracer: tp.Tracer("github.com/keelhq/keel/adapters/console"), prop: prop, hist: hist}
}

// serve runs h for the request inside its span and records it. The
// route is the pattern the console's mux matched, which it sets on the
// request it was given, so the span is named once the handler has run.
func (o *observer) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	start := time.Now()
	ctx := o.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := o.tracer.Start(ctx, r.Method+" /console", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", loggedPath(r))))
	defer span.End()
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	req := r.WithContext(ctx)
	o.run(ctx, rw, req, h)
	// A pattern may name its method ("GET /console/{$}"); the route is
	// its path, as the API's is.
	route := req.Pattern
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	if route == "" {
		route = "unmatched"
	}
	span.SetName(r.Method + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rw.status))
	if rw.status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(rw.status))
	}
	k := routeKey{method: r.Method, route: route, status: rw.status}
	opt, ok := o.sets.Load(k)
	if !ok {
		opt, _ = o.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("http.request.method", k.method),
			attribute.String("http.route", k.route),
			attribute.Int("http.response.status_code", k.status),
		)))
	}
	o.hist.Record(ctx, time.Since(start).Seconds(), opt.(metric.MeasurementOption))
	sc := span.SpanContext()
	o.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", loggedPath(r)),
		slog.Int("status", rw.status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int("bytes", rw.bytes),
		slog.String("client_ip", client(r).IP),
		slog.String("trace_id", sc.TraceID().String()),
		slog.String("span_id", sc.SpanID().String()),
	)
}

// run serves the request, answering a panic with a 500 when nothing has
// been written yet. http.ErrAbortHandler is net/http's own way to drop a
// connection and goes on.
func (o *observer) run(ctx context.Context, rw *recorder, r *http.Request, h http.Handler) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if rec == http.ErrAbortHandler {
			panic(rec)
		}
		o.log.ErrorContext(ctx, "console: panic", "path", loggedPath(r), "err", fmt.Sprintf("%v\n%s", rec, debug.Stack()))
		if !rw.wrote {
			http.Error(rw, "Something went wrong on Keel's side.", http.StatusInternalServerError)
		}
	}()
	h.ServeHTTP(rw, r)
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status, bytes int
	wrote         bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (the CSV
// export flushes through it).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tokenPaths are the console's pages whose last segment is a mailed
// link's secret: a reset, an invitation, an e-mail change.
var tokenPaths = []string{Prefix + "password-reset/", Prefix + "invitations/", Prefix + "email-change/"}

// loggedPath is r's path as logs and traces may hold it: the secret of a
// mailed link is replaced by "…", since whoever reads the logs must not
// be able to use the link.
func loggedPath(r *http.Request) string {
	for _, p := range tokenPaths {
		if rest, ok := strings.CutPrefix(r.URL.Path, p); ok && rest != "" {
			return p + "…"
		}
	}
	return r.URL.Path
}
