package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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
