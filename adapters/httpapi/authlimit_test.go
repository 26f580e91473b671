package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/system"
)

// TestFailedTokensAreRateLimited: one client sending junk bearer tokens
// gets 401 until its budget is spent, then 429 rate_limited with
// Retry-After, while another client is still told 401.
func TestFailedTokensAreRateLimited(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Clock: clock,
		AuthFailuresPerIP: ratelimit.NewRateLimiter(1.0/2, 3, clock.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := openapitest.Handler(t, New(Config{
		Logger: slog.New(slog.DiscardHandler), System: system.NewService(db, db, clock), Identity: ids,
		TracerProvider: sdktrace.NewTracerProvider(), Propagator: propagation.TraceContext{},
	}))
	get := func(ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/me", nil)
		req.RemoteAddr = ip + ":1234"
		req.Header.Set("Authorization", "Bearer kss_"+strings.Repeat("0", 52))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
	for range 3 {
		decodeProblem(t, get("192.0.2.9"), http.StatusUnauthorized, "unauthenticated")
	}
	w := get("192.0.2.9")
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	if ra := w.Header().Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want 2", ra)
	}
	decodeProblem(t, get("198.51.100.1"), http.StatusUnauthorized, "unauthenticated")
}
