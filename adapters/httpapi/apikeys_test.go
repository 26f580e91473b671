package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// createKey makes an API key in acme as the owner and returns it with its
// one-time secret.
func (f *formsFixture) createKey(t *testing.T, scopes ...string) apiKeyResponse {
	t.Helper()
	return decodeBody[apiKeyResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/api-keys", map[string]any{"name": "CI", "scopes": scopes}), http.StatusCreated)
}

// TestCurrentAPIKey checks that a key sees what it is, whatever its scopes,
// and never its secret; a person is told to look at /v1/me instead.
func TestCurrentAPIKey(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	key := f.createKey(t, "forms:read", "submissions:read")

	w := f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+key.Key)
	got := decodeBody[currentAPIKeyResponse](t, w, http.StatusOK)
	if got.ID != key.ID || got.Name != "CI" || strings.Join(got.Scopes, " ") != "forms:read submissions:read" {
		t.Errorf("current = %+v, want key %s named CI with its two scopes", got.apiKeyResponse, key.ID)
	}
	if got.Workspace.Slug != "acme" || got.Workspace.ID == "" || !got.CreatedAt.Equal(key.CreatedAt) || got.ExpiresAt != nil {
		t.Errorf("current workspace %+v, created_at %v, expires_at %v; want acme, %v, null", got.Workspace, got.CreatedAt, got.ExpiresAt, key.CreatedAt)
	}
	if got.Key != "" || strings.Contains(w.Body.String(), key.Key[len(key.Key)-52:]) || strings.Contains(w.Body.String(), "hash") {
		t.Errorf("current body shows the secret or its hash: %s", w.Body)
	}

	decodeProblemCode(t, f.api(t, http.MethodGet, "/v1/api-keys/current", nil), http.StatusForbidden, "not_an_api_key")
	decodeProblemCode(t, f.public(t, "/v1/api-keys/current"), http.StatusUnauthorized, "unauthenticated")

	// A revoked key is no longer anything.
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/api-keys/"+key.ID, nil); w.Code != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", w.Code, w.Body)
	}
	w = f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+key.Key)
	decodeProblemCode(t, w, http.StatusUnauthorized, "unauthenticated")
}
