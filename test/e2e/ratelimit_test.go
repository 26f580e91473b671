package e2e

import (
	"testing"
)

// TestRateLimitsAsServeWiresThem: keel serve applies its settings' quotas
// and reports them: the default anonymous policy on a public call, a
// configured session quota counted down to 429 with Retry-After.
func TestRateLimitsAsServeWiresThem(t *testing.T) {
	t.Parallel()
	base, _, stop := startInProcess(t, map[string]string{
		"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_RATE_LIMIT_SESSION": "3",
	})
	n := &clusterNode{name: "sqlite", base: base}
	waitReady(t, base)
	resp, body := n.fetch(t, "GET", "/v1/instance", "", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != `"anonymous";q=6000;w=60` || resp.Header.Get("RateLimit") != `"anonymous";r=5999;t=1` {
		t.Fatalf("GET /v1/instance = %d %s, RateLimit-Policy %q, RateLimit %q; want the default anonymous quota",
			resp.StatusCode, body, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"))
	}
	var setup struct {
		Token string `json:"token"`
	}
	n.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	for _, want := range []string{`"session";r=2;t=20`, `"session";r=1;t=40`, `"session";r=0;t=60`} {
		resp, body := n.fetch(t, "GET", "/v1/me", setup.Token, nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != `"session";q=3;w=60` || resp.Header.Get("RateLimit") != want {
			t.Fatalf("GET /v1/me = %d %s, RateLimit-Policy %q, RateLimit %q; want RateLimit %q",
				resp.StatusCode, body, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), want)
		}
	}
	resp, body = n.fetch(t, "GET", "/v1/me", setup.Token, nil, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("GET /v1/me past the quota = %d %s, Retry-After %q; want 429 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
}
