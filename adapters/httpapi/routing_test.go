package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/system"
)

// TestUnknownPathsAreNotFound checks that a path no route serves is 404
// under every method, even beside public routes that answer preflight,
// and that 405 is kept for paths that exist with other methods, with an
// Allow header naming exactly those.
func TestUnknownPathsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/sites/acme/categories"},
		{http.MethodGet, "/v1/sites/acme/posts/"},
		{http.MethodGet, "/v1/sites/acme/authors"},
		{http.MethodOptions, "/v1/sites/acme/categories"},
		{http.MethodPost, "/v1/forms/frm_0000000000000000000000000/submission"},
		{http.MethodGet, "/v1/workspaces/acme/nope"},
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, nil)
		req.Header.Set("Origin", "https://site.example")
		w := f.invalid().serve(req) // no such operation, on purpose
		decodeProblem(t, w, http.StatusNotFound, "not_found")
		if allow := w.Header().Get("Allow"); allow != "" {
			t.Errorf("%s %s: Allow = %q on a 404", tc.method, tc.path, allow)
		}
	}
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/v1/sites/acme/posts", "GET, HEAD, OPTIONS"},
		{http.MethodDelete, "/v1/sites/acme/feed.xml", "GET, HEAD, OPTIONS"},
		{http.MethodGet, "/v1/forms/frm_0000000000000000000000000/submissions", "OPTIONS, POST"},
		{http.MethodPut, "/v1/workspaces", "GET, POST"},
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		w := f.invalid().serve(req)
		decodeProblem(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := w.Header().Get("Allow"); allow != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, allow, tc.allow)
		}
	}
}

// TestEveryCreatedHasLocation creates one resource of each kind that
// answers 201 and checks that Location names it: a GET of the URL returns
// the same resource where the API serves one, and the methods the API
// does serve there (PATCH, DELETE) find it otherwise.
func TestEveryCreatedHasLocation(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	ws := decodeBody[workspaceResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme", nil), http.StatusOK)
	location := func(t *testing.T, w *httptest.ResponseRecorder, want string) string {
		t.Helper()
		if w.Code != http.StatusCreated {
			t.Fatalf("status = %d, want 201; body %s", w.Code, w.Body)
		}
		if got := w.Header().Get("Location"); got != want {
			t.Fatalf("Location = %q, want %q", got, want)
		}
		return want
	}
	readsBack := func(t *testing.T, loc, id string) {
		t.Helper()
		type withID struct {
			ID string `json:"id"`
		}
		if got := decodeBody[withID](t, f.api(t, http.MethodGet, loc, nil), http.StatusOK); got.ID != id {
			t.Fatalf("GET %s: id = %q, want %q", loc, got.ID, id)
		}
	}

	t.Run("Workspace", func(t *testing.T) {
		w := f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Beta", "slug": "beta"})
		created := decodeBody[workspaceResponse](t, w, http.StatusCreated)
		readsBack(t, location(t, w, "/v1/workspaces/"+created.ID), created.ID)
	})
	t.Run("Form", func(t *testing.T) {
		w := f.api(t, http.MethodPost, "/v1/workspaces/acme/forms", contactForm())
		created := decodeBody[formResponse](t, w, http.StatusCreated)
		readsBack(t, location(t, w, "/v1/workspaces/acme/forms/"+created.ID), created.ID)

		w = f.submitJSON(t, created.ID, `{"name":"Ada","email":"ada@example.com"}`)
		sub := decodeBody[submittedResponse](t, w, http.StatusCreated)
		readsBack(t, location(t, w, "/v1/workspaces/"+ws.ID+"/submissions/"+sub.ID), sub.ID)
	})
	t.Run("Entry", func(t *testing.T) {
		w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Hello"})
		created := decodeBody[entryResponse](t, w, http.StatusCreated)
		readsBack(t, location(t, w, "/v1/workspaces/acme/entries/"+created.ID), created.ID)
	})
	t.Run("Webhook", func(t *testing.T) {
		w := f.api(t, http.MethodPost, "/v1/workspaces/acme/webhooks", map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"form.deleted"}})
		created := decodeBody[createdWebhookResponse](t, w, http.StatusCreated)
		readsBack(t, location(t, w, "/v1/workspaces/acme/webhooks/"+created.ID), created.ID)
	})
	t.Run("UserMemberAndAPIKey", func(t *testing.T) {
		// These have no GET of their own; their URLs are where PATCH and
		// DELETE act on them.
		w := f.api(t, http.MethodPost, "/v1/users", map[string]any{"email": "ed@example.com", "password": "correct horse battery", "name": "Ed"})
		user := decodeBody[userResponse](t, w, http.StatusCreated)
		loc := location(t, w, "/v1/users/"+user.ID)
		if w := f.api(t, http.MethodPatch, loc, map[string]any{"can_create_workspaces": true}); w.Code != http.StatusOK {
			t.Fatalf("PATCH %s = %d %s", loc, w.Code, w.Body)
		}
		w = f.api(t, http.MethodPost, "/v1/workspaces/acme/members", map[string]any{"email": "ed@example.com", "role": "editor"})
		loc = location(t, w, "/v1/workspaces/acme/members/"+user.ID)
		if w := f.api(t, http.MethodPatch, loc, map[string]any{"role": "viewer"}); w.Code != http.StatusOK {
			t.Fatalf("PATCH %s = %d %s", loc, w.Code, w.Body)
		}
		w = f.api(t, http.MethodPost, "/v1/workspaces/acme/api-keys", map[string]any{"name": "CI", "scopes": []string{"forms:read"}})
		key := decodeBody[apiKeyResponse](t, w, http.StatusCreated)
		loc = location(t, w, "/v1/workspaces/acme/api-keys/"+key.ID)
		if w := f.api(t, http.MethodDelete, loc, nil); w.Code != http.StatusNoContent {
			t.Fatalf("DELETE %s = %d %s", loc, w.Code, w.Body)
		}
	})
}

