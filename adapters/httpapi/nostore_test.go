package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAPIResponsesAreNotStored: the responses that carry a login token or
// a secret, and every other API response, with or without credentials,
// are Cache-Control: no-store; only the public delivery API, the OpenAPI
// document and its reference page are cacheable (content_test.go and
// openapi_test.go check their headers).
func TestAPIResponsesAreNotStored(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	noStore := func(what string, w *httptest.ResponseRecorder) {
		t.Helper()
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s (%d): Cache-Control = %q, want no-store", what, w.Code, cc)
		}
	}

	body, _ := json.Marshal(map[string]string{"email": "owner@example.com", "password": "correct horse battery"})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := f.serve(req)
	if login := decodeBody[loginResponse](t, w, http.StatusOK); login.Token == "" {
		t.Fatal("login returned no token")
	}
	noStore("login", w)
	req = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/setup", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	noStore("setup", f.invalid().serve(req)) // a login body: no name, and set up already
	w = f.api(t, http.MethodPost, "/v1/workspaces/acme/api-keys", map[string]any{"name": "build", "scopes": []string{"forms:read"}})
	if key := decodeBody[apiKeyResponse](t, w, http.StatusCreated); key.Key == "" {
		t.Fatal("API key creation returned no secret")
	}
	noStore("API key creation", w)

	// Every route that reads, as the owner, whatever the answer; then a
	// write and the logout.
	for _, r := range f.srv.Routes() {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/v1/") || strings.HasPrefix(r.Path, "/v1/sites/") {
			continue // the public API caches
		}
		if strings.HasPrefix(r.Path, "/v1/openapi.") || strings.HasPrefix(r.Path, "/v1/docs") {
			continue // so do the contract and its reference page (openapi_test.go)
		}
		path := strings.NewReplacer(":ws", "acme", ":user", "usr_x", ":key", "key_x", ":form", "frm_x", ":id", "x", ":version", "1").Replace(r.Path)
		if strings.HasPrefix(path, "/v1/submission-files/") {
			path += "?expires=1&sig=x" // the link's query is required; a made-up one is refused
		}
		noStore(r.Method+" "+r.Path, f.api(t, r.Method, path, nil))
	}
	noStore("PATCH workspace", f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"name": "Acme 2"}))
	noStore("logout", f.api(t, http.MethodPost, "/v1/auth/logout", nil))
	req = httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer kss_"+strings.Repeat("0", 52))
	noStore("a bad token's 401", f.serve(req))
}
