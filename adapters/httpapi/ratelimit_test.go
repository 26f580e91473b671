package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// smallLimits are quotas a test exhausts in a few requests.
func smallLimits() *RateLimits {
	return &RateLimits{
		APIKey: domain.PerMinute(3), Session: domain.PerMinute(5), Anonymous: domain.PerMinute(4),
		SubmitPerClient: domain.PerMinute(2), SubmitPerForm: domain.PerMinute(3),
	}
}

// wantRateLimit checks a response's RateLimit-Policy and RateLimit.
func wantRateLimit(t *testing.T, w *httptest.ResponseRecorder, policy, limit string) {
	t.Helper()
	if got := w.Header().Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy = %q, want %q", got, policy)
	}
	if got := w.Header().Get("RateLimit"); got != limit {
		t.Errorf("RateLimit = %q, want %q", got, limit)
	}
}

// TestRateLimitHeadersCountDownTo429: each response tells what is left;
// past the quota the answer is 429 rate_limited with Retry-After and the
// same headers, until the bucket refills.
func TestRateLimitHeadersCountDownTo429(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{rateLimits: smallLimits()})
	// A quota of 5 a minute refills one every 12s: t is the time until
	// all 5 are back.
	for i, want := range []string{`"session";r=4;t=12`, `"session";r=3;t=24`, `"session";r=2;t=36`, `"session";r=1;t=48`, `"session";r=0;t=60`} {
		w := f.api(t, http.MethodGet, "/v1/me", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("request %d = %d %s", i, w.Code, w.Body)
		}
		wantRateLimit(t, w, `"session";q=5;w=60`, want)
	}
	w := f.api(t, http.MethodGet, "/v1/me", nil)
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	if got := w.Header().Get("Retry-After"); got != "12" {
		t.Errorf("Retry-After = %q, want 12", got)
	}
	wantRateLimit(t, w, `"session";q=5;w=60`, `"session";r=0;t=60`)

	f.clock.Add(12 * time.Second)
	if w := f.api(t, http.MethodGet, "/v1/me", nil); w.Code != http.StatusOK {
		t.Fatalf("after Retry-After: %d %s", w.Code, w.Body)
	}
}

// TestRateLimitPerAPIKey: one key's exhausted quota leaves another key's,
// and the owner's session, whole.
func TestRateLimitPerAPIKey(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{rateLimits: smallLimits()})
	a, b := f.createKey(t, "forms:read"), f.createKey(t, "forms:read")
	call := func(key string) *httptest.ResponseRecorder {
		return f.withHeaders(t, http.MethodGet, "/v1/workspaces/acme/forms", "", "Authorization", "Bearer "+key)
	}
	for range 3 {
		if w := call(a.Key); w.Code != http.StatusOK {
			t.Fatalf("key A = %d %s", w.Code, w.Body)
		}
	}
	w := call(a.Key)
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	wantRateLimit(t, w, `"api_key";q=3;w=60`, `"api_key";r=0;t=60`)
	w = call(b.Key)
	if w.Code != http.StatusOK {
		t.Fatalf("key B after A's quota ran out = %d %s", w.Code, w.Body)
	}
	wantRateLimit(t, w, `"api_key";q=3;w=60`, `"api_key";r=2;t=20`)
}