// TestPublicErrorsCarryCORS checks that the public endpoints' errors carry
// the CORS headers their successes would for the same origin, so that a
// script on an allowed origin reads the problem: the form's or site's
// origins decide, an unknown form or site lets every origin read its 404,
// and an origin the form or site does not allow still gets nothing.
func TestPublicErrorsCarryCORS(t *testing.T) {
	t.Parallel()
	const allowed, evil = "https://site.example", "https://evil.example"
	f := newFormsFixture(t, fixtureOptions{perIP: ratelimit.NewRateLimiter(1.0/60, 1, time.Now), maxBodyBytes: 2048})
	form := f.createForm(t, contactForm())
	check := func(t *testing.T, w *httptest.ResponseRecorder, status int, code, wantOrigin string) {
		t.Helper()
		decodeProblem(t, w, status, code)
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != wantOrigin {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q; headers %v", got, wantOrigin, w.Header())
		}
		if wantOrigin != "" && !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Errorf("Access-Control-Expose-Headers = %q", w.Header().Get("Access-Control-Expose-Headers"))
		}
	}
	request := func(method, path, origin, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Origin", origin)
		return f.invalid().serve(req) // each is refused on purpose
	}

	t.Run("Forms", func(t *testing.T) {
		big := `{"message":"` + strings.Repeat("x", 4096) + `"}`
		for _, origin := range []string{allowed, evil} {
			want := map[bool]string{true: allowed, false: ""}[origin == allowed]
			check(t, f.submitJSON(t, form, big, "Origin", origin), http.StatusRequestEntityTooLarge, "body_too_large", want)
			check(t, request(http.MethodPost, "/v1/forms/"+form+"/submission", origin, ""), http.StatusNotFound, "not_found", want)
		}
		check(t, f.submitJSON(t, "frm_0000000000000000000000000", `{}`, "Origin", evil), http.StatusNotFound, "not_found", "*")
		check(t, request(http.MethodOptions, "/v1/forms/frm_0000000000000000000000000/submissions", evil, ""), http.StatusNotFound, "not_found", "*")
		// The limiter allows one submission a minute; the second is 429.
		if w := f.submitJSON(t, form, `{"name":"Ada","email":"ada@example.com"}`, "Origin", allowed); w.Code != http.StatusCreated {
			t.Fatalf("first submission = %d %s", w.Code, w.Body)
		}
		w := f.submitJSON(t, form, `{"name":"Ada","email":"ada@example.com"}`, "Origin", allowed)
		check(t, w, http.StatusTooManyRequests, "rate_limited", allowed)
		if !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
			t.Errorf("a 429 does not expose Retry-After: %v", w.Header())
		}
		check(t, f.submitJSON(t, form, `{"name":"Ada","email":"ada@example.com"}`, "Origin", evil), http.StatusTooManyRequests, "rate_limited", "")
	})

	t.Run("Sites", func(t *testing.T) {
		// A new workspace lets every origin read its public API.
		check(t, request(http.MethodGet, "/v1/sites/acme/posts/missing", evil, ""), http.StatusNotFound, "not_found", "*")
		check(t, request(http.MethodGet, "/v1/sites/acme/categories", evil, ""), http.StatusNotFound, "not_found", "*")
		check(t, request(http.MethodGet, "/v1/sites/nosuch/posts", evil, ""), http.StatusNotFound, "not_found", "*")
		check(t, request(http.MethodGet, "/v1/sites/acme/posts?limit=zero", evil, ""), http.StatusUnprocessableEntity, "validation_failed", "*")

		w := f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Shop", "slug": "shop", "public_origins": []string{allowed}})
		decodeBody[workspaceResponse](t, w, http.StatusCreated)
		for _, origin := range []string{allowed, evil} {
			want := map[bool]string{true: allowed, false: ""}[origin == allowed]
			check(t, request(http.MethodGet, "/v1/sites/shop/posts/missing", origin, ""), http.StatusNotFound, "not_found", want)
			check(t, request(http.MethodGet, "/v1/sites/shop/categories", origin, ""), http.StatusNotFound, "not_found", want)
			check(t, request(http.MethodGet, "/v1/sites/shop/posts?limit=zero", origin, ""), http.StatusUnprocessableEntity, "validation_failed", want)
		}
	})
}

