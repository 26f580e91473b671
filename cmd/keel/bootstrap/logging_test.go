package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/domain"
)

func TestLogLinesCarryTheTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo).With("component", "test")
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()

	log.InfoContext(ctx, "inside a span")
	log.InfoContext(context.Background(), "outside any span")
	log.DebugContext(ctx, "below the level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if in["trace_id"] != sc.TraceID().String() || in["span_id"] != sc.SpanID().String() || in["component"] != "test" {
		t.Errorf("line in a span = %v, want trace %s span %s", in, sc.TraceID(), sc.SpanID())
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("line outside a span has a trace_id: %v", out)
	}
}

func TestExplicitTraceIDIsNotDuplicated(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()
	newLogger(&buf, slog.LevelInfo).InfoContext(ctx, "access", "trace_id", "given")
	if n := strings.Count(buf.String(), `"trace_id"`); n != 1 {
		t.Fatalf("trace_id appears %d times: %s", n, buf.String())
	}
}

// syncBuffer stands for standard output: like an *os.File it takes
// concurrent writes and keeps each one whole.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogAndMailLinesAreWholeAndWrittenAtOnce(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	cfg := storeConfig{databaseURL: "sqlite:" + filepath.Join(t.TempDir(), "keel.db"), logLevel: slog.LevelInfo, traceExport: "none"}
	p, closeProcess, err := startProcess(t.Context(), cfg, func(string) string { return "" }, out)
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess()
	mailer, _, err := newMailer("", t.TempDir(), p.out)
	if err != nil {
		t.Fatal(err)
	}

	// Loggers and the console mailer write to the same output at once, as
	// the access log and the dispatcher do under load. Records of varying
	// length make any fixed-size buffer end inside a line.
	const loggers, records, senders, sends = 8, 200, 2, 50
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Go(func() {
			for i := range records {
				p.log.Info("request", "g", g, "i", i, "pad", strings.Repeat("x", (g*records+i)*37%3000))
			}
		})
	}
	for g := range senders {
		wg.Go(func() {
			for i := range sends {
				m, err := domain.NewMessage(domain.MessageInput{From: "keel@localhost", To: []string{fmt.Sprintf("r%d-%d@example.com", g, i)}, Subject: "Hello", Text: "Hi"}, time.Now())
				if err == nil {
					err = mailer.Send(t.Context(), m)
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// Every call above has returned: a kill -9 now must lose nothing, so
	// every line is already in the output, whole.
	logged, mailed := 0, 0
	for line := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var rec struct{ Msg string }
		switch {
		case strings.HasPrefix(line, "mail: to=") && strings.HasSuffix(line, ".eml") && strings.Count(line, "mail: ") == 1:
			mailed++
		case json.Unmarshal([]byte(line), &rec) == nil:
			if rec.Msg == "request" {
				logged++
			}
		default:
			t.Errorf("torn line: %.200q", line)
		}
	}
	if logged != loggers*records || mailed != senders*sends {
		t.Errorf("output holds %d whole log records and %d mail lines, want %d and %d", logged, mailed, loggers*records, senders*sends)
	}
}