// TestRateLimitAnonymousPerSite: anonymous visitors have a quota per
// client IP and site, so that one workspace's visitors never spend
// another's; another client IP has its own.
func TestRateLimitAnonymousPerSite(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{rateLimits: smallLimits()})
	decodeBody[workspaceResponse](t, f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Beta", "slug": "beta"}), http.StatusCreated)
	get := func(path, ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		req.RemoteAddr = ip + ":4321"
		return f.serve(req)
	}
	for range 4 {
		if w := get("/v1/sites/acme/posts", "198.51.100.7"); w.Code != http.StatusOK {
			t.Fatalf("acme's posts = %d %s", w.Code, w.Body)
		}
	}
	decodeProblem(t, get("/v1/sites/acme/posts", "198.51.100.7"), http.StatusTooManyRequests, "rate_limited")
	w := get("/v1/sites/beta/posts", "198.51.100.7")
	if w.Code != http.StatusOK {
		t.Fatalf("beta's posts from the same client = %d %s", w.Code, w.Body)
	}
	wantRateLimit(t, w, `"anonymous";q=4;w=60`, `"anonymous";r=3;t=15`)
	if w := get("/v1/sites/acme/posts", "198.51.100.8"); w.Code != http.StatusOK {
		t.Fatalf("acme's posts from another client = %d %s", w.Code, w.Body)
	}
	// Scripts on the site's origins may read the headers.
	w = get("/v1/sites/beta/posts", "198.51.100.9")
	if got := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "RateLimit, RateLimit-Policy") || !strings.Contains(got, "Retry-After") {
		t.Errorf("Access-Control-Expose-Headers = %q, want the rate-limit headers", got)
	}
}

// TestRateLimitWorkspaceSetting: a workspace's own quotas replace the
// instance's in its policy header at once on this node, for its users
// under /v1/workspaces/{ws}/ and for its API keys; other routes keep the
// instance's; values out of bounds are refused with their field paths.
func TestRateLimitWorkspaceSetting(t *testing.T) {
	t.Parallel()
	limits := smallLimits()
	limits.Session = domain.PerMinute(100)
	f := newFormsFixture(t, fixtureOptions{rateLimits: limits})
	key := f.createKey(t, "forms:read")

	p := decodeProblem(t, f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"rate_limits": map[string]any{"api_key": 5, "session": 9}}),
		http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 2 || p.Errors[0].Field != "rate_limits.api_key" || p.Errors[1].Field != "rate_limits.session" || p.Errors[0].Code != "out_of_range" {
		t.Fatalf("out-of-range quotas: errors = %+v", p.Errors)
	}
	got := decodeBody[workspaceResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"rate_limits": map[string]any{"api_key": 40, "session": 20}}), http.StatusOK)
	if got.RateLimits != (rateLimitsResponse{APIKey: 40, Session: 20}) {
		t.Fatalf("PATCH rate_limits = %+v", got.RateLimits)
	}
	if w := f.api(t, http.MethodGet, "/v1/workspaces/acme/forms", nil); w.Header().Get("RateLimit-Policy") != `"session";q=20;w=60` {
		t.Errorf("RateLimit-Policy in acme = %q, want the workspace's session quota", w.Header().Get("RateLimit-Policy"))
	}
	if w := f.api(t, http.MethodGet, "/v1/me", nil); w.Header().Get("RateLimit-Policy") != `"session";q=100;w=60` {
		t.Errorf("RateLimit-Policy of /v1/me = %q, want the instance's", w.Header().Get("RateLimit-Policy"))
	}
	w := f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+key.Key)
	wantRateLimit(t, w, `"api_key";q=40;w=60`, `"api_key";r=39;t=2`)

	// 0 returns to the instance's default.
	f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"rate_limits": map[string]any{"session": 0}})
	if w := f.api(t, http.MethodGet, "/v1/workspaces/acme/forms", nil); w.Header().Get("RateLimit-Policy") != `"session";q=100;w=60` {
		t.Errorf("RateLimit-Policy after session 0 = %q, want the instance's", w.Header().Get("RateLimit-Policy"))
	}
}

// TestRateLimitFormSubmissions: the public form's limits, per client IP
// and per form, share the machinery and its headers; a browser over its
// quota gets the 429 page with Retry-After, and another form's quota is
// untouched.
func TestRateLimitFormSubmissions(t *testing.T) {
	t.Parallel()
	testRateLimitFormSubmissions(t, smallLimits())
}

// chainedQuotas is a ports.QuotaChain over in-memory quotas, one Use
// after another, as PostgreSQL's shared limits take them in one statement.
type chainedQuotas struct{ ports.Quotas }

func (q chainedQuotas) UseChain(ctx context.Context, keys []string, qs []domain.Quota) []domain.QuotaUse {
	var out []domain.QuotaUse
	for i, key := range keys {
		u := q.Use(ctx, key, qs[i])
		out = append(out, u)
		if !u.Allowed {
			break
		}
	}
	return out
}

