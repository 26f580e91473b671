package httpapi

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// requestMetrics records the semantic-convention request duration
// histogram by method, route and status. otelgin can record it too, but it
// builds a dozen attributes and a new attribute set on every request,
// which cost as much as the rest of a small request; this keeps one set
// per (method, route, status), made once.
func requestMetrics(mp metric.MeterProvider) gin.HandlerFunc {
	hist, err := mp.Meter("github.com/keelhq/keel/adapters/httpapi").Float64Histogram(
		"http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10),
	)
	if err != nil {
		// Only a malformed instrument definition fails, which is a bug.
		panic(err)
	}
	var sets sync.Map // metricKey → metric.MeasurementOption
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		k := metricKey{method: knownMethod(c.Request.Method), route: c.FullPath(), status: c.Writer.Status()}
		opt, ok := sets.Load(k)
		if !ok {
			attrs := []attribute.KeyValue{
				attribute.String("http.request.method", k.method),
				attribute.Int("http.response.status_code", k.status),
			}
			if k.route != "" {
				attrs = append(attrs, attribute.String("http.route", k.route))
			}
			opt, _ = sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(attrs...)))
		}
		hist.Record(c.Request.Context(), time.Since(start).Seconds(), opt.(metric.MeasurementOption))
	}
}

type metricKey struct {
	method, route string
	status        int
}

// knownMethod keeps the metric's cardinality bounded: a client can send any
// method name, and each would otherwise become a time series.
func knownMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return "_OTHER"
}
