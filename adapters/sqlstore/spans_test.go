package sqlstore_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/ports"
)

func TestSQLSpansOnlyInsideATrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "k.db"), sqlstore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	bump := func(ctx context.Context) {
		err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Instance().BumpCounter(ctx, "c")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bump(t.Context())
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("statements outside any trace made %d spans, want none", n)
	}
	ctx, parent := tp.Tracer("test").Start(t.Context(), "use case")
	bump(ctx)
	parent.End()
	var sql int
	for _, s := range rec.Ended() {
		if s.Name() != "use case" {
			sql++
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("SQL span %s is not a child of the use case", s.Name())
			}
		}
	}
	if sql == 0 {
		t.Fatal("statements inside a trace made no spans")
	}
}

func TestSQLSpansOnlyInsideASampledTrace(t *testing.T) {
	t.Parallel()
	// As keel serve without an exporter: every trace has an ID, none is
	// sampled. The SDK would make non-recording spans, which no span
	// processor sees, so count the spans asked for instead.
	tp := &countingProvider{tp: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))}
	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "k.db"), sqlstore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(t.Context(), "use case")
	defer parent.End()
	if !parent.SpanContext().IsValid() || parent.SpanContext().IsSampled() {
		t.Fatal("the parent span should have an ID and not be sampled")
	}
	err = db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		_, err := st.Instance().BumpCounter(ctx, "c")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := tp.started.Load(); n != 1 {
		t.Fatalf("%d spans started inside an unsampled trace, want only its own", n)
	}
}

// countingProvider counts the spans its tracers start.
type countingProvider struct {
	embedded.TracerProvider
	tp      trace.TracerProvider
	started atomic.Int64
}

func (p *countingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return countingTracer{tr: p.tp.Tracer(name, opts...), p: p}
}

type countingTracer struct {
	embedded.Tracer
	tr trace.Tracer
	p  *countingProvider
}

func (t countingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t.p.started.Add(1)
	return t.tr.Start(ctx, name, opts...)
}
