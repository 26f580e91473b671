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

// TestSubmissionQuotaOfZeroIsNone: KEEL_SUBMIT_PER_IP=0 takes the per-client
// policy away (a deployment that limits in front of Keel), while the form's
// own quota still counts down and refuses.
func TestSubmissionQuotaOfZeroIsNone(t *testing.T) {
	t.Parallel()
	base, _, stop := startInProcess(t, map[string]string{
		"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_SUBMIT_PER_IP": "0", "KEEL_SUBMIT_PER_FORM": "2",
	})
	n := &clusterNode{name: "sqlite", base: base}
	waitReady(t, base)
	var setup struct {
		Token string `json:"token"`
	}
	n.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	n.mustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Site", "slug": "site"}, 201, nil)
	var form struct {
		ID string `json:"id"`
	}
	n.mustCall(t, "POST", "/v1/workspaces/site/forms", setup.Token, map[string]any{
		"name": "Contact", "fields": []map[string]any{{"name": "message", "type": "textarea"}},
	}, 201, &form)
	path := "/v1/forms/" + form.ID + "/submissions"
	for _, want := range []string{`"form";r=1;t=30`, `"form";r=0;t=60`} {
		resp, body := n.fetch(t, "POST", path, "", nil, map[string]any{"message": "hello"})
		if resp.StatusCode != 201 || resp.Header.Get("RateLimit-Policy") != `"form";q=2;w=60` || resp.Header.Get("RateLimit") != want {
			t.Fatalf("POST %s = %d %s, RateLimit-Policy %q, RateLimit %q; want 201 with only the form's policy and RateLimit %q",
				path, resp.StatusCode, body, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), want)
		}
	}
	if resp, body := n.fetch(t, "POST", path, "", nil, map[string]any{"message": "hello"}); resp.StatusCode != 429 {
		t.Fatalf("POST %s past the form's quota = %d %s; want 429", path, resp.StatusCode, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
}
