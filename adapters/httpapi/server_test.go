package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// syncBuffer collects log lines written from the server's goroutines.
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

type fixture struct {
	srv  *Server
	logs *syncBuffer
}

type pinger func(context.Context) error

func (p pinger) Ping(ctx context.Context) error { return p(ctx) }

func newFixture(t *testing.T, ping ports.Pinger) fixture {
	t.Helper()
	db := sqlitetest.New(t)
	if ping == nil {
		ping = db
	}
	logs := &syncBuffer{}
	srv := New(Config{
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		System:         system.NewService(db, ping, ports.ClockFunc(time.Now)),
		MaxBodyBytes:   64,
		TracerProvider: sdktrace.NewTracerProvider(),
		Propagator:     propagation.TraceContext{},
	})
	// Test-only routes exercise middleware paths that the foundation's own
	// routes do not reach: reading a JSON body, panicking, failing.
	srv.engine.POST("/test/echo", func(c *gin.Context) {
		var v map[string]any
		if err := decodeJSON(c, &v); err != nil {
			_ = c.Error(err)
			return
		}
		c.JSON(http.StatusOK, v)
	})
	srv.engine.GET("/test/panic", func(*gin.Context) { panic("secret panic detail") })
	srv.engine.GET("/test/fail", func(c *gin.Context) {
		_ = c.Error(errors.New("db password=hunter2 rejected"))
	})
	srv.engine.GET("/test/canceled", func(c *gin.Context) {
		// What a use case returns once a context it waited on ends.
		_ = c.Error(fmt.Errorf("add submission: %w", context.Canceled))
	})
	return fixture{srv: srv, logs: logs}
}

func (f fixture) do(t *testing.T, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", w.Body, err)
	}
	if p.Code != code || p.Status != status || p.Type != problemTypeBase+code || p.Title != http.StatusText(status) || p.Detail == "" {
		t.Fatalf("problem = %+v, want code %q status %d", p, code, status)
	}
	if len(p.TraceID) != 32 {
		t.Fatalf("problem trace_id = %q, want 32 hex digits", p.TraceID)
	}
	return p
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("GET /healthz = %d %s", w.Code, w.Body)
	}
	if len(w.Header().Get(requestIDHeader)) != 32 {
		t.Fatalf("X-Request-Id = %q, want a generated ID", w.Header().Get(requestIDHeader))
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	up := newFixture(t, nil)
	if w := up.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); w.Code != http.StatusOK {
		t.Fatalf("GET /readyz with a live database = %d %s", w.Code, w.Body)
	}
	down := newFixture(t, pinger(func(context.Context) error {
		return domain.ErrUnavailable.WithCause(errors.New("dial tcp 10.0.0.9:5432: connection refused"))
	}))
	w := down.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	p := decodeProblem(t, w, http.StatusServiceUnavailable, "not_ready")
	if strings.Contains(w.Body.String(), "10.0.0.9") {
		t.Fatalf("problem leaks the cause: %+v", p)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestUnknownRouteIsNotFoundProblem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, path := range []string{"/nope", "/v1/nope", "/healthz/"} {
		decodeProblem(t, f.do(t, httptest.NewRequest(http.MethodGet, path, nil)), http.StatusNotFound, "not_found")
	}
}

