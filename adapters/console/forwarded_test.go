package console

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

// Without KEEL_PUBLIC_URL behind trusted proxies (ForwardedOrigin), the
// embed snippet posts to the origin the proxy names; without that
// setting, the same headers, which any client can send, change nothing.
func TestEmbedSnippetFollowsTrustedProxyHeadersOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Quote", Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	action := func(header ...string) string {
		t.Helper()
		w := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/embed", ck.Value, nil, header...)
		if w.Code != http.StatusOK {
			t.Fatalf("embed: %d\n%s", w.Code, w.Body)
		}
		body := html.UnescapeString(w.Body.String())
		_, rest, ok := strings.Cut(body, `<form id="keel-`+string(form.ID())+`" method="post" action="`)
		if !ok {
			t.Fatalf("the embed page has no form action:\n%s", body)
		}
		return rest[:strings.IndexByte(rest, '"')]
	}
	path := "/v1/forms/" + string(form.ID()) + "/submissions"
	proxy := []string{"X-Forwarded-Host", "www.example.org", "X-Forwarded-Proto", "https"}
	if got := action(proxy...); got != "http://example.com"+path {
		t.Errorf("action with forwarded headers not trusted = %q, want http://example.com%s", got, path)
	}
	f.c.cfg.ForwardedOrigin = true
	if got := action(proxy...); got != "https://www.example.org"+path {
		t.Errorf("action behind a trusted proxy = %q, want https://www.example.org%s", got, path)
	}
	if got := action("X-Forwarded-Host", `evil.example/"><script>`, "X-Forwarded-Proto", "javascript"); got != "http://example.com"+path {
		t.Errorf("action with headers no proxy writes = %q, want http://example.com%s", got, path)
	}
}
