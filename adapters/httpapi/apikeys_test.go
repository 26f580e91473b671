package httpapi

import (
	"net/http"
	"net/http/httptest"
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

// TestUpdateAPIKey checks that an owner renames a key and narrows its
// scopes, which applies from the key's next request, while widening,
// emptying and the key itself are refused, and the change is audited.
func TestUpdateAPIKey(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	key := f.createKey(t, "forms:read", "submissions:read")
	asKey := func(method, path, body string) *httptest.ResponseRecorder {
		return f.withHeaders(t, method, path, body, "Authorization", "Bearer "+key.Key)
	}
	if w := asKey(http.MethodGet, "/v1/workspaces/acme/forms", ""); w.Code != http.StatusOK {
		t.Fatalf("list forms with forms:read = %d %s", w.Code, w.Body)
	}

	path := "/v1/workspaces/acme/api-keys/" + key.ID
	got := decodeBody[apiKeyResponse](t, f.api(t, http.MethodPatch, path, map[string]any{"name": "Reader", "scopes": []string{"submissions:read"}}), http.StatusOK)
	if got.Name != "Reader" || strings.Join(got.Scopes, " ") != "submissions:read" || got.Key != "" || got.Prefix != key.Prefix {
		t.Errorf("PATCH = %+v, want Reader with submissions:read only and no secret", got)
	}
	// The key was verified, and so cached, with forms:read a moment ago.
	decodeProblemCode(t, asKey(http.MethodGet, "/v1/workspaces/acme/forms", ""), http.StatusForbidden, "forbidden")
	if w := asKey(http.MethodGet, "/v1/api-keys/current", ""); !strings.Contains(w.Body.String(), `"scopes":["submissions:read"]`) {
		t.Errorf("current after narrowing = %s", w.Body)
	}

	got = decodeBody[apiKeyResponse](t, f.api(t, http.MethodPatch, path, map[string]any{"name": "Reader 2"}), http.StatusOK)
	if got.Name != "Reader 2" || strings.Join(got.Scopes, " ") != "submissions:read" {
		t.Errorf("PATCH name only = %+v, want the scopes kept", got)
	}
	for _, tc := range []struct {
		scopes []string
		code   string
	}{{[]string{"submissions:read", "forms:read"}, "scope_not_held"}, {[]string{}, "required"}, {[]string{"root"}, "unknown_scope"}} {
		p := decodeProblem(t, f.api(t, http.MethodPatch, path, map[string]any{"scopes": tc.scopes}), http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Field != "scopes" || p.Errors[0].Code != tc.code {
			t.Errorf("PATCH scopes %v: errors = %+v, want one scopes %s", tc.scopes, p.Errors, tc.code)
		}
	}
	decodeProblemCode(t, asKey(http.MethodPatch, path, `{"name":"Mine"}`), http.StatusForbidden, "forbidden")
	decodeProblemCode(t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/api-keys/key_nope", map[string]any{"name": "X"}), http.StatusNotFound, "not_found")

	audit := f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String()
	if strings.Count(audit, `"api_key.updated"`) != 2 || !strings.Contains(audit, `"previous_scopes":"forms:read submissions:read"`) {
		t.Errorf("audit log lacks the two updates: %s", audit)
	}

	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", w.Code, w.Body)
	}
	decodeProblemCode(t, f.api(t, http.MethodPatch, path, map[string]any{"name": "Late"}), http.StatusConflict, "api_key_revoked")
}
