package console

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

// Creating an invited account on a browser signed in as another account
// says beforehand that it signs that account out, then ends its session,
// on the server too, and signs in as the new account.
func TestInvitationSignsTheOtherAccountOut(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	if _, err := f.ids.CreateUser(t.Context(), f.admin, identity.CreateUserInput{Email: "carol@example.com", Password: password, Name: "Carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ids.Invite(t.Context(), f.admin, identity.InviteInput{Workspace: "site", Email: "grace@example.com", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	link := f.link(t, "grace@example.com", "invitations")
	carol := f.signIn(t, "carol@example.com", password)
	wantBody(t, f.do(t, "GET", link, carol, nil), http.StatusOK, `id="invitation-signs-out"`, "signs you out of it and in as grace@example.com")
	w := f.do(t, "POST", link, carol, url.Values{"name": {"Grace"}, "password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}})
	grace, ok := session(w)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces/site" || !ok || grace == "" || grace == carol {
		t.Fatalf("accept while signed in as carol: %d to %q, cookie %q: %s", w.Code, w.Header().Get("Location"), grace, w.Body)
	}
	if w := f.do(t, "GET", "/console/workspaces", carol, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/sign-in" {
		t.Errorf("carol's session after the acceptance: %d to %q, want a redirect to sign in", w.Code, w.Header().Get("Location"))
	}
	wantBody(t, f.do(t, "GET", "/console/account", grace, nil), http.StatusOK, "grace@example.com")
}
