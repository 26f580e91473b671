package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/identity"
)

// An administrator invites a person from the users page: the user is
// listed as invited with a Resend invitation button, cannot sign in, and
// a refused invitation returns to its form with the reason. Someone who
// is not an administrator gets neither the form nor the invitation.
func TestAdminInvitesAUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if _, err := f.ids.CreateUser(t.Context(), f.admin, identity.CreateUserInput{Email: "carol@example.com", Password: password, Name: "Carol"}); err != nil {
		t.Fatal(err)
	}
	_, carol := f.signIn(t, "carol@example.com", "")
	_, ada := f.signIn(t, "ada@example.com", "")
	if carol == nil || ada == nil {
		t.Fatal("sign-in failed")
	}
	if res := f.post(t, "/console/admin/invitations", carol.Value, url.Values{"name": {"Mallory"}, "email": {"mallory@example.com"}, "admin": {"on"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("a non-administrator inviting: %d, want 404", res.StatusCode)
	}
	if strings.Contains(f.do(t, "GET", "/console/admin/users", ada.Value, nil).Body.String(), "mallory@example.com") {
		t.Error("a non-administrator's invitation made an account")
	}

	page := f.do(t, "GET", "/console/admin/users", ada.Value, nil).Body.String()
	for _, want := range []string{`action="/console/admin/invitations"`, `<label for="invite-email">`, "Send invitation"} {
		if !strings.Contains(page, want) {
			t.Errorf("the users page lacks %s", want)
		}
	}
	res := f.post(t, "/console/admin/invitations", ada.Value, url.Values{"name": {"Ivy"}, "email": {" Ivy@Example.com "}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/admin/users?invited=") {
		t.Fatalf("invite: %d %q", res.StatusCode, loc)
	}
	page = f.do(t, "GET", res.Header.Get("Location"), ada.Value, nil).Body.String()
	for _, want := range []string{"An invitation was sent to ivy@example.com", "status-user-invited", "Resend invitation<span class=\"visually-hidden\"> to ivy@example.com"} {
		if !strings.Contains(page, want) {
			t.Errorf("after inviting, the users page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Resend invitation<span class=\"visually-hidden\"> to carol@example.com") {
		t.Error("the users page offers to resend an invitation to an active account")
	}
	if w, ck := f.signIn(t, "ivy@example.com", ""); ck != nil || w.Code != http.StatusUnauthorized {
		t.Errorf("an invited user signs in without a password: %d, cookie %v", w.Code, ck)
	}
	if res := f.post(t, "/console/admin/invitations", ada.Value, url.Values{"name": {"Ivy"}, "email": {"ivy@example.com"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("resend: %d, want 303", res.StatusCode)
	}
	w := f.do(t, "POST", "/console/admin/invitations", ada.Value, url.Values{"name": {"Carol"}, "email": {"carol@example.com"}}, "Sec-Fetch-Site", "same-origin")
	if body := w.Body.String(); w.Code != http.StatusConflict || !strings.Contains(body, `id="invite-user-error"`) || !strings.Contains(body, `value="carol@example.com"`) {
		t.Errorf("inviting an account's address: %d\n%s", w.Code, body)
	}
	audit := f.do(t, "GET", "/console/admin/audit", ada.Value, nil).Body.String()
	for _, want := range []string{"user.invited", "user.invitation_resent"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the instance audit log lacks %s", want)
		}
	}
}
