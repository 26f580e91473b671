package bootstrap

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: keel healthcheck succeeds against a ready keel serve,
// also when the address names every interface, and fails with one line
// naming the cause when the answer is not 200, never comes, or nobody
// listens.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	base := startServe(t, map[string]string{"KEEL_DATA_DIR": t.TempDir()})
	addr := strings.TrimPrefix(base, "http://")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ReadyServe", func(t *testing.T) {
		for _, a := range []string{addr, ":" + port, "0.0.0.0:" + port} {
			out, _, err := run(t, t.Context(), []string{"healthcheck"}, map[string]string{"KEEL_HTTP_ADDR": a})
			if err != nil {
				t.Errorf("KEEL_HTTP_ADDR=%s: %v", a, err)
			}
			if want := "ready (http://" + addr + "/readyz)\n"; out != want {
				t.Errorf("KEEL_HTTP_ADDR=%s: stdout %q, want %q", a, out, want)
			}
		}
		// The flag wins over the variable, as for serve.
		if _, _, err := run(t, t.Context(), []string{"healthcheck", "--http-addr", addr}, map[string]string{"KEEL_HTTP_ADDR": "127.0.0.1:1"}); err != nil {
			t.Errorf("--http-addr %s: %v", addr, err)
		}
	})

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("{\"code\":\"not_ready\",\n\"status\":503}\n"))
	}))
	t.Cleanup(notReady.Close)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.Addr().String()
	_ = closed.Close()

	tests := []struct {
		name   string
		args   []string
		addr   string
		detail string
	}{
		{"NotReady", nil, strings.TrimPrefix(notReady.URL, "http://"), "503 Service Unavailable: {\"code\":\"not_ready\", \"status\":503}"},
		{"NoAnswer", []string{"--timeout", "200ms"}, strings.TrimPrefix(hung.URL, "http://"), "no answer within 200ms"},
		{"NobodyListens", nil, nobody, "connection refused"},
		{"PortZero", nil, "127.0.0.1:0", "KEEL_HTTP_ADDR"},
		{"NotAnAddress", nil, "localhost", "KEEL_HTTP_ADDR"},
		{"BadTimeout", []string{"--timeout", "0s"}, addr, "--timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, t.Context(), append([]string{"healthcheck"}, tc.args...), map[string]string{"KEEL_HTTP_ADDR": tc.addr})
			if err == nil {
				t.Fatalf("healthcheck succeeded: %q", out)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.detail) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.detail)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