// TestSetupHasLocation checks the one 201 that newFormsFixture cannot
// reach, since it sets the instance up itself: setup's Location is
// /v1/me, which the returned token reads as the new user.
func TestSetupHasLocation(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatalf("casbinauthz.New: %v", err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: time.Hour,
		Hasher:          argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, clock.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, clock.Now),
	})
	if err != nil {
		t.Fatalf("identity.NewService: %v", err)
	}
	srv := openapitest.Handler(t, New(Config{Logger: slog.New(slog.DiscardHandler), System: system.NewService(db, db, clock), Identity: ids}))
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/setup",
		strings.NewReader(`{"email":"owner@example.com","password":"correct horse battery","name":"Owner"}`))
	req.Header.Set("Content-Type", "application/json")
	w := serve(req)
	res := decodeBody[loginResponse](t, w, http.StatusCreated)
	loc := w.Header().Get("Location")
	if loc != "/v1/me" {
		t.Fatalf("Location = %q, want /v1/me", loc)
	}
	req = httptest.NewRequestWithContext(t.Context(), http.MethodGet, loc, nil)
	req.Header.Set("Authorization", "Bearer "+res.Token)
	if w := serve(req); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), res.User.ID) {
		t.Fatalf("GET %s = %d %s, want the new user %s", loc, w.Code, w.Body, res.User.ID)
	}
}
