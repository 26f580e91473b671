package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// membersRoutes registers the members page: a workspace's members and its
// pending invitations, and the forms that change them.
func (c *Console) membersRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/members", c.membersPage)
	mux.HandleFunc("POST /console/workspaces/{ws}/members", c.addMember)
	mux.HandleFunc("POST /console/workspaces/{ws}/members/{user}/role", c.changeMember)
	mux.HandleFunc("POST /console/workspaces/{ws}/members/{user}/remove", c.removeMember)
	mux.HandleFunc("POST /console/workspaces/{ws}/invitations/{inv}/revoke", c.revokeInvitation)
}

// memberNotices are the messages a members page shows after a change it
// redirected from. The query names one by its key, so that no text a
// link carries reaches the page.
var memberNotices = map[string]string{
	"added":   "The member was added.",
	"invited": "The invitation was sent. It is listed below until it is accepted, revoked or expires.",
	"changed": "The role was changed.",
	"removed": "The member was removed, and the API keys they made in this workspace were revoked.",
	"revoked": "The invitation was revoked: its link no longer works.",
}

// memberRow is a row of the members table. Controls says whether the
// member's role may be changed and the member removed by whoever looks;
// Me marks the viewer's own row, which may always leave.
type memberRow struct {
	identity.Member
	Me       bool
	Controls bool
}

// invitationRow is a row of the pending invitations table.
type invitationRow struct {
	domain.Invitation
	Revocable bool
}

// membersData is what the members page shows. CanWrite says whether the
// viewer may add, change and remove members; Roles are the roles they
// may grant, which leave out owner unless they are an owner. Email, Role
// and Error keep a refused addition's input and say why.
type membersData struct {
	Members     []memberRow
	More        string
	Invitations []invitationRow
	MoreInvites bool
	CanWrite    bool
	Roles       []string
	Notice      string
	Email       string
	Role        string
	Error       string
}

// membersPage lists a workspace's members and pending invitations (every
// member may read them), with the controls the viewer's role allows.
func (c *Console) membersPage(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	d := membersData{Notice: memberNotices[r.URL.Query().Get("done")], Role: domain.RoleEditor.String()}
	c.renderMembers(w, r, http.StatusOK, p, ws, d)
}

// renderMembers reads the members and invitations into d and renders the
// page with status: the listing after a GET, the refused form otherwise.
func (c *Console) renderMembers(w http.ResponseWriter, r *http.Request, status int, p domain.Principal, ws domain.Workspace, d membersData) {
	ctx, ref := r.Context(), r.PathValue("ws")
	var err error
	if d.CanWrite, err = c.may(r, p, ws, domain.PermMembersWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	owners, err := c.may(r, p, ws, domain.PermOwnersWrite)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, role := range domain.Roles {
		if role != domain.RoleOwner || owners {
			d.Roles = append(d.Roles, role.String())
		}
	}
	members, next, err := c.cfg.Identity.ListMembers(ctx, p, ref, ports.Page{After: r.URL.Query().Get("after"), Limit: ports.MaxPageLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, m := range members {
		d.Members = append(d.Members, memberRow{
			Member:   m,
			Me:       p.Kind() == domain.UserPrincipal && p.User() == m.User.ID(),
			Controls: d.CanWrite && (m.Role != domain.RoleOwner || owners),
		})
	}
	d.More = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/members", next)
	invs, nextInv, err := c.cfg.Identity.ListInvitations(ctx, p, ref, ports.Page{Limit: ports.MaxPageLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.MoreInvites = nextInv != ""
	for _, inv := range invs {
		d.Invitations = append(d.Invitations, invitationRow{Invitation: inv, Revocable: d.CanWrite && (inv.Role() != domain.RoleOwner || owners)})
	}
	c.render(w, r, status, "members", page{Title: "Members · " + ws.Name(), Signed: true, Workspace: &ws, Section: "members", Data: d})
}

// membersURL is the members page, with a notice to show when done is set.
func membersURL(ref, done string) string {
	u := Prefix + "workspaces/" + url.PathEscape(ref) + "/members"
	if done != "" {
		u += "?done=" + url.QueryEscape(done)
	}
	return u
}

// addMember adds a member by e-mail address through the use case POST
// /v1/workspaces/{ws}/members calls: an address without an account gets
// an invitation. An address or role the use case refuses shows the page
// again with the reason and the input kept.
func (c *Console) addMember(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	email, roleName := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("role")
	role, err := domain.ParseRole(roleName)
	var inv *domain.Invitation
	if err == nil {
		_, inv, err = c.cfg.Identity.AddMemberOrInvite(r.Context(), p, identity.AddMemberInput{Workspace: ref, Email: email, Role: role})
	}
	var de *domain.Error
	if err != nil && errors.As(err, &de) && (de.Kind == domain.KindInvalid || de.Kind == domain.KindConflict) {
		// Only a member allowed to add members learns why an address
		// was refused; anyone else gets the 404 the use case decided.
		ws, werr := c.cfg.Identity.GetWorkspace(r.Context(), p, ref)
		if werr != nil {
			c.fail(w, r, werr)
			return
		}
		if may, werr := c.may(r, p, ws, domain.PermMembersWrite); werr != nil || !may {
			c.fail(w, r, cmp.Or[error](werr, domain.ErrForbidden))
			return
		}
		status := http.StatusUnprocessableEntity
		if de.Kind == domain.KindConflict {
			status = http.StatusConflict
		}
		c.renderMembers(w, r, status, p, ws, membersData{Email: email, Role: roleName, Error: reason(de)})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	done := "added"
	if inv != nil {
		done = "invited"
	}
	http.Redirect(w, r, membersURL(ref, done), http.StatusSeeOther)
}

// reason is the text a form shows for a refused input: the fields' own
// messages when the use case named them, its message otherwise.
func reason(de *domain.Error) string {
	if len(de.Fields) == 0 {
		return de.Message
	}
	msgs := make([]string, len(de.Fields))
	for i, f := range de.Fields {
		msgs[i] = f.Message
	}
	return strings.Join(msgs, " ")
}

// changeMember changes a member's role through the use case PATCH
// /v1/workspaces/{ws}/members/{user} calls: only owners grant or take the
// owner role, and the last owner stays one (a 409 page says so).
func (c *Console) changeMember(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	role, err := domain.ParseRole(r.PostFormValue("role"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref := r.PathValue("ws")
	if _, err := c.cfg.Identity.ChangeMember(r.Context(), p, identity.ChangeMemberInput{Workspace: ref, User: domain.UserID(r.PathValue("user")), Role: role}); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, membersURL(ref, "changed"), http.StatusSeeOther)
}

// removeMember takes a member out of the workspace through the use case
// DELETE /v1/workspaces/{ws}/members/{user} calls, which also revokes the
// keys they made there. A member who removes themselves has left, and
// goes to their list of workspaces.
func (c *Console) removeMember(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref, user := r.PathValue("ws"), domain.UserID(r.PathValue("user"))
	if err := c.cfg.Identity.RemoveMember(r.Context(), p, ref, user); err != nil {
		c.fail(w, r, err)
		return
	}
	if p.User() == user {
		http.Redirect(w, r, Prefix+"workspaces", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, membersURL(ref, "removed"), http.StatusSeeOther)
}

// revokeInvitation withdraws a pending invitation through the use case
// DELETE /v1/workspaces/{ws}/invitations/{id} calls.
func (c *Console) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	if err := c.cfg.Identity.RevokeInvitation(r.Context(), p, ref, domain.InvitationID(r.PathValue("inv"))); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, membersURL(ref, "revoked"), http.StatusSeeOther)
}
