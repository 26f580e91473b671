package sqlstore

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// childSpansOnly makes SQL spans only inside an existing, sampled trace: a
// statement run for a request or a use case joins its trace, while one run
// on its own (a dispatcher's idle poll, a migration) makes no trace. An
// idle worker polls several times a second; each poll would otherwise be
// a trace of its own, three spans long, that says nothing. Inside a trace
// that is not sampled (every trace when no exporter is configured) a
// statement's span would be dropped anyway; skipping it saves otelsql's
// span and attribute work on every statement (BENCHMARKS.md).
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
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || !sc.IsSampled() {
		return ctx, noop.Span{}
	}
	// Preparing is the statement cache's business: it happens once per
	// statement and connection, and its span would repeat the statement
	// that the execution's span right after it shows.
	if name == "db.Prepare" {
		return ctx, noop.Span{}
	}
	return t.tr.Start(ctx, name, opts...)
}
