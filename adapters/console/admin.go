package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// adminData is what the users page shows: a page of users, a link to the
// next one, the form to create a user (with what was typed and what was
// wrong when it was refused), and who is looking, whose own account has
// no Disable button since the use case refuses it.
type adminData struct {
	Users   []domain.User
	Next    string
	Self    domain.UserID
	Form    newUserForm
	Problem []string
	// Invite and InviteProblem are the invitation form's, likewise;
	// Invited names whom an invitation was just sent to.
	Invite        newUserForm
	InviteProblem []string
	Invited       string
}

// newUserForm is what an administrator typed into the create form; the
// password is never sent back.
type newUserForm struct {
	Name, Email string
	Admin       bool
}

func (c *Console) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/admin/users", c.adminUsers)
	mux.HandleFunc("POST /console/admin/users", c.adminCreateUser)
	mux.HandleFunc("POST /console/admin/users/{id}/status", c.adminSetUserStatus)
	mux.HandleFunc("POST /console/admin/invitations", c.adminInviteUser)
	mux.HandleFunc("GET /console/admin/audit", c.adminAudit)
}

// admin authenticates an instance administrator. Anyone else gets the
// 404 page, so the admin pages do not reveal themselves; the use cases
// behind them refuse non-administrators on their own as well.
func (c *Console) admin(w http.ResponseWriter, r *http.Request) (domain.Principal, bool) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return p, false
	}
	if !p.IsInstanceAdmin() {
		c.notFound(w, r)
		return p, false
	}
	return p, true
}

// adminUsers lists the instance's users, by ID, with their status and a
// Disable or Enable button, and the form that creates a user.
func (c *Console) adminUsers(w http.ResponseWriter, r *http.Request) {
	p, ok := c.admin(w, r)
	if !ok {
		return
	}
	d := adminData{}
	// The notice after an invitation names an address only: a link cannot
	// make the page say anything else.
	if e, err := domain.ParseEmail("invited", r.URL.Query().Get("invited")); err == nil {
		d.Invited = e.String()
	}
	c.renderUsers(w, r, p, http.StatusOK, d)
}

func (c *Console) renderUsers(w http.ResponseWriter, r *http.Request, p domain.Principal, status int, d adminData) {
	users, next, err := c.cfg.Identity.ListUsers(r.Context(), p, ports.Page{After: r.URL.Query().Get("after"), Limit: ports.DefaultPageLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Users, d.Self = users, p.User()
	if next != "" {
		d.Next = Prefix + "admin/users?" + url.Values{"after": {next}}.Encode()
	}
	c.render(w, r, status, "admin_users", page{Title: "Users", Signed: true, Section: "admin-users", Data: d})
}

// adminCreateUser creates an account with a password the administrator
// chooses and passes on; adminInviteUser lets the person choose it.
func (c *Console) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "error", page{Title: "Bad request", Signed: true, Message: "The form could not be read. Try again."})
		return
	}
	f := newUserForm{Name: strings.TrimSpace(r.PostFormValue("name")), Email: trimEmail(r.PostFormValue("email")), Admin: r.PostFormValue("admin") == "on"}
	_, err = c.cfg.Identity.CreateUser(r.Context(), p, identity.CreateUserInput{Email: f.Email, Name: f.Name, Password: r.PostFormValue("password"), InstanceAdmin: f.Admin})
	switch {
	case err == nil:
		http.Redirect(w, r, Prefix+"admin/users", http.StatusSeeOther)
	case refused(err):
		// A refused account goes back to the form with what was typed
		// and each rule it broke.
		lines, status := refusal(err)
		c.renderUsers(w, r, p, status, adminData{Form: f, Problem: lines})
	default:
		c.fail(w, r, err)
	}
}

// adminInviteUser invites a person by e-mail: the account exists at once
// but cannot sign in until the mailed link sets its password. The users
// page's Resend invitation buttons post here too, with the invited
// account's address and name: inviting an invited address again sends a
// new link. A refused invitation goes back to its form, as a refused
// account does.
func (c *Console) adminInviteUser(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 16<<10)
	if !ok {
		return
	}
	f := newUserForm{Name: strings.TrimSpace(r.PostFormValue("name")), Email: trimEmail(r.PostFormValue("email")), Admin: r.PostFormValue("admin") == "on"}
	u, err := c.cfg.Identity.InviteUser(r.Context(), p, identity.InviteUserInput{Email: f.Email, Name: f.Name, InstanceAdmin: f.Admin})
	switch {
	case err == nil:
		http.Redirect(w, r, Prefix+"admin/users?"+url.Values{"invited": {u.Email().String()}}.Encode(), http.StatusSeeOther)
	case refused(err):
		lines, status := refusal(err)
		c.renderUsers(w, r, p, status, adminData{Invite: f, InviteProblem: lines})
	default:
		c.fail(w, r, err)
	}
}

// adminSetUserStatus disables or enables an account. Disabling ends the
// user's sessions at once (the use case revokes them), so their next
// request is signed out.
func (c *Console) adminSetUserStatus(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	status, err := domain.ParseUserStatus(r.PostFormValue("status"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.cfg.Identity.UpdateUser(r.Context(), p, identity.UpdateUserInput{ID: domain.UserID(r.PathValue("id")), Status: &status}); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"admin/users", http.StatusSeeOther)
}

// adminAudit shows the instance's own audit log (setup, sign-ins, users),
// newest first, with a cursor link to older events.
func (c *Console) adminAudit(w http.ResponseWriter, r *http.Request) {
	p, ok := c.admin(w, r)
	if !ok {
		return
	}
	entries, next, err := c.cfg.Identity.InstanceAuditLog(r.Context(), p, ports.Page{After: r.URL.Query().Get("after"), Limit: auditPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := auditData{Entries: entries, Allowed: true}
	if next != "" {
		d.Older = Prefix + "admin/audit?" + url.Values{"after": {next}}.Encode()
	}
	c.render(w, r, http.StatusOK, "admin_audit", page{Title: "Instance audit log", Signed: true, Section: "admin-audit", Data: d})
}
