package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

const keysPath = "/console/workspaces/site/keys"

// secretIn finds the one secret a page shows, in its readonly field.
var secretIn = regexp.MustCompile(`<input id="secret" value="(keel_[A-Za-z0-9_-]+)" readonly`)

func (f *fixture) keys(t *testing.T) []domain.APIKey {
	t.Helper()
	ks, _, err := f.ids.ListAPIKeys(t.Context(), f.admin, "site", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// works reports whether token authenticates as an API key.
func (f *fixture) works(t *testing.T, token string) bool {
	t.Helper()
	p, err := f.ids.Authenticate(t.Context(), token, domain.Client{IP: "192.0.2.50"})
	return err == nil && p.IsAPIKey()
}

func TestACreatedKeyShowsItsSecretOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", keysPath, ck.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `aria-current="page">API keys</a>`) || !strings.Contains(body, "No API keys yet.") {
		t.Fatalf("keys page: %d\n%s", w.Code, body)
	}
	for _, s := range domain.Scopes {
		if !strings.Contains(body, `<input type="checkbox" name="scope" value="`+s.String()+`">`) {
			t.Errorf("no checkbox for scope %s", s)
		}
	}

	w = f.do(t, "POST", keysPath, ck.Value, url.Values{"name": {"Deploy <site>"}, "scope": {"forms:read", "content:read"}, "expires": {"2099-01-31"}}, sameOrigin...)
	body = w.Body.String()
	m := secretIn.FindStringSubmatch(body)
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("create: %d, no secret\n%s", w.Code, body)
	}
	secret := m[1]
	if w.Header().Get("Cache-Control") != "no-store" || strings.Contains(w.Header().Get("Location"), secret) {
		t.Errorf("the secret's page: Cache-Control %q, Location %q", w.Header().Get("Cache-Control"), w.Header().Get("Location"))
	}
	for _, want := range []string{`<button type="button" data-copy="secret" hidden>Copy</button>`, "Key Deploy &lt;site&gt; created", "shows it this once"} {
		if !strings.Contains(body, want) {
			t.Errorf("the secret's page lacks %q:\n%s", want, body)
		}
	}
	if !f.works(t, secret) {
		t.Fatal("the shown secret does not authenticate")
	}
	keys := f.keys(t)
	if len(keys) != 1 || keys[0].ExpiresAt() == nil || !keys[0].ExpiresAt().Equal(time.Date(2099, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("keys %+v: want one that expires at the end of 2099-01-31 UTC", keys)
	}

	// The list shows the key, never its secret.
	body = f.do(t, "GET", keysPath, ck.Value, nil).Body.String()
	if strings.Contains(body, secret) || strings.Contains(body, secret[len("keel_")+9:]) {
		t.Fatalf("the list shows the secret:\n%s", body)
	}
	for _, want := range []string{"<td>Deploy &lt;site&gt;</td>", "<code>keel_" + keys[0].Prefix() + "_…</code>", "forms:read content:read", "Never", "status-active", "Rotate Deploy", "Revoke Deploy"} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q:\n%s", want, body)
		}
	}
}

