package console

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

// Without KEEL_PUBLIC_URL the snippets post to the address the console was
// reached at: over https when the console is set up as behind a proxy
// that terminates TLS (secure cookies), even though the request Keel sees
// is plain HTTP, since a page served over https may not post to http.
func TestEmbedSnippetUsesHTTPSBehindATLSProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Quote", Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	action := func() string {
		t.Helper()
		w := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/embed", ck.Value, nil)
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
	if got := action(); got != "http://example.com"+path {
		t.Errorf("action over plain HTTP = %q, want http://example.com%s", got, path)
	}
	f.c.cfg.SecureCookies = true
	if got := action(); got != "https://example.com"+path {
		t.Errorf("action behind a TLS proxy = %q, want https://example.com%s", got, path)
	}
}
