package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
	if got.Workspace.Slug != "acme" || got.Workspace.ID == "" || !got.CreatedAt.Equal(key.CreatedAt.Time) || got.ExpiresAt != nil {
		t.Errorf("current workspace %+v, created_at %v, expires_at %v; want acme, %v, null", got.Workspace, got.CreatedAt, got.ExpiresAt, key.CreatedAt)
	}
	if got.Key != "" || strings.Contains(w.Body.String(), key.Key[len(key.Key)-52:]) || strings.Contains(w.Body.String(), "hash") {
		t.Errorf("current body shows the secret or its hash: %s", w.Body)
	}

	decodeProblemCode(t, f.api(t, http.MethodGet, "/v1/api-keys/current", nil), http.StatusForbidden, "not_an_api_key")
	decodeProblemCode(t, f.invalid().public(t, "/v1/api-keys/current"), http.StatusUnauthorized, "unauthenticated")

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
		p := decodeProblem(t, f.invalid().api(t, http.MethodPatch, path, map[string]any{"scopes": tc.scopes}), http.StatusUnprocessableEntity, "validation_failed")
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

// TestRotateAPIKey checks that a rotation shows a new secret once, that
// the old one keeps working until its grace period ends and not a moment
// longer (even when verified, and so cached, just before), and that the
// grace period is bounded.
func TestRotateAPIKey(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	key := f.createKey(t, "forms:read")
	status := func(secret string) int {
		return f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+secret).Code
	}
	path := "/v1/workspaces/acme/api-keys/" + key.ID + "/rotate"

	w := f.api(t, http.MethodPost, path, map[string]any{"grace_period": "1h"})
	got := decodeBody[rotatedAPIKeyResponse](t, w, http.StatusOK)
	until := f.clock.Now().Add(time.Hour)
	if got.Key == "" || got.Key == key.Key || got.ID != key.ID || got.Prefix != key.Prefix || got.PreviousKeyExpiresAt == nil || !got.PreviousKeyExpiresAt.Equal(until) {
		t.Fatalf("rotate = %+v, want a new secret for the same key, the old one until %v", got, until)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if list := f.api(t, http.MethodGet, "/v1/workspaces/acme/api-keys", nil).Body.String(); strings.Contains(list, got.Key) {
		t.Errorf("the list shows the new secret: %s", list)
	}
	if audit := f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String(); !strings.Contains(audit, `"api_key.rotated"`) {
		t.Errorf("audit log lacks the rotation: %s", audit)
	}
	decodeProblemCode(t, f.withHeaders(t, http.MethodPost, path, "", "Authorization", "Bearer "+got.Key), http.StatusForbidden, "forbidden")

	f.clock.Add(time.Hour - time.Millisecond)
	if old, cur := status(key.Key), status(got.Key); old != http.StatusOK || cur != http.StatusOK {
		t.Fatalf("just before the grace period ends: old secret %d, new %d; want 200, 200", old, cur)
	}
	f.clock.Add(time.Millisecond)
	if old, cur := status(key.Key), status(got.Key); old != http.StatusUnauthorized || cur != http.StatusOK {
		t.Fatalf("when the grace period ends: old secret %d, new %d; want 401, 200", old, cur)
	}
}

// TestRotateAPIKeyGracePeriod checks the grace period's default, its bounds
// and that 0 ends the old secret at once.
func TestRotateAPIKeyGracePeriod(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	key := f.createKey(t, "forms:read")
	path := "/v1/workspaces/acme/api-keys/" + key.ID + "/rotate"

	for body, code := range map[string]string{`{"grace_period":"169h"}`: "out_of_range", `{"grace_period":"-1s"}`: "out_of_range", `{"grace_period":"soon"}`: "invalid_duration"} {
		p := decodeProblem(t, f.withHeaders(t, http.MethodPost, path, body, "Content-Type", "application/json"), http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Field != "grace_period" || p.Errors[0].Code != code {
			t.Errorf("rotate %s: errors = %+v, want one grace_period %s", body, p.Errors, code)
		}
	}

	// A bare POST keeps the old secret for 24 hours.
	first := decodeBody[rotatedAPIKeyResponse](t, f.withHeaders(t, http.MethodPost, path, ""), http.StatusOK)
	if want := f.clock.Now().Add(24 * time.Hour); first.PreviousKeyExpiresAt == nil || !first.PreviousKeyExpiresAt.Equal(want) {
		t.Errorf("default grace: previous_key_expires_at = %v, want %v", first.PreviousKeyExpiresAt, want)
	}
	asKey := func(secret string) int {
		return f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+secret).Code
	}
	if c := asKey(first.Key); c != http.StatusOK {
		t.Fatalf("first rotated secret = %d, want 200", c)
	}
	second := decodeBody[rotatedAPIKeyResponse](t, f.api(t, http.MethodPost, path, map[string]any{"grace_period": "0s"}), http.StatusOK)
	if second.PreviousKeyExpiresAt != nil {
		t.Errorf("grace 0: previous_key_expires_at = %v, want null", second.PreviousKeyExpiresAt)
	}
	// first was verified, and so cached, a moment ago; the original secret
	// was dropped by the second rotation.
	if a, b, c := asKey(key.Key), asKey(first.Key), asKey(second.Key); a != http.StatusUnauthorized || b != http.StatusUnauthorized || c != http.StatusOK {
		t.Errorf("after a rotation with no grace: original %d, first %d, second %d; want 401, 401, 200", a, b, c)
	}

	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/api-keys/"+key.ID, nil); w.Code != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", w.Code, w.Body)
	}
	decodeProblemCode(t, f.api(t, http.MethodPost, path, nil), http.StatusConflict, "api_key_revoked")
}