func TestRotateShowsTheNewSecretAndRevokeStopsTheKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	m := secretIn.FindStringSubmatch(f.do(t, "POST", keysPath, ck.Value, url.Values{"name": {"CI"}, "scope": {"forms:read"}}, sameOrigin...).Body.String())
	if m == nil {
		t.Fatal("no secret at creation")
	}
	old := m[1]
	id := string(f.keys(t)[0].ID())

	w := f.do(t, "POST", keysPath+"/"+id+"/rotate", ck.Value, url.Values{"grace": {"0s"}}, sameOrigin...)
	m = secretIn.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil || m[1] == old {
		t.Fatalf("rotate: %d, secret %v\n%s", w.Code, m, w.Body)
	}
	if !strings.Contains(w.Body.String(), "The previous secret no longer works.") {
		t.Errorf("the rotation's page does not say the old secret stopped:\n%s", w.Body)
	}
	if f.works(t, old) || !f.works(t, m[1]) {
		t.Errorf("after rotating with no grace: old works %v, new works %v", f.works(t, old), f.works(t, m[1]))
	}
	// The default grace keeps the replaced secret for 24 hours.
	w = f.do(t, "POST", keysPath+"/"+id+"/rotate", ck.Value, url.Values{"grace": {"24h"}}, sameOrigin...)
	if !strings.Contains(w.Body.String(), "The previous secret keeps working until") || !f.works(t, m[1]) {
		t.Errorf("rotate with grace: %d\n%s", w.Code, w.Body)
	}

	w = f.do(t, "POST", keysPath+"/"+id+"/revoke", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != keysPath+"?done=revoked" {
		t.Fatalf("revoke: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if f.works(t, m[1]) {
		t.Error("a revoked key still works")
	}
	body := f.do(t, "GET", keysPath+"?done=revoked", ck.Value, nil).Body.String()
	if !strings.Contains(body, "The key was revoked") || !strings.Contains(body, "status-revoked") || strings.Contains(body, "Rotate CI") {
		t.Errorf("the list after revoking:\n%s", body)
	}
	if w := f.do(t, "POST", keysPath+"/"+id+"/rotate", ck.Value, url.Values{}, sameOrigin...); w.Code != http.StatusConflict {
		t.Errorf("rotate a revoked key: %d, want 409", w.Code)
	}
}

func TestARefusedKeyKeepsTheInputAndSaysWhy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {"No scope"}}, "Give the key at least one scope."},
		{url.Values{"name": {"Past"}, "scope": {"content:write"}, "expires": {"2001-01-01"}}, "The expiry must be in the future."},
		{url.Values{"name": {"Odd date"}, "scope": {"content:write"}, "expires": {"next week"}}, "Give the expiry as a date"},
	} {
		w := f.do(t, "POST", keysPath, ck.Value, tc.form, sameOrigin...)
		body := w.Body.String()
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || !strings.Contains(body, `value="`+tc.form.Get("name")+`"`) || secretIn.MatchString(body) {
			t.Errorf("%v: %d, want 422 with %q and the name kept\n%s", tc.form, w.Code, tc.want, body)
		}
		if s := tc.form.Get("scope"); s != "" && !strings.Contains(body, `value="`+s+`" checked>`) {
			t.Errorf("%v: the scope is no longer checked", tc.form)
		}
	}
	if keys := f.keys(t); len(keys) != 0 {
		t.Errorf("refused creations made keys %v", keys)
	}
}

func TestMembersBelowAdminSeeNoKeysAndCannotForgeThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.newUser(t, "carol@example.com", domain.RoleViewer)
	f.newUser(t, "erin@example.com", domain.RoleEditor)
	_, ck := f.signIn(t, "ada@example.com", "")
	m := secretIn.FindStringSubmatch(f.do(t, "POST", keysPath, ck.Value, url.Values{"name": {"Ada's"}, "scope": {"forms:read"}}, sameOrigin...).Body.String())
	if m == nil {
		t.Fatal("no secret at creation")
	}
	id := string(f.keys(t)[0].ID())
	for _, email := range []string{"carol@example.com", "erin@example.com"} {
		_, who := f.signIn(t, email, "")
		w := f.do(t, "GET", keysPath, who.Value, nil)
		body := w.Body.String()
		if w.Code != http.StatusForbidden || !strings.Contains(body, "Only the workspace's admins and owners") || strings.Contains(body, "Ada's") || strings.Contains(body, "<form method=\"post\" action=\"/console/workspaces/site/keys") {
			t.Errorf("%s's keys page: %d\n%s", email, w.Code, body)
		}
		for _, post := range []struct {
			path string
			form url.Values
		}{
			{keysPath, url.Values{"name": {"Mine"}, "scope": {"forms:read"}}},
			{keysPath, url.Values{"name": {"Mine"}}},
			{keysPath + "/" + id + "/rotate", url.Values{}},
			{keysPath + "/" + id + "/revoke", url.Values{}},
		} {
			w := f.do(t, "POST", post.path, who.Value, post.form, sameOrigin...)
			if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden || secretIn.MatchString(w.Body.String()) || strings.Contains(w.Body.String(), "at least one scope") {
				t.Errorf("%s's forged POST %s %v: %d\n%s", email, post.path, post.form, w.Code, w.Body)
			}
		}
	}
	if keys := f.keys(t); len(keys) != 1 || keys[0].Revoked() || !f.works(t, m[1]) {
		t.Errorf("after the forged posts the keys are %+v", keys)
	}
}