// TestRateLimitFormSubmissionsChained: with a Quotas that takes both of
// a submission's buckets in one call (PostgreSQL's), the headers and the
// refusals are those of TestRateLimitFormSubmissions.
func TestRateLimitFormSubmissionsChained(t *testing.T) {
	t.Parallel()
	l := smallLimits()
	l.Quotas = chainedQuotas{ratelimit.NewQuotas(nil)}
	testRateLimitFormSubmissions(t, l)
}

func testRateLimitFormSubmissions(t *testing.T, limits *RateLimits) {
	f := newFormsFixture(t, fixtureOptions{rateLimits: limits})
	id, other := f.createForm(t, contactForm()), f.createForm(t, contactForm())
	const body = `{"name":"Ada","email":"ada@example.com"}`
	const policy = `"form_client";q=2;w=60, "form";q=3;w=60`
	w := f.submitJSON(t, id, body, "Origin", "https://site.example")
	if w.Code != http.StatusCreated {
		t.Fatalf("submit = %d %s", w.Code, w.Body)
	}
	wantRateLimit(t, w, policy, `"form_client";r=1;t=30, "form";r=2;t=20`)
	if got := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "RateLimit, RateLimit-Policy") {
		t.Errorf("Access-Control-Expose-Headers = %q, want the rate-limit headers", got)
	}
	f.submitJSON(t, id, body)
	w = f.postForm(t, id, "name=Ada&email=ada@example.com", "Accept", browserAccept)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("browser over its quota = %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	}
	// The refused client spent nothing of the form's quota.
	wantRateLimit(t, w, policy, `"form_client";r=0;t=60`)
	decodeProblem(t, f.submitJSON(t, id, body), http.StatusTooManyRequests, "rate_limited")

	w = f.submitJSON(t, other, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("another form from the same client = %d %s", w.Code, w.Body)
	}
	wantRateLimit(t, w, policy, `"form_client";r=1;t=30, "form";r=2;t=20`)
}

// TestRateLimitOffWithoutQuotas: a server without Quotas sends no
// rate-limit headers (the other HTTP tests run so).
func TestRateLimitOffWithoutQuotas(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	if w := f.api(t, http.MethodGet, "/v1/me", nil); w.Header().Get("RateLimit") != "" || w.Header().Get("RateLimit-Policy") != "" {
		t.Fatalf("headers without Quotas: %v", w.Header())
	}
}

// BenchmarkRateLimit measures the middleware on the hot path of anonymous
// public reads, against the same router without it: one bucket per client
// over 250 clients, headers formatted per request.
func BenchmarkRateLimit(b *testing.B) {
	l := newLimiter(RateLimits{
		Quotas: ratelimit.NewQuotas(nil), APIKey: domain.PerMinute(1200), Session: domain.PerMinute(1200),
		Anonymous: domain.PerMinute(1e9), SubmitPerClient: domain.PerMinute(1e9), SubmitPerForm: domain.PerMinute(1e9),
	}, nil)
	reqs := make([]*http.Request, 250)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/sites/acme/posts", nil)
		reqs[i].RemoteAddr = "198.51.100." + strconv.Itoa(i+1) + ":1234"
	}
	for _, bc := range []struct {
		name string
		mw   []gin.HandlerFunc
	}{{"off", nil}, {"on", []gin.HandlerFunc{rateLimit(l)}}} {
		b.Run(bc.name, func(b *testing.B) {
			e := gin.New()
			_ = e.SetTrustedProxies(nil) // as New sets it: the client IP is the peer's
			e.GET("/v1/sites/:site/posts", append(bc.mw, func(c *gin.Context) { c.Status(http.StatusNoContent) })...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := httptest.NewRecorder()
				i := 0
				for pb.Next() {
					clear(w.Header())
					e.ServeHTTP(w, reqs[i%len(reqs)])
					i++
				}
			})
		})
	}
}
