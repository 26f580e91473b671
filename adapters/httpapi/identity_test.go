package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWorkspaceMailFrom checks that a workspace's sender is set at
// creation and by PATCH (admins and owners only), returned in the
// workspace's JSON, checked as one address, and cleared by "".
func TestWorkspaceMailFrom(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})

	got := decodeBody[workspaceResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme", nil), http.StatusOK)
	if got.MailFrom != "" {
		t.Fatalf("a new workspace's mail_from = %q, want \"\" (the instance's sender)", got.MailFrom)
	}
	created := decodeBody[workspaceResponse](t, f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{
		"name": "Beta", "slug": "beta", "mail_from": "Beta <hello@beta.test>",
	}), http.StatusCreated)
	if created.MailFrom != "Beta <hello@beta.test>" {
		t.Fatalf("created mail_from = %q", created.MailFrom)
	}

	got = decodeBody[workspaceResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"mail_from": ` "Acme, Inc." <hello@acme.test> `}), http.StatusOK)
	if got.MailFrom != `"Acme, Inc." <hello@acme.test>` || got.Name != "Acme" {
		t.Fatalf("PATCH = %+v, want the trimmed sender and the name unchanged", got)
	}
	if got = decodeBody[workspaceResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme", nil), http.StatusOK); got.MailFrom != `"Acme, Inc." <hello@acme.test>` {
		t.Fatalf("GET mail_from = %q", got.MailFrom)
	}
	list := decodeBody[listResponse[workspaceResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces", nil), http.StatusOK)
	for _, w := range list.Data {
		if w.Slug == "acme" && w.MailFrom != `"Acme, Inc." <hello@acme.test>` {
			t.Fatalf("listed mail_from = %q", w.MailFrom)
		}
	}

	for _, bad := range []string{"nobody", "a@acme.test, b@acme.test", "Acme <hello@acme.test>\r\nBcc: x@evil.test"} {
		p := decodeProblem(t, f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"mail_from": bad}), http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Field != "mail_from" || p.Errors[0].Code != "invalid_address" {
			t.Errorf("PATCH mail_from=%q: errors = %+v, want one mail_from entry", bad, p.Errors)
		}
	}
	p := decodeProblem(t, f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Gamma", "slug": "gamma", "mail_from": "gamma"}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "mail_from" {
		t.Errorf("POST with a bad mail_from: errors = %+v", p.Errors)
	}

	// An editor may not change it.
	decodeBody[userResponse](t, f.api(t, http.MethodPost, "/v1/users", map[string]any{
		"email": "ed@example.com", "password": "correct horse battery", "name": "Ed",
	}), http.StatusCreated)
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/members", map[string]any{"email": "ed@example.com", "role": "editor"}); w.Code != http.StatusCreated && w.Code != http.StatusOK {
		t.Fatalf("add editor = %d %s", w.Code, w.Body)
	}
	body, _ := json.Marshal(map[string]string{"email": "ed@example.com", "password": "correct horse battery"})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	ed := decodeBody[loginResponse](t, f.serve(req), http.StatusOK)
	req = httptest.NewRequestWithContext(t.Context(), http.MethodPatch, "/v1/workspaces/acme", bytes.NewReader([]byte(`{"mail_from":"Ed <ed@example.com>"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ed.Token)
	decodeProblem(t, f.serve(req), http.StatusForbidden, "forbidden")

	got = decodeBody[workspaceResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme", map[string]any{"mail_from": ""}), http.StatusOK)
	if got.MailFrom != "" {
		t.Fatalf("after clearing: mail_from = %q, want \"\"", got.MailFrom)
	}
}
