package sqlstore

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// childSpansOnly makes SQL spans only inside an existing trace: a
// statement run for a request or a use case joins its trace, while one run
// on its own (a dispatcher's idle poll, a migration) makes no trace. An
// idle worker polls several times a second; each poll would otherwise be
// a trace of its own, three spans long, that says nothing.
type childSpansOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childSpansOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childSpansOnlyTracer{tr: c.tp.Tracer(name, opts...)}
}

type childSpansOnlyTracer struct {
	embedded.Tracer
	tr trace.Tracer
}

func (t childSpansOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx) // a no-op span
	}
	return t.tr.Start(ctx, name, opts...)
}
