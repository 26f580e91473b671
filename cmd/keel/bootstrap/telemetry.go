package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// telemetry holds the OpenTelemetry providers of one run of the program.
type telemetry struct {
	tracer     *sdktrace.TracerProvider
	meter      *sdkmetric.MeterProvider
	propagator propagation.TextMapPropagator
	metrics    http.Handler // Prometheus text for GET /metrics
}

// newTelemetry builds the providers and installs them as OpenTelemetry's
// globals, which the use-case spans use. Spans are always recorded, so
// trace IDs reach logs and problem responses, but exported only when an
// exporter is configured.
func newTelemetry(ctx context.Context, exporter string, getenv func(string) string, stdout io.Writer) (*telemetry, error) {
	host, _ := os.Hostname()
	res := resource.NewSchemaless(
		semconv.ServiceName("keel"),
		semconv.ServiceVersion(buildVersion()),
		semconv.ServiceInstanceID(fmt.Sprintf("%s-%d", host, os.Getpid())),
	)
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	switch exporter {
	case "none":
		// Nothing reads recorded spans, so record none: spans still get
		// trace IDs, which logs and problem responses carry, at a fraction
		// of the cost. With an exporter the SDK's default sampler applies,
		// parent-based always-on, which OTEL_TRACES_SAMPLER can change.
		topts = append(topts, sdktrace.WithSampler(sdktrace.NeverSample()))
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(stdout))
		if err != nil {
			return nil, sTraceExporter.errorf("stdout exporter: %v", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	case "otlp":
		exp, err := otlpExporter(ctx, getenv)
		if err != nil {
			return nil, sTraceExporter.errorf("%v", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t := &telemetry{
		tracer:     sdktrace.NewTracerProvider(topts...),
		meter:      sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	otel.SetTracerProvider(t.tracer)
	otel.SetMeterProvider(t.meter)
	otel.SetTextMapPropagator(t.propagator)
	return t, nil
}

// otlpExporter picks the transport from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
// or OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, as the
// specification says); the exporters read the endpoint, headers and TLS
// settings from the other standard variables themselves.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch strings.ToLower(proto) {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported (want http/protobuf or grpc)", proto)
}

// shutdown flushes spans still buffered and stops the providers.
func (t *telemetry) shutdown(ctx context.Context) error {
	return errors.Join(t.tracer.Shutdown(ctx), t.meter.Shutdown(ctx))
}
