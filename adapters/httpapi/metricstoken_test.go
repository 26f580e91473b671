package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsToken: GET /metrics is served only to the configured bearer
// token when one is set, and not at all without a handler.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "keel_up 1\n") })
	get := func(s *Server, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w
	}
	log := slog.New(slog.DiscardHandler)
	const token = "metrics-token-0123456789"
	s := New(Config{Logger: log, Metrics: metrics, MetricsToken: token})
	for _, auth := range []string{"", "Bearer ", "Bearer " + token + "x", "Bearer " + token[:len(token)-1], "Basic " + token, token} {
		w := get(s, auth)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"code":"unauthenticated"`) || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %s %v, want a 401 unauthenticated problem with WWW-Authenticate", auth, w.Code, w.Body, w.Header())
		}
	}
	if w := get(s, "Bearer "+token); w.Code != http.StatusOK || w.Body.String() != "keel_up 1\n" {
		t.Errorf("with the token: %d %q, want 200 and the metrics", w.Code, w.Body)
	}
	open := New(Config{Logger: log, Metrics: metrics})
	if w := get(open, ""); w.Code != http.StatusOK {
		t.Errorf("without a token set: %d, want 200", w.Code)
	}
	if w := get(New(Config{Logger: log}), ""); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"not_found"`) {
		t.Errorf("without a metrics handler: %d %s, want a 404 not_found problem", w.Code, w.Body)
	}
}
