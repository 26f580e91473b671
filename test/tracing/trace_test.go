// Package tracing proves that one request makes one trace: the HTTP server
// span, the use-case span and the SQL spans share a trace ID and nest.
package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"io"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

func TestOneRequestIsOneNestedTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	// Use-case spans come from the global provider, as in production.
	otel.SetTracerProvider(tp)

	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keel.db"), sqlstore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		System:         system.NewService(db, db, ports.ClockFunc(time.Now)),
		TracerProvider: tp,
		Propagator:     propagation.TraceContext{},
	})

	// The cases run in order on one database: the first request finds no
	// instance and stores one, the second only reads it.
	for _, tc := range []struct {
		name, traceparent, wantTrace string
		stores                       bool
	}{
		{"NewTrace", "", "", true},
		{"ContinuesCallersTrace", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			r := httptest.NewRequest(http.MethodGet, "/v1/instance", nil)
			if tc.traceparent != "" {
				r.Header.Set("traceparent", tc.traceparent)
			}
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r.WithContext(context.Background()))
			if w.Code != http.StatusOK {
				t.Fatalf("GET /v1/instance = %d %s", w.Code, w.Body)
			}
			checkTrace(t, rec.Ended(), tc.wantTrace, tc.stores)
		})
	}
}

// checkTrace checks that spans are one nested trace whose SQL spans carry
// the use case's statements: the read always, the insert only when stores
// says the request created the instance.
func checkTrace(t *testing.T, spans []sdktrace.ReadOnlySpan, wantTrace string, stores bool) {
	t.Helper()
	var server, uc sdktrace.ReadOnlySpan
	var sql []sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.Name() == "system.Instance":
			uc = s
		case strings.HasPrefix(s.Name(), "db.") || strings.HasPrefix(s.Name(), "stmt.") || strings.HasPrefix(s.Name(), "tx."):
			sql = append(sql, s)
		}
	}
	if server == nil || uc == nil || len(sql) == 0 {
		t.Fatalf("want a server span, a use-case span and SQL spans; got %s", names(spans))
	}
	if server.Name() != "GET /v1/instance" {
		t.Errorf("server span name = %q", server.Name())
	}
	tid := server.SpanContext().TraceID()
	if wantTrace != "" && tid.String() != wantTrace {
		t.Errorf("trace ID = %s, want the caller's %s", tid, wantTrace)
	}
	if wantTrace == "" && server.Parent().IsValid() {
		t.Errorf("server span has a parent %v without a traceparent", server.Parent())
	}
	if uc.SpanContext().TraceID() != tid || uc.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("use-case span is not a child of the server span")
	}
	statements := ""
	for _, s := range sql {
		if s.SpanContext().TraceID() != tid {
			t.Errorf("SQL span %s is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), tid)
		}
		if !within(s.Parent().SpanID(), uc) {
			t.Errorf("SQL span %s is not a child of the use-case span", s.Name())
		}
		for _, a := range s.Attributes() {
			if a.Key == "db.statement" {
				statements += a.Value.AsString() + "\n"
			}
		}
	}
	if !strings.Contains(statements, "SELECT id, created_at FROM instance") {
		t.Errorf("SQL spans lack the use case's read:\n%s", statements)
	}
	if inserted := strings.Contains(statements, "INSERT INTO instance"); inserted != stores {
		t.Errorf("SQL spans include the instance insert: %v, want %v:\n%s", inserted, stores, statements)
	}
}

func within(parent trace.SpanID, uc sdktrace.ReadOnlySpan) bool {
	return parent == uc.SpanContext().SpanID()
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Name() + "; ")
	}
	return b.String()
}
