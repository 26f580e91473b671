package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// newUser creates an account for email (with the fixture's password) and,
// unless role is zero, makes it a member of "site" with that role.
func (f *fixture) newUser(t *testing.T, email string, role domain.Role) domain.User {
	t.Helper()
	u, err := f.ids.CreateUser(t.Context(), f.admin, identity.CreateUserInput{Email: email, Password: password, Name: strings.Split(email, "@")[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !role.IsZero() {
		if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", UserID: u.ID(), Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// roles maps each member of "site" to their role, read through the use case.
func (f *fixture) roles(t *testing.T) map[string]string {
	t.Helper()
	ms, _, err := f.ids.ListMembers(t.Context(), f.admin, "site", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.User.Email().String()] = m.Role.String()
	}
	return out
}

func (f *fixture) invitations(t *testing.T) []domain.Invitation {
	t.Helper()
	invs, _, err := f.ids.ListInvitations(t.Context(), f.admin, "site", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return invs
}

const membersPath = "/console/workspaces/site/members"

func TestOwnerAddsInvitesChangesAndRemovesMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", membersPath, ck.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("members page: %d\n%s", w.Code, body)
	}
	for _, want := range []string{
		`<a href="/console/workspaces/site/members" aria-current="page">Members</a>`,
		"<td>Ada <span class=\"muted\">(you)</span></td>", "<td>ada@example.com</td>",
		`<option value="owner">owner</option>`, "Add or invite", "No pending invitations.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the members page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}

	// An address with an account becomes a member at once.
	w = f.do(t, "POST", membersPath, ck.Value, url.Values{"email": {" bob@example.com "}, "role": {"editor"}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != membersPath+"?done=added" {
		t.Fatalf("add bob: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if got := f.roles(t)["bob@example.com"]; got != "editor" {
		t.Fatalf("bob's role is %q, want editor", got)
	}
	body = f.do(t, "GET", membersPath+"?done=added", ck.Value, nil).Body.String()
	if !strings.Contains(body, "The member was added.") || !strings.Contains(body, "<td>bob@example.com</td>") {
		t.Errorf("after adding bob:\n%s", body)
	}

	// An address without one gets an invitation, listed with its expiry.
	w = f.do(t, "POST", membersPath, ck.Value, url.Values{"email": {"newcomer@example.com"}, "role": {"viewer"}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != membersPath+"?done=invited" {
		t.Fatalf("invite: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	invs := f.invitations(t)
	if len(invs) != 1 || invs[0].Email() != "newcomer@example.com" || invs[0].Role() != domain.RoleViewer {
		t.Fatalf("invitations %+v", invs)
	}
	body = f.do(t, "GET", membersPath+"?done=invited", ck.Value, nil).Body.String()
	for _, want := range []string{
		"The invitation was sent.", "<td>newcomer@example.com</td>",
		`datetime="` + invs[0].ExpiresAt().UTC().Format("2006-01-02T15:04:05Z07:00") + `"`,
		`action="/console/workspaces/site/invitations/` + invs[0].ID().String() + `/revoke"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("after inviting, the page lacks %q:\n%s", want, body)
		}
	}
	w = f.do(t, "POST", "/console/workspaces/site/invitations/"+invs[0].ID().String()+"/revoke", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != membersPath+"?done=revoked" || len(f.invitations(t)) != 0 {
		t.Fatalf("revoke: %d to %q, %d pending", w.Code, w.Header().Get("Location"), len(f.invitations(t)))
	}

	bob := f.memberID(t, "bob@example.com")
	w = f.do(t, "POST", membersPath+"/"+bob+"/role", ck.Value, url.Values{"role": {"admin"}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || f.roles(t)["bob@example.com"] != "admin" {
		t.Fatalf("change bob's role: %d, role %q", w.Code, f.roles(t)["bob@example.com"])
	}
	w = f.do(t, "POST", membersPath+"/"+bob+"/remove", ck.Value, url.Values{}, sameOrigin...)
	if _, still := f.roles(t)["bob@example.com"]; w.Code != http.StatusSeeOther || w.Header().Get("Location") != membersPath+"?done=removed" || still {
		t.Fatalf("remove bob: %d to %q, still a member: %v", w.Code, w.Header().Get("Location"), still)
	}
	// The last owner stays: the use case's reason is shown.
	ada := f.memberID(t, "ada@example.com")
	if w := f.do(t, "POST", membersPath+"/"+ada+"/role", ck.Value, url.Values{"role": {"viewer"}}, sameOrigin...); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "at least one owner") {
		t.Errorf("demote the last owner: %d\n%s", w.Code, w.Body)
	}
}

func (f *fixture) memberID(t *testing.T, email string) string {
	t.Helper()
	ms, _, err := f.ids.ListMembers(t.Context(), f.admin, "site", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.User.Email().String() == email {
			return string(m.User.ID())
		}
	}
	t.Fatalf("%s is not a member", email)
	return ""
}

func TestARefusedAdditionKeepsTheInputAndSaysWhy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "POST", membersPath, ck.Value, url.Values{"email": {"not an address"}, "role": {"admin"}}, sameOrigin...)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error" role="alert"`) || !strings.Contains(body, `value="not an address"`) || !strings.Contains(body, `<option value="admin" selected>`) {
		t.Errorf("a bad address: %d\n%s", w.Code, body)
	}
	w = f.do(t, "POST", membersPath, ck.Value, url.Values{"email": {"ada@example.com"}, "role": {"editor"}}, sameOrigin...)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "already a member") {
		t.Errorf("an existing member: %d\n%s", w.Code, w.Body)
	}
	if len(f.invitations(t)) != 0 || len(f.roles(t)) != 1 {
		t.Errorf("refused additions changed the workspace: %v, %d invitations", f.roles(t), len(f.invitations(t)))
	}
}

func TestAViewerSeesNoMemberControlsAndCannotForgeThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.newUser(t, "carol@example.com", domain.RoleViewer)
	if _, err := f.ids.Invite(t.Context(), f.admin, identity.InviteInput{Workspace: "site", Email: "guest@example.com", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	inv := f.invitations(t)[0]
	_, carol := f.signIn(t, "carol@example.com", "")
	w := f.do(t, "GET", membersPath, carol.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "<td>ada@example.com</td>") || !strings.Contains(body, "<td>guest@example.com</td>") {
		t.Fatalf("viewer's members page: %d\n%s", w.Code, body)
	}
	ada := f.memberID(t, "ada@example.com")
	for _, s := range []string{"Add or invite", "Change role", "<select", "Remove", "/revoke", "/members/" + ada} {
		if strings.Contains(body, s) {
			t.Errorf("a viewer sees %q", s)
		}
	}
	// Anyone may leave: the viewer's own row offers it.
	if !strings.Contains(body, "Leave Site") {
		t.Errorf("a viewer cannot leave:\n%s", body)
	}
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{membersPath, url.Values{"email": {"mallory@example.com"}, "role": {"owner"}}},
		{membersPath, url.Values{"email": {"not an address"}, "role": {"viewer"}}},
		{membersPath + "/" + ada + "/role", url.Values{"role": {"viewer"}}},
		{membersPath + "/" + ada + "/remove", url.Values{}},
		{"/console/workspaces/site/invitations/" + inv.ID().String() + "/revoke", url.Values{}},
	} {
		w := f.do(t, "POST", post.path, carol.Value, post.form, sameOrigin...)
		if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
			t.Errorf("viewer's forged POST %s %v: %d, want 403 or 404", post.path, post.form, w.Code)
		}
		if strings.Contains(w.Body.String(), "not valid") {
			t.Errorf("viewer's forged POST %s learnt why the input was refused", post.path)
		}
	}
	if roles := f.roles(t); len(roles) != 2 || roles["ada@example.com"] != "owner" {
		t.Errorf("after the viewer's forged posts the members are %v", roles)
	}
	if invs := f.invitations(t); len(invs) != 1 {
		t.Errorf("after the viewer's forged posts the invitations are %v", invs)
	}
	w = f.do(t, "POST", membersPath+"/"+f.memberID(t, "carol@example.com")+"/remove", carol.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces" {
		t.Errorf("the viewer leaves: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, still := f.roles(t)["carol@example.com"]; still {
		t.Error("the viewer is still a member after leaving")
	}
}

func TestAnAdminCannotGrantOrTouchTheOwnerRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.newUser(t, "dan@example.com", domain.RoleAdmin)
	f.newUser(t, "erin@example.com", domain.RoleEditor)
	_, dan := f.signIn(t, "dan@example.com", "")
	body := f.do(t, "GET", membersPath, dan.Value, nil).Body.String()
	ada, erin := f.memberID(t, "ada@example.com"), f.memberID(t, "erin@example.com")
	if strings.Contains(body, `value="owner"`) || strings.Contains(body, "/members/"+ada+"/") {
		t.Errorf("an admin is offered the owner role or controls on an owner:\n%s", body)
	}
	if !strings.Contains(body, `action="/console/workspaces/site/members/`+erin+`/role"`) || !strings.Contains(body, "Add or invite") {
		t.Errorf("an admin has no controls on an editor:\n%s", body)
	}
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{membersPath + "/" + erin + "/role", url.Values{"role": {"owner"}}},
		{membersPath + "/" + ada + "/remove", url.Values{}},
		{membersPath, url.Values{"email": {"boss@example.com"}, "role": {"owner"}}},
	} {
		if w := f.do(t, "POST", post.path, dan.Value, post.form, sameOrigin...); w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
			t.Errorf("admin's POST %s %v: %d, want 403 or 404", post.path, post.form, w.Code)
		}
	}
	if roles := f.roles(t); roles["erin@example.com"] != "editor" || roles["ada@example.com"] != "owner" || len(f.invitations(t)) != 0 {
		t.Errorf("after the admin's refused posts: %v, %d invitations", roles, len(f.invitations(t)))
	}
}
