package bootstrap

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Without KEEL_PUBLIC_URL, serve's console builds a form's embed snippet
// on the origin it was reached at, and over https when
// KEEL_CONSOLE_SECURE_COOKIES says a proxy terminates TLS in front of it:
// not on the plain http listening address, which sites behind the proxy
// cannot post to from an https page.
func TestEmbedSnippetBehindATLSProxy(t *testing.T) {
	t.Parallel()
	base := startServe(t, map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_CONSOLE_SECURE_COOKIES": "true"})
	do := func(method, path, token, cookie, contentType, body string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "forms.example.org" // as the proxy passes it on
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, string(out)
	}
	api := func(path, token, body string, v any) {
		t.Helper()
		resp, out := do(http.MethodPost, path, token, "", "application/json", body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatal(err)
		}
	}
	var setup struct{ Token string }
	api("/v1/setup", "", `{"email":"ada@example.com","password":"correct horse battery","name":"Ada"}`, &setup)
	api("/v1/workspaces", setup.Token, `{"name":"Docs","slug":"docs"}`, &struct{}{})
	var form struct{ ID string }
	api("/v1/workspaces/docs/forms", setup.Token, `{"name":"Contact","fields":[{"name":"email","type":"email"}]}`, &form)

	resp, out := do(http.MethodPost, "/console/sign-in", "", "", "application/x-www-form-urlencoded",
		url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery"}}.Encode())
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure {
		t.Fatalf("console sign-in: %d, cookie %v: %s", resp.StatusCode, session, out)
	}
	resp, out = do(http.MethodGet, "/console/workspaces/docs/forms/"+form.ID+"/embed", "", session.Name+"="+session.Value, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("embed page: %d %s", resp.StatusCode, out)
	}
	want := `action="https://forms.example.org/v1/forms/` + form.ID + `/submissions"`
	if !strings.Contains(html.UnescapeString(out), want) {
		t.Errorf("the embed page lacks %s:\n%s", want, out)
	}
}