func TestWrongMethodIsMethodNotAllowedWithAllow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, httptest.NewRequest(http.MethodDelete, "/healthz", nil))
	decodeProblem(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := w.Header().Get("Allow"); allow != "GET" {
		t.Fatalf("Allow = %q, want GET", allow)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	big := strings.Repeat("x", 65)

	t.Run("DeclaredLengthRefusedBeforeRouting", func(t *testing.T) {
		for _, path := range []string{"/test/echo", "/no/such/route"} {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(big))
			r.Header.Set("Content-Type", "application/json")
			decodeProblem(t, f.do(t, r), http.StatusRequestEntityTooLarge, "body_too_large")
		}
	})
	t.Run("ChunkedBodyCutAtLimit", func(t *testing.T) {
		body := `{"k":"` + big + `"}`
		r := httptest.NewRequest(http.MethodPost, "/test/echo", io.NopCloser(strings.NewReader(body)))
		r.ContentLength = -1 // unknown, as with Transfer-Encoding: chunked
		r.Header.Set("Content-Type", "application/json")
		decodeProblem(t, f.do(t, r), http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("UnderTheLimitPasses", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(`{"k":"v"}`))
		r.Header.Set("Content-Type", "application/json")
		if w := f.do(t, r); w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"k":"v"}` {
			t.Fatalf("small body = %d %s", w.Code, w.Body)
		}
	})
}

func TestJSONBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"malformed", "application/json", `{"k":`, http.StatusBadRequest, "malformed_json"},
		{"two values", "application/json", `{} {}`, http.StatusBadRequest, "malformed_json"},
		{"wrong media type", "text/plain", `{}`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"no media type", "", `{}`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			decodeProblem(t, f.do(t, r), tt.status, tt.code)
		})
	}
}

func TestPanicIsInternalProblemAndProcessLives(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, httptest.NewRequest(http.MethodGet, "/test/panic", nil))
	decodeProblem(t, w, http.StatusInternalServerError, "internal")
	if strings.Contains(w.Body.String(), "secret panic detail") {
		t.Fatalf("panic value shown to the client: %s", w.Body)
	}
	if !strings.Contains(f.logs.String(), "secret panic detail") {
		t.Fatalf("panic not logged: %s", f.logs)
	}
	if w := f.do(t, httptest.NewRequest(http.MethodGet, "/healthz", nil)); w.Code != http.StatusOK {
		t.Fatalf("after a panic, GET /healthz = %d", w.Code)
	}
}

func TestInternalErrorCauseIsLoggedNotShown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, httptest.NewRequest(http.MethodGet, "/test/fail", nil))
	decodeProblem(t, w, http.StatusInternalServerError, "internal")
	if strings.Contains(w.Body.String(), "hunter2") {
		t.Fatalf("cause shown to the client: %s", w.Body)
	}
	if !strings.Contains(f.logs.String(), "hunter2") {
		t.Fatalf("cause not logged: %s", f.logs)
	}
}

// TestClientGoneIsNotAServerError: a request whose client went away
// before the answer, and whose use case then failed with context.Canceled,
// is recorded as 499 and logs no error; the same error while the client
// still waits is a 500 like any other.
func TestClientGoneIsNotAServerError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w := f.do(t, httptest.NewRequestWithContext(ctx, http.MethodGet, "/test/canceled", nil))
	if w.Code != statusClientClosed || w.Body.Len() != 0 {
		t.Fatalf("client gone: status %d, body %q; want 499 and no body", w.Code, w.Body)
	}
	if strings.Contains(f.logs.String(), "request failed") {
		t.Fatalf("client gone logged as a failure: %s", f.logs)
	}
	if !strings.Contains(f.logs.String(), `"status":499`) {
		t.Fatalf("access log without the 499: %s", f.logs)
	}
	w = f.do(t, httptest.NewRequest(http.MethodGet, "/test/canceled", nil))
	decodeProblem(t, w, http.StatusInternalServerError, "internal")
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tc := range []struct {
		in   string
		keep bool
	}{
		{"01JDQ3ABCDEF-proxy.id:7", true},
		{"bad id with spaces", false},
		{strings.Repeat("a", 129), false},
		{"", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		if tc.in != "" {
			r.Header.Set(requestIDHeader, tc.in)
		}
		got := f.do(t, r).Header().Get(requestIDHeader)
		if (got == tc.in) != tc.keep || got == "" {
			t.Errorf("X-Request-Id in %q out %q, keep = %v", tc.in, got, tc.keep)
		}
	}
}

func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	r.Header.Set(requestIDHeader, "req-123")
	f.do(t, r)
	var line map[string]any
	sc := bufio.NewScanner(strings.NewReader(f.logs.String()))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if m["msg"] == "request" {
			line, n = m, n+1
		}
	}
	if n != 1 {
		t.Fatalf("got %d access log lines, want 1:\n%s", n, f.logs)
	}
	for key, want := range map[string]any{"method": "GET", "route": "/healthz", "status": float64(200), "request_id": "req-123"} {
		if line[key] != want {
			t.Errorf("access log %s = %v, want %v", key, line[key], want)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("access log duration_ms missing: %v", line)
	}
	if s, _ := line["trace_id"].(string); len(s) != 32 || s == strings.Repeat("0", 32) {
		t.Errorf("access log trace_id = %v", line["trace_id"])
	}
	if s, _ := line["span_id"].(string); len(s) != 16 {
		t.Errorf("access log span_id = %v", line["span_id"])
	}
}

func TestTraceparentIsHonoured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := httptest.NewRequest(http.MethodGet, "/nope", nil)
	r.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	p := decodeProblem(t, f.do(t, r), http.StatusNotFound, "not_found")
	if p.TraceID != traceID {
		t.Fatalf("trace_id = %s, want the caller's %s", p.TraceID, traceID)
	}
}

func TestInstance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var got [2]instanceResponse
	for i := range got {
		w := f.do(t, httptest.NewRequest(http.MethodGet, "/v1/instance", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET /v1/instance = %d %s", w.Code, w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !domain.ValidID("ins", got[0].ID) || got[0] != got[1] {
		t.Fatalf("instances = %+v, want one stable valid ID", got)
	}
}
