package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUnknownPathsAreNotFound checks that a path no route serves is 404
// under every method, even beside public routes that answer preflight,
// and that 405 is kept for paths that exist with other methods, with an
// Allow header naming exactly those.
func TestUnknownPathsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/sites/acme/tags"},
		{http.MethodGet, "/v1/sites/acme/posts/"},
		{http.MethodGet, "/v1/sites/acme/pages"},
		{http.MethodOptions, "/v1/sites/acme/tags"},
		{http.MethodPost, "/v1/forms/frm_0000000000000000000000000/submission"},
		{http.MethodGet, "/v1/workspaces/acme/nope"},
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, nil)
		req.Header.Set("Origin", "https://site.example")
		w := f.serve(req)
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
		w := f.serve(req)
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
