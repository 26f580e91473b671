package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// post sends a same-origin form post, as the console's own pages do.
func (f *fixture) post(t *testing.T, target, cookie string, form url.Values) *http.Response {
	t.Helper()
	return f.do(t, "POST", target, cookie, form, "Sec-Fetch-Site", "same-origin").Result()
}

func (f *fixture) user(t *testing.T, email string) domain.User {
	t.Helper()
	users, _, err := f.ids.ListUsers(t.Context(), f.admin, ports.Page{Limit: ports.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email().String() == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return domain.User{}
}

func TestAdminPagesAreForInstanceAdministratorsOnly(t *testing.T) {
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
	for _, target := range []string{"/console/admin/users", "/console/admin/audit"} {
		if w := f.do(t, "GET", target, carol.Value, nil); w.Code != http.StatusNotFound {
			t.Errorf("a user who is not an administrator: GET %s = %d, want 404", target, w.Code)
		}
		if w := f.do(t, "GET", target, ada.Value, nil); w.Code != http.StatusOK {
			t.Errorf("the administrator: GET %s = %d, want 200", target, w.Code)
		}
	}
	// Posting the forms anyway is refused by the use cases.
	bob := f.user(t, "bob@example.com")
	if res := f.post(t, "/console/admin/users/"+string(bob.ID())+"/status", carol.Value, url.Values{"status": {"disabled"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("a non-administrator disabling bob: %d, want 404", res.StatusCode)
	}
	if !f.user(t, "bob@example.com").Active() {
		t.Error("a non-administrator disabled bob")
	}
	if res := f.post(t, "/console/admin/users", carol.Value, url.Values{"name": {"Mallory"}, "email": {"mallory@example.com"}, "password": {password}, "admin": {"on"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("a non-administrator creating a user: %d, want 404", res.StatusCode)
	}
	// The navigation links the admin pages for administrators only.
	if body := f.do(t, "GET", "/console/workspaces", carol.Value, nil).Body.String(); strings.Contains(body, "/console/admin/") {
		t.Errorf("a non-administrator's navigation links the admin pages:\n%s", body)
	}
	body := f.do(t, "GET", "/console/workspaces", ada.Value, nil).Body.String()
	for _, want := range []string{`href="/console/admin/users"`, `href="/console/admin/audit"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the administrator's navigation lacks %s:\n%s", want, body)
		}
	}
}

func TestDisablingAUserEndsTheirAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ada := f.signIn(t, "ada@example.com", "")
	_, bob := f.signIn(t, "bob@example.com", "")
	if w := f.do(t, "GET", "/console/workspaces/other", bob.Value, nil); w.Code != http.StatusOK {
		t.Fatalf("bob before: %d", w.Code)
	}
	id := string(f.user(t, "bob@example.com").ID())
	res := f.post(t, "/console/admin/users/"+id+"/status", ada.Value, url.Values{"status": {"disabled"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/admin/users" {
		t.Fatalf("disable: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Bob's session ends at once and he cannot sign in again.
	if w := f.do(t, "GET", "/console/workspaces/other", bob.Value, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/sign-in" {
		t.Errorf("bob's session after being disabled: %d %q, want a redirect to sign in", w.Code, w.Header().Get("Location"))
	}
	if w, ck := f.signIn(t, "bob@example.com", ""); ck != nil || w.Code != http.StatusUnauthorized {
		t.Errorf("a disabled user signs in: %d, cookie %v", w.Code, ck)
	}
	page := f.do(t, "GET", "/console/admin/users", ada.Value, nil).Body.String()
	if !strings.Contains(page, "status-user-disabled") || !strings.Contains(page, "Enable<span") {
		t.Errorf("the users page does not show bob disabled with an Enable button:\n%s", page)
	}
	// The administrator's own row has no button: the use case would refuse.
	if strings.Contains(page, "Disable<span class=\"visually-hidden\"> ada@example.com") {
		t.Errorf("the users page offers ada to disable herself")
	}
	res = f.post(t, "/console/admin/users/"+id+"/status", ada.Value, url.Values{"status": {"active"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	if _, ck := f.signIn(t, "bob@example.com", ""); ck == nil {
		t.Error("bob cannot sign in after being enabled again")
	}
	audit := f.do(t, "GET", "/console/admin/audit", ada.Value, nil).Body.String()
	// The refused sign-in while disabled is there with its reason.
	for _, want := range []string{"user.disabled", "user.enabled", "Bob", "<dt>reason</dt><dd>disabled</dd>"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the instance audit log lacks %q:\n%s", want, audit)
		}
	}
}

func TestAdministratorCreatesAUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ada := f.signIn(t, "ada@example.com", "")
	// A password that breaks the rules is refused with what was typed.
	w := f.do(t, "POST", "/console/admin/users", ada.Value, url.Values{"name": {"Dan"}, "email": {"dan@example.com"}, "password": {"short"}}, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `value="dan@example.com"`) || !strings.Contains(w.Body.String(), "password") {
		t.Fatalf("weak password: %d\n%s", w.Code, w.Body)
	}
	res := f.post(t, "/console/admin/users", ada.Value, url.Values{"name": {"Dan"}, "email": {"dan@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	if u := f.user(t, "dan@example.com"); u.Name() != "Dan" || u.IsInstanceAdmin() {
		t.Errorf("created %q, admin %v", u.Name(), u.IsInstanceAdmin())
	}
	if _, ck := f.signIn(t, "dan@example.com", ""); ck == nil {
		t.Error("the new user cannot sign in")
	}
	if w := f.do(t, "POST", "/console/admin/users", ada.Value, url.Values{"name": {"Dan"}, "email": {"dan@example.com"}, "password": {password}}, "Sec-Fetch-Site", "same-origin"); w.Code != http.StatusConflict {
		t.Errorf("the same address twice: %d, want 409", w.Code)
	}
}

func TestAuditLogNamesWhoActed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	_, ada := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site/audit", ada.Value, nil)
	body := w.Body.String()
	// member.added names its actor (Ada) and its target (Bob) by name and
	// address, never by bare ID.
	for _, want := range []string{"member.added", "workspace.created", "Ada <span class=\"muted\">ada@example.com</span>", "Bob <span class=\"muted\">bob@example.com</span>", `aria-current="page">Audit log`} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit log lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, string(f.admin.User())) {
		t.Errorf("the audit log shows ada's ID:\n%s", body)
	}
	overview := f.do(t, "GET", "/console/workspaces/site", ada.Value, nil).Body.String()
	if !strings.Contains(overview, "Ada <span class=\"muted\">ada@example.com</span>") || strings.Contains(overview, string(f.admin.User())) {
		t.Errorf("the overview's activity does not name ada:\n%s", overview)
	}
	// A viewer may not read the log: the page says so and lists nothing.
	_, bob := f.signIn(t, "bob@example.com", "")
	w = f.do(t, "GET", "/console/workspaces/site/audit", bob.Value, nil)
	if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "member.added") {
		t.Errorf("a viewer's audit log: %d\n%s", w.Code, w.Body)
	}
}

func TestAuditLogPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// Sign-ins are instance events; each adds one, past a page's worth.
	var ck string
	for range auditPerPage + 1 {
		_, c := f.signIn(t, "ada@example.com", "")
		ck = c.Value
	}
	w := f.do(t, "GET", "/console/admin/audit", ck, nil)
	m := regexpOlder.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no Older link on a full page:\n%s", w.Body)
	}
	older := f.do(t, "GET", strings.ReplaceAll(m[1], "&amp;", "&"), ck, nil)
	if older.Code != http.StatusOK || !strings.Contains(older.Body.String(), "instance.setup") {
		t.Errorf("the older page: %d, want the setup at the end:\n%s", older.Code, older.Body)
	}
	if w := f.do(t, "GET", "/console/admin/audit?after=bogus", ck, nil); w.Code != http.StatusBadRequest {
		t.Errorf("a malformed cursor: %d, want 400", w.Code)
	}
}

var regexpOlder = regexp.MustCompile(`<a href="([^"]+)" rel="next">Older</a>`)
