package messaging_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keelhq/keel/application/messaging"
)

// Not parallel: it installs the global tracer provider, as the program does.
func TestDeliverySpanContinuesTheQueueingRequestsTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))

	f := newFixture(t)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	withParent := f.submit(t, "ada@example.com", "00-"+traceID+"-"+parentID+"-01")
	f.clock.Add(time.Second)
	without := f.submit(t, "bob@example.com", "")
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{}), len(withParent)+len(without))

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() != "messaging.Deliver" {
			continue
		}
		for _, a := range s.Attributes() {
			if a.Key == "keel.message.id" {
				spans[a.Value.AsString()] = s
			}
		}
	}
	for _, id := range withParent {
		s, ok := spans[id]
		if !ok {
			t.Fatalf("no messaging.Deliver span for %s", id)
		}
		if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID || !s.Parent().IsRemote() {
			t.Errorf("span of %s has parent %s/%s, want the stored traceparent %s/%s",
				id, s.Parent().TraceID(), s.Parent().SpanID(), traceID, parentID)
		}
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span of %s is in trace %s, want %s", id, s.SpanContext().TraceID(), traceID)
		}
		attrs := attribute.NewSet(s.Attributes()...)
		if v, _ := attrs.Value("keel.message.attempt"); v.AsInt64() != 1 {
			t.Errorf("span of %s: attempt %v, want 1", id, v.String())
		}
		if v, _ := attrs.Value("keel.message.kind"); v.AsString() == "" {
			t.Errorf("span of %s has no kind", id)
		}
	}
	for _, id := range without {
		s, ok := spans[id]
		if !ok {
			t.Fatalf("no messaging.Deliver span for %s", id)
		}
		if s.Parent().IsValid() {
			t.Errorf("span of %s, queued without a traceparent, has parent %s", id, s.Parent().SpanID())
		}
	}
}

func TestDeliveryMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	f := newFixture(t)
	d := f.dispatcher(t, messaging.DispatcherConfig{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	ids := f.submit(t, "ada@example.com", "")
	f.clock.Add(3 * time.Second)
	f.mailer.FailNext(1)
	dispatch(t, d, len(ids))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	sum := func(name string) (n int64, attrs []attribute.Set) {
		s, ok := got[name].(metricdata.Sum[int64])
		if !ok {
			t.Fatalf("no counter %s in %v", name, got)
		}
		for _, dp := range s.DataPoints {
			n += dp.Value
			attrs = append(attrs, dp.Attributes)
		}
		return n, attrs
	}
	if n, _ := sum("keel.mail.sent"); n != 1 {
		t.Errorf("keel.mail.sent = %d, want 1", n)
	}
	n, attrs := sum("keel.mail.failed")
	if v, _ := attrs[0].Value("outcome"); n != 1 || v.AsString() != "retry" {
		t.Errorf("keel.mail.failed = %d with %v, want 1 with outcome retry", n, attrs)
	}
	h, ok := got["keel.mail.queue_latency"].(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 || h.DataPoints[0].Count != 1 || h.DataPoints[0].Sum != 3 {
		t.Errorf("keel.mail.queue_latency = %+v, want one latency of 3 s", got["keel.mail.queue_latency"])
	}
}
